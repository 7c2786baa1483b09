// ioredis reconnects by itself and reports every failed attempt as an error; connectRedis logs an outage once.
import { createServer } from "node:net";
import { pino } from "pino";
import { expect, it } from "vitest";
import { connectRedis } from "./redis-connections.ts";

/** A port nothing listens on: every connection attempt is refused the same way. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

it("logs a Redis outage once, however many reconnect attempts fail", async () => {
  const lines: string[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
  const redis = connectRedis(`redis://127.0.0.1:${await closedPort()}`, logger);
  let attempts = 0;
  redis.on("error", () => (attempts += 1));
  try {
    await expect.poll(() => attempts, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
  } finally {
    redis.disconnect();
  }
  expect(lines.map((line) => JSON.parse(line).msg)).toEqual(["Redis connection error (reconnecting)"]);
});
