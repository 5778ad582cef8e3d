// The model type maps `npm run build` extracts (scripts/kube-models.mjs) are the package's
// own, and complete: every model a kind reaches is there, so manifest checks read from the
// extract say exactly what they would say from @kubernetes/client-node.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../lib/cluster.js';

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

const extract = JSON.parse(readFileSync(join(repoRoot, 'deploy/dist/kube-models.json'), 'utf8')) as Record<
  string,
  Attribute[]
>;

t.test('every extracted model is the package model, field for field', async (t) => {
  const require = createRequire(join(repoRoot, 'deploy/package.json'));
  const all = join(
    dirname(require.resolve('@kubernetes/client-node/package.json')),
    'dist/gen/models/all.js',
  );
  const models = (await import(pathToFileURL(all).href)) as Record<
    string,
    { getAttributeTypeMap?: () => Attribute[] } | undefined
  >;
  const names = Object.keys(extract);
  t.ok(names.length > 100, `${names.length} models extracted`);
  for (const root of [
    'V1Pod',
    'V1Deployment',
    'V1ReplicaSet',
    'V1Service',
    'V1Endpoints',
    'V1Namespace',
    'V1Node',
    'CoreV1Event',
  ])
    t.ok(extract[root], `${root} is there`);
  const differing = names.filter((name) => {
    const own = (models[name]?.getAttributeTypeMap?.() ?? []).map(({ name: n, baseName, type, format }) => ({
      name: n,
      baseName,
      type,
      format,
    }));
    return JSON.stringify(own) !== JSON.stringify(extract[name]);
  });
  t.same(differing, [], 'no model differs from the package');
  const missing = names.flatMap((name) =>
    (extract[name] ?? []).flatMap((a) =>
      [...a.type.matchAll(/[A-Z][A-Za-z0-9]+/g)]
        .map((m) => m[0])
        .filter((word) => models[word]?.getAttributeTypeMap && !extract[word]),
    ),
  );
  t.same([...new Set(missing)], [], 'every model a field refers to is extracted too');
});
