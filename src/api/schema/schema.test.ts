import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { printSchemaSDL } from "./print.ts";

describe("schema.graphql", () => {
  it("matches the Pothos schema (run `npm run schema:print` after changing a type)", async () => {
    const committed = await readFile(new URL("../../../schema.graphql", import.meta.url), "utf8");
    expect(committed).toBe(printSchemaSDL());
  });

  it("keeps the contract clients are written against", () => {
    const sdl = printSchemaSDL();
    for (const line of [
      "register(input: RegisterInput!): AuthPayload!",
      "login(input: LoginInput!): AuthPayload!",
      "createSession(input: CreateSessionInput!): CreateSessionPayload!",
      "renameSession(input: RenameSessionInput!): RenameSessionPayload!",
      "deleteSession(input: DeleteSessionInput!): DeleteSessionPayload!",
      "sendMessage(input: SendMessageInput!): SendMessagePayload!",
      "me: User",
      "session(id: ID!): Session",
      "node(id: ID!): Node",
      "): MessageStreamEvent!",
      "sessions(after: String, before: String, first: Int, last: Int, orderBy: SessionOrder! = CREATED_AT_DESC): SessionConnection!",
      "messages(after: String, before: String, first: Int, last: Int): MessageConnection!",
      "type MessageDelta implements MessageStreamEvent",
      "type MessageCompleted implements MessageStreamEvent",
      "type MessageFailed implements MessageStreamEvent",
    ]) {
      expect(sdl).toContain(line);
    }
  });
});
