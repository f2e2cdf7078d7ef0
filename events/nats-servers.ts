// NATS server URLs: parsed and redacted without loading the NATS client, so the settings of a
// process that does not use NATS do not pull it in.
export class NatsUrlError extends Error {
  override readonly name = 'NatsUrlError';
}

/** Splits `nats://a:4222,nats://b:4222` and checks each URL; throws NatsUrlError naming `setting`. */
export function parseNatsServers(setting: string, raw: string): string[] {
  const servers = raw.split(',').map((u) => u.trim()).filter(Boolean);
  if (servers.length === 0) throw new NatsUrlError(`${setting}: no NATS URL given (nats://host:4222[,nats://host2:4222])`);
  for (const u of servers) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new NatsUrlError(`${setting}: ${JSON.stringify(redactNatsUrl(u))} is not a URL`);
    }
    if ((url.protocol !== 'nats:' && url.protocol !== 'tls:') || !url.hostname) throw new NatsUrlError(`${setting}: ${JSON.stringify(redactNatsUrl(u))} is not a nats://host:port URL`);
  }
  return servers;
}

export function redactNatsUrl(u: string): string {
  try {
    const url = new URL(u);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return u.replace(/\/\/[^@/]*@/, '//');
  }
}
