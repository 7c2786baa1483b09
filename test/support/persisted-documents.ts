// A trusted-documents manifest for tests, in the format the web client's codegen writes (lowercase hex SHA-256 of each
// document's text → the text), built from the suite's typed documents so it can never drift from them.
import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import { RegisterDocument } from "../generated/graphql.ts";
import { persistedBody, postGraphQL, strongPassword, type SignedUpUser } from "./clients.ts";

// Defined next to the clients, which send it too; exported here as well, where the suite's manifests live.
export { persistedBody };

export const sha256Hex = (text: string) => createHash("sha256").update(text).digest("hex");

export interface Manifest {
  path: string;
  /** The hash a client sends for this document (it must be one of the manifest's). */
  hashOf(document: TypedDocumentNode<any, any>): string;
}

export async function writeManifest(documents: Array<TypedDocumentNode<any, any>>): Promise<Manifest> {
  const entries = Object.fromEntries(documents.map((document) => [sha256Hex(print(document)), print(document)]));
  const path = join(await mkdtemp(join(tmpdir(), "persisted-documents-")), "persisted-documents.json");
  await writeFile(path, JSON.stringify(entries, null, 2));
  return {
    path,
    hashOf(document) {
      const hash = sha256Hex(print(document));
      if (!(hash in entries)) throw new Error("not in the manifest");
      return hash;
    },
  };
}

/** signUp for a server that takes trusted documents only: register by its hash (the manifest must hold RegisterDocument). */
export async function signUpByHash(url: string, manifest: Manifest): Promise<SignedUpUser> {
  const email = `user-${sha256Hex(String(Math.random())).slice(0, 16)}@example.com`;
  const password = strongPassword();
  const result = await postGraphQL(
    url,
    persistedBody(manifest.hashOf(RegisterDocument), { input: { email, password } }),
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  const { token, refreshToken, user } = result.data.register;
  return { token, refreshToken, userId: user.id, email, password };
}
