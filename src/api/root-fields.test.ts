import { buildSchema, parse } from "graphql";
import { describe, expect, it } from "vitest";
import { rootFields } from "./root-fields.ts";
import { schema as appSchema } from "./schema/index.ts";

const schema = buildSchema(`
  type Query { me: User, other: User }
  type Mutation { login(email: String!): String, send(text: String!): String }
  type User { id: ID! }
`);

/** Response key → field name, in execution order. */
function collected(query: string, variableValues?: Record<string, unknown>, operationName?: string) {
  const operation = rootFields({ schema, document: parse(query), variableValues, operationName });
  return operation?.fields.map(({ responseKey, fieldName }) => `${responseKey}:${fieldName}`);
}

describe("rootFields: the root fields graphql-js executes", () => {
  it("counts every alias as its own execution", () => {
    expect(collected(`mutation { a: send(text: "1") b: send(text: "2") send(text: "3") }`)).toEqual([
      "a:send",
      "b:send",
      "send:send",
    ]);
  });

  it("merges selections that share a response key into one execution", () => {
    const operation = rootFields({
      schema,
      document: parse(`{ me { id } me { id } x: other { id } x: other { id } }`),
    });
    expect(operation?.fields.map((field) => [field.responseKey, field.nodes.length])).toEqual([
      ["me", 2],
      ["x", 2],
    ]);
  });

  it("reaches through inline fragments and fragment spreads, on the root type only", () => {
    expect(collected(`mutation { ... on Mutation { login(email: "a") } ... { b: login(email: "b") } }`)).toEqual([
      "login:login",
      "b:login",
    ]);
    expect(
      collected(
        `mutation { ...A } fragment A on Mutation { ...B c: send(text: "c") } fragment B on Mutation { login(email: "x") }`,
      ),
    ).toEqual(["login:login", "c:send"]);
    // A type condition that is not the root type selects nothing (validation refuses such a document anyway).
    expect(collected(`{ ... on User { id } me { id } }`)).toEqual(["me:me"]);
  });

  it("runs a fragment once per selection set however often it is spread, as execution does", () => {
    let fragments = `fragment F0 on Mutation { send(text: "x") }`;
    for (let i = 1; i <= 3; i++) fragments += ` fragment F${i} on Mutation { ${`...F${i - 1} `.repeat(10)}}`;
    expect(collected(`mutation { ...F3 } ${fragments}`)).toEqual(["send:send"]);
  });

  it("honours @skip and @include with the operation's variables and their defaults", () => {
    const query = `query($hide: Boolean = true) { a: me @skip(if: $hide) { id } b: me @include(if: $hide) { id } ... @skip(if: $hide) { c: me { id } } }`;
    expect(collected(query)).toEqual(["b:me"]);
    expect(collected(query, { hide: false })).toEqual(["a:me", "c:me"]);
  });

  it("picks the operation by name, and finds none where execution would refuse to start", () => {
    const two = `query One { me { id } } mutation Two { login(email: "a") }`;
    expect(collected(two, {}, "Two")).toEqual(["login:login"]);
    expect(collected(two)).toBeUndefined(); // several operations and no name
    expect(collected(two, {}, "Three")).toBeUndefined();
    expect(collected(`query($hide: Boolean!) { me @skip(if: $hide) { id } }`, { hide: "yes" })).toBeUndefined();
    expect(collected(`query($hide: Boolean!) { me @skip(if: $hide) { id } }`)).toBeUndefined();
  });

  it("walks the app's schema with the graphql the app runs on (one copy: no 'another realm' error)", () => {
    const document = parse(`mutation($input: LoginInput!) { ... on Mutation { login(input: $input) { token } } }`);
    const operation = rootFields({
      schema: appSchema,
      document,
      variableValues: { input: { email: "a@b.c", password: "x" } },
    });
    expect(operation?.rootType).toBe(appSchema.getMutationType());
    expect(operation?.fields.map((field) => field.fieldName)).toEqual(["login"]);
  });
});
