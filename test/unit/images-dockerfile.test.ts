import t from 'tap';
import { isFlotillaError } from '@flotilla/common';
import { parseDockerfile, type Dockerfile, type Instruction } from '@flotilla/images';

/** The instructions of the only stage, after a FROM line. */
function body(text: string): Instruction[] {
  const df = parseDockerfile(`FROM busybox\n${text}`);
  if (df.stages.length !== 1) throw new Error(`expected one stage, got ${df.stages.length}`);
  return df.stages[0]?.instructions ?? [];
}

function only(text: string): Instruction {
  const instructions = body(text);
  if (instructions.length !== 1) throw new Error(`expected one instruction, got ${instructions.length}`);
  return instructions[0] as Instruction;
}

function parseError(text: string, filename?: string): Error {
  try {
    parseDockerfile(text, filename !== undefined ? { filename } : {});
  } catch (err) {
    return err as Error;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

t.test('FROM: image, AS name (lower-cased), --platform, scratch, stages and global ARGs', async (t) => {
  const df: Dockerfile = parseDockerfile(
    [
      'ARG VERSION=1.36',
      'ARG OTHER',
      'FROM busybox:${VERSION} AS Build',
      'RUN make',
      'from --platform=linux/amd64 scratch',
      'COPY --from=build /out /',
    ].join('\n'),
  );
  t.equal(df.filename, 'Dockerfile');
  t.equal(df.escape, '\\');
  t.same(
    df.globalArgs.map((a) => a.args),
    [[{ name: 'VERSION', default: '1.36' }], [{ name: 'OTHER' }]],
  );
  t.equal(df.stages.length, 2);
  t.match(df.stages[0], {
    index: 0,
    name: 'build',
    from: { kind: 'FROM', image: 'busybox:${VERSION}', line: 3 },
  });
  t.equal(df.stages[0]?.instructions.length, 1);
  t.match(df.stages[1], { index: 1, from: { image: 'scratch', platform: 'linux/amd64', line: 5 } });
  t.equal(df.stages[1]?.name, undefined, 'no AS, no name');
  t.match(df.stages[1]?.instructions[0], { kind: 'COPY', from: 'build', sources: ['/out'], dest: '/' });
});

t.test('RUN, CMD and ENTRYPOINT: exec (JSON) and shell forms', async (t) => {
  const cases: [string, unknown][] = [
    ['RUN echo hello world', { kind: 'RUN', command: { form: 'shell', command: 'echo hello world' } }],
    ['RUN ["echo", "a b"]', { kind: 'RUN', command: { form: 'exec', argv: ['echo', 'a b'] } }],
    ['run  ["/bin/true"]  ', { kind: 'RUN', command: { form: 'exec', argv: ['/bin/true'] } }],
    ['CMD ["httpd", "-f"]', { kind: 'CMD', command: { form: 'exec', argv: ['httpd', '-f'] } }],
    ['CMD []', { kind: 'CMD', command: { form: 'exec', argv: [] } }],
    ['CMD echo "$HOME"', { kind: 'CMD', command: { form: 'shell', command: 'echo "$HOME"' } }],
    [
      'ENTRYPOINT ["/app", "--serve"]',
      { kind: 'ENTRYPOINT', command: { form: 'exec', argv: ['/app', '--serve'] } },
    ],
    ['Entrypoint exec /app', { kind: 'ENTRYPOINT', command: { form: 'shell', command: 'exec /app' } }],
    // Not a JSON array of strings: Docker runs it through the shell.
    [
      "CMD ['single', 'quotes']",
      { kind: 'CMD', command: { form: 'shell', command: "['single', 'quotes']" } },
    ],
    ['CMD ["a", 1]', { kind: 'CMD', command: { form: 'shell', command: '["a", 1]' } }],
  ];
  for (const [text, want] of cases)
    t.same(only(text), { ...(want as object), line: 2, endLine: 2, source: text.trim() }, text);
});

t.test('COPY and ADD: flags, JSON form, several sources, wildcards kept for the planner', async (t) => {
  t.match(only('COPY --chown=app:app --chmod=0644 a.txt b/ /dest/'), {
    kind: 'COPY',
    sources: ['a.txt', 'b/'],
    dest: '/dest/',
    chown: 'app:app',
    chmod: '0644',
  });
  t.match(only('COPY ["with space.txt", "/dest dir/"]'), { sources: ['with space.txt'], dest: '/dest dir/' });
  t.match(only('copy *.js src/[ab]?.ts ./'), { kind: 'COPY', sources: ['*.js', 'src/[ab]?.ts'], dest: './' });
  t.match(only('COPY --from=0 /bin/app /usr/bin/app'), { from: '0' });
  t.match(only('ADD --chown=1000 site.tar.gz /srv/'), {
    kind: 'ADD',
    sources: ['site.tar.gz'],
    dest: '/srv/',
    chown: '1000',
  });
  t.match(
    only('COPY "quoted name" /x'),
    { sources: ['"quoted name"'], dest: '/x' },
    'quotes stay for substitution',
  );
  t.match(only('COPY -- --weird /x'), { sources: ['--weird'] }, '-- ends the flags');
});

t.test('ENV and LABEL: key=value pairs with quotes, and the legacy "key value" form', async (t) => {
  t.match(only('ENV A=1 B="two words" C=three\\ words'), {
    kind: 'ENV',
    pairs: [
      { key: 'A', value: '1' },
      { key: 'B', value: '"two words"' },
      { key: 'C', value: 'three\\ words' },
    ],
  });
  t.match(only('ENV LEGACY the rest of the line'), {
    pairs: [{ key: 'LEGACY', value: 'the rest of the line' }],
  });
  t.match(only('LABEL org.opencontainers.image.title="Hello" version=1'), {
    kind: 'LABEL',
    pairs: [
      { key: 'org.opencontainers.image.title', value: '"Hello"' },
      { key: 'version', value: '1' },
    ],
  });
  t.match(only("LABEL description='it''s'"), { pairs: [{ key: 'description', value: "'it''s'" }] });
});

t.test('ARG, WORKDIR, USER, EXPOSE, STOPSIGNAL, SHELL', async (t) => {
  t.match(only('ARG A B=2 C='), {
    kind: 'ARG',
    args: [{ name: 'A' }, { name: 'B', default: '2' }, { name: 'C', default: '' }],
  });
  t.equal((only('ARG A') as { args: { default?: string }[] }).args[0]?.default, undefined);
  t.match(only('WORKDIR /srv/app'), { kind: 'WORKDIR', value: '/srv/app' });
  t.match(only('WORKDIR "/my dir"'), { kind: 'WORKDIR', value: '"/my dir"' });
  t.match(only('USER nobody:nogroup'), { kind: 'USER', value: 'nobody:nogroup' });
  t.match(only('EXPOSE 8080 8443/tcp 53/udp'), { kind: 'EXPOSE', ports: ['8080', '8443/tcp', '53/udp'] });
  t.match(only('STOPSIGNAL SIGQUIT'), { kind: 'STOPSIGNAL', value: 'SIGQUIT' });
  t.match(only('SHELL ["/bin/sh", "-ec"]'), { kind: 'SHELL', shell: ['/bin/sh', '-ec'] });
});

t.test('comments, blank lines, leading whitespace and line numbers', async (t) => {
  const df = parseDockerfile(
    [
      '# a comment',
      '',
      '   FROM busybox',
      '',
      '  # indented comment',
      '\tRUN true   ',
      'RUN echo "#not a comment"',
    ].join('\n'),
  );
  const [run, echo] = df.stages[0]?.instructions ?? [];
  t.equal(df.stages[0]?.from.line, 3);
  t.match(run, { line: 6, command: { command: 'true' } });
  t.match(echo, { line: 7, command: { command: 'echo "#not a comment"' } });
});

t.test('line continuations: joined without a space, comments and blank lines inside dropped', async (t) => {
  const [run] = body(
    ['RUN apk add \\', '    curl \\', '# comment in the middle', '', '    git', 'USER x'].join('\n'),
  );
  t.match(run, {
    kind: 'RUN',
    line: 2,
    endLine: 6,
    command: { form: 'shell', command: 'apk add     curl     git' },
  });
  const [env, user] = body(['ENV A=1 \\  ', '  B=2', 'USER x'].join('\n'));
  t.match(env, { pairs: [{ key: 'A' }, { key: 'B' }] }, 'whitespace after the backslash still continues');
  t.match(user, { line: 4 });
  const [last] = body('RUN echo \\');
  t.match(last, { command: { command: 'echo' } }, 'a continuation at the end of the file ends the line');
  const windows = parseDockerfile('FROM busybox\r\nRUN a \\\r\n  b\r\n');
  t.match(windows.stages[0]?.instructions[0], { command: { command: 'a   b' } }, 'CRLF line ends');
});

t.test('parser directives: escape, syntax; only at the top', async (t) => {
  const df = parseDockerfile(
    [
      '# syntax=docker/dockerfile:1',
      '# escape=`',
      '',
      'FROM busybox',
      'RUN dir c:\\ `',
      '  /w',
      'COPY a\\b c',
    ].join('\n'),
  );
  t.equal(df.escape, '`');
  t.match(
    df.stages[0]?.instructions[0],
    { command: { command: 'dir c:\\   /w' } },
    'backslash is literal, ` continues',
  );
  t.match(df.stages[0]?.instructions[1], { sources: ['a\\b'] });

  const late = parseDockerfile(
    ['# a comment first', '# escape=`', 'FROM busybox', 'RUN a \\', ' b'].join('\n'),
  );
  t.equal(late.escape, '\\', 'a directive after a comment is only a comment');
  t.match(late.stages[0]?.instructions[0], { command: { command: 'a  b' } });

  const unknown = parseDockerfile(['# foo=bar', '# escape=`', 'FROM busybox'].join('\n'));
  t.equal(unknown.escape, '\\', 'an unknown directive ends the directives');
  t.equal(
    parseDockerfile('#ESCAPE = `\nFROM x').escape,
    '`',
    'directive keys are case-insensitive, spaces allowed',
  );
});

t.test('errors name the file, the line and what is valid', async (t) => {
  const cases: [string, RegExp][] = [
    [
      'FROM busybox\nRUN true\n\nCOPPY a /b',
      /^Dockerfile:4: unknown instruction COPPY \(did you mean COPY\?\)$/,
    ],
    [
      'FROM busybox\nrun true\nentrypont ["x"]',
      /^Dockerfile:3: unknown instruction entrypont \(did you mean ENTRYPOINT\?\)/,
    ],
    [
      'FROM busybox\nFROBNICATE x',
      /^Dockerfile:2: unknown instruction FROBNICATE: valid are ADD, ARG, CMD, COPY/,
    ],
    ['RUN true\nFROM busybox', /^Dockerfile:1: RUN before the first FROM: only ARG may come before FROM/],
    ['', /^Dockerfile:1: the Dockerfile is empty/],
    ['# just a comment\nARG A=1', /^Dockerfile:2: no FROM instruction/],
    ['FROM', /^Dockerfile:1: FROM takes an image and an optional stage name/],
    ['FROM a b', /^Dockerfile:1: FROM takes an image/],
    ['FROM a AS 1x', /^Dockerfile:1: invalid stage name "1x"/],
    ['FROM a AS x\nFROM b AS X', /^Dockerfile:2: duplicate stage name "x" \(first used on line 1\)/],
    ['FROM a\nRUN', /^Dockerfile:2: RUN needs a command/],
    ['FROM a\nCMD', /^Dockerfile:2: CMD needs a command/],
    [
      'FROM a\nRUN --mount=type=cache,target=/x true',
      /^Dockerfile:2: unknown flag --mount for RUN \(BuildKit extensions are not supported\): RUN takes no flags/,
    ],
    [
      'FROM a\nCOPY --link a b',
      /^Dockerfile:2: unknown flag --link for COPY: valid are --from, --chown, --chmod/,
    ],
    ['FROM a\nADD --from=x a b', /^Dockerfile:2: unknown flag --from for ADD: valid are --chown, --chmod/],
    ['FROM a\nCOPY --chown a b', /^Dockerfile:2: flag --chown for COPY needs a value/],
    ['FROM a\nCOPY --chown=1 --chown=2 a b', /^Dockerfile:2: flag --chown given twice/],
    ['FROM a\nCOPY onlyone', /^Dockerfile:2: COPY needs at least one source and a destination/],
    ['FROM a\nCOPY <<EOF /x\nhello\nEOF', /^Dockerfile:2: heredocs \(<<EOF\) are not supported in COPY/],
    ['FROM a\nRUN <<EOF\necho\nEOF', /^Dockerfile:2: heredocs/],
    ['FROM a\nENV', /^Dockerfile:2: ENV needs at least one key=value pair/],
    ['FROM a\nENV A=1 B', /^Dockerfile:2: ENV: no "=" in "B"; each pair is key=value/],
    ['FROM a\nENV ONLYKEY', /^Dockerfile:2: ENV ONLYKEY has no value/],
    ['FROM a\nLABEL =x', /^Dockerfile:2: LABEL: empty key/],
    ['FROM a\nARG', /^Dockerfile:2: ARG needs a name/],
    ['FROM a\nARG 9lives=1', /^Dockerfile:2: invalid ARG name "9lives"/],
    ['FROM a\nWORKDIR', /^Dockerfile:2: WORKDIR needs a value: WORKDIR \/path/],
    ['FROM a\nEXPOSE', /^Dockerfile:2: EXPOSE needs at least one port/],
    ['FROM a\nSHELL /bin/bash -c', /^Dockerfile:2: SHELL takes a JSON array/],
    ['FROM a\nHEALTHCHECK CMD true', /^Dockerfile:2: HEALTHCHECK is not supported: declare a readinessProbe/],
    ['FROM a\nVOLUME /data', /^Dockerfile:2: VOLUME is not supported/],
    ['FROM a\nONBUILD RUN x', /^Dockerfile:2: ONBUILD is not supported/],
    ['FROM a\nMAINTAINER me', /^Dockerfile:2: MAINTAINER is not supported .*LABEL maintainer/],
    ['# escape=x\nFROM a', /^Dockerfile:1: invalid escape character "x": valid are \\ and `/],
    ['# escape=`\n# escape=\\\nFROM a', /^Dockerfile:2: only one "escape" parser directive can be used/],
    ['FROM a\nRUN a \\\n  b \\\n  c\nBOGUS', /^Dockerfile:5: unknown instruction BOGUS/],
  ];
  for (const [text, message] of cases) {
    const err = parseError(text);
    t.match(err.message, message, JSON.stringify(text));
    t.ok(isFlotillaError(err, 'InvalidArgument'), 'an InvalidArgument FlotillaError');
  }
  const named = parseError('FROM a\nCOPPY x y', 'web/Dockerfile.dev');
  t.match(named.message, /^web\/Dockerfile\.dev:2: /, 'the file name given is used');
  t.match((named as { context?: unknown }).context, {
    object: 'dockerfile/web/Dockerfile.dev',
    field: 'line 2',
    value: 'COPPY',
  });
});
