// Certificates made in the test with the openssl binary (Debian's openssl 3.0): a root CA, an
// intermediate CA, and leaves issued by either with any names and any validity window (expired
// and not-yet-valid ones too, through `openssl ca -startdate/-enddate`). EC P-256 keys by default.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Issued {
  /** The leaf only. */
  cert: string;
  key: string;
  /** Leaf + intermediate (for leaves of the intermediate), what a server sends. */
  chain: string;
}

export interface Pki {
  rootPem: string;
  intermediatePem: string;
  issue(opts: { cn: string; dns?: string[]; ips?: string[]; days?: number; start?: Date; end?: Date; by?: 'root' | 'intermediate'; rsaBits?: number }): Promise<Issued>;
}

const stamp = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';

export async function createPki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const f = (n: string): string => join(dir, n);
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('root.key'), '-out', f('root.pem'), '-days', '3650', '-subj', '/CN=Weir Test Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await writeFile(f('ca.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  await run('openssl', ['req', ...ec, '-keyout', f('int.key'), '-out', f('int.csr'), '-subj', '/CN=Weir Test Intermediate']);
  await run('openssl', ['x509', '-req', '-in', f('int.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-set_serial', '2', '-days', '3650', '-extfile', f('ca.ext'), '-out', f('int.pem')]);
  for (const ca of ['root', 'int']) {
    await mkdir(f(`${ca}-db`), { recursive: true });
    await writeFile(f(`${ca}-db/index.txt`), '');
    await writeFile(f(`${ca}-db/serial`), ca === 'root' ? '1000\n' : '5000\n');
    await writeFile(
      f(`${ca}.cnf`),
      [
        '[ca]',
        'default_ca = weir',
        '[weir]',
        `dir = ${f(`${ca}-db`)}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir',
        'serial = $dir/serial',
        'default_md = sha256',
        'policy = any',
        'unique_subject = no',
        'copy_extensions = none',
        '[any]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
  }
  const rootPem = await readFile(f('root.pem'), 'utf8');
  const intermediatePem = await readFile(f('int.pem'), 'utf8');
  let n = 0;
  return {
    rootPem,
    intermediatePem,
    async issue(o) {
      const id = `leaf${++n}`;
      const keyArgs = o.rsaBits ? ['-newkey', `rsa:${o.rsaBits}`, '-nodes'] : ec;
      await run('openssl', ['req', ...keyArgs, '-keyout', f(`${id}.key`), '-out', f(`${id}.csr`), '-subj', `/CN=${o.cn}`]);
      const sans = [...(o.dns ?? []).map((d) => `DNS:${d}`), ...(o.ips ?? []).map((i) => `IP:${i}`)];
      await writeFile(f(`${id}.ext`), `[leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n${sans.length > 0 ? `subjectAltName=${sans.join(',')}\n` : ''}`);
      const ca = o.by === 'root' ? 'root' : 'int';
      const start = o.start ?? new Date(Date.now() - 3600_000);
      const end = o.end ?? new Date(start.getTime() + (o.days ?? 30) * 86_400_000);
      await run('openssl', ['ca', '-batch', '-notext', '-config', f(`${ca}.cnf`), '-cert', f(`${ca}.pem`), '-keyfile', f(`${ca}.key`), '-in', f(`${id}.csr`), '-out', f(`${id}.pem`), '-extfile', f(`${id}.ext`), '-extensions', 'leaf', '-startdate', stamp(start), '-enddate', stamp(end)]);
      const cert = await readFile(f(`${id}.pem`), 'utf8');
      const key = await readFile(f(`${id}.key`), 'utf8');
      return { cert, key, chain: ca === 'int' ? cert + intermediatePem : cert };
    },
  };
}
