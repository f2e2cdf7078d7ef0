import { useState } from 'preact/hooks';
import { ApiFailure } from '../api';

/** Paste a bearer token; it is checked with GET /api/v1/whoami and kept in sessionStorage only. */
export function SignIn({ onSignIn, problem }: { onSignIn: (token: string) => Promise<void>; problem: string | undefined }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(problem);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    performance.mark('weir:sign-in');
    setBusy(true);
    setError(undefined);
    try {
      await onSignIn(token.trim());
    } catch (err) {
      setError(err instanceof ApiFailure ? `${err.message} (HTTP ${err.status}, ${err.code})` : `cannot reach the control API: ${(err as Error).message}`);
      setBusy(false);
    }
  };
  return (
    <main id="main" class="sign-in">
      <h1>Weir console</h1>
      <form onSubmit={submit}>
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autoFocus autocomplete="off" spellcheck={false} required value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} aria-describedby="token-help" />
        <p id="token-help" class="muted">
          A Weir API token (weir_…), as printed by <code>make up</code> or issued with <code>weir token create</code>. It is kept in this tab only (sessionStorage) and sent as a bearer token.
        </p>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error ? (
          <p role="alert" class="alert">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}
