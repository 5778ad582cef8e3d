import t from 'tap';
import { type LabelSelector, matchesLabels, parseLabelSelector } from '@flotilla/controller';

t.test('parseLabelSelector reads every form into requirements', async (t) => {
  const cases: Array<[string, LabelSelector]> = [
    ['', []],
    ['   ', []],
    ['a=b', [{ op: 'equals', key: 'a', value: 'b' }]],
    ['a==b', [{ op: 'equals', key: 'a', value: 'b' }]],
    ['a=', [{ op: 'equals', key: 'a', value: '' }]],
    ['a!=b', [{ op: 'notEquals', key: 'a', value: 'b' }]],
    ['a', [{ op: 'exists', key: 'a' }]],
    ['!a', [{ op: 'notExists', key: 'a' }]],
    [
      ' zone = eu-1 , !gpu,example.com/tier',
      [
        { op: 'equals', key: 'zone', value: 'eu-1' },
        { op: 'notExists', key: 'gpu' },
        { op: 'exists', key: 'example.com/tier' },
      ],
    ],
  ];
  for (const [selector, requirements] of cases) {
    t.strictSame(parseLabelSelector(selector), requirements, JSON.stringify(selector));
  }
});

t.test('parseLabelSelector refuses invalid selectors with an InvalidArgument naming them', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['a=b,', /empty requirement/],
    [',a', /empty requirement/],
    ['=b', /key "": name part must not be empty/],
    ['!', /key "": name part must not be empty/],
    ['a=b c', /value "b c" of key "a"/],
    ['a b', /key "a b"/],
    ['a/b/c', /key "a\/b\/c"/],
    ['Bad_/x', /prefix "Bad_"/],
    ['-a', /key "-a"/],
    [`a=${'x'.repeat(64)}`, /at most 63 characters/],
    [`${'k'.repeat(64)}`, /name part must be at most 63 characters/],
  ];
  for (const [selector, why] of cases) {
    t.throws(
      () => parseLabelSelector(selector),
      {
        code: 'InvalidArgument',
        message: `label selector "${selector}" is invalid`,
        context: { field: 'labelSelector', value: selector },
      },
      `${JSON.stringify(selector)} is named`,
    );
    t.throws(() => parseLabelSelector(selector), { message: why }, `${JSON.stringify(selector)} says why`);
  }
});

t.test('matchesLabels: every requirement must hold', async (t) => {
  const labels = { zone: 'eu-1', gpu: '', 'example.com/tier': 'web' };
  const cases: Array<[string, Record<string, string> | undefined, boolean]> = [
    ['', labels, true],
    ['', undefined, true],
    ['zone=eu-1', labels, true],
    ['zone==eu-2', labels, false],
    ['zone=eu-1', undefined, false],
    ['zone!=eu-2', labels, true],
    ['zone!=eu-1', labels, false],
    ['missing!=x', labels, true],
    ['gpu', labels, true],
    ['gpu=', labels, true],
    ['!gpu', labels, false],
    ['!missing', labels, true],
    ['missing', labels, false],
    ['missing=', labels, false],
    ['example.com/tier=web', labels, true],
    ['zone=eu-1,example.com/tier=db', labels, false],
    ['zone=eu-1,!missing,gpu', labels, true],
    ['toString', {}, false],
  ];
  for (const [selector, on, matches] of cases) {
    t.equal(
      matchesLabels(parseLabelSelector(selector), on),
      matches,
      `${JSON.stringify(selector)} on ${JSON.stringify(on)}`,
    );
  }
});
