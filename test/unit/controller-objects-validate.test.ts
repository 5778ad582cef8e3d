// Defaults and validation of the kinds the object API applies, table-style: each case
// changes one thing of a valid manifest and names the field path the problem must carry.
import t from 'tap';
import { Deployment, Namespace, type Object as ProtoObject, Service } from '@flotilla/proto';
import {
  defaultDeployment,
  defaultService,
  deploymentProblems,
  kinds,
  kindOf,
  nameProblem,
  parseCidr,
  prepareApply,
  serviceProblems,
  selectorMatches,
  parseIntOrPercent,
  resolveParsedIntOrPercent as resolveIntOrPercent,
} from '@flotilla/controller';

type Json = Record<string, unknown>;
const cidr = parseCidr('10.96.0.0/16');

function deployment(patch: (d: Json) => void = () => undefined): Deployment {
  const d: Json = {
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web', tier: 'front' } },
        spec: { containers: [{ name: 'web', image: 'busybox:1.36', command: ['httpd', '-f'] }] },
      },
    },
  };
  patch(d);
  return Deployment.fromJSON(d);
}

const spec = (d: Json): Json => d.spec as Json;
const tpl = (d: Json): Json => spec(d).template as Json;

t.test('a Deployment gets apps/v1 defaults', async (t) => {
  const d = defaultDeployment(deployment());
  t.equal(d.apiVersion, 'apps/v1');
  t.equal(d.kind, 'Deployment');
  t.equal(d.metadata?.namespace, 'default');
  t.equal(d.spec?.replicas, 1);
  t.same(d.spec?.strategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
  });
  t.equal(d.spec?.revisionHistoryLimit, 10);
  t.equal(d.spec?.progressDeadlineSeconds, 600);
  t.equal(d.spec?.template?.spec?.restartPolicy, 'Always', 'pod defaults in the template');
  t.equal(d.spec?.template?.spec?.containers[0]?.imagePullPolicy, 'IfNotPresent');
  t.same(deploymentProblems(d), [], 'valid');
  const recreate = defaultDeployment(deployment((x) => (spec(x).strategy = { type: 'Recreate' })));
  t.same(recreate.spec?.strategy?.rollingUpdate, undefined, 'Recreate gets no rollingUpdate');
  t.same(deploymentProblems(recreate), []);
  const given = defaultDeployment(deployment((x) => (spec(x).replicas = 0)));
  t.equal(given.spec?.replicas, 0, 'replicas 0 is kept');
});

const deploymentCases: { name: string; patch: (d: Json) => void; field: string; says?: RegExp }[] = [
  { name: 'negative replicas', patch: (d) => (spec(d).replicas = -1), field: 'spec.replicas' },
  { name: 'no selector', patch: (d) => delete spec(d).selector, field: 'spec.selector', says: /required/ },
  {
    name: 'selector not matching the template',
    patch: (d) => (spec(d).selector = { matchLabels: { app: 'api' } }),
    field: 'spec.selector',
    says: /does not select the template/,
  },
  {
    name: 'selector expression with a bad operator',
    patch: (d) =>
      (spec(d).selector = { matchExpressions: [{ key: 'app', operator: 'Is', values: ['web'] }] }),
    field: 'spec.selector.matchExpressions[0].operator',
  },
  { name: 'no template', patch: (d) => delete spec(d).template, field: 'spec.template' },
  {
    name: 'template without labels',
    patch: (d) => ((tpl(d).metadata as Json).labels = {}),
    field: 'spec.template.metadata.labels',
  },
  {
    name: 'template container without image',
    patch: (d) => (((tpl(d).spec as Json).containers as Json[])[0]!.image = ''),
    field: 'spec.template.spec.containers[0].image',
  },
  {
    name: 'template restartPolicy Never',
    patch: (d) => ((tpl(d).spec as Json).restartPolicy = 'Never'),
    field: 'spec.template.spec.restartPolicy',
    says: /Always/,
  },
  {
    name: 'unknown strategy',
    patch: (d) => (spec(d).strategy = { type: 'BlueGreen' }),
    field: 'spec.strategy.type',
    says: /"RollingUpdate", "Recreate"/,
  },
  {
    name: 'maxSurge not int or percent',
    patch: (d) => (spec(d).strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 'lots' } }),
    field: 'spec.strategy.rollingUpdate.maxSurge',
  },
  {
    name: 'maxSurge and maxUnavailable both 0',
    patch: (d) =>
      (spec(d).strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '0', maxUnavailable: '0%' } }),
    field: 'spec.strategy.rollingUpdate.maxUnavailable',
    says: /may not be 0/,
  },
  {
    name: 'rollingUpdate with Recreate',
    patch: (d) => (spec(d).strategy = { type: 'Recreate', rollingUpdate: { maxSurge: '1' } }),
    field: 'spec.strategy.rollingUpdate',
  },
  {
    name: 'negative minReadySeconds',
    patch: (d) => (spec(d).minReadySeconds = -5),
    field: 'spec.minReadySeconds',
  },
  {
    name: 'progress deadline not above minReadySeconds',
    patch: (d) => {
      spec(d).minReadySeconds = 30;
      spec(d).progressDeadlineSeconds = 30;
    },
    field: 'spec.progressDeadlineSeconds',
    says: /more than spec.minReadySeconds \(30\)/,
  },
  {
    name: 'negative revisionHistoryLimit',
    patch: (d) => (spec(d).revisionHistoryLimit = -1),
    field: 'spec.revisionHistoryLimit',
  },
  {
    name: 'name not a DNS subdomain',
    patch: (d) => ((d.metadata as Json).name = 'Web_1'),
    field: 'metadata.name',
    says: /DNS-1123 subdomain/,
  },
  {
    name: 'bad label value',
    patch: (d) => ((d.metadata as Json).labels = { app: 'a b' }),
    field: 'metadata.labels.app',
  },
];

for (const c of deploymentCases) {
  t.test(`Deployment: ${c.name}`, async (t) => {
    const problems = deploymentProblems(defaultDeployment(deployment(c.patch)));
    const found = problems.find((p) => p.field === c.field);
    t.ok(found, `a problem at ${c.field} (got ${problems.map((p) => p.field).join(', ') || 'none'})`);
    t.ok(found?.message.startsWith(`${c.field}`), 'the message starts with the field path');
    if (c.says) t.match(found?.message, c.says);
  });
}

t.test('every problem of a Deployment at once', async (t) => {
  const problems = deploymentProblems(
    defaultDeployment(
      deployment((d) => {
        spec(d).replicas = -2;
        spec(d).minReadySeconds = -1;
        ((tpl(d).spec as Json).containers as Json[])[0]!.name = 'Bad Name';
      }),
    ),
  );
  t.same(problems.map((p) => p.field).sort(), [
    'spec.minReadySeconds',
    'spec.replicas',
    'spec.template.spec.containers[0].name',
  ]);
});

function service(patch: (s: Json) => void = () => undefined): Service {
  const s: Json = {
    metadata: { name: 'web' },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
  };
  patch(s);
  return Service.fromJSON(s);
}
const sspec = (s: Json): Json => s.spec as Json;

t.test('a Service gets v1 defaults', async (t) => {
  const s = defaultService(service());
  t.equal(s.apiVersion, 'v1');
  t.equal(s.spec?.type, 'ClusterIP');
  t.same(s.spec?.ports, [{ name: '', protocol: 'TCP', port: 80, targetPort: '80', nodePort: 0 }]);
  t.same(serviceProblems(s, cidr), []);
  const named = defaultService(service((x) => (sspec(x).ports = [{ port: 80, targetPort: 'http' }])));
  t.equal(named.spec?.ports[0]?.targetPort, 'http', 'a named targetPort is kept');
});

const serviceCases: { name: string; patch: (s: Json) => void; field: string; says?: RegExp }[] = [
  { name: 'unknown type', patch: (s) => (sspec(s).type = 'LoadBalancer'), field: 'spec.type' },
  { name: 'no ports', patch: (s) => (sspec(s).ports = []), field: 'spec.ports' },
  { name: 'port 0', patch: (s) => (sspec(s).ports = [{ port: 70000 }]), field: 'spec.ports[0].port' },
  {
    name: 'unnamed ports when there are two',
    patch: (s) => (sspec(s).ports = [{ port: 80 }, { name: 'b', port: 81 }]),
    field: 'spec.ports[0].name',
    says: /more than one port/,
  },
  {
    name: 'duplicate port names',
    patch: (s) =>
      (sspec(s).ports = [
        { name: 'a', port: 80 },
        { name: 'a', port: 81 },
      ]),
    field: 'spec.ports[1].name',
  },
  {
    name: 'bad protocol',
    patch: (s) => (sspec(s).ports = [{ port: 80, protocol: 'ICMP' }]),
    field: 'spec.ports[0].protocol',
  },
  {
    name: 'bad targetPort name',
    patch: (s) => (sspec(s).ports = [{ port: 80, targetPort: 'not_a_name' }]),
    field: 'spec.ports[0].targetPort',
  },
  {
    name: 'targetPort out of range',
    patch: (s) => (sspec(s).ports = [{ port: 80, targetPort: '99999' }]),
    field: 'spec.ports[0].targetPort',
  },
  {
    name: 'nodePort outside the range',
    patch: (s) => {
      sspec(s).type = 'NodePort';
      sspec(s).ports = [{ port: 80, nodePort: 8080 }];
    },
    field: 'spec.ports[0].nodePort',
    says: /30000-32767/,
  },
  {
    name: 'nodePort on a ClusterIP service',
    patch: (s) => (sspec(s).ports = [{ port: 80, nodePort: 30080 }]),
    field: 'spec.ports[0].nodePort',
    says: /NodePort/,
  },
  {
    name: 'clusterIP outside the service CIDR',
    patch: (s) => (sspec(s).clusterIP = '192.168.1.1'),
    field: 'spec.clusterIP',
    says: /10\.96\.0\.0\/16/,
  },
  {
    name: 'bad selector label',
    patch: (s) => (sspec(s).selector = { app: 'x y' }),
    field: 'spec.selector.app',
  },
  {
    name: 'name starting with a digit (DNS-1035)',
    patch: (s) => ((s.metadata as Json).name = '1web'),
    field: 'metadata.name',
    says: /DNS-1035/,
  },
];

for (const c of serviceCases) {
  t.test(`Service: ${c.name}`, async (t) => {
    const problems = serviceProblems(defaultService(service(c.patch)), cidr);
    const found = problems.find((p) => p.field === c.field);
    t.ok(found, `a problem at ${c.field} (got ${problems.map((p) => p.field).join(', ') || 'none'})`);
    if (c.says) t.match(found?.message, c.says);
  });
}

t.test("names follow each kind's rule", async (t) => {
  t.equal(nameProblem(kinds.Namespace, 'team-a'), undefined);
  t.match(nameProblem(kinds.Namespace, 'team.a'), /DNS-1123 label/, 'namespaces are labels');
  t.equal(nameProblem(kinds.Deployment, 'web.v2'), undefined, 'deployments are subdomains');
  t.match(nameProblem(kinds.Service, 'web.v2'), /DNS-1035/);
  t.equal(kindOf('deployments').kind, 'Deployment');
  t.equal(kindOf('svc').kind, 'Service');
  t.equal(kindOf('Namespaces').kind, 'Namespace');
  t.throws(() => kindOf('ingress'), /not one this cluster serves/);
});

t.test('CIDRs, selectors and int-or-percent', async (t) => {
  t.same(parseCidr('10.96.0.0/16'), { text: '10.96.0.0/16', first: 0x0a600001, last: 0x0a60fffe });
  t.throws(() => parseCidr('10.96.0.1/16'), /not a network address/);
  t.throws(() => parseCidr('nonsense'), /IPv4 CIDR/);
  t.ok(selectorMatches({ matchLabels: { a: '1' }, matchExpressions: [] }, { a: '1', b: '2' }));
  t.notOk(
    selectorMatches({ matchLabels: {}, matchExpressions: [] }, { a: '1' }),
    'an empty selector selects nothing',
  );
  t.ok(
    selectorMatches(
      { matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] },
      { tier: 'front' },
    ),
  );
  t.notOk(
    selectorMatches(
      { matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'DoesNotExist', values: [] }] },
      { tier: 'x' },
    ),
  );
  t.same(parseIntOrPercent('25%'), { type: 'percent', value: 25 });
  t.same(parseIntOrPercent('3'), { type: 'int', value: 3 });
  t.equal(parseIntOrPercent('-1'), undefined);
  t.equal(resolveIntOrPercent({ type: 'percent', value: 25 }, 10, true), 3, 'surge rounds up');
  t.equal(resolveIntOrPercent({ type: 'percent', value: 25 }, 10, false), 2, 'unavailable rounds down');
});

t.test('prepareApply lists every problem of every object, each named by kind, name and index', async (t) => {
  const objects: ProtoObject[] = [
    { namespace: Namespace.fromJSON({ metadata: { name: 'team-a' } }) },
    { deployment: deployment((d) => (spec(d).replicas = -1)) },
    { service: service((s) => (sspec(s).ports = [])) },
    { node: { apiVersion: 'v1', kind: 'Node', metadata: undefined, spec: undefined, status: undefined } },
    {},
    { service: service() },
  ];
  const prepared = prepareApply(objects, cidr);
  t.equal(prepared.objects.length, 1, 'only the namespace is valid (the last service repeats objects[2])');
  const text = prepared.problems.join('\n');
  t.match(text, /Deployment default\/web \(objects\[1\]\): spec\.replicas: -1 must be 0 or more/);
  t.match(text, /Service default\/web \(objects\[2\]\): spec\.ports: must have at least one port/);
  t.match(text, /objects\[3\]\): kind Node cannot be applied: .*flotilla-agent join/);
  t.match(text, /objects\[4\]: must carry exactly one object/);
  t.match(text, /Service default\/web \(objects\[5\]\): is also objects\[2\]/);
});
