// WEIR_ELASTICSEARCH_* settings, parsed the same way by every component (the agent's shipper, the control
// API's metrics endpoints, the release controller's window source). No client import here: the agent loads
// the Elasticsearch client only when shipping is on (es-connection.ts).
export interface ElasticsearchSettings {
  url: string;
  apiKey: string | null;
  username: string | null;
  password: string | null;
  /** Path of a PEM file; read at start. */
  caFile: string | null;
}

/** The environment variables (the agent also takes them as flags, with the same names in its settings table). */
export const ES_ENV = {
  url: 'WEIR_ELASTICSEARCH_URL',
  apiKey: 'WEIR_ELASTICSEARCH_API_KEY',
  username: 'WEIR_ELASTICSEARCH_USERNAME',
  password: 'WEIR_ELASTICSEARCH_PASSWORD',
  ca: 'WEIR_ELASTICSEARCH_CA',
} as const;

/** A WEIR_ELASTICSEARCH_* value that cannot be used; the message names the setting. */
export class EsSettingsError extends Error {
  override readonly name = 'EsSettingsError';
}

export type EsSettingKey = 'url' | 'apiKey' | 'username' | 'password' | 'ca';

/** The settings, each read as `{value, name}` (name: the flag or variable to report it by); null when the URL is empty. */
export function resolveElasticsearchSettings(get: (key: EsSettingKey) => { value: string; name: string }): ElasticsearchSettings | null {
  const v = (k: EsSettingKey): string => get(k).value.trim();
  const url = v('url');
  if (url === '') return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EsSettingsError(`${get('url').name}: "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new EsSettingsError(`${get('url').name}: "${url}" must be http(s)://`);
  const apiKey = v('apiKey') || null;
  const username = v('username') || null;
  const password = get('password').value || null;
  if (apiKey && username) throw new EsSettingsError(`${get('apiKey').name} and ${get('username').name} are both set; use one`);
  if (password && !username) throw new EsSettingsError(`${get('password').name} is set without ${get('username').name}`);
  return { url, apiKey, username, password, caFile: v('ca') || null };
}

/** The same settings from environment variables only (the control API and the release controller have no flags). */
export function elasticsearchSettingsFromEnv(env: NodeJS.ProcessEnv): ElasticsearchSettings | null {
  return resolveElasticsearchSettings((key) => ({ value: env[ES_ENV[key]] ?? '', name: ES_ENV[key] }));
}
