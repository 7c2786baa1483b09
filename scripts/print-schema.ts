// Writes schema.graphql from the Pothos schema (run after changing any type; a test fails when it is stale).
import { writeFile } from "node:fs/promises";
import { printSchemaSDL } from "../src/api/schema/print.ts";

await writeFile(new URL("../schema.graphql", import.meta.url), printSchemaSDL());
console.log("schema.graphql written");
