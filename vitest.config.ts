import { defineConfig } from "vitest/config";

export default defineConfig({
  // graphql 16 ships CJS and ESM without an exports map; one copy for tests and node_modules (stack notes Q10.5).
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts", "evals/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Migrates one database per run that every test app's database is copied from.
    globalSetup: ["test/support/global-setup.ts"],
  },
});
