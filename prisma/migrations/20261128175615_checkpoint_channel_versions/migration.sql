-- AlterTable
ALTER TABLE "AgentCheckpoint" ADD COLUMN     "channelVersions" JSONB;
