// Parsing of settings values that every component's settings share (host:port, namespaces),
// and the error they throw: a message naming the setting and what it must look like.
import type { Namespace } from '../store/store.js';

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

export function int(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new SettingsError(`${name}: "${raw}" is not a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw new SettingsError(`${name}: ${n} is outside ${min}..${max}`);
  return n;
}

export function parseHostPort(name: string, raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(raw.trim());
  if (!m) throw new SettingsError(`${name}: "${raw}" is not host:port`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port: int(name, m[3] ?? '', 0, 65535) };
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function parseNamespace(name: string, raw: string): Namespace {
  const [org, env, ...rest] = raw.split('/');
  if (!org || !env || rest.length > 0 || !DNS_LABEL.test(org) || !DNS_LABEL.test(env)) {
    throw new SettingsError(`${name}: "${raw}" must be <org>/<env>, each a lower-case DNS label`);
  }
  return { org, env };
}
