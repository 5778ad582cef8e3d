// The declarative object API (Apply, GetObject, ListObjects, WatchObjects, DeleteObject,
// Scale, Rollout, CordonNode, EvictPod). Being built for issue 5: until then each call
// answers UNIMPLEMENTED, which is what grpc-js would say for a method not registered.
import * as grpc from '@grpc/grpc-js';
import type { ClusterServer } from '@flotilla/proto';

type ObjectMethods = Pick<
  ClusterServer,
  | 'apply'
  | 'getObject'
  | 'listObjects'
  | 'watchObjects'
  | 'deleteObject'
  | 'scale'
  | 'rollout'
  | 'cordonNode'
  | 'evictPod'
>;

const unimplemented = (method: string): grpc.ServiceError =>
  Object.assign(new Error(`${method} is not implemented by this controller yet`), {
    code: grpc.status.UNIMPLEMENTED,
    details: `${method} is not implemented by this controller yet`,
    metadata: new grpc.Metadata(),
  });

export function createObjectService(): ObjectMethods {
  const unary =
    (method: string) =>
    (_call: unknown, callback: (err: grpc.ServiceError) => void): void =>
      callback(unimplemented(method));
  return {
    apply: unary('Apply'),
    getObject: unary('GetObject'),
    listObjects: unary('ListObjects'),
    watchObjects: (call) => call.emit('error', unimplemented('WatchObjects')),
    deleteObject: unary('DeleteObject'),
    scale: unary('Scale'),
    rollout: unary('Rollout'),
    cordonNode: unary('CordonNode'),
    evictPod: unary('EvictPod'),
  };
}
