import t, { type Test } from 'tap';
import { isFlotillaError } from '@flotilla/common';
import { parseDockerignore, readDockerignore } from '@flotilla/images';

/** Checks, for each path, whether the .dockerignore text leaves it out. */
function check(t: Test, text: string, cases: Record<string, boolean>): void {
  const ignore = parseDockerignore(text);
  for (const [path, ignored] of Object.entries(cases)) {
    t.equal(
      ignore.ignores(path),
      ignored,
      `${JSON.stringify(text)}: ${path} ${ignored ? 'ignored' : 'kept'}`,
    );
  }
}

t.test("Docker's documented example: */temp*, */*/temp*, temp?", async (t) => {
  check(t, '# comment\n*/temp*\n*/*/temp*\ntemp?\n', {
    'somedir/temporary.txt': true,
    'somedir/temp': true,
    'somedir/temp/inside.txt': true,
    'somedir/subdir/temporary.txt': true,
    tempa: true,
    tempb: true,
    temp: false,
    tempab: false,
    'temporary.txt': false,
    'a/b/c/temp.txt': false,
    'somedir/other.txt': false,
    '# comment': false,
  });
});

t.test('** matches any number of directories, including none', async (t) => {
  check(t, '**/*.go', { 'main.go': true, 'cmd/app/main.go': true, 'main.go.txt': false, go: false });
  check(t, 'docs/**', { docs: false, 'docs/a.md': true, 'docs/x/y/z.md': true, 'other/docs/a.md': false });
  check(t, 'a/**/b', { 'a/b': true, 'a/x/b': true, 'a/x/y/b': true, 'a/x/y/b/c': true, 'a/xb': false });
  check(t, '**', { anything: true, 'deep/path/file': true });
});

t.test('exceptions with !, and the last matching line wins', async (t) => {
  check(t, '*.md\n!README.md', { 'a.md': true, 'README.md': false, 'docs/a.md': false });
  check(t, '*.md\n!README*.md\nREADME-secret.md', {
    'a.md': true,
    'README.md': false,
    'README-x.md': false,
    'README-secret.md': true,
  });
  check(t, '*.md\nREADME-secret.md\n!README*.md', {
    'a.md': true,
    'README-secret.md': false,
    'README.md': false,
  });
  check(t, 'logs\n!logs/keep.log', { 'logs/a.log': true, 'logs/keep.log': false, logs: true });
});

t.test('a pattern that matches a directory matches everything in it', async (t) => {
  check(t, 'node_modules\nbuild/', {
    node_modules: true,
    'node_modules/x/index.js': true,
    build: true,
    'build/out.o': true,
    'src/node_modules/x.js': false,
    node_modules_not: false,
  });
});

t.test('cleaning: leading / and ./, trailing /, whitespace, comments only at line start', async (t) => {
  t.same(readDockerignore('/foo\n./bar/\n  baz  \n! /qux\n#c\n  #not a comment\n\n'), [
    'foo',
    'bar',
    'baz',
    '!qux',
    '#not a comment',
  ]);
  check(t, '/secret.txt\n./tmp', { 'secret.txt': true, 'a/secret.txt': false, 'tmp/x': true });
  check(t, '\uFEFFfirst', { first: true });
});

t.test('wildcards: *, ?, [...] and escapes never cross a "/"', async (t) => {
  check(t, '*', { a: true, 'a/b': true });
  check(t, 'src/*.ts', { 'src/a.ts': true, 'src/sub/a.ts': false, 'src/.ts': true });
  check(t, 'file[0-9].txt', { 'file1.txt': true, 'filea.txt': false });
  check(t, 'file[^0-9].txt', { 'file1.txt': false, 'filea.txt': true });
  check(t, 'a?c', { abc: true, 'a/c': false });
  check(t, 'lit\\*', { 'lit*': true, litx: false });
  check(t, 'a.b', { 'a.b': true, axb: false });
});

t.test('bad patterns are refused, naming the file and the pattern', async (t) => {
  t.throws(() => parseDockerignore('ok\n!'), { message: /^\.dockerignore:2: "!" needs a pattern/ });
  const err = (() => {
    try {
      parseDockerignore('[unclosed');
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(isFlotillaError(err, 'InvalidArgument'), 'InvalidArgument');
  t.match((err as Error).message, /\.dockerignore: malformed character class in pattern "\[unclosed"/);
});

t.test('canSkipDirectory is false only where an exception could re-include something', async (t) => {
  const noExceptions = parseDockerignore('build\n*.log');
  t.ok(noExceptions.canSkipDirectory('build'));
  const withException = parseDockerignore('logs\n!logs/keep/*.log');
  t.notOk(withException.canSkipDirectory('logs'), 'the exception is under logs');
  t.notOk(withException.canSkipDirectory('logs/keep'), 'the exception is in logs/keep');
  t.ok(withException.canSkipDirectory('logs/other'), 'nothing can come back under logs/other');
  t.ok(withException.canSkipDirectory('cache'));
  t.notOk(parseDockerignore('*\n!*.go').canSkipDirectory('pkg'), 'a wildcard exception could match anywhere');
});
