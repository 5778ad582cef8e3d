// The content store with fake sources: verification while streaming, nothing stored on a
// mismatch, resume after an interruption, one download for concurrent ingests.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { silentLogger } from '@flotilla/common';
import { FileContentStore, FileImageStore, digestOf, parseReference } from '@flotilla/images';
import { makeRunDir } from '../lib/index.js';

const dir = makeRunDir('content');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshStore = (): FileContentStore =>
  new FileContentStore(join(dir, `store-${++n}`), { logger: silentLogger });

/** A source that serves data from offset in chunks, recording the offsets asked for. */
function fakeSource(data: Buffer, options: { failAfter?: number; chunk?: number } = {}) {
  const offsets: number[] = [];
  let calls = 0;
  const source = async (offset: number): Promise<Readable> => {
    offsets.push(offset);
    const call = calls++;
    const chunk = options.chunk ?? 1024;
    const failAfter = call === 0 ? options.failAfter : undefined;
    async function* generate(): AsyncGenerator<Buffer> {
      for (let at = offset; at < data.length; at += chunk) {
        if (failAfter !== undefined && at - offset >= failAfter)
          throw new Error('connection reset by fake peer');
        await tick();
        yield data.subarray(at, Math.min(at + chunk, data.length));
      }
    }
    return Readable.from(generate());
  };
  return { source, offsets };
}

function ingestLeftovers(root: string): string[] {
  const ingest = join(root, 'ingest');
  return existsSync(ingest) ? readdirSync(ingest) : [];
}

t.test('ingest stores a blob once, verified, read-only', async (t) => {
  const store = freshStore();
  const data = randomBytes(10_000);
  const digest = digestOf(data);
  const { source, offsets } = fakeSource(data);
  t.strictSame(await store.ingest({ digest, size: data.length }, source), { digest, size: data.length });
  t.same(await store.read(digest), data);
  t.equal(statSync(store.path(digest)).mode & 0o777, 0o444);
  t.strictSame(await store.info(digest), { digest, size: data.length });
  t.strictSame(await store.list(), [{ digest, size: data.length }]);
  t.strictSame(await store.ingest({ digest, size: data.length }, source), { digest, size: data.length });
  t.strictSame(offsets, [0], 'a stored blob is not fetched again');
  t.strictSame(ingestLeftovers(store.root), [], 'nothing left in ingest/');
});

t.test('a blob whose digest does not match is refused and nothing is stored', async (t) => {
  const store = freshStore();
  const data = randomBytes(5000);
  const claimed = digestOf(Buffer.from('something else'));
  await t.rejects(store.ingest({ digest: claimed, size: data.length }, fakeSource(data).source), {
    code: 'InvalidArgument',
    message: new RegExp(
      `blob ${claimed} does not match its digest: the data received hashes to ${digestOf(data)}`,
    ),
  });
  t.equal(await store.info(claimed), undefined);
  t.strictSame(await store.list(), []);
  t.strictSame(ingestLeftovers(store.root), [], 'the partial data was dropped');

  await t.rejects(
    store.ingest({ digest: digestOf(data), size: data.length - 1 }, fakeSource(data).source),
    { code: 'InvalidArgument', message: /larger than its descriptor says/ },
    'more bytes than the descriptor says',
  );
  t.strictSame(await store.list(), []);
  t.strictSame(ingestLeftovers(store.root), []);
  await t.rejects(store.ingest({ digest: 'sha256:xyz' }, fakeSource(data).source), /not a valid digest/);
});

t.test('an interrupted ingest keeps its partial data and the next one resumes', async (t) => {
  const store = freshStore();
  const data = randomBytes(64 * 1024);
  const digest = digestOf(data);
  const { source, offsets } = fakeSource(data, { failAfter: 20 * 1024 });
  await t.rejects(store.ingest({ digest, size: data.length }, source), {
    code: 'Unavailable',
    message: /interrupted at 20480 bytes.*the next pull resumes it/,
  });
  t.equal(await store.info(digest), undefined, 'not committed');
  const partial = join(store.root, 'ingest', `sha256-${digest.slice(7)}.partial`);
  t.equal(statSync(partial).size, 20 * 1024, 'the partial data is kept');

  t.strictSame(await store.ingest({ digest, size: data.length }, source), { digest, size: data.length });
  t.strictSame(offsets, [0, 20 * 1024], 'the second ingest asked only for the rest');
  t.same(await store.read(digest), data);
  t.strictSame(ingestLeftovers(store.root), []);
});

t.test('a source that ends early is an interruption, not a mismatch', async (t) => {
  const store = freshStore();
  const data = randomBytes(4096);
  const digest = digestOf(data);
  await t.rejects(store.ingest({ digest, size: data.length }, fakeSource(data.subarray(0, 1000)).source), {
    code: 'Unavailable',
    message: /ended early, at 1000 of 4096 bytes/,
  });
  const { source, offsets } = fakeSource(data);
  await store.ingest({ digest, size: data.length }, source);
  t.strictSame(offsets, [1000]);
  t.same(await store.read(digest), data);
});

t.test('concurrent ingests of one blob share one download', async (t) => {
  const store = freshStore();
  const data = randomBytes(100_000);
  const digest = digestOf(data);
  const first = fakeSource(data, { chunk: 512 });
  const second = fakeSource(data, { chunk: 512 });
  const results = await Promise.all([
    store.ingest({ digest, size: data.length }, first.source),
    store.ingest({ digest, size: data.length }, second.source),
    store.ingest({ digest }, second.source),
  ]);
  for (const r of results) t.strictSame(r, { digest, size: data.length });
  t.equal(first.offsets.length + second.offsets.length, 1, 'one download in all');

  // Two stores on one root stand for two processes: the lock file keeps them apart.
  const root = join(dir, 'shared-root');
  const a = new FileContentStore(root, { logger: silentLogger });
  const b = new FileContentStore(root, { logger: silentLogger });
  const other = randomBytes(50_000);
  const otherDigest = digestOf(other);
  const sa = fakeSource(other, { chunk: 256 });
  const sb = fakeSource(other, { chunk: 256 });
  await Promise.all([
    a.ingest({ digest: otherDigest, size: other.length }, sa.source),
    b.ingest({ digest: otherDigest, size: other.length }, sb.source),
  ]);
  t.equal(sa.offsets.length + sb.offsets.length, 1, 'the second store waited and found the blob stored');
  t.same(await b.read(otherDigest), other);
});

t.test('a lock left by a dead process is taken over', async (t) => {
  const store = freshStore();
  const data = randomBytes(3000);
  const digest = digestOf(data);
  const deadPid = spawnSync('true').pid;
  mkdirSync(join(store.root, 'ingest'), { recursive: true });
  writeFileSync(join(store.root, 'ingest', `sha256-${digest.slice(7)}.lock`), String(deadPid));
  t.strictSame(await store.ingest({ digest, size: data.length }, fakeSource(data).source), {
    digest,
    size: data.length,
  });
});

t.test('an aborted ingest stops, keeps its partial data, and rejects', async (t) => {
  const store = freshStore();
  const data = randomBytes(200_000);
  const digest = digestOf(data);
  const controller = new AbortController();
  let served = 0;
  const source = async (offset: number): Promise<Readable> =>
    Readable.from(
      (async function* () {
        for (let at = offset; at < data.length; at += 1000) {
          served += 1000;
          if (served === 5000) controller.abort(new Error('caller gave up'));
          await tick();
          yield data.subarray(at, at + 1000);
        }
      })(),
    );
  await t.rejects(store.ingest({ digest, size: data.length }, source, controller.signal), /caller gave up/);
  t.equal(await store.info(digest), undefined);
  t.strictSame(await store.ingest({ digest, size: data.length }, source), { digest, size: data.length });
});

t.test('put, delete and list', async (t) => {
  const store = freshStore();
  const a = await store.put('{"a":1}');
  t.strictSame(a, { digest: digestOf('{"a":1}'), size: 7 });
  t.strictSame(await store.put(Buffer.from('{"a":1}')), a, 'idempotent');
  await store.put('other');
  t.equal((await store.list()).length, 2);
  await store.delete(a.digest);
  await store.delete(a.digest);
  t.equal(await store.info(a.digest), undefined);
  await t.rejects(store.read(a.digest), { code: 'NotFound', message: /not in the content store/ });
  t.strictSame(ingestLeftovers(store.root), []);
});

t.test('the image store keeps canonical names in one file', async (t) => {
  const path = join(dir, 'images', 'images.json');
  const images = new FileImageStore(path);
  const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf('m'), size: 1 };
  await images.put({ name: 'docker.io/library/busybox:latest', target, updatedAt: '2026-01-01T00:00:00Z' });
  await images.put({ name: '127.0.0.1:5000/web:v1', target, updatedAt: '2026-01-01T00:00:00Z' });
  t.equal((await images.get('busybox'))?.name, 'docker.io/library/busybox:latest', 'found by its short name');
  t.equal(
    (await new FileImageStore(path).get(parseReference('busybox').canonical))?.target.digest,
    target.digest,
  );
  t.strictSame(
    (await images.list()).map((r) => r.name),
    ['127.0.0.1:5000/web:v1', 'docker.io/library/busybox:latest'],
  );
  await t.rejects(
    images.put({ name: 'busybox', target, updatedAt: '' }),
    /image name "busybox" must be canonical: "docker.io\/library\/busybox:latest"/,
  );
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      images.put({ name: `127.0.0.1:5000/many:v${i}`, target, updatedAt: '' }),
    ),
  );
  t.equal((await images.list()).length, 12, 'concurrent puts are all kept');
  t.equal(await images.delete('busybox'), true);
  t.equal(await images.delete('busybox'), false);
  t.equal(await images.get('busybox'), undefined);
  t.strictSame(readdirSync(join(dir, 'images')).sort(), ['images.json'], 'no temp or lock file left');
});
