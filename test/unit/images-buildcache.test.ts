import t from 'tap';
import { createHash } from 'node:crypto';
import {
  baseCacheKey,
  entriesUnder,
  parseDockerfile,
  planBuild,
  selectSources,
  stepCacheKey,
  type ContextEntry,
  type ContextHasher,
  type ImageConfig,
  type PlanStep,
} from '@flotilla/images';

const platform = { os: 'linux', architecture: 'amd64' };

const baseConfig: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
  rootfs: { type: 'layers', diff_ids: [] },
};

interface File {
  content: string;
  mode?: number;
}

/** An in-memory context hashed like the real one: path, type, mode, owner and content. */
function hasherFor(files: Record<string, File>): ContextHasher {
  const entries: ContextEntry[] = [{ path: '.', type: 'dir', mode: 0o755, size: 0, mtimeMs: 0, ino: 0 }];
  const dirs = new Set<string>();
  for (const [path, file] of Object.entries(files).sort()) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!dirs.has(dir)) entries.push({ path: dir, type: 'dir', mode: 0o755, size: 0, mtimeMs: 0, ino: 0 });
      dirs.add(dir);
    }
    entries.push({
      path,
      type: 'file',
      mode: file.mode ?? 0o644,
      size: file.content.length,
      mtimeMs: 0,
      ino: 0,
    });
  }
  return async (request) => {
    const selected = selectSources(entries, request.sources);
    const hash = createHash('sha256');
    for (const top of selected.flat()) {
      for (const e of entriesUnder(entries, top.path)) {
        hash.update(JSON.stringify([e.path, e.type, e.mode, request.owner, files[e.path]?.content ?? '']));
      }
    }
    return {
      matches: selected.map((found) => found.map((e) => ({ path: e.path, type: e.type }))),
      digest: `sha256:${hash.digest('hex')}`,
    };
  };
}

const dockerfile = [
  'FROM base',
  'ARG VERSION=1',
  'ARG FLAVOUR=plain',
  'ENV APP=web',
  'COPY app.js /srv/',
  'RUN build --version=$VERSION',
  'LABEL flavour=$FLAVOUR',
  'COPY --chown=1000 static /srv/static/',
  'CMD ["/srv/app.js"]',
].join('\n');

const files: Record<string, File> = {
  'app.js': { content: 'console.log(1)' },
  'static/index.html': { content: '<h1>hi</h1>' },
  'unrelated.txt': { content: 'x' },
};

interface Variant {
  text?: string;
  files?: Record<string, File>;
  args?: Record<string, string>;
  baseDigest?: string;
}

async function keys(variant: Variant = {}): Promise<PlanStep[]> {
  const digest = variant.baseDigest ?? 'sha256:' + 'a'.repeat(64);
  const plan = await planBuild(parseDockerfile(variant.text ?? dockerfile), {
    platform,
    buildArgs: variant.args ?? {},
    resolveImage: async (ref) => ({ ref, digest, config: baseConfig }),
    hashContext: hasherFor(variant.files ?? files),
  });
  return plan.stages[0]?.steps ?? [];
}

/** Indexes of the steps whose keys differ between two plans of the same Dockerfile shape. */
function changed(a: PlanStep[], b: PlanStep[]): number[] {
  if (a.length !== b.length) throw new Error(`${a.length} steps and ${b.length} steps`);
  return a.flatMap((step, i) => (step.cacheKey === b[i]?.cacheKey ? [] : [i]));
}

// Steps: 0 FROM, 1 ARG, 2 ARG, 3 ENV, 4 COPY app.js, 5 RUN, 6 LABEL, 7 COPY static, 8 CMD.

t.test('keys are sha256 digests, all different, and the same for unchanged input', async (t) => {
  const a = await keys();
  const b = await keys();
  t.equal(a.length, 9);
  for (const step of a) t.match(step.cacheKey, /^sha256:[0-9a-f]{64}$/);
  t.equal(new Set(a.map((s) => s.cacheKey)).size, a.length, 'every step has its own key');
  t.same(
    a.map((s) => s.cacheKey),
    b.map((s) => s.cacheKey),
  );
  t.same(changed(a, b), []);
});

t.test('a changed file changes the key of the COPY that selects it and every step after it', async (t) => {
  const base = await keys();
  const edited = await keys({ files: { ...files, 'app.js': { content: 'console.log(2)' } } });
  t.same(changed(base, edited), [4, 5, 6, 7, 8]);
  const page = await keys({ files: { ...files, 'static/index.html': { content: '<h1>bye</h1>' } } });
  t.same(changed(base, page), [7, 8]);
  const mode = await keys({ files: { ...files, 'app.js': { content: 'console.log(1)', mode: 0o755 } } });
  t.same(changed(base, mode), [4, 5, 6, 7, 8], 'a mode change counts');
  const added = await keys({ files: { ...files, 'static/new.css': { content: 'p{}' } } });
  t.same(changed(base, added), [7, 8], 'a new file under a copied directory counts');
  const unrelated = await keys({ files: { ...files, 'unrelated.txt': { content: 'changed' } } });
  t.same(changed(base, unrelated), [], 'a file no COPY selects does not');
});

t.test('a build arg changes the keys of the steps that use it, and only from there', async (t) => {
  const base = await keys();
  const version = await keys({ args: { VERSION: '2' } });
  t.same(changed(base, version), [5, 6, 7, 8], 'RUN sees every ARG in scope');
  const flavour = await keys({ args: { FLAVOUR: 'fancy' } });
  t.same(changed(base, flavour), [5, 6, 7, 8], 'the RUN environment includes FLAVOUR too');
  const sameValue = await keys({ args: { VERSION: '1' } });
  t.same(changed(base, sameValue), [], 'the default given explicitly is the same key');

  const noRun = 'FROM base\nARG FLAVOUR=plain\nCOPY app.js /\nLABEL flavour=$FLAVOUR\nCMD ["x"]';
  const a = await keys({ text: noRun });
  const b = await keys({ text: noRun, args: { FLAVOUR: 'fancy' } });
  t.same(changed(a, b), [3, 4], 'without RUN, only the LABEL that substitutes it and what follows');
});

t.test('an unused build arg changes nothing', async (t) => {
  const base = await keys();
  const unused = await keys({ args: { NOT_DECLARED: 'x', HTTP_PROXY: 'http://127.0.0.1:3128' } });
  t.same(changed(base, unused), []);
});

t.test('a changed instruction, owner or base image changes the keys from there', async (t) => {
  const base = await keys();
  const cmd = await keys({ text: dockerfile.replace('CMD ["/srv/app.js"]', 'CMD ["/srv/app.js", "-v"]') });
  t.same(changed(base, cmd), [8]);
  const run = await keys({ text: dockerfile.replace('build --version', 'build  --version') });
  t.same(changed(base, run), [5, 6, 7, 8], 'RUN text is compared as written');
  const env = await keys({ text: dockerfile.replace('ENV APP=web', 'ENV APP=api') });
  t.same(changed(base, env), [3, 4, 5, 6, 7, 8]);
  const owner = await keys({ text: dockerfile.replace('--chown=1000', '--chown=1001') });
  t.same(changed(base, owner), [7, 8]);
  const dest = await keys({ text: dockerfile.replace('COPY app.js /srv/', 'COPY app.js /opt/') });
  t.same(changed(base, dest), [4, 5, 6, 7, 8]);
  const image = await keys({ baseDigest: 'sha256:' + 'c'.repeat(64) });
  t.same(changed(base, image), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
});

t.test('config-only steps add no layer; COPY and RUN do', async (t) => {
  const steps = await keys();
  t.same(
    steps.map((s) => [s.kind, s.emptyLayer]),
    [
      ['base', true],
      ['config', true],
      ['config', true],
      ['config', true],
      ['copy', false],
      ['run', false],
      ['config', true],
      ['copy', false],
      ['config', true],
    ],
  );
});

t.test('the key functions: every input counts, arg order does not', async (t) => {
  const parent = baseCacheKey('scratch', platform);
  t.not(parent, baseCacheKey('scratch', { os: 'linux', architecture: 'arm64' }), 'platform counts');
  t.not(parent, baseCacheKey('sha256:' + 'd'.repeat(64), platform), 'base counts');
  const key = stepCacheKey({ parent, instruction: 'RUN x', args: ['A=1', 'B=2'] });
  t.equal(key, stepCacheKey({ parent, instruction: 'RUN x', args: ['B=2', 'A=1'] }));
  t.not(key, stepCacheKey({ parent, instruction: 'RUN x', args: ['A=1', 'B=3'] }));
  t.not(key, stepCacheKey({ parent, instruction: 'RUN y', args: ['A=1', 'B=2'] }));
  t.not(
    key,
    stepCacheKey({
      parent: baseCacheKey('scratch', { os: 'linux', architecture: 'arm' }),
      instruction: 'RUN x',
      args: ['A=1', 'B=2'],
    }),
  );
  const copy = stepCacheKey({ parent, instruction: 'COPY a /', content: 'sha256:1' });
  t.not(copy, stepCacheKey({ parent, instruction: 'COPY a /', content: 'sha256:2' }));
  t.not(copy, stepCacheKey({ parent, instruction: 'COPY a /' }));
});
