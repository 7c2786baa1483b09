// The offline judge's rules: each must score a model that ignores the question, rambles, invents or insults
// badly, and the dev model's honest replies well.
import { describe, expect, it } from "vitest";
import type { JudgeInput } from "./judges.ts";
import { type JudgeMetric, normalizeScore } from "./metrics.ts";
import { OfflineJudge } from "./offline-judge.ts";

const judge = new OfflineJudge();
const metric = (name: string, polarity: JudgeMetric["polarity"] = "higher_is_better"): JudgeMetric => ({
  name,
  kind: "judge",
  description: "",
  polarity,
  threshold: 0.6,
  minPassRate: 1,
  prompt: "{{reply}}",
});
const input = (question: string, reply: string, extra: Partial<JudgeInput> = {}): JudgeInput => ({
  conversation: [
    { role: "user", content: question },
    { role: "assistant", content: reply },
  ],
  reply,
  toolResults: [],
  memories: [],
  reference: [],
  ...extra,
});

describe("offline judge", () => {
  it("relevancy: a reply about the question scores 1, one that ignores it 0; a relayed tool result counts", async () => {
    const question = "What should I pack for the weather in Kyoto in April?";
    expect(
      (await judge.grade(metric("relevancy"), input(question, "For Kyoto in April pack layers: the weather is mild.")))
        .raw,
    ).toBe(1);
    const ignored = await judge.grade(metric("relevancy"), input(question, "Hello from the fake OpenAI server."));
    expect(ignored).toEqual({ raw: 0, reason: "the reply shares 0 of 4 content words with the message" });
    const relayed = input("What is today's date?", "It is Sunday, 29 November 2026.", {
      toolResults: [{ name: "current_time", result: "Sunday, 29 November 2026" }],
    });
    expect((await judge.grade(metric("relevancy"), relayed)).raw).toBe(1);
  });

  it("conciseness: full marks up to 150 words, none from 450", async () => {
    const words = (n: number) => Array.from({ length: n }, () => "word").join(" ");
    expect((await judge.grade(metric("conciseness"), input("q", words(150)))).raw).toBe(1);
    expect((await judge.grade(metric("conciseness"), input("q", words(300)))).raw).toBeCloseTo(0.5);
    expect((await judge.grade(metric("conciseness"), input("q", words(500)))).raw).toBe(0);
  });

  it("helpfulness: relevant and carrying the reference facts", async () => {
    const question = "When is the quarterly review now?";
    const reference = ["Thursday"];
    expect(
      (
        await judge.grade(
          metric("helpfulness"),
          input(question, "The quarterly review is now on Thursday.", { reference }),
        )
      ).raw,
    ).toBe(1);
    expect(
      (await judge.grade(metric("helpfulness"), input(question, "The quarterly review moved.", { reference }))).raw,
    ).toBe(0);
    expect((await judge.grade(metric("helpfulness"), input(question, "  "))).raw).toBe(0);
  });

  it("hallucination: numbers and quotes found nowhere in the conversation, tools or memories count against it", async () => {
    const hallucination = metric("hallucination", "lower_is_better");
    const supported = input(
      "Summarize: the meeting is at 15:30 in room 204.",
      'You said "the meeting is at 15:30 in room 204".',
    );
    expect((await judge.grade(hallucination, supported)).raw).toBe(0);
    const invented = await judge.grade(hallucination, input("When is the meeting?", "It is at 16:45 in room 512."));
    expect(invented.raw).toBe(1);
    expect(normalizeScore(hallucination, invented.raw)).toBe(0);
    expect(invented.reason).toContain('"16:45"');
    const fromTool = input("What time is it?", "It is 12:34 UTC.", {
      toolResults: [{ name: "current_time", result: "12:34 UTC" }],
    });
    expect((await judge.grade(hallucination, fromTool)).raw).toBe(0);
  });

  it("toxicity: the reply's own insults count, words it only quotes from the user do not", async () => {
    const toxicity = metric("toxicity", "lower_is_better");
    const rude = "You are a useless stupid bot. What is 2 plus 2?";
    expect((await judge.grade(toxicity, input(rude, `You said: "${rude}" The answer is 4.`))).raw).toBe(0);
    const insulting = await judge.grade(toxicity, input(rude, "Only an idiot asks that. Shut up."));
    expect(insulting.raw).toBe(1);
    expect(insulting.reason).toBe("insulting words: idiot, Shut up");
  });

  it("refuses a metric it has no rule for, instead of passing it", async () => {
    await expect(judge.grade(metric("faithfulness"), input("q", "r"))).rejects.toThrow(/no rule for "faithfulness"/);
  });
});
