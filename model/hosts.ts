// Host names and addresses as they appear in virtual hosts and targets.
import { isIPv4, isIPv6 } from 'node:net';
import type { Target } from './gateway.js';

export const MAX_HOSTNAME_LENGTH = 253;
const DNS_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** RFC 1123 host name: dot-separated labels, no trailing dot, no wildcard. */
export const DNS_NAME = new RegExp(`^${DNS_LABEL}(?:\\.${DNS_LABEL})*$`);

/** Error message for a host name that is not an exact RFC 1123 name, or null. */
export function checkHostname(name: string): string | null {
  if (name.startsWith('*.')) return `wildcard host names (${JSON.stringify(name.slice(0, 80))}) are not supported: list exact host names`;
  if (name.length > MAX_HOSTNAME_LENGTH) return `host name is longer than ${MAX_HOSTNAME_LENGTH} characters`;
  if (!DNS_NAME.test(name))
    return `${JSON.stringify(name.slice(0, 80))} is not a valid host name (RFC 1123: letters, digits and "-" in dot-separated labels of at most 63 characters)`;
  return null;
}

export type HostResult = { ok: true; host: string; hostKind: Target['hostKind'] } | { ok: false; message: string };

/** Classifies and canonicalises a target host: IPv4, IPv6 (brackets optional, stored without) or DNS name. */
export function classifyHost(raw: string): HostResult {
  const inner = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIPv6(inner) && !inner.includes('%')) {
    // The URL parser gives the canonical text (`0:0::1` → `::1`), so duplicates are found.
    const host = new URL(`http://[${inner}]/`).hostname.slice(1, -1);
    return { ok: true, host, hostKind: 'ipv6' };
  }
  if (inner !== raw) return { ok: false, message: `${JSON.stringify(raw.slice(0, 80))} is not a valid IPv6 address` };
  if (isIPv4(raw)) return { ok: true, host: raw, hostKind: 'ipv4' };
  if (/^[0-9.]+$/.test(raw)) return { ok: false, message: `${JSON.stringify(raw.slice(0, 80))} is not a valid IPv4 address` };
  const problem = checkHostname(raw);
  if (problem) return { ok: false, message: problem };
  return { ok: true, host: raw.toLowerCase(), hostKind: 'dns' };
}

export type TargetSpec = { ok: true; host: string; port: number } | { ok: false; message: string };

/** Splits `"host:port"` / `"[v6]:port"`. */
export function splitHostPort(text: string): TargetSpec {
  const m = /^\[([^\]]*)\]:([0-9]{1,5})$/.exec(text) ?? /^([^:[\]]*):([0-9]{1,5})$/.exec(text);
  if (!m) {
    if (isIPv6(text) || /^[^[].*:.*:/.test(text)) return { ok: false, message: `IPv6 targets need brackets, e.g. "[::1]:80"` };
    return { ok: false, message: `expected "host:port" (IPv6 as "[::1]:80"), got ${JSON.stringify(text.slice(0, 80))}` };
  }
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return { ok: false, message: `port ${port} is out of range 1–65535` };
  return { ok: true, host: text.startsWith('[') ? `[${m[1]}]` : (m[1] as string), port };
}
