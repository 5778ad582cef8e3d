// What deleting a Service writes: the service's key and its allocation keys (cluster IP,
// node ports) in one transaction, so an address is free exactly when its service is gone.
// Pure.
import type { Service } from '@flotilla/proto';
import { keys } from '../store/keys.js';
import type { Entry, TxnOp } from '../store/types.js';

export function serviceDeleteOps(entry: Entry<Service>): TxnOp[] {
  const spec = entry.value.spec;
  const ops: TxnOp[] = [{ type: 'delete', key: entry.key, expect: entry.modRevision }];
  // Unguarded: while the service exists only it holds these keys, and the service's own
  // guard makes a stale release fail whole.
  if (spec?.clusterIP) ops.push({ type: 'delete', key: keys.serviceIp(spec.clusterIP) });
  for (const port of new Set((spec?.ports ?? []).map((p) => p.nodePort).filter((p) => p !== 0))) {
    ops.push({ type: 'delete', key: keys.nodePort(port) });
  }
  return ops;
}
