// Errors the model reports to users: one per problem, each naming the file and the field.
import type { z } from 'zod';

export interface ModelError {
  /** Where the gateway came from: a file name, "control API", ... */
  source: string;
  /** Dotted field path, e.g. `routes.v2.weight`; empty for the whole document. */
  path: string;
  message: string;
}

export type PathSegment = string | number;

/** `shop.yaml: routes.v2.weight: weights add up to 110%, must be 100%` (path omitted when empty). */
export function formatModelError(e: ModelError): string {
  return [e.source, e.path, e.message].filter((part) => part !== '').join(': ');
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

// Vamp's read-only output fields are rejected like any unknown field; the hint says why.
const VAMP_FIELD_HINTS: Record<string, string> = {
  lookup_name: 'a read-only Vamp output field; remove it',
  internal: 'a read-only Vamp output field; remove it',
  deployed: 'a read-only Vamp output field; remove it',
  service: 'a read-only Vamp output field; remove it',
  kind: 'a Vamp API field; remove it',
  selector: 'Vamp route selectors are not supported; list targets explicitly',
};

type Issue = z.core.$ZodIssue;

/**
 * Maps zod issues to model errors. Our schema sets human messages on the checks it defines;
 * here we replace zod's generic ones (unknown keys, union failures, missing fields).
 */
export function issuesToModelErrors(source: string, issues: readonly Issue[], base: readonly PathSegment[] = []): ModelError[] {
  const out: ModelError[] = [];
  for (const issue of issues) {
    const path = [...base, ...(issue.path as PathSegment[])];
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const hint = Object.hasOwn(VAMP_FIELD_HINTS, key) ? ` (${VAMP_FIELD_HINTS[key]})` : '';
          out.push({ source, path: formatPath(path), message: `unknown field ${quote(key)}${hint}` });
        }
        break;
      case 'invalid_key':
        out.push(...issuesToModelErrors(source, issue.issues, path));
        break;
      case 'invalid_union': {
        if ('input' in issue && issue.input === undefined) {
          out.push({ source, path: formatPath(path), message: 'required field is missing' });
          break;
        }
        // When exactly one alternative got past the type check, its errors are the useful ones.
        const deep = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
        // Among object alternatives, the one whose fields the input uses (no unknown key) is meant.
        const fitting = deep.filter((branch) => !branch.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0));
        if (deep.length === 1 && deep[0]) out.push(...issuesToModelErrors(source, deep[0], path));
        else if (fitting.length === 1 && fitting[0]) out.push(...issuesToModelErrors(source, fitting[0], path));
        else out.push({ source, path: formatPath(path), message: issue.message });
        break;
      }
      case 'invalid_type':
        out.push({
          source,
          path: formatPath(path),
          message: 'input' in issue && issue.input === undefined ? 'required field is missing' : issue.message,
        });
        break;
      default:
        out.push({ source, path: formatPath(path), message: issue.message });
    }
  }
  return out;
}
