// The instance's subscriber connection on a real Redis (TEST_REDIS_URL). ioredis 5 sends its ready check (INFO) and
// client info (CLIENT SETINFO) on every new connection; a SUBSCRIBE written while those are in flight turned the
// connection into subscriber mode first, and the INFO reply "Connection in subscriber mode" killed instances right
// after they started (about 1 start in 4 with Redis). Subscribing at the worst moment, with and without our options:
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisSubscriber, SUBSCRIBER_OPTIONS } from "./redis-connections.ts";

const redisUrl = process.env.TEST_REDIS_URL;

/** Opens `count` connections and subscribes each the moment it connects; resolves with the errors they raised. */
async function subscribeWhileConnecting(options: Record<string, unknown>, count = 20): Promise<string[]> {
  const base = new Redis(redisUrl!);
  const errors: string[] = [];
  const connections = Array.from({ length: count }, (_, i) => {
    const connection = base.duplicate(options);
    connection.on("error", (error: Error) => errors.push(error.message));
    connection.once(
      "connect",
      () => void connection.subscribe(`race-${i}`).catch((error: Error) => errors.push(error.message)),
    );
    return connection;
  });
  await Promise.all(connections.map((connection) => new Promise((resolve) => connection.once("ready", resolve))));
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (const connection of connections) connection.disconnect();
  base.disconnect();
  return errors;
}

describe.skipIf(!redisUrl)("the subscriber connection", () => {
  it("ioredis's defaults break a subscribe made while connecting; the subscriber's options never do", async () => {
    expect((await subscribeWhileConnecting({})).some((message) => /subscriber mode/.test(message))).toBe(true);
    expect(await subscribeWhileConnecting(SUBSCRIBER_OPTIONS)).toEqual([]);
  });

  it("one connection serves every channel: listeners share a SUBSCRIBE, the last one leaving ends it", async () => {
    const redis = new Redis(redisUrl!);
    const subscriber = new RedisSubscriber(redis);
    const channel = `channels-${Date.now()}`;
    const heard: string[] = [];
    const first = (payload: string) => heard.push(`first:${payload}`);
    const second = (payload: string) => heard.push(`second:${payload}`);
    await Promise.all([subscriber.listen(channel, first), subscriber.listen(channel, second)]);
    const numsub = async () => Number(((await redis.pubsub("NUMSUB", channel)) as [string, number])[1]);
    expect(await numsub()).toBe(1);
    await redis.publish(channel, "a");
    await expect.poll(() => heard).toEqual(["first:a", "second:a"]);
    subscriber.unlisten(channel, first);
    expect(await numsub()).toBe(1);
    subscriber.unlisten(channel, second);
    await expect.poll(numsub).toBe(0);
    await subscriber.close();
    await redis.quit();
  });
});
