import { useMemo, useSyncExternalStore } from "react";
import { Provider } from "urql";
import type { Api } from "./api/client.ts";
import { AuthForm } from "./auth/AuthForm.tsx";
import { ChatShell } from "./chat/ChatShell.tsx";

export function App({ api }: { api: Api }) {
  const user = useSyncExternalStore(
    (listener) => api.auth.subscribe(listener),
    () => api.auth.user,
  );
  // One urql client per signed-in user: nothing cached for one user is ever shown to the next.
  // biome-ignore lint/correctness/useExhaustiveDependencies: keyed by the user's id, not the object a refresh replaces
  const client = useMemo(() => (user ? api.createUserClient() : null), [api, user?.id]);
  if (!user || !client) return <AuthForm api={api} />;
  return (
    <Provider value={client}>
      <ChatShell api={api} user={user} />
    </Provider>
  );
}
