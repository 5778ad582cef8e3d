import t from 'tap';
import { compareNatural, compareText } from '@flotilla/common';

const sorted = (xs: string[], cmp: (a: string, b: string) => number): string[] => [...xs].sort(cmp);

t.test('compareText: code-unit order, as sort() without a comparator', async (t) => {
  const names = [
    'web',
    'a-b',
    'ab',
    'a.b',
    'node-10',
    'node-2',
    'default/web',
    'default/a',
    'kube-system/dns',
    'B',
  ];
  t.same(sorted(names, compareText), [...names].sort());
  t.same(sorted(['node-b', 'node-a', 'node-c'], compareText), ['node-a', 'node-b', 'node-c']);
  // namespace/name: a shorter namespace that is a prefix of another sorts first
  t.same(sorted(['default-x/a', 'default/b'], compareText), ['default-x/a', 'default/b']);
  t.equal(compareText('x', 'x'), 0);
});

t.test('compareNatural: ip:port endpoints in numeric order', async (t) => {
  const eps = ['10.0.0.10:80', '10.0.0.2:8080', '10.0.0.2:80', '10.0.1.1:80', '10.0.0.9:80', '9.0.0.1:443'];
  t.same(sorted(eps, compareNatural), [
    '9.0.0.1:443',
    '10.0.0.2:80',
    '10.0.0.2:8080',
    '10.0.0.9:80',
    '10.0.0.10:80',
    '10.0.1.1:80',
  ]);
  // what localeCompare(…, 'en', { numeric: true }) gave for these
  t.same(
    sorted(eps, compareNatural),
    sorted(eps, (a, b) => a.localeCompare(b, 'en', { numeric: true })),
  );
});

t.test('compareNatural: text around numbers, leading zeros, prefixes', async (t) => {
  t.same(sorted(['pod-10', 'pod-9', 'pod-1', 'pod', 'pod-a'], compareNatural), [
    'pod',
    'pod-1',
    'pod-9',
    'pod-10',
    'pod-a',
  ]);
  t.ok(compareNatural('a7', 'a07') < 0, 'equal values: fewer leading zeros first');
  t.ok(compareNatural('a07', 'a7') > 0);
  t.ok(compareNatural('a07b', 'a7c') < 0, 'a later difference wins over the zeros');
  t.equal(compareNatural('10.0.0.1:80', '10.0.0.1:80'), 0);
  t.ok(compareNatural('10.0.0.1', '10.0.0.1:80') < 0);
  // a total order: antisymmetric on every pair
  const xs = ['1', '01', '001', '1a', 'a1', 'a01', 'a', '', '10', '2', 'a10b', 'a9b'];
  for (const a of xs)
    for (const b of xs)
      t.equal(Math.sign(compareNatural(a, b)), -Math.sign(compareNatural(b, a)), `${a} vs ${b}`);
});
