/**
 * Decides whether a runtime-API reply is an error. HAProxy answers every command with free text,
 * so the rules are per command family (MG §9.3 and observed 2.6.12 replies).
 */

/** Replies that are errors whatever the command (first line of the reply). */
const ERROR_PREFIXES: RegExp[] = [
  /^Unknown command/,
  /^No such (server|backend|frontend|proxy|table|listener)/i,
  /^Require '/,
  /^Can't find /,
  /^Unknown map identifier/,
  /^Unknown ACL identifier/,
  /^Invalid /,
  /^Only servers in maintenance mode/,
  /^'[^']+' only supports/,
  /^'[^']+' expects/,
  /^usage: /i,
  /^Permission denied/,
  /^Version number out of range/,
  /^Absolute weight /,
  /^Relative weight /,
  /^Empty weight string/,
  /^Backend is using a static LB algorithm/,
  /^Backend must use a dynamic/,
  /^Already exists a server/,
  /^Missing /,
  /^Unable to /,
  /^Failed to /,
  /^Out of memory/i,
  /^Unexpected /,
  /^This command /,
  /^Server (is still in use|still has connections|remains|has)/,
  /^'set server <srv>/,
  /not found\.?$/,
  /^Proxy is disabled/,
  /^Frontend is disabled/,
];

/** Successful replies of commands that normally answer with text. */
const SUCCESS_TEXT: Array<{ cmd: RegExp; ok: RegExp }> = [
  // srv_update_addr_port(): e.g. "IP changed from '1.2.3.4' to '1.2.3.5', no need to change the port by 'stats socket command'"
  { cmd: /^set server \S+ addr /, ok: /^(no need to change the addr|IP changed from|port changed from|no need to change the port)/ },
  { cmd: /^set server \S+ fqdn /, ok: /^(no need to change the FDQN|no need to change the FQDN|FQDN changed from)/i },
  { cmd: /^add server /, ok: /^New server registered\.?$/ },
  { cmd: /^del server /, ok: /^Server deleted\.?$/ },
  { cmd: /^prepare (map|acl) /, ok: /^New version created: \d+$/ },
  // [edge] TLS certificates (MG "set ssl cert" … "del ssl crt-list"; replies observed on 2.6.12).
  { cmd: /^set ssl cert /, ok: /^Transaction (created|updated) for certificate / },
  { cmd: /^commit ssl cert /, ok: /^Committing [\s\S]*Success!$/ },
  { cmd: /^new ssl cert /, ok: /^New empty certificate store / },
  { cmd: /^abort ssl cert /, ok: /^Transaction aborted for certificate / },
  { cmd: /^add ssl crt-list /, ok: /^Inserting certificate [\s\S]*Success!$/ },
  { cmd: /^del ssl crt-list /, ok: /^Entry '[^']*' deleted in crtlist / },
  { cmd: /^del ssl cert /, ok: /^Certificate '[^']*' deleted!$/ },
];

/** Commands whose success reply is empty: any text at all is an error. */
const EMPTY_ON_SUCCESS: RegExp =
  /^(set (server|weight|maxconn|rate-limit|map|table|dynamic-cookie-key|severity-output|timeout)|enable |disable |add (map|acl) |del (map|acl) |clear (map|acl|counters|table)|commit (map|acl) |shutdown (session|sessions|frontend) )/;

/** Returns null if `reply` means success for `command`, otherwise the error text. */
export function replyError(command: string, reply: string): string | null {
  const cmd = stripProcessPrefix(command.trim());
  const text = reply.trim();
  const firstLine = text.split('\n', 1)[0] ?? '';
  for (const rule of SUCCESS_TEXT) {
    if (rule.cmd.test(cmd)) {
      return rule.ok.test(text) && !/invalid|can't|cannot|unable|failed/i.test(text) ? null : text || 'empty reply';
    }
  }
  if (EMPTY_ON_SUCCESS.test(cmd)) return text === '' ? null : text;
  if (text === '') return null;
  return ERROR_PREFIXES.some((re) => re.test(firstLine)) ? text : null;
}

/** Master CLI routing prefixes (`@1 `, `@!<pid> `, `@master `) do not change the reply format. */
function stripProcessPrefix(cmd: string): string {
  return cmd.replace(/^@\S*\s+/, '');
}
