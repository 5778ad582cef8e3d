import t from 'tap';
import { expandWord, expandWords } from '@flotilla/images';

const vars: Record<string, string> = { NAME: 'web', EMPTY: '', SPACED: 'a  b', PATH: '/bin', V: '1.2' };
const lookup = (name: string): string | undefined => vars[name];

t.test('expandWord: Docker substitution forms', async (t) => {
  const cases: [string, string][] = [
    ['$NAME', 'web'],
    ['${NAME}', 'web'],
    ['pre-${NAME}-post', 'pre-web-post'],
    ['$NAME.txt', 'web.txt'],
    ['$NAMEX', ''],
    ['$UNSET', ''],
    ['${UNSET:-default}', 'default'],
    ['${EMPTY:-default}', 'default'],
    ['${EMPTY-default}', ''],
    ['${UNSET-default}', 'default'],
    ['${NAME:-default}', 'web'],
    ['${NAME:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET:+alt}', ''],
    ['${UNSET:-$NAME}', 'web'],
    ['${UNSET:-${V}-x}', '1.2-x'],
    ['${UNSET:-a b}', 'a b'],
    ['${PATH}:/usr/bin', '/bin:/usr/bin'],
    ['\\$NAME', '$NAME'],
    ['\\${NAME}', '${NAME}'],
    ['a\\ b', 'a b'],
    ['$', '$'],
    ['cost: 5$', 'cost: 5$'],
    ['$/x', '$/x'],
    ["'$NAME'", '$NAME'],
    ['"$NAME"', 'web'],
    ['"a \\"q\\" $NAME"', 'a "q" web'],
    ['"\\n"', '\\n'],
    ['"$SPACED"', 'a  b'],
    ['$SPACED', 'a  b'],
    ["it'\"s'", 'it"s'],
    ['"${NAME:-x}"', 'web'],
  ];
  for (const [input, want] of cases) t.equal(expandWord(input, lookup, '\\'), want, input);
});

t.test('expandWord with ` as the escape character', async (t) => {
  t.equal(expandWord('`$NAME', lookup, '`'), '$NAME');
  t.equal(expandWord('c:\\$NAME', lookup, '`'), 'c:\\web');
  t.equal(expandWord('"a `"b`""', lookup, '`'), 'a "b"');
});

t.test('expandWords splits on unquoted whitespace, including inside expansions', async (t) => {
  t.same(expandWords('80 443/tcp', lookup, '\\'), ['80', '443/tcp']);
  t.same(expandWords('$SPACED c', lookup, '\\'), ['a', 'b', 'c']);
  t.same(expandWords('"$SPACED" c', lookup, '\\'), ['a  b', 'c']);
  t.same(expandWords("'x y' z\\ w", lookup, '\\'), ['x y', 'z w']);
  t.same(expandWords('  $UNSET  ', lookup, '\\'), []);
});

t.test('substitution errors say what is wrong', async (t) => {
  const cases: [string, RegExp][] = [
    ['"unterminated', /matching double-quote/],
    ["'unterminated", /matching single-quote/],
    ['${NAME', /missing "}"/],
    ['${NAME:-x', /missing "}"/],
    ['${}', /bad substitution/],
    ['${NAME/a/b}', /unsupported modifier "\/".*valid are :- - :\+ \+ :\? \?/],
    ['${UNSET:?must be set}', /UNSET: must be set/],
    ['${UNSET?}', /UNSET: is not allowed to be unset/],
  ];
  for (const [input, message] of cases) t.throws(() => expandWord(input, lookup, '\\'), { message }, input);
  t.equal(expandWord('${NAME:?set it}', lookup, '\\'), 'web', ':? passes a set value through');
});
