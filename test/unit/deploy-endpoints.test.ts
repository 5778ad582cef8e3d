// Endpoints in the CLI: kubectl's ENDPOINTS column ("ip:port,… + N more..."), get ep's
// table and documents, describe service's Endpoints lines (read beside the service),
// describe endpoints, the ep short name, and the manifest check's message for kind
// Endpoints.
import t from 'tap';
import { FlotillaError } from '@flotilla/common';
import { Endpoints, Service, type Object as ApiObject } from '@flotilla/proto';
import {
  checkDocument,
  describeObject,
  describeOne,
  formatEndpoints,
  getObjects,
  kindInfo,
  kubernetesModels,
  objectsTable,
  resolveResource,
  type KindInfo,
  type ObjectApi,
} from '@flotilla/deploy';

const now = new Date('2026-12-01T12:00:00Z');
const info = (kind: string): KindInfo => kindInfo(kind) as KindInfo;

const address = (ip: string, pod: string) => ({
  ip,
  nodeName: 'n1',
  targetRef: { kind: 'Pod', namespace: 'default', name: pod },
});

function endpoints(name: string, subsets: unknown[], created = '2026-12-01T11:58:00Z'): Endpoints {
  return Endpoints.fromJSON({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: 'default', creationTimestamp: created },
    subsets,
  });
}

const web = endpoints('web', [
  {
    addresses: [address('10.244.0.5', 'a'), address('10.244.1.7', 'b')],
    notReadyAddresses: [address('10.244.2.9', 'c')],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  },
]);

t.test('the ENDPOINTS column', async (t) => {
  t.equal(
    formatEndpoints(web),
    '10.244.0.5:8080,10.244.1.7:8080',
    'ready addresses only, each with its port',
  );
  t.equal(formatEndpoints(endpoints('x', [])), '<none>', 'no subsets');
  t.equal(formatEndpoints(undefined), '<none>');
  t.equal(
    formatEndpoints(
      endpoints('x', [{ notReadyAddresses: [address('10.0.0.1', 'a')], ports: [{ port: 80 }] }]),
    ),
    '<none>',
    'only not-ready addresses',
  );
  const many = endpoints('x', [
    {
      addresses: ['1', '2', '3', '4', '5'].map((n) => address(`10.0.0.${n}`, `p${n}`)),
      ports: [
        { name: 'a', port: 80 },
        { name: 'b', port: 443 },
      ],
    },
  ]);
  t.equal(formatEndpoints(many), '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 7 more...', "kubectl's first three");
  t.equal(
    formatEndpoints(many, new Set(['b'])),
    '10.0.0.1:443,10.0.0.2:443,10.0.0.3:443 + 2 more...',
    'one port of a service',
  );
  t.equal(
    formatEndpoints(endpoints('x', [{ addresses: [address('10.0.0.1', 'a')], ports: [] }])),
    '10.0.0.1',
    'a service without ports: the addresses',
  );
  t.equal(
    formatEndpoints(endpoints('x', [{ addresses: [address('fd00::1', 'a')], ports: [{ port: 80 }] }])),
    '[fd00::1]:80',
  );
});

t.test('get endpoints: NAME ENDPOINTS AGE, wide, namespaces, documents', async (t) => {
  const objects: ApiObject[] = [
    { endpoints: web },
    { endpoints: endpoints('api', [], '2026-12-01T10:00:00Z') },
  ];
  const plain = objectsTable(info('Endpoints'), objects, { now, wide: false, withNamespace: false });
  t.equal(
    plain,
    'NAME   ENDPOINTS                         AGE\n' +
      'api    <none>                            120m\n' +
      'web    10.244.0.5:8080,10.244.1.7:8080   2m\n',
  );
  const wide = objectsTable(info('Endpoints'), objects, { now, wide: true, withNamespace: true });
  t.match(wide, /^NAMESPACE +NAME +ENDPOINTS +AGE\ndefault +api +<none> +120m\n/);

  const requests: unknown[] = [];
  const api: Pick<ObjectApi, 'getObject' | 'listObjects'> = {
    listObjects: async (request) => {
      requests.push(request);
      return { resourceVersion: '3', items: objects };
    },
    getObject: async () => ({ endpoints: web }),
  };
  const out = { stdout: '', stderr: '' };
  const io = { stdout: (s: string) => void (out.stdout += s), stderr: (s: string) => void (out.stderr += s) };
  const request = {
    info: info('Endpoints'),
    names: [],
    namespace: 'default',
    labelSelector: '',
    output: undefined,
  };
  t.equal(await getObjects(api, request, io, now), 0);
  t.match(out.stdout, /^NAME +ENDPOINTS +AGE\n/);
  t.same(requests, [{ kind: 'Endpoints', namespace: 'default', labelSelector: '', fieldSelector: '' }]);
  out.stdout = '';
  await getObjects(api, { ...request, names: ['web'], output: 'yaml' }, io, now);
  t.match(out.stdout, /^apiVersion: v1\nkind: Endpoints\nmetadata:\n {2}name: web\n/);
  t.match(out.stdout, /\nsubsets:\n {2}- addresses:\n {6}- ip: 10\.244\.0\.5\n/);
  out.stdout = '';
  await getObjects(api, { ...request, names: ['web'], output: 'json' }, io, now);
  const doc = JSON.parse(out.stdout) as { kind: string; subsets: { notReadyAddresses: { ip: string }[] }[] };
  t.equal(doc.kind, 'Endpoints');
  t.equal(doc.subsets[0]?.notReadyAddresses[0]?.ip, '10.244.2.9');
});

t.test('the names kubectl accepts', async (t) => {
  for (const name of ['endpoints', 'ep', 'Endpoints']) {
    const found = resolveResource(name);
    t.ok(found.ok && found.info.kind === 'Endpoints', name);
  }
});

const service = Service.fromJSON({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    selector: { app: 'web' },
    clusterIP: '10.96.0.10',
    ports: [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
      { name: 'metrics', port: 9100, protocol: 'TCP' },
    ],
  },
});

t.test('describe service shows each port’s endpoints, as kubectl does', async (t) => {
  const text = describeObject({ service }, { events: [], now, endpoints: web });
  t.match(
    text,
    /\nPort: +http {2}80\/TCP\nTargetPort: +http\/TCP\nEndpoints: +10\.244\.0\.5:8080,10\.244\.1\.7:8080\nPort: +metrics {2}9100\/TCP\nTargetPort: +9100\/TCP\nEndpoints: +<none>\n/,
  );
  const none = describeObject({ service }, { events: [], now });
  t.match(none, /\nEndpoints: +<none>\n/, 'no Endpoints object');

  const gets: unknown[] = [];
  const api = (endpointsResult: () => Promise<ApiObject>): Pick<ObjectApi, 'getObject' | 'listObjects'> => ({
    getObject: async (key) => {
      gets.push(key);
      return key.kind === 'Service' ? { service } : endpointsResult();
    },
    listObjects: async () => ({ resourceVersion: '1', items: [] }),
  });
  const shown = await describeOne(
    api(async () => ({ endpoints: web })),
    info('Service'),
    'default',
    'web',
    now,
  );
  t.match(shown, /\nEndpoints: +10\.244\.0\.5:8080,10\.244\.1\.7:8080\n/);
  t.same(gets, [
    { kind: 'Service', namespace: 'default', name: 'web' },
    { kind: 'Endpoints', namespace: 'default', name: 'web' },
  ]);
  const missing = await describeOne(
    api(async () => {
      throw new FlotillaError('NotFound', 'endpoints "web" not found');
    }),
    info('Service'),
    'default',
    'web',
    now,
  );
  t.match(missing, /\nEndpoints: +<none>\n/, 'none stored yet');
  await t.rejects(
    describeOne(
      api(async () => {
        throw new FlotillaError('Unavailable', 'etcd is down');
      }),
      info('Service'),
      'default',
      'web',
      now,
    ),
    /etcd is down/,
    'other failures are reported',
  );
});

t.test('describe endpoints', async (t) => {
  const text = describeObject({ endpoints: web }, { events: [], now });
  t.match(text, /^Name: +web\nNamespace: +default\n/);
  t.match(
    text,
    /\nSubsets:\n {2}Addresses: +10\.244\.0\.5,10\.244\.1\.7\n {2}NotReadyAddresses: +10\.244\.2\.9\n {2}Ports:\n/,
  );
  t.match(text, /\n {4}http +8080 +TCP\n/);
});

t.test('a manifest of kind Endpoints says who keeps them', async (t) => {
  const types = await kubernetesModels();
  const checked = checkDocument(
    { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web' }, subsets: [] },
    types,
  );
  t.same(
    checked.problems.list.map((p) => p.message),
    [
      `kind: "Endpoints" cannot be applied (the controller keeps Endpoints from the Service's selector and its pods' readiness; apply a Service with a selector instead); manifests hold Pod, Deployment, Service, Namespace`,
    ],
  );
  t.equal(checked.problems.list[0]?.field, 'kind');
});
