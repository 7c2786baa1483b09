// The API's address comes from /config.js (written by whoever serves the build), so one build runs against any API.
declare global {
  interface Window {
    AGENT_API_URL?: string;
  }
}

export const apiUrl = window.AGENT_API_URL || "http://localhost:4000/graphql";
/** Same host and path, WebSocket scheme: http → ws, https → wss. */
export const wsUrl = apiUrl.replace(/^http/, "ws");
