-- DropIndex
DROP INDEX "Message_status_idx";

-- AlterTable
ALTER TABLE "Message" ADD COLUMN     "leaseOwner" TEXT,
ADD COLUMN     "leaseRenewedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT statement_timestamp(),
ADD COLUMN     "streamCursor" TEXT;

-- CreateIndex
CREATE INDEX "Message_status_leaseRenewedAt_idx" ON "Message"("status", "leaseRenewedAt");
