// Which leader-only loops a controller runs (--controllers), in kube-controller-manager's
// syntax: "*" for all, a name to add one, "-name" to leave one out ("*,-scheduler").
// For operators who run a loop elsewhere, and for tests of one part without the others
// acting on the same objects. Pure.
import { invalidArgument } from '@flotilla/common';

export const loopNames = [
  'scheduler',
  'deployments',
  'node-lifecycle',
  'garbage-collector',
  'endpoints',
] as const;
export type LoopName = (typeof loopNames)[number];

export function parseControllers(text: string): Set<LoopName> {
  const enabled = new Set<LoopName>();
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    const off = item.startsWith('-');
    const name = off ? item.slice(1) : item;
    if (name === '*' && !off) {
      for (const n of loopNames) enabled.add(n);
      continue;
    }
    if (!(loopNames as readonly string[]).includes(name)) {
      throw invalidArgument(
        `--controllers "${text}": "${item}" is not one of *, ${loopNames.join(', ')} (or -name to leave one out)`,
        { field: '--controllers', value: text },
      );
    }
    if (off) enabled.delete(name as LoopName);
    else enabled.add(name as LoopName);
  }
  return enabled;
}
