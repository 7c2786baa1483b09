import type { ChatMessageFragment } from "../generated/graphql.ts";

export interface ToolView {
  toolCallId: string;
  name: string;
  running: boolean;
  result?: string | null;
  isError?: boolean;
}

/** A reply being streamed: its text so far and its tool calls as they start and finish. */
export interface LiveReply {
  replyId: string;
  text: string;
  tools: ToolView[];
  queuedPosition?: number;
  connection: "live" | "reconnecting";
}

const ENDINGS: Record<string, string> = {
  CANCELLED: "Stopped.",
  FAILED: "The reply failed.",
  INTERRUPTED: "The reply was interrupted.",
};

export function MessageView({ message, live }: { message: ChatMessageFragment; live: LiveReply | null }) {
  const mine = message.role === "USER";
  const text = live ? live.text : message.content;
  const tools: ToolView[] = live
    ? live.tools
    : message.toolCalls.map((call) => ({ ...call, running: call.finishedAt == null }));
  const streaming = live !== null;
  return (
    <article aria-label={mine ? "You" : "Assistant"} aria-busy={streaming} className={mine ? "mine" : "theirs"}>
      {tools.length > 0 && (
        <ul className="tools" aria-label="Tool calls">
          {tools.map((tool) => (
            <li key={tool.toolCallId}>
              <code>{tool.name}</code>{" "}
              {tool.running ? "running…" : tool.isError ? `failed: ${tool.result ?? ""}` : `→ ${tool.result ?? ""}`}
            </li>
          ))}
        </ul>
      )}
      {live?.queuedPosition !== undefined && (
        <p className="note">Waiting for a free slot (number {live.queuedPosition} in line)…</p>
      )}
      <p className="content">{text}</p>
      {streaming && <span className="note">Writing…</span>}
      {!streaming && ENDINGS[message.status] && (
        <p className="note">
          {ENDINGS[message.status]}
          {message.errorCode && message.status !== "CANCELLED" ? ` (${message.errorCode})` : ""}
        </p>
      )}
    </article>
  );
}
