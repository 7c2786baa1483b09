import { useCallback, useSyncExternalStore } from "react";

const PREFIX = "#/chats/";

/** The open chat lives in the URL (`#/chats/<id>`), so a reload reopens it and rejoins a reply in progress. */
export function useOpenChat(): [string | null, (sessionId: string | null) => void] {
  const hash = useSyncExternalStore(
    (listener) => {
      window.addEventListener("hashchange", listener);
      return () => window.removeEventListener("hashchange", listener);
    },
    () => window.location.hash,
  );
  const open = useCallback((sessionId: string | null) => {
    window.location.hash = sessionId ? `${PREFIX}${encodeURIComponent(sessionId)}` : "";
  }, []);
  return [hash.startsWith(PREFIX) ? decodeURIComponent(hash.slice(PREFIX.length)) : null, open];
}

export const chatHref = (sessionId: string) => `${PREFIX}${encodeURIComponent(sessionId)}`;
