// The RaftKV gRPC service: Put through raft (answered once committed and applied on the
// leader), Get from the local map, linearizable through ReadIndex when asked.
import { grpc, type RaftKVServer } from '@shoal/api';
import type { RaftNode } from '../driver/node.js';
import { toServiceError } from '../driver/service.js';
import { encodePut, type KvStateMachine } from './state-machine.js';

export function raftKvService(node: RaftNode, kv: KvStateMachine, opts: { forward?: boolean } = {}): RaftKVServer {
  return {
    put: (call, cb) => {
      node.propose(encodePut(call.request.key, call.request.value), opts).then(
        (r) => cb(null, { index: r.index }),
        (err: unknown) => cb(toServiceError(err)),
      );
    },
    get: (call, cb) => {
      const read = (): void => {
        const v = kv.get(call.request.key);
        cb(null, { value: v ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.alloc(0), found: v !== undefined, index: node.appliedIndex });
      };
      if (!call.request.linearizable) return read();
      node.readIndex().then(read, (err: unknown) => cb(toServiceError(err) as grpc.ServiceError));
    },
  };
}
