// A TCP relay between the browser and the API that the test controls: `cut()` destroys every open connection
// (HTTP keep-alives and WebSockets alike) and refuses new ones for a while, the way a dropped network looks to a
// client. Chromium's offline emulation cannot stand in: it holds an open WebSocket's frames instead of closing it.
import { createServer, connect, type Server, type Socket } from "node:net";

export interface TcpRelay {
  /** http://127.0.0.1:<port>: the relay's address, for API_URL. */
  origin: string;
  /** Connections accepted so far (a reconnect shows up here). */
  readonly accepted: number;
  /** Ends every open connection at once; connections arriving in the next `downMs` are dropped too. */
  cut(downMs?: number): void;
  close(): Promise<void>;
}

export async function startTcpRelay(target: { host: string; port: number }): Promise<TcpRelay> {
  const open = new Set<Socket>();
  let downUntil = 0;
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (Date.now() < downUntil) return void client.destroy();
    accepted += 1;
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.once("close", () => open.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("relay has no port");
  return {
    origin: `http://127.0.0.1:${address.port}`,
    get accepted() {
      return accepted;
    },
    cut(downMs = 0) {
      downUntil = Date.now() + downMs;
      for (const socket of open) socket.destroy();
    },
    close() {
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
