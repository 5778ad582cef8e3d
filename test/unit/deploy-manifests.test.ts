// Manifests: -f FILE|DIR|- read in order, multi-document YAML, the strict check against
// @kubernetes/client-node's models (every problem with its file, document, object, field
// path, value and what is expected), and the conversion to the proto Object.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  checkDocument,
  checkManifests,
  kubernetesModels,
  loadManifests,
  parseDocuments,
  quantityFields,
  readSources,
  supportedFields,
  type ModelTypes,
} from '@flotilla/deploy';

const deployment = (spec: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'web:1', ports: [{ containerPort: 8080 }] }] },
    },
    ...spec,
  },
  ...extra,
});

let types: ModelTypes;
let dir: string;
t.before(async () => {
  types = await kubernetesModels();
  dir = await mkdtemp(join(tmpdir(), 'flotilla-manifests-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

const messages = (doc: unknown): string[] => checkDocument(doc, types).problems.list.map((p) => p.message);

t.test('a valid Deployment has no problems and converts to the proto Object', async (t) => {
  const checked = checkDocument(
    deployment({
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: '25%' } },
    }),
    types,
  );
  t.same(checked.problems.list, []);
  t.equal(checked.info?.kind, 'Deployment');
  t.equal(checked.label, 'Deployment/web');
  const { manifests, problems } = await checkManifests(
    ['-'],
    { cwd: dir, readStdin: async () => JSON.stringify(deployment()) },
    types,
  );
  t.same(problems, []);
  const d = manifests[0]?.object.deployment;
  t.equal(d?.spec?.replicas, 3);
  t.same(d?.spec?.selector?.matchLabels, { app: 'web' });
  t.equal(d?.spec?.template?.spec?.containers[0]?.ports[0]?.containerPort, 8080);
  t.equal(manifests[0]?.object.service, undefined, 'only the one kind is set');
});

t.test('IntOrString and quantities become the strings the proto expects', async (t) => {
  const doc = deployment({ strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: '25%' } } });
  const container = doc.spec.template.spec.containers[0] as Record<string, unknown>;
  container.resources = { requests: { cpu: 1, memory: '64Mi' }, limits: { cpu: 0.5 } };
  container.readinessProbe = { httpGet: { path: '/', port: 8080 } };
  const json = checkDocument(doc, types).json as Record<string, never>;
  const { manifests } = await checkManifests(
    ['-'],
    { cwd: dir, readStdin: async () => JSON.stringify(doc) },
    types,
  );
  t.ok(json);
  const spec = manifests[0]?.object.deployment?.spec;
  t.equal(spec?.strategy?.rollingUpdate?.maxSurge, '1');
  t.equal(spec?.strategy?.rollingUpdate?.maxUnavailable, '25%');
  const c = spec?.template?.spec?.containers[0];
  t.same(c?.resources?.requests, { cpu: '1', memory: '64Mi' });
  t.same(c?.resources?.limits, { cpu: '0.5' });
  t.equal(c?.readinessProbe?.httpGet?.port, '8080');
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: {
      selector: { app: 'web' },
      ports: [
        { port: 80, targetPort: 8080 },
        { port: 81, targetPort: 'http' },
      ],
    },
  };
  const s = await checkManifests(['-'], { cwd: dir, readStdin: async () => JSON.stringify(service) }, types);
  t.same(
    s.manifests[0]?.object.service?.spec?.ports.map((p) => p.targetPort),
    ['8080', 'http'],
  );
});

t.test('status is ignored, nulls are unset', async (t) => {
  const doc = deployment({}, { status: { replicas: 3, availableReplicas: 3 } });
  (doc.metadata as Record<string, unknown>).annotations = null;
  const checked = checkDocument(doc, types);
  t.same(checked.problems.list, []);
  t.equal(checked.json?.status, undefined);
  t.equal((checked.json?.metadata as Record<string, unknown>).annotations, undefined);
});

t.test('structural problems: each names the field path, the value and what is expected', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    [
      'unknown field with a suggestion',
      deployment({ replica: 3 }),
      /^spec\.replica: 3 is not a field of DeploymentSpec; did you mean "replicas"\?$/,
    ],
    [
      'unknown field deep down',
      deployment({
        template: { spec: { containers: [{ name: 'web', image: 'w', imagePullPolice: 'Always' }] } },
      }),
      /^spec\.template\.spec\.containers\[0\]\.imagePullPolice: "Always" is not a field of Container; did you mean "imagePullPolicy"\?$/,
    ],
    [
      'unknown field, nothing close',
      deployment({ zzzzzzzz: 1 }),
      /^spec\.zzzzzzzz: 1 is not a field of DeploymentSpec; its fields: minReadySeconds, paused, /,
    ],
    [
      'a string for an integer',
      deployment({ replicas: 'three' }),
      /^spec\.replicas: "three" is a string; expected an integer \(int32\)$/,
    ],
    [
      'a fraction for an integer',
      deployment({ replicas: 1.5 }),
      /^spec\.replicas: 1\.5 is a number; expected an integer \(int32\)$/,
    ],
    [
      'out of int32 range',
      deployment({ replicas: 2 ** 40 }),
      /^spec\.replicas: 1099511627776 is out of range; expected an integer from -2147483648 to 2147483647$/,
    ],
    [
      'a string for a boolean',
      deployment({ paused: 'yes' }),
      /^spec\.paused: "yes" is a string; expected true or false$/,
    ],
    [
      'a scalar for an object',
      deployment({ selector: 'app=web' }),
      /^spec\.selector: "app=web" is a string; expected an object \(LabelSelector\)$/,
    ],
    [
      'an object for a list',
      deployment({ template: { spec: { containers: { name: 'web' } } } }),
      /^spec\.template\.spec\.containers: \{"name":"web"\} is an object; expected a list$/,
    ],
    [
      'a number for a label value',
      deployment({ selector: { matchLabels: { app: 1 } } }),
      /^spec\.selector\.matchLabels\.app: 1 is an integer; expected a string$/,
    ],
    [
      'a label key with dots',
      deployment({ selector: { matchLabels: { 'app.kubernetes.io/name': true } } }),
      /^spec\.selector\.matchLabels\["app\.kubernetes\.io\/name"\]: true is a boolean; expected a string$/,
    ],
    [
      'a bad IntOrString',
      deployment({ strategy: { rollingUpdate: { maxSurge: 0.5 } } }),
      /^spec\.strategy\.rollingUpdate\.maxSurge: 0\.5 is a number; expected an integer or a string such as 1 or "25%"$/,
    ],
    [
      'a bad quantity',
      deployment({
        template: {
          spec: { containers: [{ name: 'w', image: 'w', resources: { limits: { memory: 'lots' } } }] },
        },
      }),
      /^spec\.template\.spec\.containers\[0\]\.resources\.limits\.memory: "lots" is not a quantity; expected a number with an optional suffix such as 500m, 2, 1\.5 or 64Mi$/,
    ],
  ];
  for (const [name, doc, message] of cases) {
    const found = messages(doc);
    t.equal(found.length, 1, `${name}: one problem (${found.join(' | ')})`);
    t.match(found[0], message, name);
  }
});

t.test('fields Kubernetes has but Flotilla does not are refused, not dropped', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    [
      'serviceAccountName',
      deployment({ template: { spec: { serviceAccountName: 'web', containers: [] } } }),
      /^spec\.template\.spec\.serviceAccountName: "web" is not supported by Flotilla; the PodSpec fields it supports: containers, /,
    ],
    [
      'initContainers',
      deployment({ template: { spec: { initContainers: [{ name: 'i' }], containers: [] } } }),
      /^spec\.template\.spec\.initContainers: \[\{"name":"i"\}\] is not supported by Flotilla/,
    ],
    [
      'envFrom',
      deployment({ template: { spec: { containers: [{ name: 'w', envFrom: [] }] } } }),
      /^spec\.template\.spec\.containers\[0\]\.envFrom: \[\] is not supported by Flotilla; the Container fields it supports: name, image, /,
    ],
    [
      'env valueFrom',
      deployment({
        template: { spec: { containers: [{ name: 'w', env: [{ name: 'A', valueFrom: {} }] }] } },
      }),
      /^spec\.template\.spec\.containers\[0\]\.env\[0\]\.valueFrom: \{\} is not supported by Flotilla/,
    ],
    [
      'podAffinity',
      deployment({ template: { spec: { affinity: { podAffinity: {} }, containers: [] } } }),
      /^spec\.template\.spec\.affinity\.podAffinity: \{\} is not supported by Flotilla; the Affinity fields it supports: nodeAffinity$/,
    ],
    [
      'generateName',
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', generateName: 'p-' } },
      /^metadata\.generateName: "p-" is not supported by Flotilla/,
    ],
    [
      'sessionAffinity',
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { sessionAffinity: 'ClientIP' } },
      /^spec\.sessionAffinity: "ClientIP" is not supported by Flotilla; the ServiceSpec fields it supports: type, selector, ports, clusterIP$/,
    ],
  ];
  for (const [name, doc, message] of cases) {
    const found = messages(doc);
    t.equal(found.length, 1, `${name}: one problem (${found.join(' | ')})`);
    t.match(found[0], message, name);
  }
});

t.test('kind and apiVersion: missing, wrong, unsupported', async (t) => {
  t.same(messages({ metadata: { name: 'x' } }), [
    'kind: required; one of Pod, Deployment, Service, Namespace',
    'apiVersion: required, such as v1 or apps/v1',
  ]);
  t.same(messages({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }), [
    'kind: "ConfigMap" is not supported by Flotilla (supported kinds: Pod, Deployment, Service, Namespace)',
  ]);
  t.same(messages({ apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } }), [
    'kind: "Deploymnet" is not supported by Flotilla; did you mean "Deployment"? (supported kinds: Pod, Deployment, Service, Namespace)',
  ]);
  t.match(messages({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } }), [
    /^kind: "Node" cannot be applied/,
  ]);
  t.same(messages({ ...deployment(), apiVersion: 'v1' }), [
    'apiVersion: "v1" does not serve kind Deployment; expected "apps/v1"',
  ]);
  t.same(messages({ apiVersion: 'v1', kind: 'Namespace' }), ['metadata.name: required']);
  t.same(messages(['a list']), [
    '(document): ["a list"] is a list; expected an object with apiVersion, kind and metadata',
  ]);
});

t.test('multi-document YAML: empty documents skipped, numbered as written, a List expanded', async (t) => {
  const text = [
    '# comment only before the first separator',
    '---',
    'apiVersion: v1',
    'kind: Namespace',
    'metadata: {name: a}',
    '---',
    '---',
    '# an empty one',
    '---',
    'apiVersion: v1',
    'kind: List',
    'items:',
    '  - {apiVersion: v1, kind: Namespace, metadata: {name: b}}',
    '  - {apiVersion: v1, kind: Namespace, metadata: {name: c}}',
  ].join('\n');
  const parsed = parseDocuments('m.yaml', text);
  t.same(parsed.problems, []);
  t.same(
    parsed.documents.map((d) => [d.index, d.item, (d.value as { metadata: { name: string } }).metadata.name]),
    [
      [1, undefined, 'a'],
      [4, 0, 'b'],
      [4, 1, 'c'],
    ],
  );
  const bad = parseDocuments('bad.yaml', 'a: 1\n---\nb: [1\n---\nc: 1\nc: 2\n');
  t.equal(bad.documents.length, 1);
  t.match(bad.problems, [
    /^bad\.yaml document 2: invalid YAML: /,
    /^bad\.yaml document 3: invalid YAML: .*[Uu]nique/,
  ]);
  t.same(parseDocuments('empty.yaml', '\n# nothing\n').documents, []);
});

t.test('-f: files, a directory in name order (manifests only), stdin, in the order given', async (t) => {
  const ns = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;
  const sub = join(dir, 'dir');
  await mkdir(join(sub, 'nested'), { recursive: true });
  await writeFile(join(sub, 'b.yaml'), ns('b'));
  await writeFile(join(sub, 'a.yml'), ns('a'));
  await writeFile(
    join(sub, 'c.json'),
    JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'c' } }),
  );
  await writeFile(join(sub, 'README.md'), '# not a manifest');
  await writeFile(join(sub, 'nested', 'z.yaml'), ns('z'));
  await writeFile(join(dir, 'one.yaml'), ns('one'));
  const read = await readSources(['one.yaml', 'dir', '-'], { cwd: dir, readStdin: async () => ns('stdin') });
  t.same(read.problems, []);
  t.same(
    read.sources.map((s) => s.name),
    ['one.yaml', 'dir/a.yml', 'dir/b.yaml', 'dir/c.json', '<stdin>'],
  );
  const { manifests, problems } = await checkManifests(
    ['one.yaml', 'dir', '-'],
    { cwd: dir, readStdin: async () => ns('stdin') },
    types,
  );
  t.same(problems, []);
  t.same(
    manifests.map((m) => m.object.namespace?.metadata?.name),
    ['one', 'a', 'b', 'c', 'stdin'],
  );
  const missing = await readSources(['nope.yaml', 'dir/nested/..', '-', '-'], {
    cwd: dir,
    readStdin: async () => '',
  });
  t.same(missing.problems, [
    'nope.yaml: no such file or directory',
    '-: stdin can be read only once; give "-f -" once',
  ]);
  await mkdir(join(dir, 'empty'));
  t.same((await readSources(['empty'], { cwd: dir, readStdin: async () => '' })).problems, [
    'empty: no .yaml, .yml, .json files in the directory',
  ]);
});

t.test('every problem of every document is reported at once, and nothing loads', async (t) => {
  const text = [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata: {name: web}',
    'spec: {replica: 3, paused: "no"}',
    '---',
    'apiVersion: v1',
    'kind: Service',
    'metadata: {name: web}',
    'spec: {ports: [{port: "80"}]}',
    '---',
    'apiVersion: v1',
    'kind: Namespace',
    'metadata: {name: fine}',
  ].join('\n');
  await writeFile(join(dir, 'web.yaml'), text);
  const error = await loadManifests(['web.yaml'], { cwd: dir, readStdin: async () => '' }, types).then(
    () => undefined,
    (err: unknown) => err as Error & { code?: string },
  );
  t.equal(error?.code, 'InvalidArgument');
  t.equal(
    error?.message,
    '3 problems in the manifests, nothing was sent:\n' +
      '  web.yaml document 1 (Deployment/web): spec.replica: 3 is not a field of DeploymentSpec; did you mean "replicas"?\n' +
      '  web.yaml document 1 (Deployment/web): spec.paused: "no" is a string; expected true or false\n' +
      '  web.yaml document 2 (Service/web): spec.ports[0].port: "80" is a string; expected an integer (int32)',
  );
  const none = await loadManifests(['-'], { cwd: dir, readStdin: async () => '# nothing\n' }, types).catch(
    (err: Error) => err.message,
  );
  t.equal(none, '1 problem in the manifests, nothing was sent:\n  no objects in -');
});

t.test('the support table names only fields client-node knows, and models it has', async (t) => {
  for (const [model, fields] of Object.entries({ ...supportedFields, ...quantityFields })) {
    const attributes = types.attributes(model);
    t.ok(attributes, `${model} is a client-node model`);
    const names = (attributes ?? []).map((a) => a.baseName);
    for (const field of fields) t.ok(names.includes(field), `${model}.${field} exists in Kubernetes`);
  }
});

t.test('examples/web.yaml: three replicas of the web image and a Service, valid', async (t) => {
  const root = join(import.meta.dirname, '..', '..');
  const manifests = await loadManifests(
    ['examples/web.yaml'],
    { cwd: root, readStdin: async () => '' },
    types,
  );
  t.same(
    manifests.map((m) => m.label),
    ['Deployment/web', 'Service/web'],
  );
  const d = manifests[0]?.object.deployment;
  t.equal(d?.spec?.replicas, 3);
  t.equal(d?.spec?.template?.spec?.containers[0]?.image, '127.0.0.1:5000/examples/web:latest');
  t.same(manifests[1]?.object.service?.spec?.selector, { app: 'web' });
});
