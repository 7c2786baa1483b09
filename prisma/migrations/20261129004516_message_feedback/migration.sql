-- CreateEnum
CREATE TYPE "MessageRating" AS ENUM ('UP', 'DOWN');

-- CreateTable
CREATE TABLE "MessageFeedback" (
    "messageId" TEXT NOT NULL,
    "rating" "MessageRating" NOT NULL,
    "comment" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "MessageFeedback_pkey" PRIMARY KEY ("messageId")
);

-- CreateIndex
CREATE INDEX "MessageFeedback_updatedAt_idx" ON "MessageFeedback"("updatedAt");

-- AddForeignKey
ALTER TABLE "MessageFeedback" ADD CONSTRAINT "MessageFeedback_messageId_fkey" FOREIGN KEY ("messageId") REFERENCES "Message"("id") ON DELETE CASCADE ON UPDATE CASCADE;
