import t from 'tap';
import { createHash } from 'node:crypto';
import { FlotillaError, isFlotillaError } from '@flotilla/common';
import {
  buildImageConfig,
  entriesUnder,
  parseDockerfile,
  planBuild,
  selectSources,
  stageChain,
  type BuildPlan,
  type ContextEntry,
  type ContextHasher,
  type CopyStep,
  type ImageConfig,
  type ImageResolver,
  type PlanStep,
  type RunStep,
} from '@flotilla/images';

const platform = { os: 'linux', architecture: 'amd64' };
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const busyboxConfig: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: [PATH], Cmd: ['sh'] },
  rootfs: { type: 'layers', diff_ids: ['sha256:' + 'b'.repeat(64)] },
  history: [{ created_by: 'busybox' }],
};

type Files = Record<string, string | { content: string; mode: number }>;

/** A context in memory, selected with the package's own selectSources/entriesUnder. */
function fakeContext(files: Files): { hasher: ContextHasher; requests: unknown[] } {
  const entries: ContextEntry[] = [{ path: '.', type: 'dir', mode: 0o755, size: 0, mtimeMs: 0, ino: 0 }];
  const dirs = new Set<string>();
  for (const path of Object.keys(files).sort()) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!dirs.has(dir)) {
        dirs.add(dir);
        entries.push({ path: dir, type: 'dir', mode: 0o755, size: 0, mtimeMs: 0, ino: 0 });
      }
    }
    const file = files[path];
    const content = typeof file === 'string' ? file : (file?.content ?? '');
    const mode = typeof file === 'string' ? 0o644 : (file?.mode ?? 0o644);
    entries.push({ path, type: 'file', mode, size: content.length, mtimeMs: 0, ino: 0 });
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : 1));
  const requests: unknown[] = [];
  const hasher: ContextHasher = async (request) => {
    requests.push(request);
    const selected = selectSources(entries, request.sources);
    const hash = createHash('sha256');
    for (const found of selected) {
      for (const top of found) {
        for (const e of entriesUnder(entries, top.path)) {
          const file = files[e.path];
          const content = typeof file === 'string' ? file : (file?.content ?? '');
          hash.update(JSON.stringify([e.path, e.type, e.mode, request.owner, content]));
        }
      }
    }
    return {
      matches: selected.map((found) =>
        found.map((e) => ({
          path: e.path,
          type: e.type,
          ...(request.detectArchives && e.path.endsWith('.tar') ? { extract: true } : {}),
        })),
      ),
      digest: `sha256:${hash.digest('hex')}`,
    };
  };
  return { hasher, requests };
}

interface PlanInput {
  args?: Record<string, string>;
  files?: Files;
  target?: string;
  images?: Record<string, ImageConfig>;
}

function fakeResolver(images: Record<string, ImageConfig>, calls: string[] = []): ImageResolver {
  return async (ref) => {
    calls.push(ref);
    const config = images[ref];
    if (!config) throw new FlotillaError('NotFound', `image ${ref} is not in the local store`);
    return {
      ref: `docker.io/library/${ref}`,
      digest: `sha256:${createHash('sha256').update(ref).digest('hex')}`,
      config,
    };
  };
}

async function plan(text: string, input: PlanInput = {}): Promise<BuildPlan> {
  return planBuild(parseDockerfile(text), {
    platform,
    ...(input.args ? { buildArgs: input.args } : {}),
    ...(input.target !== undefined ? { target: input.target } : {}),
    resolveImage: fakeResolver(input.images ?? { busybox: busyboxConfig }),
    hashContext: fakeContext(input.files ?? {}).hasher,
  });
}

/** The target stage's steps after FROM. */
async function steps(text: string, input: PlanInput = {}): Promise<PlanStep[]> {
  const p = await plan(text, input);
  return p.stages.find((s) => s.index === p.target)?.steps.slice(1) ?? [];
}

async function planError(text: string, input: PlanInput = {}): Promise<Error> {
  try {
    await plan(text, input);
  } catch (err) {
    return err as Error;
  }
  throw new Error(`no error for ${text}`);
}

t.test('FROM an image starts from its config; scratch from an empty one with PATH', async (t) => {
  const p = await plan('FROM busybox');
  const base = p.stages[0]?.steps[0];
  t.match(base, {
    kind: 'base',
    instruction: 'FROM busybox',
    emptyLayer: true,
    base: { kind: 'image', ref: 'docker.io/library/busybox', config: busyboxConfig },
    config: { Env: [PATH], Cmd: ['sh'] },
  });
  t.match(base?.cacheKey, /^sha256:[0-9a-f]{64}$/);
  const scratch = await plan('FROM scratch');
  t.same(scratch.stages[0]?.steps[0]?.config, { Env: [PATH] });
  t.match(scratch.stages[0]?.steps[0], { base: { kind: 'scratch' } });
  t.same(scratch.platform, platform);
});

t.test('config-only instructions build the config step by step, without layers', async (t) => {
  const s = await steps(
    [
      'FROM busybox',
      'ENV APP=web VERSION="1 2"',
      'LABEL org.example.name=$APP',
      'WORKDIR /srv',
      'WORKDIR $APP/data',
      'USER nobody:nogroup',
      'EXPOSE 8080 53/udp 9000-9001',
      'STOPSIGNAL SIGQUIT',
      'CMD ["httpd", "-f"]',
    ].join('\n'),
  );
  t.same(
    s.map((x) => [x.kind, x.instruction, x.emptyLayer]),
    [
      ['config', 'ENV APP=web VERSION="1 2"', true],
      ['config', 'LABEL org.example.name=web', true],
      ['config', 'WORKDIR /srv', true],
      ['config', 'WORKDIR /srv/web/data', true],
      ['config', 'USER nobody:nogroup', true],
      ['config', 'EXPOSE 8080/tcp 53/udp 9000/tcp 9001/tcp', true],
      ['config', 'STOPSIGNAL SIGQUIT', true],
      ['config', 'CMD ["httpd","-f"]', true],
    ],
  );
  t.same(s[s.length - 1]?.config, {
    Env: [PATH, 'APP=web', 'VERSION=1 2'],
    Cmd: ['httpd', '-f'],
    Labels: { 'org.example.name': 'web' },
    WorkingDir: '/srv/web/data',
    User: 'nobody:nogroup',
    ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '9000/tcp': {}, '9001/tcp': {} },
    StopSignal: 'SIGQUIT',
  });
  t.same(s[0]?.config.Cmd, ['sh'], 'each step carries its own config');
  t.equal(s[0]?.config.WorkingDir, undefined);
});

t.test(
  'ENV: a later value replaces an earlier one; all values use the variables before the line',
  async (t) => {
    const s = await steps('FROM busybox\nENV A=1\nENV A=2 B=$A\nENV PATH=/opt/bin:$PATH');
    t.same(s[2]?.config.Env, [
      'PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'A=2',
      'B=1',
    ]);
    const legacy = await steps('FROM busybox\nENV GREETING hello  world');
    t.same(legacy[0]?.config.Env, [PATH, 'GREETING=hello  world']);
  },
);

t.test('CMD and ENTRYPOINT: shell form through SHELL; ENTRYPOINT clears only an inherited CMD', async (t) => {
  const a = await steps('FROM busybox\nCMD echo "hi there"\nENTRYPOINT exec /app');
  t.same(a[0]?.config.Cmd, ['/bin/sh', '-c', 'echo "hi there"']);
  t.same(a[1]?.config.Entrypoint, ['/bin/sh', '-c', 'exec /app']);
  t.same(a[1]?.config.Cmd, ['/bin/sh', '-c', 'echo "hi there"'], 'CMD set in this stage survives ENTRYPOINT');
  const b = await steps('FROM busybox\nENTRYPOINT ["/app"]');
  t.equal(b[0]?.config.Cmd, undefined, "the base image's CMD is dropped");
  const c = await steps('FROM busybox\nSHELL ["/bin/ash", "-eo", "pipefail", "-c"]\nCMD a | b\nRUN x');
  t.same(c[1]?.config.Cmd, ['/bin/ash', '-eo', 'pipefail', '-c', 'a | b']);
  t.same((c[2] as RunStep).argv, ['/bin/ash', '-eo', 'pipefail', '-c', 'x']);
  t.equal(c[0]?.instruction, 'SHELL ["/bin/ash","-eo","pipefail","-c"]');
});

t.test('RUN: argv, environment with ARGs (ENV wins), user, workdir, history text', async (t) => {
  const s = await steps(
    [
      'FROM scratch',
      'ARG VERSION=1.0',
      'ARG SHADOWED=arg',
      'ARG NOVALUE',
      'ENV SHADOWED=env',
      'USER 1000',
      'WORKDIR /build',
      'RUN make VERSION=$VERSION',
      'RUN ["/bin/echo", "$VERSION"]',
    ].join('\n'),
    { args: { http_proxy: 'http://127.0.0.1:3128' } },
  );
  const run = s[6] as RunStep;
  t.match(run, {
    kind: 'run',
    emptyLayer: false,
    argv: ['/bin/sh', '-c', 'make VERSION=$VERSION'],
    user: '1000',
    workdir: '/build',
    instruction: 'RUN |1 VERSION=1.0 /bin/sh -c make VERSION=$VERSION',
  });
  t.same(run.env, [PATH, 'SHADOWED=env', 'VERSION=1.0', 'http_proxy=http://127.0.0.1:3128']);
  const exec = s[7] as RunStep;
  t.same(
    exec.argv,
    ['/bin/echo', '$VERSION'],
    'exec form: no substitution (Docker leaves it to the program)',
  );
  t.equal(exec.instruction, 'RUN |1 VERSION=1.0 ["/bin/echo","$VERSION"]');
  const plain = (await steps('FROM scratch\nRUN true'))[0] as RunStep;
  t.same(plain.env, [PATH]);
  t.equal(plain.user, '');
  t.equal(plain.workdir, '/');
  t.equal(plain.instruction, 'RUN /bin/sh -c true');
});

t.test(
  'ARG scoping: global ARGs in FROM, redeclared to be seen in a stage, build args override',
  async (t) => {
    const text = [
      'ARG TAG=latest',
      'ARG IMAGE=busybox',
      'FROM ${IMAGE}',
      'LABEL before=[$TAG]',
      'ARG TAG',
      'ARG LOCAL=default-$TAG',
      'LABEL after=[$TAG] local=$LOCAL arch=$TARGETARCH',
      'ARG TARGETARCH',
      'LABEL arch=$TARGETARCH',
    ].join('\n');
    const s = await steps(text);
    t.same(s[0]?.config.Labels, { before: '[]' }, 'a global ARG is not visible until redeclared');
    t.same(s[3]?.config.Labels, { before: '[]', after: '[latest]', local: 'default-latest', arch: '' });
    t.same(s[5]?.config.Labels?.arch, 'amd64', 'automatic platform ARGs once declared');
    const overridden = await steps(text, { args: { TAG: '1.36', LOCAL: 'given' } });
    t.same(overridden[3]?.config.Labels, { before: '[]', after: '[1.36]', local: 'given', arch: '' });
    const env = await steps('FROM busybox\nARG X=arg\nENV X=env\nLABEL x=$X');
    t.same(env[2]?.config.Labels, { x: 'env' }, 'ENV wins over ARG');
    const fromArg = await steps('ARG BASE=nothing\nFROM $BASE', {
      args: { BASE: 'busybox' },
      images: { busybox: busyboxConfig },
    });
    t.same(fromArg, []);
  },
);

t.test('COPY and ADD: destinations, owners, matches, archives', async (t) => {
  const files = { 'app/main.js': 'main', 'app/lib/x.js': 'x', 'a.txt': 'a', 'b.txt': 'b', 'site.tar': 'tar' };
  const s = await steps(
    [
      'FROM busybox',
      'WORKDIR /srv',
      'COPY app ./app/',
      'COPY --chown=1000:1000 --chmod=640 a.txt config.txt',
      'COPY *.txt /texts/',
      'COPY a.txt .',
      'ADD site.tar /www',
      'COPY / /everything',
    ].join('\n'),
    { files },
  );
  const copies = s.filter((x): x is CopyStep => x.kind === 'copy');
  t.equal(copies.length, 6);
  t.match(copies[0], {
    add: false,
    from: { kind: 'context' },
    sources: ['app'],
    matches: [[{ path: 'app', type: 'dir' }]],
    dest: '/srv/app',
    destIsDir: true,
    instruction: 'COPY app /srv/app/',
    emptyLayer: false,
  });
  t.match(copies[1], { dest: '/srv/config.txt', destIsDir: false, chown: '1000:1000', chmod: 0o640 });
  t.equal(copies[1]?.instruction, 'COPY --chown=1000:1000 --chmod=640 a.txt /srv/config.txt');
  t.match(copies[2], {
    sources: ['*.txt'],
    matches: [
      [
        { path: 'a.txt', type: 'file' },
        { path: 'b.txt', type: 'file' },
      ],
    ],
    dest: '/texts',
    destIsDir: true,
  });
  t.match(copies[3], { dest: '/srv', destIsDir: true }, '"." is the working directory, as a directory');
  t.match(copies[4], {
    add: true,
    matches: [[{ path: 'site.tar', extract: true }]],
    dest: '/www',
    destIsDir: false,
  });
  t.match(
    copies[5],
    { sources: ['.'], matches: [[{ path: '.', type: 'dir' }]] },
    'a leading / is the context root',
  );
});

t.test('COPY and ADD errors name the line', async (t) => {
  const files = { 'a.txt': 'a', 'b.txt': 'b' };
  const cases: [string, RegExp][] = [
    [
      'FROM busybox\nCOPY missing.txt /x',
      /^Dockerfile:2: COPY missing\.txt: not found in the build context \(or excluded by \.dockerignore\)/,
    ],
    ['FROM busybox\n\nCOPY *.md /x/', /^Dockerfile:3: COPY \*\.md: no file in the build context matches/],
    [
      'FROM busybox\nCOPY a.txt b.txt /x',
      /^Dockerfile:2: COPY with more than one source file needs a directory destination ending in "\/": \/x\//,
    ],
    ['FROM busybox\nCOPY *.txt /x', /^Dockerfile:2: COPY with more than one source file/],
    [
      'FROM busybox\nADD https://example.com/x.tgz /x',
      /^Dockerfile:2: ADD https:\/\/example\.com\/x\.tgz: URLs are not supported \(no network during builds\)/,
    ],
    [
      'FROM busybox\nCOPY http://example.com/x /x',
      /^Dockerfile:2: COPY http:\/\/example\.com\/x: a source cannot be a URL/,
    ],
    [
      'FROM busybox\nCOPY ../secret /x',
      /^Dockerfile:2: COPY \.\.\/secret: the path is outside the build context/,
    ],
    ['FROM busybox\nCOPY --chown=a:b:c a.txt /x', /^Dockerfile:2: COPY --chown=a:b:c is not valid/],
    [
      'FROM busybox\nCOPY --chmod=u+x a.txt /x',
      /^Dockerfile:2: COPY --chmod=u\+x is not valid: an octal mode/,
    ],
    ['FROM busybox\nCOPY $NOTHING /x', /^Dockerfile:2: COPY \$NOTHING: a source is empty after substitution/],
    ['FROM busybox\nCOPY ${A /b /x/', /^Dockerfile:2: COPY: missing "}" in variable substitution/],
    ['FROM busybox\nCOPY [a /x/', /^Dockerfile:2: COPY \[a: malformed character class in pattern "\[a"/],
  ];
  for (const [text, message] of cases) {
    const err = await planError(text, { files });
    t.match(err.message, message, text);
    t.ok(isFlotillaError(err, 'InvalidArgument'), 'InvalidArgument');
  }
  const failing = await planBuild(parseDockerfile('FROM busybox\nENV A=1\nCOPY a.txt /'), {
    platform,
    resolveImage: fakeResolver({ busybox: busyboxConfig }),
    hashContext: async () => {
      throw new Error('EACCES: permission denied');
    },
  }).catch((e: unknown) => e as Error);
  t.match(
    (failing as Error).message,
    /^Dockerfile:3: COPY: reading the build context failed: EACCES: permission denied$/,
  );
  const clamped = await steps('FROM busybox AS a\nFROM busybox\nCOPY --from=a ../../etc/passwd /x');
  t.match(clamped[0], { sources: ['etc/passwd'] }, '".." stops at the root of a stage');
});

t.test('other planning errors name the line and what is valid', async (t) => {
  const cases: [string, RegExp][] = [
    ['FROM busybox\nEXPOSE 70000', /^Dockerfile:2: EXPOSE 70000: ports are 1 to 65535/],
    [
      'FROM busybox\nEXPOSE 80/icmp',
      /^Dockerfile:2: EXPOSE 80\/icmp: unknown protocol icmp: valid are tcp, udp and sctp/,
    ],
    ['FROM busybox\nEXPOSE http', /^Dockerfile:2: EXPOSE http: not a port/],
    ['FROM busybox\nSTOPSIGNAL SIGNOPE', /^Dockerfile:2: STOPSIGNAL SIGNOPE is not a signal/],
    ['FROM busybox\nSTOPSIGNAL 99', /^Dockerfile:2: STOPSIGNAL 99 is not a signal/],
    ['FROM busybox\nUSER a:b:c', /^Dockerfile:2: USER "a:b:c" is not valid/],
    ['FROM busybox\nWORKDIR $NOPE', /^Dockerfile:2: WORKDIR \$NOPE is empty after substitution/],
    ['FROM busybox\nENV A=${B:?required}', /^Dockerfile:2: ENV A: B: required/],
    ['ARG IMG\nFROM $IMG', /^Dockerfile:2: FROM \$IMG is empty after substitution/],
    [
      'FROM --platform=linux/arm64 busybox',
      /^Dockerfile:1: FROM --platform=linux\/arm64 is not supported: .*only valid platform is linux\/amd64/,
    ],
    [
      'FROM busybox\nCOPY --from=1 /x /y',
      /^Dockerfile:2: stage 1 is not an earlier stage: this is the first stage/,
    ],
  ];
  for (const [text, message] of cases) t.match((await planError(text)).message, message, text);
  t.match(
    (await planError('FROM busybox AS a\nFROM later\nFROM busybox AS later', { target: '1' })).message,
    /^Dockerfile:2: stage "later" is defined on line 3, not before this one: a stage can only use earlier stages/,
  );
  const missing = await planError('FROM busybox\nFROM nosuch:1');
  t.match(missing.message, /^Dockerfile:2: FROM nosuch:1: image nosuch:1 is not in the local store/);
  t.ok(isFlotillaError(missing, 'NotFound'), "the resolver's error code is kept");
  t.match(
    (await planError('FROM busybox', { target: 'nope' })).message,
    /^target stage "nope" is not in Dockerfile: valid are 0/,
  );
  const ok = await steps('FROM --platform=$BUILDPLATFORM busybox\nFROM --platform=linux/amd64 busybox');
  t.same(ok, [], 'the host platform is accepted');
});

t.test(
  'multi-stage: FROM a stage, COPY --from a stage or an image, only needed stages planned',
  async (t) => {
    const calls: string[] = [];
    const text = [
      'FROM busybox AS build',
      'RUN make',
      'FROM busybox AS unused',
      'RUN expensive',
      'FROM build AS test',
      'RUN make test',
      'FROM scratch',
      'COPY --from=build /out/app /app',
      'COPY --from=0 /out/lib /lib/',
      'COPY --from=tools /bin/tool /bin/',
    ].join('\n');
    const p = await planBuild(parseDockerfile(text), {
      platform,
      resolveImage: fakeResolver({ busybox: busyboxConfig, tools: busyboxConfig }, calls),
      hashContext: fakeContext({}).hasher,
    });
    t.equal(p.target, 3);
    t.same(
      p.stages.map((s) => s.index),
      [0, 3],
      'stages the target does not need are not planned',
    );
    t.same(calls.sort(), ['busybox', 'tools']);
    const build = p.stages[0];
    const final = p.stages[1]?.steps ?? [];
    t.match(final[1], {
      kind: 'copy',
      from: { kind: 'stage', stage: 0 },
      sources: ['out/app'],
      dest: '/app',
      destIsDir: false,
    });
    t.equal((final[1] as CopyStep).matches, undefined, 'no context matches for a stage source');
    t.match(final[2], { from: { kind: 'stage', stage: 0 }, instruction: 'COPY --from=0 out/lib /lib/' });
    t.match(final[3], {
      from: { kind: 'image', ref: 'docker.io/library/tools' },
      dest: '/bin',
      destIsDir: true,
    });

    const test = await planBuild(parseDockerfile(text), {
      platform,
      target: 'test',
      resolveImage: fakeResolver({ busybox: busyboxConfig }),
      hashContext: fakeContext({}).hasher,
    });
    t.same(
      test.stages.map((s) => s.index),
      [0, 2],
    );
    t.match(test.stages[1]?.steps[0], {
      kind: 'base',
      base: { kind: 'stage', stage: 0 },
      cacheKey: build?.cacheKey,
    });
    t.same(
      test.stages[1]?.steps[0]?.config,
      build?.config,
      'a stage starts from the config of the stage it builds on',
    );
  },
);

t.test('warnings: build args no ARG consumed (proxy args excepted)', async (t) => {
  const p = await plan('ARG USED\nFROM busybox\nARG ALSO', {
    args: { USED: '1', ALSO: '2', UNUSED: '3', EXTRA: '4', HTTPS_PROXY: 'x' },
  });
  t.same(p.warnings, [
    'build args not consumed by any ARG of the stages built: EXTRA, UNUSED (they are ignored)',
  ]);
  t.same((await plan('FROM busybox')).warnings, []);
});

t.test(
  'stageChain and buildImageConfig assemble the image config from the plan and the layers',
  async (t) => {
    const p = await plan(
      [
        'FROM busybox AS base',
        'ENV A=1',
        'COPY a.txt /',
        'FROM base',
        'RUN true',
        'RUN touch /x',
        'CMD ["cat", "/a.txt"]',
      ].join('\n'),
      { files: { 'a.txt': 'a' } },
    );
    const chain = stageChain(p);
    t.equal(chain.root.kind, 'image');
    t.same(
      chain.steps.map((s) => s.kind),
      ['config', 'copy', 'run', 'run', 'config'],
    );
    const d1 = 'sha256:' + '1'.repeat(64);
    const d3 = 'sha256:' + '3'.repeat(64);
    const created = '2024-01-01T00:00:00Z';
    const config = buildImageConfig({ plan: p, diffIds: [d1, undefined, d3], created });
    t.same(config.rootfs, { type: 'layers', diff_ids: [...busyboxConfig.rootfs.diff_ids, d1, d3] });
    t.same(config.config, { Env: [PATH, 'A=1'], Cmd: ['cat', '/a.txt'] });
    t.match(config, { architecture: 'amd64', os: 'linux', created });
    t.same(
      config.history?.map((h) => [h.created_by, h.empty_layer ?? false]),
      [
        ['busybox', false],
        ['ENV A=1', true],
        ['COPY a.txt /', false],
        ['RUN /bin/sh -c true', true],
        ['RUN /bin/sh -c touch /x', false],
        ['CMD ["cat","/a.txt"]', true],
      ],
    );
    t.throws(() => buildImageConfig({ plan: p, diffIds: [d1], created }), {
      message: /3 layer steps but 1 diff IDs/,
    });
  },
);
