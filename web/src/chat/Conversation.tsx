import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { flushSync } from "react-dom";
import { useMutation, useQuery } from "urql";
import { SignedOutError } from "../auth/auth-session.ts";
import type { Api } from "../api/client.ts";
import { describeError } from "../api/errors.ts";
import {
  ConversationDocument,
  DeleteChatDocument,
  RenameChatDocument,
  SendDocument,
  StopDocument,
  type ChatMessageFragment,
} from "../generated/graphql.ts";
import { followReply, StreamRefusedError, type FinalReplyEvent } from "./follow-reply.ts";
import { MessageView, type LiveReply } from "./MessageView.tsx";

const DEFAULT_NAME = "New chat";

interface Props {
  api: Api;
  sessionId: string;
  /** Something changed the session's place in the list (a message, a rename). */
  onActivity(): void;
  onDeleted(): void;
}

export function Conversation({ api, sessionId, onActivity, onDeleted }: Props) {
  const [history] = useQuery({
    query: ConversationDocument,
    variables: { id: sessionId },
    requestPolicy: "network-only",
  });
  const [messages, setMessages] = useState<ChatMessageFragment[] | null>(null);
  const [live, setLive] = useState<LiveReply | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [renaming, setRenaming] = useState(false);
  const [, send] = useMutation(SendDocument);
  const [, stop] = useMutation(StopDocument);
  const [, rename] = useMutation(RenameChatDocument);
  const [, remove] = useMutation(DeleteChatDocument);
  const following = useRef<AbortController | null>(null);
  const streamed = useRef("");
  const session = history.data?.session;
  const [name, setName] = useState<string | null>(null);
  const shownName = name ?? session?.name ?? "";

  useEffect(() => () => following.current?.abort(), []);

  // Keep the newest text in view while it grows, unless the user has scrolled up to read.
  const log = useRef<HTMLDivElement>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the text grows; it reads only the element
  useEffect(() => {
    const element = log.current;
    if (element && element.scrollHeight - element.scrollTop - element.clientHeight < 120)
      element.scrollTop = element.scrollHeight;
  }, [messages, live?.text]);

  // Once the history is in: show it, and rejoin the reply still being written (after a reload, say).
  // biome-ignore lint/correctness/useExhaustiveDependencies: once per loaded history; follow and messages must not re-run it
  useEffect(() => {
    if (!session || messages) return;
    setMessages(session.messages.edges.map((edge) => edge.node));
    if (session.activeReply) follow(session.activeReply.id, session.activeReply.streamCursor ?? "");
  }, [session]);

  function follow(replyId: string, after: string) {
    following.current?.abort();
    const controller = new AbortController();
    following.current = controller;
    streamed.current = "";
    setLive({ replyId, text: "", tools: [], connection: "live" });
    followReply(api, {
      sessionId,
      replyId,
      after,
      signal: controller.signal,
      onEvent: (event, text) => {
        streamed.current = text;
        const update = () =>
          setLive((current) => current && { ...current, text, ...liveChanges(current, event), connection: "live" });
        // A tool's start is rendered at once, even when its finish arrives right behind it (React would batch both).
        if (event.__typename === "ToolCallStarted") flushSync(update);
        else update();
      },
      onConnection: (connection) => setLive((current) => current && { ...current, connection }),
    })
      .then((final) => final && finish(final))
      .catch((caught: unknown) => {
        if (caught instanceof SignedOutError) return; // the app shows the sign-in form
        setLive(null);
        setError(caught instanceof StreamRefusedError ? caught.message : "The reply stream stopped unexpectedly.");
      });
  }

  function finish(final: FinalReplyEvent) {
    // The text shown is the text streamed (no gap, nothing twice); the stored row brings status and tools.
    const text = streamed.current;
    setMessages((list) =>
      (list ?? []).map((message) => {
        if (message.id !== final.messageId) return message;
        if (final.__typename === "MessageFailed")
          return { ...message, content: text, status: "FAILED", errorCode: final.code };
        return { ...final.message, content: final.__typename === "MessageSnapshot" ? final.content : text };
      }),
    );
    setLive(null);
    onActivity();
  }

  async function submit(event?: FormEvent) {
    event?.preventDefault();
    const form = composer.current;
    const content = form?.message.value.trim();
    if (!form || !content) return;
    setError(null);
    const result = await send({ input: { sessionId, content } });
    if (!result.data) return setError(describeError(result.error));
    const { message, reply, streamCursor } = result.data.sendMessage;
    form.reset();
    setMessages((list) => [...(list ?? []), message, reply]);
    follow(reply.id, streamCursor);
    // A chat still called "New chat" is named after its first message, so the list tells chats apart.
    if (shownName === DEFAULT_NAME && (messages ?? []).length === 0) await saveName(content.slice(0, 60));
    onActivity();
  }

  async function saveName(newName: string) {
    const result = await rename({ input: { sessionId, name: newName } });
    if (!result.data) return setError(describeError(result.error));
    setName(result.data.renameSession.session.name);
    setRenaming(false);
    onActivity();
  }

  async function deleteChat() {
    if (!window.confirm(`Delete "${shownName}" and all its messages?`)) return;
    following.current?.abort();
    const result = await remove({ input: { sessionId } });
    if (!result.data) return setError(describeError(result.error));
    onDeleted();
  }

  async function stopReply() {
    const result = await stop({ input: { sessionId } });
    if (!result.data) setError(describeError(result.error));
  }

  const composer = useRef<HTMLFormElement & { message: HTMLTextAreaElement }>(null);
  const sendOnEnter = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      void submit();
    }
  };

  if (history.error && !session)
    return (
      <p role="alert" className="error">
        {describeError(history.error)}
      </p>
    );
  if (!session || !messages) return <p className="empty">Loading…</p>;

  return (
    <section className="conversation" aria-labelledby="chat-title">
      <div className="chat-header">
        {renaming ? (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              void saveName(String(new FormData(event.currentTarget).get("name")));
            }}
          >
            <label>
              Chat name
              {/* biome-ignore lint/a11y/noAutofocus: the field opens because the user asked to rename */}
              <input name="name" defaultValue={shownName} required maxLength={200} autoFocus />
            </label>
            <button type="submit">Save name</button>
            <button type="button" onClick={() => setRenaming(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <>
            <h2 id="chat-title">{shownName}</h2>
            <button type="button" onClick={() => setRenaming(true)}>
              Rename chat
            </button>
            <button type="button" onClick={deleteChat}>
              Delete chat
            </button>
          </>
        )}
      </div>
      <div ref={log} role="log" aria-label="Conversation" className="log">
        {messages.map((message) => (
          <MessageView key={message.id} message={message} live={live?.replyId === message.id ? live : null} />
        ))}
      </div>
      {live?.connection === "reconnecting" && (
        <p role="status" className="status">
          Connection lost. Reconnecting…
        </p>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <form ref={composer} className="composer" onSubmit={submit}>
        <label>
          Message
          <textarea name="message" rows={3} onKeyDown={sendOnEnter} required />
        </label>
        <button type="submit">Send</button>
        <button type="button" onClick={stopReply} disabled={!live}>
          Stop
        </button>
      </form>
    </section>
  );
}

function liveChanges(
  current: LiveReply,
  event: Parameters<Parameters<typeof followReply>[1]["onEvent"]>[0],
): Partial<LiveReply> {
  switch (event.__typename) {
    case "MessageQueued":
      return { queuedPosition: event.position };
    case "ToolCallStarted":
      return {
        queuedPosition: undefined,
        tools: [...current.tools, { toolCallId: event.toolCallId, name: event.name, running: true }],
      };
    case "ToolCallFinished":
      return {
        tools: current.tools.map((tool) =>
          tool.toolCallId === event.toolCallId
            ? { ...tool, running: false, result: event.result, isError: event.isError }
            : tool,
        ),
      };
    case "MessageRestarted":
      return { tools: [] };
    default:
      return { queuedPosition: undefined };
  }
}
