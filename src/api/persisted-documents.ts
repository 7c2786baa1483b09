// Trusted documents (persisted operations): first-party apps send the SHA-256 of a document their build produced
// instead of its text, and the API runs only documents it holds. With PERSISTED_DOCUMENTS_ONLY a request without an
// API key may send no query text at all, so a stolen access token cannot be used to run arbitrary queries (or probe
// the schema) through the web app's credentials. One set of rules for both transports: HTTP and SSE through Yoga's
// persisted-operations plugin, graphql-ws through `resolve` (its onSubscribe parses the payload itself).
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import { createGraphQLError, type Plugin } from "graphql-yoga";
import { ConfigError } from "../config/index.ts";

/** What the rules read of a request: Yoga's params over HTTP, the subscribe payload over graphql-ws. */
export interface OperationParams {
  query?: string | null;
  extensions?: unknown;
  documentId?: unknown;
}

export type TrustedDocumentRefusal =
  | "PERSISTED_QUERY_ONLY"
  | "PERSISTED_QUERY_NOT_FOUND"
  | "PERSISTED_QUERY_ID_REQUIRED";

export interface TrustedDocumentsOptions {
  /** Hash (lowercase hex SHA-256 of the text) → document text, as in the manifest. */
  documents: ReadonlyMap<string, string>;
  /** Refuse query text from callers without an API key (PERSISTED_DOCUMENTS_ONLY). */
  only: boolean;
  /** Hears every refusal (metrics, log); must not throw. */
  onRefused?: (code: TrustedDocumentRefusal, transport: "http" | "ws") => void;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

const MESSAGES: Record<TrustedDocumentRefusal, string> = {
  // Apollo's and urql's wording, which their clients recognise.
  PERSISTED_QUERY_NOT_FOUND: "PersistedQueryNotFound",
  PERSISTED_QUERY_ONLY:
    "Only trusted documents are accepted: send extensions.persistedQuery { version: 1, sha256Hash } instead of a query, " +
    "or authenticate with an API key",
  PERSISTED_QUERY_ID_REQUIRED: "Send a query, or a trusted document's hash in extensions.persistedQuery.sha256Hash",
};

export class TrustedDocuments {
  private readonly documents: ReadonlyMap<string, string>;
  readonly only: boolean;
  private readonly onRefused: NonNullable<TrustedDocumentsOptions["onRefused"]>;

  constructor({ documents, only, onRefused = () => {} }: TrustedDocumentsOptions) {
    this.documents = documents;
    this.only = only;
    this.onRefused = onRefused;
  }

  /**
   * HTTP and SSE (POST and GET). `arbitraryAllowed` answers whether this request may send query text when `only` is on;
   * it runs before the context exists, so it must verify the credential itself (a key merely present unlocks nothing).
   */
  plugin(arbitraryAllowed: (request: Request) => Promise<boolean>): Plugin {
    const refusal = (code: TrustedDocumentRefusal) => () => this.refuse(code, "http");
    return usePersistedOperations({
      getPersistedOperation: (id) => this.documents.get(id) ?? null,
      extractPersistedOperationId: (params) => documentIdOf(params),
      allowArbitraryOperations: this.only ? arbitraryAllowed : true,
      customErrors: {
        notFound: refusal("PERSISTED_QUERY_NOT_FOUND"),
        persistedQueryOnly: refusal("PERSISTED_QUERY_ONLY"),
        keyNotFound: refusal("PERSISTED_QUERY_ID_REQUIRED"),
      },
    });
  }

  /**
   * graphql-ws, by the plugin's rules: the query text to run, or a thrown refusal. graphql-ws requires `query` to be a
   * string, so an empty one means "none sent".
   */
  async resolve(params: OperationParams, arbitraryAllowed: () => Promise<boolean>): Promise<string> {
    if (params.query) {
      if (this.only && !(await arbitraryAllowed())) throw this.refuse("PERSISTED_QUERY_ONLY", "ws");
      return params.query;
    }
    const id = documentIdOf(params);
    if (id === null) throw this.refuse("PERSISTED_QUERY_ID_REQUIRED", "ws");
    const document = this.documents.get(id);
    if (document === undefined) throw this.refuse("PERSISTED_QUERY_NOT_FOUND", "ws");
    return document;
  }

  private refuse(code: TrustedDocumentRefusal, transport: "http" | "ws") {
    this.onRefused(code, transport);
    // 400 like Yoga's other request errors; over graphql-ws the error ends that operation only.
    return createGraphQLError(MESSAGES[code], { extensions: { code, http: { status: 400 } } });
  }
}

/**
 * The document id a request names: `extensions.persistedQuery.sha256Hash` (Apollo/urql, version 1) or `documentId`
 * (the GraphQL-over-HTTP persisted documents draft), as lowercase hex; a `sha256:` prefix is accepted. null: none.
 */
function documentIdOf(params: OperationParams): string | null {
  const persisted = (params.extensions as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } } | undefined)
    ?.persistedQuery;
  const raw =
    persisted && typeof persisted === "object" && persisted.version === 1 && typeof persisted.sha256Hash === "string"
      ? persisted.sha256Hash
      : typeof params.documentId === "string"
        ? params.documentId
        : null;
  return raw === null ? null : normalizeId(raw);
}

function normalizeId(id: string): string {
  return id.replace(/^sha256:/, "").toLowerCase();
}

/**
 * Reads the manifest: a JSON object of lowercase hex SHA-256 of each document → its text (graphql-codegen's
 * client-preset `persistedDocuments` output). Each entry's hash is checked against its text, so a stale or
 * hand-edited manifest cannot map a hash to another document. When `required` (PERSISTED_DOCUMENTS_ONLY) a missing or
 * invalid manifest is a ConfigError; otherwise a missing one means no document is known, and an invalid one is still
 * an error (it was meant to be read).
 */
export async function loadPersistedDocuments(
  path: string,
  { required }: { required: boolean },
): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw new ConfigError([
      `PERSISTED_DOCUMENTS_PATH: cannot read the trusted-documents manifest ${path} (${(error as Error).message}); ` +
        "PERSISTED_DOCUMENTS_ONLY=true needs it (generate it with `npm run codegen`, or set PERSISTED_DOCUMENTS_ONLY=false)",
    ]);
  }
  const invalid = (why: string) =>
    new ConfigError([`PERSISTED_DOCUMENTS_PATH: ${path} is not a trusted-documents manifest: ${why}`]);
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw invalid(`invalid JSON (${(error as Error).message})`);
  }
  if (typeof manifest !== "object" || manifest === null || Array.isArray(manifest))
    throw invalid("expected an object of hash → document");
  const documents = new Map<string, string>();
  for (const [key, document] of Object.entries(manifest)) {
    const id = normalizeId(key);
    if (!SHA256_HEX.test(id)) throw invalid(`"${key}" is not a SHA-256 in hex`);
    if (typeof document !== "string") throw invalid(`the document of ${key} is not a string`);
    if (createHash("sha256").update(document).digest("hex") !== id)
      throw invalid(`${key} is not the SHA-256 of its document`);
    documents.set(id, document);
  }
  return documents;
}
