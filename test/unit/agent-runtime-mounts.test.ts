// Which mounts the agent makes with one mount(2) from its spawn server, and with which
// arguments: exactly what mount(8) passes for them; everything else stays with mount(8).
import t from 'tap';
import { mountSyscall } from '@flotilla/agent';

const overlay = {
  type: 'overlay',
  source: 'overlay',
  options: ['lowerdir=/s/2:/s/1', 'upperdir=/r/upper', 'workdir=/r/work', 'redirect_dir=off'],
};

t.test('an overlay rootfs is one mount(2): no flags, the options as data', async (t) => {
  t.same(mountSyscall(overlay, '/r/rootfs'), {
    source: 'overlay',
    target: '/r/rootfs',
    fstype: 'overlay',
    flags: 0,
    data: 'lowerdir=/s/2:/s/1,upperdir=/r/upper,workdir=/r/work,redirect_dir=off',
  });
});

t.test('what mount(8) must translate stays with it', async (t) => {
  const cases: [string, Parameters<typeof mountSyscall>[0]][] = [
    ['a flag word (ro) among the options', { ...overlay, options: [...overlay.options, 'ro'] }],
    ['nosuid', { ...overlay, options: [...overlay.options, 'nosuid'] }],
    ['an option that is not overlayfs data', { ...overlay, options: ['lowerdir=/a:/b', 'x-foo=1'] }],
    ['no options', { ...overlay, options: [] }],
    ['tmpfs', { type: 'tmpfs', source: 'tmpfs', options: ['mode=1777', 'nosuid', 'nodev'] }],
    [
      'a bind mount (two calls when read-only)',
      { type: 'bind', source: '/r/upper', options: ['rbind', 'ro'] },
    ],
  ];
  for (const [why, spec] of cases) t.equal(mountSyscall(spec, '/r/rootfs'), undefined, why);
});
