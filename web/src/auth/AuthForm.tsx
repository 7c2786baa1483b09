import { useState, type FormEvent } from "react";
import type { Api } from "../api/client.ts";
import { describeError } from "../api/errors.ts";
import { SignInDocument, SignUpDocument } from "../generated/graphql.ts";

export function AuthForm({ api }: { api: Api }) {
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const submitter = (event.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    const form = new FormData(event.currentTarget);
    const input = { email: String(form.get("email")), password: String(form.get("password")) };
    setPending(true);
    setError(null);
    const result =
      submitter?.value === "sign-up"
        ? await api.publicClient.mutation(SignUpDocument, { input }).toPromise()
        : await api.publicClient.mutation(SignInDocument, { input }).toPromise();
    setPending(false);
    const credentials = result.data && ("register" in result.data ? result.data.register : result.data.login);
    if (credentials) api.auth.signedIn(credentials);
    else setError(describeError(result.error));
  }

  return (
    <main className="auth">
      <h1>Agent chat</h1>
      <form onSubmit={submit} aria-describedby={error ? "auth-error" : undefined}>
        <label>
          Email
          <input name="email" type="email" autoComplete="username" required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required minLength={8} />
        </label>
        <p className="hint">New here? 8+ characters with upper- and lower-case letters, a digit and a symbol.</p>
        <div className="actions">
          <button type="submit" value="sign-in" disabled={pending}>
            Sign in
          </button>
          <button type="submit" value="sign-up" disabled={pending}>
            Sign up
          </button>
        </div>
        {error && (
          <p id="auth-error" role="alert" className="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
