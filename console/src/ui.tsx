// Small pieces the screens share.
import type { ComponentChildren } from 'preact';
import type { ApiFailure } from './api';

/** An API failure as the API worded it, in a role=alert element. */
export function ErrorNote({ error, what }: { error: ApiFailure | undefined; what?: string }) {
  if (!error) return null;
  return (
    <p role="alert" class="alert">
      {what ? `${what}: ` : ''}
      {error.message} <span class="code">({error.status ? `HTTP ${error.status}, ` : ''}{error.code})</span>
    </p>
  );
}

/** A state in words and a symbol, never colour alone. */
export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'idle'; children: ComponentChildren }) {
  const mark = { ok: '✓', warn: '!', bad: '✗', idle: '·' }[tone];
  return (
    <span class={`badge ${tone}`}>
      <span aria-hidden="true">{mark} </span>
      {children}
    </span>
  );
}

export function Loading({ what }: { what: string }) {
  return <p class="muted" aria-busy="true">Loading {what}…</p>;
}

/** A table's column headings; `num` columns are right-aligned figures. */
export function Head({ cols }: { cols: Array<string | { label: string; num: true }> }) {
  return (
    <thead>
      <tr>
        {cols.map((c) =>
          typeof c === 'string' ? (
            <th scope="col">{c}</th>
          ) : (
            <th scope="col" class="num">
              {c.label}
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}
