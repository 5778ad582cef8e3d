import t from 'tap';
import { parseLabels, validateLabelKey, validateLabelValue } from '@flotilla/agent';

t.test('parseLabels reads comma-separated KEY=VALUE pairs', async (t) => {
  const cases: Array<[string, Record<string, string>]> = [
    ['zone=a, disk=ssd,empty=', { zone: 'a', disk: 'ssd', empty: '' }],
    ['example.com/tier=web', { 'example.com/tier': 'web' }],
    [' zone=a ', { zone: 'a' }],
    ['', {}],
    ['   ', {}],
  ];
  for (const [text, labels] of cases) t.strictSame(parseLabels(text), labels, JSON.stringify(text));
});

t.test('parseLabels refuses malformed labels, naming the field and the problem', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['a', /^--labels: "a" is not KEY=VALUE/],
    ['a=1,', /^--labels: "" is not KEY=VALUE/],
    ['Bad_Prefix/x=1', /^--labels: label key "Bad_Prefix\/x" is not valid: its prefix "Bad_Prefix"/],
    ['/x=1', /its prefix "" must not be empty/],
    ['example.com/=1', /its name part must not be empty/],
    [`${'x'.repeat(64)}=1`, /its name part must be at most 63 characters/],
    ['-x=1', /its name part must consist of/],
    ['k=-v', /^--labels: value "-v" of label k is not valid/],
    ['k=a=b', /value "a=b" of label k is not valid/],
    [`k=${'v'.repeat(64)}`, /must be at most 63 characters/],
    ['a=1,a=2', /^--labels: label a is given twice/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parseLabels(text, '--labels'), { code: 'InvalidArgument', message }, JSON.stringify(text));
  }
});

t.test('label keys: an optional DNS subdomain prefix and a name of at most 63 characters', async (t) => {
  const valid = ['a', 'Zone', 'a_b.c-D9', 'x'.repeat(63), 'example.com/tier', 'flotilla.io/hostname'];
  for (const key of valid) t.equal(validateLabelKey(key), undefined, key);
  const invalid = ['', '_a', 'a_', 'a b', 'x'.repeat(64), 'Example.com/a', 'a/b/c', '/a', 'a/'];
  for (const key of invalid) t.type(validateLabelKey(key), 'string', JSON.stringify(key));
});

t.test('label values: empty, or at most 63 characters starting and ending alphanumeric', async (t) => {
  const valid = ['', 'a', 'SSD', 'a_b.c-D9', 'v'.repeat(63)];
  for (const value of valid) t.equal(validateLabelValue(value), undefined, JSON.stringify(value));
  const invalid = ['-a', 'a.', 'a b', 'a/b', 'a=b', 'v'.repeat(64)];
  for (const value of invalid) t.type(validateLabelValue(value), 'string', JSON.stringify(value));
});
