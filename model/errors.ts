// Errors the model reports to users: one per problem, each naming the file and the field.
import type { z } from 'zod';

export interface ModelError {
  /** Where the gateway came from: a file name, "control API", ... */
  source: string;
  /** Dotted field path, e.g. `routes.v2.weight`; empty for the whole document. */
  path: string;
  message: string;
  /** Where in the YAML/JSON text the field is (1-based), when the document was text. */
  line?: number;
  column?: number;
}

/** Finds a field in the source text: `routes.v2.weight` → line and column of its value. */
export type Locator = (at: readonly PathSegment[], opts?: { key?: boolean }) => { line: number; column: number } | undefined;

export type PathSegment = string | number;

/** `shop.yaml:12:7: routes.v2.weight: weights add up to 110%, must be 100%` (position and path omitted when unknown or empty). */
export function formatModelError(e: ModelError): string {
  const where = e.line !== undefined && e.column !== undefined ? `${e.source}:${e.line}:${e.column}` : e.source;
  return [where, e.path, e.message].filter((part) => part !== '').join(': ');
}

/** A model error for `at`, with its position when a locator is given. */
export function modelError(source: string, at: readonly PathSegment[], message: string, locate?: Locator, locateAt: readonly PathSegment[] = at): ModelError {
  const pos = locate?.(locateAt);
  return { source, path: formatPath(at), message, ...(pos ? { line: pos.line, column: pos.column } : {}) };
}

const SIMPLE_KEY = /^[A-Za-z0-9_-]+$/;

/** `routes.v2.targets[0]`; keys that are not simple words are JSON-quoted so control characters stay visible. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (SIMPLE_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Quotes a user value for an error message: escapes control characters, cuts long values. */
export function quote(value: string, max = 80): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut);
}

// Fields of Vamp's export where Weir has none; the hint says what to write instead.
const VAMP_FIELD_HINTS: Record<string, string> = {
  name: 'a Vamp export target: write "host:port" (weir import vamp converts a Vamp export)',
  url: 'a Vamp export target: write "host:port" (weir import vamp converts a Vamp export)',
  instances: 'Vamp 0.9 route instances: list them as targets ("host:port"); weir import vamp converts a Vamp export',
};

type Issue = z.core.$ZodIssue;

/**
 * Maps zod issues to model errors. Our schema sets human messages on the checks it defines;
 * here we replace zod's generic ones (unknown keys, union failures, missing fields).
 */
export function issuesToModelErrors(source: string, issues: readonly Issue[], base: readonly PathSegment[] = [], locate?: Locator): ModelError[] {
  const out: ModelError[] = [];
  const err = (at: readonly PathSegment[], message: string) => out.push(modelError(source, at, message, locate));
  for (const issue of issues) {
    const path = [...base, ...(issue.path as PathSegment[])];
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const inTarget = path.length >= 2 && path[path.length - 2] === 'targets' && typeof path[path.length - 1] === 'number';
          const hint = Object.hasOwn(VAMP_FIELD_HINTS, key) && (inTarget || key === 'instances') ? ` (${VAMP_FIELD_HINTS[key]})` : '';
          out.push(modelError(source, path, `unknown field ${quote(key)}${hint}`, locate && ((at) => locate(at, { key: true })), [...path, key]));
        }
        break;
      case 'invalid_key':
        // The key itself is wrong: point at it, not at its value.
        out.push(...issuesToModelErrors(source, issue.issues, path, locate && ((at) => locate(at, { key: true }))));
        break;
      case 'invalid_union': {
        if ('input' in issue && issue.input === undefined) {
          err(path, 'required field is missing');
          break;
        }
        // When exactly one alternative got past the type check, its errors are the useful ones.
        const deep = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
        if (deep.length === 1 && deep[0]) out.push(...issuesToModelErrors(source, deep[0], path, locate));
        else err(path, issue.message);
        break;
      }
      case 'invalid_type':
        err(path, 'input' in issue && issue.input === undefined ? 'required field is missing' : issue.message);
        break;
      default:
        err(path, issue.message);
    }
  }
  return out;
}
