import { describe, expect, it } from "vitest";
import { messageContentRule } from "./input-rules.ts";

describe("messageContentRule", () => {
  const rule = messageContentRule(10);

  it("counts the whole text as sent, whitespace included, since that is what is stored and sent to the model", () => {
    expect(rule.safeParse(`${"\u3000".repeat(9)}hi`).success).toBe(false);
    expect(rule.safeParse(` hi${" ".repeat(7)}`).success).toBe(true);
    expect(rule.safeParse(` hi${" ".repeat(8)}`).success).toBe(false);
  });

  it("counts code points, refuses whitespace alone, and returns the text unchanged", () => {
    expect(rule.parse("😀".repeat(10))).toBe("😀".repeat(10));
    expect(rule.safeParse("\u3000 \n\t").success).toBe(false);
    expect(rule.parse("  hi\n")).toBe("  hi\n");
  });
});
