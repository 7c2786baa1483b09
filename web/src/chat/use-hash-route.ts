import { useCallback, useSyncExternalStore } from "react";

const CHAT_PREFIX = "#/chats/";
export const KEYS_HASH = "#/keys";

function useLocationHash(): string {
  return useSyncExternalStore(
    (listener) => {
      window.addEventListener("hashchange", listener);
      return () => window.removeEventListener("hashchange", listener);
    },
    () => window.location.hash,
  );
}

/**
 * Where the user is lives in the URL: `#/chats/<id>` (so a reload reopens the chat and rejoins a reply in progress)
 * or `#/keys` (API keys).
 */
export function useRoute(): { openChat: string | null; keys: boolean; open(sessionId: string | null): void } {
  const hash = useLocationHash();
  const open = useCallback((sessionId: string | null) => {
    window.location.hash = sessionId ? chatHref(sessionId) : "";
  }, []);
  return {
    openChat: hash.startsWith(CHAT_PREFIX) ? decodeURIComponent(hash.slice(CHAT_PREFIX.length)) : null,
    keys: hash === KEYS_HASH,
    open,
  };
}

export const chatHref = (sessionId: string) => `${CHAT_PREFIX}${encodeURIComponent(sessionId)}`;
