import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { describeError } from "../api/errors.ts";
import { ApiKeysDocument, CreateApiKeyDocument, RevokeApiKeyDocument } from "../generated/graphql.ts";

const when = (iso: string | null | undefined, none: string) => (iso ? new Date(iso).toLocaleString() : none);

/** Keys for the user's own backends (partners): created here, shown once, revoked here. */
export function ApiKeys() {
  const [keys, refetch] = useQuery({ query: ApiKeysDocument, requestPolicy: "cache-and-network" });
  const [, create] = useMutation(CreateApiKeyDocument);
  const [, revoke] = useMutation(RevokeApiKeyDocument);
  const [secret, setSecret] = useState<{ name: string; value: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const list = keys.data?.me?.apiKeys ?? [];

  async function createKey(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const fields = new FormData(form);
    const expires = String(fields.get("expires") ?? "");
    setError(null);
    const result = await create({
      input: {
        name: String(fields.get("name")),
        expiresAt: expires ? new Date(`${expires}T23:59:59`).toISOString() : null,
      },
    });
    if (!result.data) return setError(describeError(result.error));
    const { apiKey, secret: value } = result.data.createApiKey;
    setSecret({ name: apiKey.name, value });
    form.reset();
    refetch({ requestPolicy: "network-only" });
  }

  async function revokeKey(apiKeyId: string) {
    setError(null);
    const result = await revoke({ input: { apiKeyId } });
    if (!result.data) return setError(describeError(result.error));
    refetch({ requestPolicy: "network-only" });
  }

  return (
    <section className="keys" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <p className="note">
        For your own backend (a partner integration): send the key as the <code>x-api-key</code> header. It acts as you,
        with its own rate limits, and may send any query. Never put it in a web page.
      </p>
      <form onSubmit={createKey} className="key-form">
        <label>
          Key name
          <input name="name" required maxLength={100} />
        </label>
        <label>
          Expires (optional)
          <input name="expires" type="date" />
        </label>
        <button type="submit">Create key</button>
      </form>
      {secret && (
        <div role="status" className="secret">
          <p>Your new key “{secret.name}”. Copy it now: it is not shown again.</p>
          <output aria-label="New API key">
            <code>{secret.value}</code>
          </output>{" "}
          <button type="button" onClick={() => void navigator.clipboard?.writeText(secret.value)}>
            Copy key
          </button>
        </div>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Key</th>
            <th>Created</th>
            <th>Expires</th>
            <th>Last used</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {list.map((key) => (
            <tr key={key.id}>
              <td>{key.name}</td>
              <td>
                <code>{key.prefix}…</code>
              </td>
              <td>{when(key.createdAt, "")}</td>
              <td>{when(key.expiresAt, "never")}</td>
              <td>{when(key.lastUsedAt, "never")}</td>
              <td>
                {key.revokedAt ? (
                  `revoked ${when(key.revokedAt, "")}`
                ) : (
                  <button type="button" onClick={() => revokeKey(key.id)}>
                    Revoke {key.name}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
