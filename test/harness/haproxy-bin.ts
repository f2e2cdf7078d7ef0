import { execFileSync } from 'node:child_process';

/** The HAProxy binary the tests use; `make test` installs it with apt when missing. */
export function haproxyBin(): string {
  const bin = process.env.WEIR_HAPROXY_BIN ?? 'haproxy';
  try {
    execFileSync(bin, ['-v'], { stdio: 'ignore' });
  } catch {
    throw new Error(`HAProxy binary "${bin}" not found: run \`make test\` (installs it with apt-get) or set WEIR_HAPROXY_BIN`);
  }
  return bin;
}
