// --add-from-feedback on a real database (PGlite, or PostgreSQL with TEST_DATABASE_URL): replies rated with
// rateMessage become dataset cases, once each, with the user's message as the turn and the rating in notes.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { collectReply, createSession, graphql, signUp, wsClient } from "../../test/support/clients.ts";
import { startTestApp } from "../../test/support/test-app.ts";
import { caseSchema, loadDataset } from "./dataset.ts";
import { addCasesFromFeedback } from "./feedback.ts";

const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;
const RATE = `mutation($input: RateMessageInput!) { rateMessage(input: $input) { message { feedback { rating } } } }`;

const scratch = await mkdtemp(join(tmpdir(), "evals-feedback-"));
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe("evals --add-from-feedback", () => {
  it("appends each rated reply once as a case that loads with the dataset", async () => {
    const app = await startTestApp();
    try {
      const user = await signUp(app.graphqlUrl);
      const client = wsClient(app.wsUrl, user.token);
      const rate = async (content: string, rating: "UP" | "DOWN", comment?: string) => {
        const sessionId = await createSession(app.graphqlUrl, user.token);
        const sent = await graphql(app.graphqlUrl, SEND, { input: { sessionId, content } }, user.token);
        const replyId = sent.data.sendMessage.reply.id as string;
        await collectReply(client, { sessionId, after: sent.data.sendMessage.streamCursor }, replyId);
        const rated = await graphql(
          app.graphqlUrl,
          RATE,
          { input: { messageId: replyId, rating, comment } },
          user.token,
        );
        expect(rated.errors).toBeUndefined();
        return replyId;
      };
      await rate("How do I boil an egg?", "DOWN", "It did not answer the question");
      await rate("Thanks, that helps!", "UP");
      await client.dispose();
      await app.stop();

      const dataset = join(scratch, "dataset");
      await mkdir(dataset);
      await writeFile(join(dataset, "core.jsonl"), '{"id":"hand-written","turns":["hi"]}\n');
      const file = join(dataset, "from-feedback.jsonl");
      expect(await addCasesFromFeedback(app.env, file)).toEqual({ added: 2, skipped: 0, file });
      const lines = (await readFile(file, "utf8"))
        .trim()
        .split("\n")
        .map((line) => caseSchema.parse(JSON.parse(line)));
      expect(lines.map((c) => c.turns)).toEqual([["How do I boil an egg?"], ["Thanks, that helps!"]]);
      expect(lines[0]).toMatchObject({
        id: expect.stringMatching(/^feedback-[0-9a-f-]{36}$/),
        notes: expect.stringMatching(
          /^A user rated this reply DOWN on \d{4}-\d\d-\d\d: "It did not answer the question"\. The reply then: "This is the offline dev model/,
        ),
        source: { kind: "feedback", rating: "DOWN", comment: "It did not answer the question" },
      });
      expect(lines[1]!.source).toMatchObject({ rating: "UP", comment: null });
      // Idempotent: a second export adds nothing, and the whole dataset still loads.
      expect(await addCasesFromFeedback(app.env, file)).toEqual({ added: 0, skipped: 2, file });
      expect((await loadDataset(dataset)).cases.map((c) => c.id)).toHaveLength(3);
    } finally {
      await app.cleanup();
    }
  }, 60_000);
});
