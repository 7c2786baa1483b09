-- CreateTable
CREATE TABLE "AgentCheckpoint" (
    "threadId" TEXT NOT NULL,
    "checkpointNs" TEXT NOT NULL DEFAULT '',
    "checkpointId" TEXT NOT NULL,
    "parentCheckpointId" TEXT,
    "checkpointType" TEXT NOT NULL,
    "checkpoint" BYTEA NOT NULL,
    "metadataType" TEXT NOT NULL,
    "metadata" BYTEA NOT NULL,
    "metadataJson" JSONB NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AgentCheckpoint_pkey" PRIMARY KEY ("threadId","checkpointNs","checkpointId")
);

-- CreateTable
CREATE TABLE "AgentCheckpointBlob" (
    "threadId" TEXT NOT NULL,
    "checkpointNs" TEXT NOT NULL DEFAULT '',
    "channel" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "value" BYTEA,

    CONSTRAINT "AgentCheckpointBlob_pkey" PRIMARY KEY ("threadId","checkpointNs","channel","version")
);

-- CreateTable
CREATE TABLE "AgentCheckpointWrite" (
    "threadId" TEXT NOT NULL,
    "checkpointNs" TEXT NOT NULL DEFAULT '',
    "checkpointId" TEXT NOT NULL,
    "taskId" TEXT NOT NULL,
    "idx" INTEGER NOT NULL,
    "channel" TEXT NOT NULL,
    "taskPath" TEXT NOT NULL DEFAULT '',
    "type" TEXT NOT NULL,
    "value" BYTEA NOT NULL,

    CONSTRAINT "AgentCheckpointWrite_pkey" PRIMARY KEY ("threadId","checkpointNs","checkpointId","taskId","idx")
);
