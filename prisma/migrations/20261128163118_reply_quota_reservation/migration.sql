-- AlterTable
ALTER TABLE "Message" ADD COLUMN     "reservedTokens" INTEGER NOT NULL DEFAULT 0;
