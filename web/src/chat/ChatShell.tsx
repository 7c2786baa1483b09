import { useState } from "react";
import { useClient, useMutation, useQuery } from "urql";
import type { Api } from "../api/client.ts";
import { describeError } from "../api/errors.ts";
import type { Credentials } from "../auth/auth-session.ts";
import { NewChatDocument, SessionsDocument, SignOutDocument } from "../generated/graphql.ts";
import { Conversation } from "./Conversation.tsx";
import { ApiKeys } from "../keys/ApiKeys.tsx";
import { chatHref, KEYS_HASH, useRoute } from "./use-hash-route.ts";

export function ChatShell({ api, user }: { api: Api; user: Credentials["user"] }) {
  const client = useClient();
  const { openChat, keys, open: setOpenChat } = useRoute();
  const [error, setError] = useState<string | null>(null);
  const [sessions, refetchSessions] = useQuery({ query: SessionsDocument, requestPolicy: "cache-and-network" });
  const [, newChat] = useMutation(NewChatDocument);
  const list = sessions.data?.me?.sessions.edges.map((edge) => edge.node) ?? [];
  const refreshList = () => refetchSessions({ requestPolicy: "network-only" });

  async function startChat() {
    setError(null);
    const result = await newChat({ input: {} });
    if (!result.data) return setError(describeError(result.error));
    refreshList();
    setOpenChat(result.data.createSession.session.id);
  }

  async function signOut() {
    // Ends this login on the server (its tokens and open streams); the local sign-out happens whatever it says.
    await client.mutation(SignOutDocument, {}).toPromise();
    api.disconnect();
    api.auth.signedOut();
    setOpenChat(null);
  }

  return (
    <div className="shell">
      <header>
        <h1>Agent chat</h1>
        <span className="user">{user.email}</span>
        <a href={KEYS_HASH} aria-current={keys ? "page" : undefined}>
          API keys
        </a>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <nav aria-label="Chats">
        <button type="button" onClick={startChat}>
          New chat
        </button>
        {sessions.error && !sessions.data && <p role="alert">{describeError(sessions.error)}</p>}
        <ul>
          {list.map((session) => (
            <li key={session.id}>
              <a href={chatHref(session.id)} aria-current={session.id === openChat ? "page" : undefined}>
                {session.name}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        {keys ? (
          <ApiKeys />
        ) : openChat ? (
          <Conversation
            key={openChat}
            api={api}
            sessionId={openChat}
            onActivity={refreshList}
            onDeleted={() => {
              setOpenChat(null);
              refreshList();
            }}
          />
        ) : (
          <p className="empty">Pick a chat or start a new one.</p>
        )}
      </main>
    </div>
  );
}
