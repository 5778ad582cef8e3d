// Tables, kubectl-style ages and resource quantities.
import t from 'tap';
import {
  formatAge,
  formatBytes,
  formatCpu,
  formatCpuQuantity,
  formatMemoryQuantity,
  humanDuration,
  parseQuantity,
  renderTable,
} from '@flotilla/deploy';

const second = 1_000;
const minute = 60 * second;
const hour = 60 * minute;
const day = 24 * hour;
const year = 365 * day;

t.test(
  'renderTable pads columns to the widest cell, three spaces apart, without trailing blanks',
  async (t) => {
    const table = renderTable(
      ['NAME', 'STATUS', 'AGE'],
      [
        ['node-1', 'Ready', '5m'],
        ['a-much-longer-name', '', ''],
      ],
    );
    t.equal(
      table,
      ['NAME                 STATUS   AGE', 'node-1               Ready    5m', 'a-much-longer-name'].join(
        '\n',
      ) + '\n',
    );
    for (const line of table.split('\n'))
      t.notMatch(line, / $/, `no trailing blank: ${JSON.stringify(line)}`);
  },
);

t.test('renderTable of no rows is the header line', async (t) => {
  t.equal(renderTable(['ID', 'DESCRIPTION'], []), 'ID   DESCRIPTION\n');
});

t.test('renderTable does not pad the last column', async (t) => {
  t.equal(
    renderTable(
      ['A', 'B'],
      [
        ['x', 'long value'],
        ['y', 'v'],
      ],
    ),
    'A   B\nx   long value\ny   v\n',
  );
});

t.test('humanDuration writes ages as kubectl does', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [999, '0s'],
    [45 * second, '45s'],
    [119 * second, '119s'],
    [2 * minute, '2m'],
    [5 * minute + 30 * second, '5m30s'],
    [9 * minute + 59 * second, '9m59s'],
    [10 * minute + 30 * second, '10m'],
    [12 * minute, '12m'],
    [179 * minute, '179m'],
    [3 * hour, '3h'],
    [3 * hour + 20 * minute, '3h20m'],
    [7 * hour + 59 * minute, '7h59m'],
    [8 * hour + 30 * minute, '8h'],
    [47 * hour, '47h'],
    [2 * day, '2d'],
    [2 * day + 5 * hour, '2d5h'],
    [7 * day + 23 * hour, '7d23h'],
    [8 * day + 5 * hour, '8d'],
    [30 * day, '30d'],
    [729 * day, '729d'],
    [2 * year, '2y'],
    [2 * year + 100 * day, '2y100d'],
    [8 * year + 100 * day, '8y'],
  ];
  for (const [ms, text] of cases) t.equal(humanDuration(ms), text, `${ms} ms`);
});

t.test('humanDuration tolerates a second of clock skew, not more', async (t) => {
  t.equal(humanDuration(-500), '0s');
  t.equal(humanDuration(-1_999), '0s');
  t.equal(humanDuration(-2_000), '<invalid>');
  t.equal(humanDuration(-day), '<invalid>');
});

t.test('formatAge is the age of a timestamp at now, or <unknown>', async (t) => {
  const now = new Date('2026-03-01T12:00:00Z');
  const cases: Array<[string | undefined, string]> = [
    ['2026-03-01T11:54:30Z', '5m30s'],
    ['2026-03-01T11:54:30.000Z', '5m30s'],
    ['2026-02-27T07:00:00Z', '2d5h'],
    ['2026-03-01T12:00:00Z', '0s'],
    ['2026-03-01T12:00:01Z', '0s'],
    ['2026-03-02T12:00:00Z', '<invalid>'],
    [undefined, '<unknown>'],
    ['', '<unknown>'],
    ['yesterday', '<unknown>'],
  ];
  for (const [timestamp, age] of cases) t.equal(formatAge(timestamp, now), age, String(timestamp));
});

t.test('parseQuantity reads Kubernetes quantities in base units', async (t) => {
  const cases: Array<[string, number]> = [
    ['4', 4],
    ['0', 0],
    ['3500m', 3.5],
    ['250m', 0.25],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['1e3', 1000],
    ['1E3', 1000],
    ['2k', 2000],
    ['1.5G', 1.5e9],
    ['1Ki', 1024],
    ['24563716Ki', 24563716 * 1024],
    ['24563Mi', 24563 * 2 ** 20],
    ['16Gi', 16 * 2 ** 30],
    ['2Ti', 2 * 2 ** 40],
    [' 8Gi ', 8 * 2 ** 30],
  ];
  for (const [text, value] of cases) t.equal(parseQuantity(text), value, JSON.stringify(text));
});

t.test('parseQuantity is undefined for what is not a quantity', async (t) => {
  for (const text of [undefined, '', 'abc', '1e', '4 cores', '1KiB', '1kb', 'Gi', '1.2.3']) {
    t.equal(parseQuantity(text), undefined, JSON.stringify(text));
  }
});

t.test('formatBytes uses binary units with at most one decimal', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0'],
    [1023, '1023'],
    [1024, '1Ki'],
    [1536, '1.5Ki'],
    [2 ** 20, '1Mi'],
    [1.05 * 2 ** 20, '1.1Mi'],
    [24563716 * 1024, '23.4Gi'],
    [25125558272, '23.4Gi'],
    [16 * 2 ** 30, '16Gi'],
    [3 * 2 ** 40, '3Ti'],
  ];
  for (const [bytes, text] of cases) t.equal(formatBytes(bytes), text, `${bytes} bytes`);
});

t.test('formatBytes moves to the next unit when rounding reaches 1024', async (t) => {
  t.equal(formatBytes(1023.6), '1Ki');
  t.equal(formatBytes(2 ** 20 - 1), '1Mi', 'not 1024Ki');
  t.equal(formatBytes(1023.96 * 2 ** 20), '1Gi', 'not 1024Mi');
  t.equal(formatBytes(1023.9 * 2 ** 20), '1023.9Mi');
});

t.test('formatCpu shows whole cores, else millicores', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0'],
    [1, '1'],
    [4, '4'],
    [64, '64'],
    [3.5, '3500m'],
    [0.25, '250m'],
    [0.1, '100m'],
  ];
  for (const [cores, text] of cases) t.equal(formatCpu(cores), text, `${cores} cores`);
});

t.test('memory and CPU quantities are shown short, and unreadable ones as given', async (t) => {
  const cases: Array<[string | undefined, string | undefined, string | undefined]> = [
    // text, as memory, as CPU
    ['24563716Ki', '23.4Gi', String(24563716 * 1024)],
    ['8Gi', '8Gi', String(8 * 2 ** 30)],
    ['4', '4', '4'],
    ['3500m', '4', '3500m'],
    ['2000m', '2', '2'],
    ['lots', 'lots', 'lots'],
    ['', '', ''],
    [undefined, undefined, undefined],
  ];
  for (const [text, memory, cpu] of cases) {
    t.equal(formatMemoryQuantity(text), memory, `memory ${JSON.stringify(text)}`);
    t.equal(formatCpuQuantity(text), cpu, `cpu ${JSON.stringify(text)}`);
  }
});
