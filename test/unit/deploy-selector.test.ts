// checkLabelSelector: `deploy nodes -l` refuses a malformed selector before it is sent.
import t from 'tap';
import { checkLabelSelector } from '@flotilla/deploy';

t.test('valid selectors in every form pass', async (t) => {
  const valid = [
    '',
    '   ',
    'env=prod',
    'env==prod',
    'env!=prod',
    'env = prod',
    'env=',
    'gpu',
    '!gpu',
    '! gpu',
    'zone in (a,b)',
    'zone in (a, b)',
    'zone notin (a,b)',
    'zone in (a)',
    'Env=Prod',
    'app.kubernetes.io/name=web',
    'example.com/zone=a_b-c.d',
    'env=prod,tier!=web,gpu,zone in (a,b),disk notin (hdd)',
    `${'k'.repeat(63)}=${'v'.repeat(63)}`,
  ];
  for (const selector of valid) t.equal(checkLabelSelector(selector), undefined, JSON.stringify(selector));
});

t.test('invalid selectors are refused, saying why', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['env=prod,', /has an empty term/],
    [',env=prod', /has an empty term/],
    ['a,,b', /has an empty term/],
    ['zone in (a,b', /term "zone in \(a,b" has none of the valid forms/],
    ['a b', /term "a b" has none of the valid forms/],
    ['-env=prod', /label key "-env" must be at most 63 letters/],
    ['env-=prod', /label key "env-"/],
    [`${'k'.repeat(64)}=v`, /label key "k{64}" must be at most 63/],
    ['env=-prod', /label value "-prod" must be empty or at most 63 letters/],
    ['env=pr od', /label value "pr od"/],
    ['a=b=c', /label value "b=c"/],
    [`env=${'v'.repeat(64)}`, /label value "v{64}"/],
    ['zone in (a,b c)', /label value "b c"/],
    ['Example.com/zone=a', /label key prefix "Example\.com" must be a DNS subdomain/],
    ['/zone=a', /label key prefix "" must be a DNS subdomain/],
    [`${'p'.repeat(254)}/zone=a`, /label key prefix "p{254}" must be a DNS subdomain/],
    ['a/b/c=x', /label key "a\/b\/c"/],
    ['=x', /label key "=x"/],
    ['!', /label key "!"/],
  ];
  for (const [selector, reason] of cases)
    t.match(checkLabelSelector(selector), reason, JSON.stringify(selector));
});

t.test('commas inside a set do not split the selector', async (t) => {
  t.equal(checkLabelSelector('zone in (a,b,c),env=prod'), undefined);
  t.match(
    checkLabelSelector('zone in (a,b,-c),env=prod'),
    /label value "-c"/,
    'the values of a set are checked',
  );
});
