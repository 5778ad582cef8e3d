// `deploy up --nodes 3` as a user runs it (on free ports, in a directory of the test's):
// three hosts made of network namespaces come up Ready with the control plane on the
// bridge address, `deploy status` lists each host's agent, a second `up` keeps what runs,
// a bad --nodes is a usage error, and `deploy down` removes every name with the prefix.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localHosts, localHostsPrefix } from '@flotilla/deploy';
import { deployMain } from '../lib/cluster.js';
import { hostsSkip } from '../lib/hosts-cluster.js';
import { freePort } from '../lib/ports.js';
import { runCommand, type RunResult } from '../lib/processes.js';

const skip = hostsSkip();
const dir = mkdtempSync(join(tmpdir(), 'flt-test-upn-'));
const dataDir = join(dir, 'data');
const prefix = localHostsPrefix(dataDir);
const env = { HOME: dir, FLOTILLA_CONFIG: join(dir, 'config.yaml'), FLOTILLA_LOG_LEVEL: '' };

function deploy(...args: string[]): Promise<RunResult> {
  return runCommand(process.execPath, [deployMain, ...args], { env, timeoutMs: 400_000 });
}
const output = (r: RunResult): { stdout: string; stderr: string } => ({ stdout: r.stdout, stderr: r.stderr });

t.teardown(async () => {
  if (!skip) await deploy('down', `--data-dir=${dataDir}`).catch(() => undefined);
  localHosts.teardownHosts(prefix, []);
  rmSync(dir, { recursive: true, force: true });
});

t.test('--nodes outside 1..20 is a usage error', { skip }, async (t) => {
  for (const n of ['0', '21', 'x']) {
    const r = await deploy('up', `--data-dir=${dataDir}`, '--nodes', n);
    t.equal(r.code, 2, `--nodes ${n} exits 2`, output(r));
    t.match(r.stderr, /--nodes/, 'and names the flag');
  }
  t.same(localHosts.hostsLeftovers(prefix, []), [], 'and makes nothing');
});

t.test(
  'deploy up --nodes 3: three hosts Ready; status lists them; down removes them all',
  { skip },
  async (t) => {
    const ports: string[] = [];
    for (const p of ['etcd', 'nats', 'registry', 'api']) ports.push(`--${p}-port=${await freePort()}`);
    const up = await deploy('up', `--data-dir=${dataDir}`, '--nodes', '3', ...ports);
    t.equal(up.code, 0, 'up --nodes 3 succeeds', output(up));
    t.match(up.stdout, /3 Ready/, 'and reports three nodes Ready');

    const nodes = await deploy('nodes', '-o', 'json');
    const doc = JSON.parse(nodes.stdout) as {
      items: { metadata: { name: string }; status: { addresses: { type: string; address: string }[] } }[];
    };
    const names = doc.items.map((n) => n.metadata.name).sort();
    t.same(
      names,
      [1, 2, 3].map((i) => `${prefix}-h${i}`),
      'one node per host, named with the prefix',
    );
    const addresses = doc.items.map((n) => n.status.addresses.find((a) => a.type === 'InternalIP')?.address);
    t.equal(new Set(addresses).size, 3, `distinct addresses ${addresses.join(', ')}`);

    const status = await deploy('status', `--data-dir=${dataDir}`);
    t.equal(status.code, 0, 'status is healthy', output(status));
    for (const n of names)
      t.match(
        status.stdout,
        new RegExp(`${n}\\s+\\S+\\s+yes\\s+agent-h\\d\\s+pid \\d+`),
        `status lists ${n}`,
      );

    const again = await deploy('up', `--data-dir=${dataDir}`, '--nodes', '3', ...ports);
    t.equal(again.code, 0, 'a second up succeeds', output(again));
    t.match(again.stdout, /already running/, 'and shows the running cluster');

    const down = await deploy('down', `--data-dir=${dataDir}`);
    t.equal(down.code, 0, 'down succeeds', output(down));
    t.match(down.stdout, /Removed the 3 hosts/);
    t.same(
      localHosts.hostsLeftovers(prefix, []),
      [],
      'no netns, link, mount, cgroup or process of the prefix is left',
    );
  },
);
