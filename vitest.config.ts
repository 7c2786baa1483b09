import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // graphql 16 ships CJS and ESM without an exports map; one copy for tests and node_modules (stack notes Q10.5).
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts", "evals/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // One worker per core. Vitest's default keeps one core for itself, which on a 2-core CI machine is one worker
    // and a core mostly idle: the main process does little, and each file spends its time in its own fork.
    maxWorkers: availableParallelism(),
    // Migrates one database per run that every test app's database is copied from.
    globalSetup: ["test/support/global-setup.ts"],
  },
});
