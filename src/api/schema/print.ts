import { lexicographicSortSchema, printSchema } from "graphql";
import { schema } from "./index.ts";

/** The SDL committed as schema.graphql: sorted, so diffs show real changes only. */
export function printSchemaSDL(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
