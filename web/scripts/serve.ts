// `npm run web`: builds the client, then serves the build on WEB_PORT (default 5173) with /config.js pointing
// it at API_URL (default http://localhost:4000/graphql; the WebSocket URL is derived from it). The browser tests
// use the same two functions.
import { fileURLToPath } from "node:url";
import { build, preview, type Plugin, type PreviewServer } from "vite";

const configFile = fileURLToPath(new URL("../vite.config.ts", import.meta.url));
const defaultOutDir = fileURLToPath(new URL("../dist", import.meta.url));

/** Builds into `outDir` (default web/dist); tests build into their own directories, so parallel runs never collide. */
export async function buildWeb(outDir = defaultOutDir): Promise<void> {
  // A build is for serving, whatever NODE_ENV the caller runs under: vitest sets "test", and Vite would then bundle
  // React's development build (three times the size, slower, and with its dev-only JSX runtime).
  const callers = process.env.NODE_ENV;
  process.env.NODE_ENV = "production";
  try {
    await build({ configFile, mode: "production", logLevel: "warn", build: { outDir, emptyOutDir: true } });
  } finally {
    process.env.NODE_ENV = callers;
  }
}

export interface ServedWeb {
  url: string;
  close(): Promise<void>;
}

/** Serves the build in `outDir`; `port` 0 picks a free one. */
export async function serveWeb({
  apiUrl,
  port,
  host = "localhost",
  outDir = defaultOutDir,
}: {
  apiUrl: string;
  port: number;
  host?: string;
  outDir?: string;
}): Promise<ServedWeb> {
  const parsed = new URL(apiUrl);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new Error(`API_URL must be http(s)://…, got ${apiUrl}`);
  const server: PreviewServer = await preview({
    configFile,
    logLevel: "warn",
    preview: { port, host, strictPort: port !== 0 },
    build: { outDir },
    plugins: [runtimeConfig(parsed.href)],
  });
  const address = server.httpServer.address();
  const actualPort = typeof address === "object" && address ? address.port : port;
  return { url: `http://${host}:${actualPort}/`, close: () => server.close() };
}

/** /config.js tells the client where the API is, so one build talks to any API. */
function runtimeConfig(apiUrl: string): Plugin {
  const script = `window.AGENT_API_URL = ${JSON.stringify(apiUrl)};\n`;
  return {
    name: "agent-chat-runtime-config",
    configurePreviewServer(server) {
      server.middlewares.use("/config.js", (_request, response) => {
        response.setHeader("content-type", "text/javascript; charset=utf-8");
        response.setHeader("cache-control", "no-store");
        response.end(script);
      });
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const apiUrl = process.env.API_URL || "http://localhost:4000/graphql";
  const port = Number(process.env.WEB_PORT || 5173);
  await buildWeb();
  const served = await serveWeb({ apiUrl, port });
  console.log(`Chat client on ${served.url} (API: ${apiUrl}). Start the API with \`npm start\` if it is not running.`);
  const stop = () => void served.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
