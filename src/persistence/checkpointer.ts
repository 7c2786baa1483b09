// LangGraph's checkpointer on our own database, through Prisma: the same code and the same migrations for embedded
// PGlite and real PostgreSQL (the official PostgresSaver needs a pg Pool, which PGlite doesn't have). The layout
// follows PostgresSaver's: a checkpoint row without its channel values, each channel value stored once per version
// as a blob, and the tasks' pending writes. Every value goes through the saver's serde and is stored as bytes with
// its serde type.
import { randomInt } from "node:crypto";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  compareWritesSortKeys,
  getCheckpointId,
  maxChannelVersion,
  TASKS,
  WRITES_IDX_MAP,
  writesSortKey,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import { Prisma, type AgentCheckpoint, type PrismaClient } from "../generated/prisma/client.ts";
import { withDatabaseRetry } from "./database-errors.ts";

export interface PrismaCheckpointSaverOptions {
  /** @default JsonPlusSerializer (the base class's) */
  serde?: SerializerProtocol;
  /** Checkpoints `list()` loads per query while it iterates. @default 50 */
  pageSize?: number;
  /**
   * Keeps threads short without a pass of its own: once a put leaves a thread with more than twice `keep` root
   * checkpoints, the put prunes it to the latest `keep` (pruneThread), so each thread holds at most 2 × keep + 1
   * whatever ends its runs. `onError` hears of a prune that failed (the put itself succeeded). Unset: never.
   */
  prune?: { keep: number; onError?: (error: unknown, threadId: string) => void };
}

/** What `pruneThread` deleted. */
export interface PruneResult {
  checkpoints: number;
  writes: number;
  blobs: number;
}

type StoredCheckpoint = Omit<Checkpoint, "channel_values"> & { channel_values?: Record<string, unknown> };

/** getTuple's one-query row: the checkpoint with the blobs it names and its pending writes (values in base64). */
type JoinedCheckpointRow = CheckpointRow & {
  hasVersions: boolean;
  blobs: Array<{ channel: string; type: string; value: string | null }>;
  writes: Array<{ taskId: string; idx: number; channel: string; taskPath: string; type: string; value: string }>;
};
type CheckpointRow = Pick<
  AgentCheckpoint,
  | "threadId"
  | "checkpointNs"
  | "checkpointId"
  | "parentCheckpointId"
  | "checkpointType"
  | "checkpoint"
  | "metadataType"
  | "metadata"
>;

const checkpointColumns = {
  threadId: true,
  checkpointNs: true,
  checkpointId: true,
  parentCheckpointId: true,
  checkpointType: true,
  checkpoint: true,
  metadataType: true,
  metadata: true,
} satisfies Prisma.AgentCheckpointSelect;

/** Newest first; thread and namespace break ties, so pages never skip or repeat a row. */
const newestFirst: Prisma.AgentCheckpointOrderByWithRelationInput[] = [
  { checkpointId: "desc" },
  { threadId: "desc" },
  { checkpointNs: "desc" },
];

/** Blob and write keys per `OR` query: keeps statements far below PostgreSQL's bind-parameter limit. */
const keysPerQuery = 500;

export class PrismaCheckpointSaver extends BaseCheckpointSaver {
  readonly #prisma: PrismaClient;
  readonly #pageSize: number;
  readonly #prune: PrismaCheckpointSaverOptions["prune"];

  constructor(prisma: PrismaClient, { serde, pageSize = 50, prune }: PrismaCheckpointSaverOptions = {}) {
    super(serde);
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError("pageSize must be a positive integer");
    if (prune && (!Number.isInteger(prune.keep) || prune.keep < 1))
      throw new RangeError("prune.keep must be a positive integer");
    this.#prisma = prisma;
    this.#pageSize = pageSize;
    this.#prune = prune;
  }

  /**
   * One query for the common case (a checkpoint stored with its channel versions, format v4 and later): the row, the
   * blobs it names and its pending writes together. Older rows take the general path (#toTuples).
   */
  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined || threadId === null) return undefined;
    const checkpointNs = String(config.configurable?.checkpoint_ns ?? "");
    const checkpointId = getCheckpointId(config);
    // Reads and the idempotent writes below are retried through a moment's outage (a killed connection).
    const [joined] = await withDatabaseRetry(
      () => this.#prisma.$queryRaw<JoinedCheckpointRow[]>`
      SELECT c."threadId", c."checkpointNs", c."checkpointId", c."parentCheckpointId", c."checkpointType", c."checkpoint",
        c."metadataType", c."metadata", c."channelVersions" IS NOT NULL AS "hasVersions",
        COALESCE((
          SELECT json_agg(json_build_object('channel', b."channel", 'type', b."type", 'value', encode(b."value", 'base64')))
          FROM jsonb_each_text(c."channelVersions") v
          JOIN "AgentCheckpointBlob" b ON b."threadId" = c."threadId" AND b."checkpointNs" = c."checkpointNs"
            AND b."channel" = v.key AND b."version" = v.value
        ), '[]') AS "blobs",
        COALESCE((
          SELECT json_agg(json_build_object('taskId', w."taskId", 'idx', w."idx", 'channel', w."channel",
            'taskPath', w."taskPath", 'type', w."type", 'value', encode(w."value", 'base64')))
          FROM "AgentCheckpointWrite" w
          WHERE w."threadId" = c."threadId" AND w."checkpointNs" = c."checkpointNs" AND w."checkpointId" = c."checkpointId"
        ), '[]') AS "writes"
      FROM "AgentCheckpoint" c
      WHERE c."threadId" = ${String(threadId)} AND c."checkpointNs" = ${checkpointNs}
        ${checkpointId ? Prisma.sql`AND c."checkpointId" = ${checkpointId}` : Prisma.empty}
      ORDER BY c."checkpointId" DESC
      LIMIT 1`,
    );
    if (!joined) return undefined;
    const stored = (await this.serde.loadsTyped(joined.checkpointType, joined.checkpoint)) as StoredCheckpoint;
    if (joined.hasVersions && stored.v >= 4) return this.#joinedTuple(joined, stored);
    const row = checkpointId
      ? await this.#prisma.agentCheckpoint.findUnique({
          where: { threadId_checkpointNs_checkpointId: { threadId: String(threadId), checkpointNs, checkpointId } },
          select: checkpointColumns,
        })
      : await this.#prisma.agentCheckpoint.findFirst({
          where: { threadId: String(threadId), checkpointNs },
          orderBy: { checkpointId: "desc" },
          select: checkpointColumns,
        });
    if (!row) return undefined;
    const [tuple] = await this.#toTuples([row]);
    return tuple;
  }

  /**
   * Newest first. An unset `thread_id` lists every thread, an unset `checkpoint_ns` every namespace; `filter`
   * matches top-level metadata keys by JSON equality (undefined values are ignored, as in PostgresSaver).
   */
  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let remaining = options.limit ?? Number.POSITIVE_INFINITY;
    const configurable = config.configurable ?? {};
    const and: Prisma.AgentCheckpointWhereInput[] = [];
    if (configurable.thread_id !== undefined && configurable.thread_id !== null && configurable.thread_id !== "") {
      and.push({ threadId: String(configurable.thread_id) });
    }
    if (configurable.checkpoint_ns !== undefined && configurable.checkpoint_ns !== null) {
      and.push({ checkpointNs: String(configurable.checkpoint_ns) });
    }
    if (configurable.checkpoint_id) and.push({ checkpointId: String(configurable.checkpoint_id) });
    const beforeId = before ? getCheckpointId(before) : "";
    if (beforeId) and.push({ checkpointId: { lt: beforeId } });
    for (const [key, value] of Object.entries(filter ?? {})) {
      if (value === undefined) continue;
      and.push({ metadataJson: { path: [key], equals: value === null ? Prisma.JsonNull : toJson(value) } });
    }

    // Keyset paging (after the last row of the previous page), which a row deleted meanwhile can't derail.
    let after: Prisma.AgentCheckpointWhereInput | undefined;
    while (remaining > 0) {
      const take = Math.min(this.#pageSize, remaining);
      const rows = await this.#prisma.agentCheckpoint.findMany({
        where: { AND: after ? [...and, after] : and },
        orderBy: newestFirst,
        take,
        select: checkpointColumns,
      });
      yield* await this.#toTuples(rows);
      remaining -= rows.length;
      const last = rows.at(-1);
      if (!last || rows.length < take) return;
      const { threadId, checkpointNs, checkpointId } = last;
      after = {
        OR: [
          { checkpointId: { lt: checkpointId } },
          { checkpointId, threadId: { lt: threadId } },
          { checkpointId, threadId, checkpointNs: { lt: checkpointNs } },
        ],
      };
    }
  }

  /**
   * Stores the checkpoint and, for the channels in `newVersions`, their values at those versions, in one statement.
   * The other channels keep pointing at the blobs an earlier checkpoint stored.
   */
  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    if (config.configurable === undefined) throw new Error('Failed to put checkpoint: config has no "configurable"');
    const { thread_id, checkpoint_ns, checkpoint_id: parentCheckpointId } = config.configurable;
    if (thread_id === undefined || thread_id === null) {
      throw new Error('Failed to put checkpoint: config.configurable has no "thread_id"');
    }
    const threadId = String(thread_id);
    const checkpointNs = String(checkpoint_ns ?? "");
    const { channel_values: values, ...withoutValues } = checkpoint;
    const [[checkpointType, checkpointBytes], [metadataType, metadataBytes], blobs] = await Promise.all([
      this.serde.dumpsTyped(withoutValues),
      this.serde.dumpsTyped(metadata),
      Promise.all(
        Object.entries(newVersions).map(async ([channel, version]) => {
          const [type, value] =
            channel in values ? await this.serde.dumpsTyped(values[channel]) : (["empty", null] as const);
          return { threadId, checkpointNs, channel, version: String(version), type, value: value && bytes(value) };
        }),
      ),
    ]);
    const key = { threadId, checkpointNs, checkpointId: checkpoint.id };
    const stored = {
      checkpointType,
      checkpoint: bytes(checkpointBytes),
      metadataType,
      metadata: bytes(metadataBytes),
      metadataJson: toJson(metadata),
    };
    // The versions as strings, exactly as blobs store them, so a read can join the two in SQL.
    const channelVersions = JSON.stringify(
      Object.fromEntries(
        Object.entries(checkpoint.channel_versions).map(([channel, version]) => [channel, String(version)]),
      ),
    );
    // A version's value never changes: a blob another checkpoint already stored is left alone.
    const storeBlobs =
      blobs.length > 0
        ? Prisma.sql`WITH "stored" AS (
            INSERT INTO "AgentCheckpointBlob" ("threadId", "checkpointNs", "channel", "version", "type", "value")
            VALUES ${Prisma.join(blobs.map((b) => Prisma.sql`(${b.threadId}, ${b.checkpointNs}, ${b.channel}, ${b.version}, ${b.type}, ${b.value})`))}
            ON CONFLICT DO NOTHING)`
        : Prisma.empty;
    const [{ checkpoints }] = await withDatabaseRetry(
      () => this.#prisma.$queryRaw<[{ checkpoints: number }]>`
      ${storeBlobs}
      INSERT INTO "AgentCheckpoint" ("threadId", "checkpointNs", "checkpointId", "parentCheckpointId", "checkpointType",
        "checkpoint", "metadataType", "metadata", "metadataJson", "channelVersions")
      VALUES (${key.threadId}, ${key.checkpointNs}, ${key.checkpointId}, ${parentCheckpointId ? String(parentCheckpointId) : null},
        ${stored.checkpointType}, ${stored.checkpoint}, ${stored.metadataType}, ${stored.metadata},
        ${JSON.stringify(stored.metadataJson)}::jsonb, ${channelVersions}::jsonb)
      ON CONFLICT ("threadId", "checkpointNs", "checkpointId") DO UPDATE SET
        "checkpointType" = EXCLUDED."checkpointType", "checkpoint" = EXCLUDED."checkpoint",
        "metadataType" = EXCLUDED."metadataType", "metadata" = EXCLUDED."metadata",
        "metadataJson" = EXCLUDED."metadataJson", "channelVersions" = EXCLUDED."channelVersions"
      RETURNING (SELECT count(*) FROM "AgentCheckpoint" WHERE "threadId" = ${threadId} AND "checkpointNs" = '')::int AS "checkpoints"`,
    );
    // The count was read before this insert: one more is stored now.
    if (this.#prune && checkpointNs === "" && checkpoints + 1 > 2 * this.#prune.keep) {
      await this.pruneThread(threadId, this.#prune.keep).catch((error: unknown) =>
        this.#prune?.onError?.(error, threadId),
      );
    }
    return { configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpoint.id } };
  }

  /**
   * Idempotent per (thread, namespace, checkpoint, task, idx), as in PostgresSaver: a retried task's regular writes
   * keep the first ones stored; a batch of only special writes (error, interrupt, resume…) replaces the earlier one.
   */
  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    const { thread_id, checkpoint_ns, checkpoint_id } = config.configurable ?? {};
    if (thread_id === undefined || thread_id === null) {
      throw new Error('Failed to put writes: config.configurable has no "thread_id"');
    }
    if (!checkpoint_id) throw new Error('Failed to put writes: config.configurable has no "checkpoint_id"');
    if (writes.length === 0) return;
    const rows = await Promise.all(
      writes.map(async ([channel, value], index) => {
        const [type, serialized] = await this.serde.dumpsTyped(value);
        return {
          threadId: String(thread_id),
          checkpointNs: String(checkpoint_ns ?? ""),
          checkpointId: String(checkpoint_id),
          taskId,
          idx: WRITES_IDX_MAP[channel] ?? index,
          channel,
          taskPath: taskPath ?? "",
          type,
          value: bytes(serialized),
        };
      }),
    );
    if (!writes.every(([channel]) => channel in WRITES_IDX_MAP)) {
      await withDatabaseRetry(() => this.#prisma.agentCheckpointWrite.createMany({ data: rows, skipDuplicates: true }));
      return;
    }
    await withDatabaseRetry(() =>
      this.#prisma.$transaction(
        rows.map(({ threadId, checkpointNs, checkpointId, idx, ...value }) =>
          this.#prisma.agentCheckpointWrite.upsert({
            where: {
              threadId_checkpointNs_checkpointId_taskId_idx: { threadId, checkpointNs, checkpointId, taskId, idx },
            },
            create: { threadId, checkpointNs, checkpointId, idx, ...value },
            update: value,
          }),
        ),
      ),
    );
  }

  /** Every checkpoint, blob and write of the thread, in all namespaces (for a deleted chat session). */
  async deleteThread(threadId: string): Promise<void> {
    const where = { threadId: String(threadId) };
    await this.#prisma.$transaction([
      this.#prisma.agentCheckpointWrite.deleteMany({ where }),
      this.#prisma.agentCheckpoint.deleteMany({ where }),
      this.#prisma.agentCheckpointBlob.deleteMany({ where }),
    ]);
  }

  /**
   * Keeps the thread's latest `keep` root checkpoints and deletes everything older: older checkpoints and their
   * writes in every namespace (a subgraph's checkpoints are younger than the root checkpoint it ran from, so the ones
   * older than the oldest kept root checkpoint belong to deleted steps), then the blobs no remaining checkpoint
   * names. The kept checkpoints stay complete: state, history back to the oldest of them, and forks from them work.
   */
  async pruneThread(threadId: string, keep: number): Promise<PruneResult> {
    if (!Number.isInteger(keep) || keep < 1) {
      throw new RangeError("keep must be a positive integer (to delete the whole thread, use deleteThread)");
    }
    threadId = String(threadId);
    const oldestKept = await this.#prisma.agentCheckpoint.findFirst({
      where: { threadId, checkpointNs: "" },
      orderBy: { checkpointId: "desc" },
      skip: keep - 1,
      select: { checkpointId: true },
    });
    if (!oldestKept) return { checkpoints: 0, writes: 0, blobs: 0 };
    const older = { threadId, checkpointId: { lt: oldestKept.checkpointId } };
    const [writes, checkpoints] = await this.#prisma.$transaction([
      this.#prisma.agentCheckpointWrite.deleteMany({ where: older }),
      this.#prisma.agentCheckpoint.deleteMany({ where: older }),
    ]);
    // Blobs first, then the checkpoints that name them: a blob stored after the first read is never a candidate,
    // and one stored before it is named by a checkpoint the second read sees (put stores both in one transaction).
    const candidates = await this.#prisma.agentCheckpointBlob.findMany({
      where: { threadId },
      select: { checkpointNs: true, channel: true, version: true },
    });
    const named = new Set<string>();
    const remaining = await this.#prisma.agentCheckpoint.findMany({
      where: { threadId },
      select: { checkpointNs: true, checkpointType: true, checkpoint: true },
    });
    for (const row of remaining) {
      const stored = (await this.serde.loadsTyped(row.checkpointType, row.checkpoint)) as StoredCheckpoint;
      for (const [channel, version] of Object.entries(stored.channel_versions ?? {})) {
        named.add(keyOf(row.checkpointNs, channel, String(version)));
      }
    }
    const unnamed = candidates.filter((blob) => !named.has(keyOf(blob.checkpointNs, blob.channel, blob.version)));
    let blobs = 0;
    for (const chunk of chunks(unnamed, keysPerQuery)) {
      blobs += (await this.#prisma.agentCheckpointBlob.deleteMany({ where: { threadId, OR: chunk } })).count;
    }
    return { checkpoints: checkpoints.count, writes: writes.count, blobs };
  }

  /**
   * The next integer plus a random fraction (PostgresSaver in Python does the same with "<counter>.<random>" strings;
   * LangGraph JS's typings only take number versions). Blobs are keyed by version, so a run forked from an older
   * checkpoint must not reuse a version the original branch already stored with another value, as plain counters
   * would (3 → 4 on both branches). Still increasing: in (floor(current) + 1, floor(current) + 2).
   */
  override getNextVersion(current: number | undefined): number {
    return Math.floor(current ?? 0) + 1 + randomInt(1, 2 ** 32) / 2 ** 32;
  }

  /** The tuple of getTuple's one-query row: blobs and writes came with it, base64 in JSON. */
  async #joinedTuple(row: JoinedCheckpointRow, stored: StoredCheckpoint): Promise<CheckpointTuple> {
    const channelValues: Record<string, unknown> = {};
    for (const blob of row.blobs) {
      if (blob.type !== "empty" && blob.value !== null) {
        channelValues[blob.channel] = await this.serde.loadsTyped(blob.type, Buffer.from(blob.value, "base64"));
      }
    }
    const writes = row.writes.map((write) => ({ ...write, value: Buffer.from(write.value, "base64") }));
    return this.#tuple(row, stored, channelValues, { ...stored.channel_versions }, writes);
  }

  /** A checkpoint row with its loaded values and versions, and its task writes, as LangGraph's tuple. */
  async #tuple(
    row: Pick<
      CheckpointRow,
      "threadId" | "checkpointNs" | "checkpointId" | "parentCheckpointId" | "metadataType" | "metadata"
    >,
    stored: StoredCheckpoint,
    channelValues: Record<string, unknown>,
    channelVersions: ChannelVersions,
    writes: Array<{ taskId: string; channel: string; type: string; value: Uint8Array; taskPath: string; idx: number }>,
  ): Promise<CheckpointTuple> {
    const pendingWrites: CheckpointPendingWrite[] = await Promise.all(
      inReplayOrder(writes).map(
        async (write): Promise<CheckpointPendingWrite> => [
          write.taskId,
          write.channel,
          await this.serde.loadsTyped(write.type, write.value),
        ],
      ),
    );
    const configurable = { thread_id: row.threadId, checkpoint_ns: row.checkpointNs };
    const tuple: CheckpointTuple = {
      config: { configurable: { ...configurable, checkpoint_id: row.checkpointId } },
      checkpoint: {
        ...stored,
        channel_values: channelValues,
        channel_versions: channelVersions,
        versions_seen: stored.versions_seen ?? {},
      },
      metadata: (await this.serde.loadsTyped(row.metadataType, row.metadata)) as CheckpointMetadata,
      pendingWrites,
    };
    if (row.parentCheckpointId)
      tuple.parentConfig = { configurable: { ...configurable, checkpoint_id: row.parentCheckpointId } };
    return tuple;
  }

  /** Rows → tuples, with their channel values and pending writes loaded in one query each for the whole batch. */
  async #toTuples(rows: CheckpointRow[]): Promise<CheckpointTuple[]> {
    if (rows.length === 0) return [];
    const checkpoints = await Promise.all(
      rows.map(async (row) => (await this.serde.loadsTyped(row.checkpointType, row.checkpoint)) as StoredCheckpoint),
    );
    const blobKeys = new Map<string, { threadId: string; checkpointNs: string; channel: string; version: string }>();
    rows.forEach(({ threadId, checkpointNs }, i) => {
      for (const [channel, version] of Object.entries(checkpoints[i]!.channel_versions ?? {})) {
        const key = { threadId, checkpointNs, channel, version: String(version) };
        blobKeys.set(keyOf(threadId, checkpointNs, channel, key.version), key);
      }
    });
    const checkpointKeys = rows.map(({ threadId, checkpointNs, checkpointId }) => ({
      threadId,
      checkpointNs,
      checkpointId,
    }));
    // Checkpoints older than format v4 kept pending sends as writes to their parent; they become a TASKS value.
    const legacyParents = rows
      .filter((row, i) => checkpoints[i]!.v < 4 && row.parentCheckpointId)
      .map(({ threadId, checkpointNs, parentCheckpointId }) => ({
        threadId,
        checkpointNs,
        checkpointId: parentCheckpointId!,
        channel: TASKS,
      }));
    const [blobs, writes, sends] = await Promise.all([
      this.#findMany([...blobKeys.values()], (OR) => this.#prisma.agentCheckpointBlob.findMany({ where: { OR } })),
      this.#findMany(checkpointKeys, (OR) => this.#prisma.agentCheckpointWrite.findMany({ where: { OR } })),
      this.#findMany(legacyParents, (OR) => this.#prisma.agentCheckpointWrite.findMany({ where: { OR } })),
    ]);
    const valueAt = new Map(
      blobs.map((blob) => [keyOf(blob.threadId, blob.checkpointNs, blob.channel, blob.version), blob]),
    );
    const writesOf = groupBy(writes, (write) => keyOf(write.threadId, write.checkpointNs, write.checkpointId));
    const sendsOf = groupBy(sends, (write) => keyOf(write.threadId, write.checkpointNs, write.checkpointId));

    return Promise.all(
      rows.map(async (row, i) => {
        const stored = checkpoints[i]!;
        const channelValues: Record<string, unknown> = {};
        const channelVersions: ChannelVersions = { ...stored.channel_versions };
        for (const [channel, version] of Object.entries(channelVersions)) {
          const blob = valueAt.get(keyOf(row.threadId, row.checkpointNs, channel, String(version)));
          if (blob && blob.type !== "empty" && blob.value) {
            channelValues[channel] = await this.serde.loadsTyped(blob.type, blob.value);
          }
        }
        const legacySends = row.parentCheckpointId
          ? sendsOf.get(keyOf(row.threadId, row.checkpointNs, row.parentCheckpointId))
          : undefined;
        if (stored.v < 4 && legacySends) {
          channelValues[TASKS] = await Promise.all(
            inReplayOrder(legacySends).map((write) => this.serde.loadsTyped(write.type, write.value)),
          );
          const versions = Object.values(channelVersions);
          channelVersions[TASKS] =
            versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
        }
        const writes = writesOf.get(keyOf(row.threadId, row.checkpointNs, row.checkpointId)) ?? [];
        return this.#tuple(row, stored, channelValues, channelVersions, writes);
      }),
    );
  }

  /** Runs `query` with `OR` over the keys, a chunk at a time; no query at all for no keys. */
  async #findMany<K, R>(keys: K[], query: (OR: K[]) => Promise<R[]>): Promise<R[]> {
    const results: R[] = [];
    for (const chunk of chunks(keys, keysPerQuery)) results.push(...(await query(chunk)));
    return results;
  }
}

/** The order in which LangGraph replays a step's writes (base class contract): task path, task id, idx. */
function inReplayOrder<W extends { taskPath: string; taskId: string; idx: number }>(writes: W[]): W[] {
  return writes
    .map((write) => ({ write, key: writesSortKey(write.taskPath, write.taskId, write.idx) }))
    .sort((a, b) => compareWritesSortKeys(a.key, b.key))
    .map(({ write }) => write);
}

/** A map key for a tuple of column values. */
function keyOf(...columns: string[]): string {
  return JSON.stringify(columns);
}

function groupBy<T>(items: T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function chunks<T>(items: T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

/** Serde output as the Uint8Array<ArrayBuffer> Prisma's Bytes expects (serde may hand out a Buffer view). */
function bytes(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(data);
}

/**
 * A JSON value for the metadata column (and for filters on it): what JSON.stringify makes of it, minus what jsonb
 * refuses (U+0000) and can't hold (bigint, stored as its decimal string).
 */
function toJson(value: unknown): Prisma.InputJsonValue {
  const text = JSON.stringify(value, (_key, item: unknown) =>
    typeof item === "bigint" ? item.toString() : typeof item === "string" ? item.replaceAll("\u0000", "") : item,
  );
  return (text === undefined ? null : JSON.parse(text)) as Prisma.InputJsonValue;
}
