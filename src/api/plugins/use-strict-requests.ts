import { isUtf8 } from "node:buffer";
import { createGraphQLError, type Plugin } from "graphql-yoga";

/**
 * Refuses with BAD_REQUEST (400) what Yoga would otherwise guess at: a body or query string that is not valid
 * UTF-8 (Yoga decodes with replacement characters, so an invalid byte would be stored as U+FFFD), and
 * malformed JSON in GET `variables`/`extensions` (Yoga masks that as an unexpected 500).
 */
export function useStrictRequests(): Plugin {
  return {
    onRequestParse({ request, url, requestParser, setRequestParser, fetchAPI }) {
      if (!isUtf8(percentDecoded(url.search))) throw badRequest("The request query string is not valid UTF-8.");
      if (!requestParser) return;
      // Multipart parts may be binary by design; every other body Yoga parses is text.
      const textBody = request.body !== null && !request.headers.get("content-type")?.startsWith("multipart/");
      // Yoga's body-size limit wraps this parser, so the bytes read here are already capped (413 comes first).
      setRequestParser(async (capped) => {
        let checked = capped;
        if (textBody) {
          const bytes = new Uint8Array(await capped.arrayBuffer());
          if (!isUtf8(bytes)) throw badRequest("The request body is not valid UTF-8.");
          checked = new fetchAPI.Request(capped.url, { method: capped.method, headers: capped.headers, body: bytes });
        }
        try {
          return await requestParser(checked);
        } catch (error) {
          if (error instanceof SyntaxError) throw badRequest("The request contains invalid JSON.");
          throw error;
        }
      });
    },
  };
}

/** The bytes a query string stands for; WHATWG URLs are ASCII, anything else arrives percent-encoded. */
function percentDecoded(search: string): Buffer {
  const latin1 = search.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
  return Buffer.from(latin1, "latin1");
}

function badRequest(message: string) {
  return createGraphQLError(message, { extensions: { code: "BAD_REQUEST", http: { status: 400 } } });
}
