// Snapshots, the pure parts of unpacking: entry names and path resolution inside the root.
import t from 'tap';
import { classifyEntryName, entryParts, maxSymlinks, resolveWithin, type PathStep } from '@flotilla/images';

t.test('entryParts normalises names under the root', async (t) => {
  const cases: Array<[string, string[] | undefined]> = [
    ['etc/passwd', ['etc', 'passwd']],
    ['./etc/passwd', ['etc', 'passwd']],
    ['/etc/passwd', ['etc', 'passwd']],
    ['//etc//./passwd/', ['etc', 'passwd']],
    ['usr/lib/../bin/sh', ['usr', 'bin', 'sh']],
    ['./', []],
    ['/', []],
    ['a/..', []],
    ['../etc/passwd', undefined],
    ['a/../../etc', undefined],
    ['/../x', undefined],
    ['...', ['...']],
    ['.hidden', ['.hidden']],
  ];
  for (const [name, parts] of cases) t.same(entryParts(name), parts, JSON.stringify(name));
});

t.test('classifyEntryName recognises whiteouts and opaque markers', async (t) => {
  t.same(classifyEntryName('etc/hosts'), { kind: 'path', parts: ['etc', 'hosts'] });
  t.same(classifyEntryName('etc/.wh.hosts'), { kind: 'whiteout', parent: ['etc'], name: 'hosts' });
  t.same(classifyEntryName('.wh.etc'), { kind: 'whiteout', parent: [], name: 'etc' });
  t.same(classifyEntryName('./opt/data/.wh..wh..opq'), { kind: 'opaque', parent: ['opt', 'data'] });
  t.same(classifyEntryName('.wh..wh..opq'), { kind: 'opaque', parent: [] });
  t.same(classifyEntryName('a/.wh..wh.plnk/123'), { kind: 'path', parts: ['a', '.wh..wh.plnk', '123'] });
  t.same(classifyEntryName('a/.wh..wh.plnk'), { kind: 'meta' }, 'AUFS bookkeeping is ignored');
  t.same(classifyEntryName('a/.wh.'), { kind: 'meta' }, 'a whiteout of nothing');
  t.same(classifyEntryName('../.wh.x'), { kind: 'escape' });
  t.same(classifyEntryName('x.wh.y'), { kind: 'path', parts: ['x.wh.y'] });
});

/** A fake layer tree: directories, and symlinks with their targets; everything else missing. */
function tree(dirs: string[], links: Record<string, string> = {}, files: string[] = []) {
  const seen: string[] = [];
  const step = async (parts: string[]): Promise<PathStep> => {
    const path = parts.join('/');
    seen.push(path);
    if (dirs.includes(path)) return { kind: 'dir' };
    if (path in links) return { kind: 'symlink', target: links[path]! };
    if (files.includes(path)) return { kind: 'other' };
    return { kind: 'missing' };
  };
  return { step, seen };
}

t.test('resolveWithin walks real directories as they are', async (t) => {
  const { step } = tree(['usr', 'usr/lib']);
  t.same(await resolveWithin(['usr', 'lib'], step), { kind: 'ok', parts: ['usr', 'lib'] });
  t.same(await resolveWithin([], step), { kind: 'ok', parts: [] });
  t.same(await resolveWithin(['usr', 'share'], step), { kind: 'missing', parts: ['usr', 'share'] });
});

t.test('resolveWithin follows symlinks inside the root', async (t) => {
  const { step, seen } = tree(['usr', 'usr/lib', 'etc'], {
    lib: 'usr/lib',
    'usr/lib64': 'lib',
    abs: '/usr/lib',
    updown: '../etc',
    'usr/up': '../etc',
  });
  t.same(await resolveWithin(['lib'], step), { kind: 'ok', parts: ['usr', 'lib'] }, 'relative');
  t.same(
    await resolveWithin(['usr', 'lib64'], step),
    { kind: 'ok', parts: ['usr', 'lib'] },
    'relative to its dir',
  );
  t.same(
    await resolveWithin(['abs'], step),
    { kind: 'ok', parts: ['usr', 'lib'] },
    'absolute: from the root',
  );
  t.same(await resolveWithin(['usr', 'up'], step), { kind: 'ok', parts: ['etc'] }, '".." inside the root');
  t.notOk(seen.includes(''), 'never asks about the root itself');
});

t.test('resolveWithin refuses to leave the root, loops, and non-directories', async (t) => {
  const { step } = tree(
    ['a'],
    { out: '../../etc', 'a/out': '../../x', loop1: 'loop2', loop2: 'loop1', self: '.' },
    ['file'],
  );
  t.same(await resolveWithin(['out'], step), { kind: 'escape', at: ['out'], target: '../../etc' });
  t.same(await resolveWithin(['a', 'out'], step), { kind: 'escape', at: ['a', 'out'], target: '../../x' });
  t.same(await resolveWithin(['..', 'a'], step), { kind: 'escape', at: ['..', 'a'], target: undefined });
  t.match(await resolveWithin(['loop1'], step), { kind: 'loop' }, `more than ${maxSymlinks} symlinks`);
  t.same(await resolveWithin(['file', 'x'], step), { kind: 'notdir', at: ['file'] });
  t.same(await resolveWithin(['self', 'a'], step), { kind: 'ok', parts: ['a'] }, '"." is where it is');
});
