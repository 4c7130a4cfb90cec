// The RaftKV gRPC service: Put through raft (answered once committed and applied on the
// leader), Get from the local map, linearizable through ReadIndex when asked.
import { grpc, type RaftKVServer } from '@shoal/api';
import type { Clock } from '../clock.js';
import { NONE, RaftError } from '../core/types.js';
import type { RaftNode } from '../driver/node.js';
import { toServiceError } from '../driver/service.js';
import { encodePut, type KvStateMachine } from './state-machine.js';
import { trace, traceNow } from '../trace.js';

/** how long a Put waits at most for an election to finish when no leader is known (and never past the call's deadline) */
const LEADER_WAIT_MS = 10_000;

export function raftKvService(node: RaftNode, kv: KvStateMachine, opts: { forward?: boolean } = {}): RaftKVServer {
  return {
    put: (call, cb) => {
      const t0 = trace ? traceNow() : 0;
      const data = encodePut(call.request.key, call.request.value);
      const attempt = (mayWait: boolean): void => {
        node.propose(data, opts).then(
          (r) => {
            trace?.('k.recv', r.index, t0);
            cb(null, { index: r.index });
            trace?.('k.reply', r.index);
          },
          (err: unknown) => {
            // During an election no leader is known: rather than have clients poll every member
            // (loading the very nodes that are electing), hold the call until the election is
            // decided, as etcd does, then propose here or name the new leader.
            if (mayWait && err instanceof RaftError && err.code === 'NotLeader' && err.leader === NONE) {
              void leaderKnown(node, Math.min(LEADER_WAIT_MS, msLeft(call.getDeadline(), node.clock))).then((known) => (known ? attempt(false) : cb(toServiceError(err))));
              return;
            }
            cb(toServiceError(err));
          },
        );
      };
      attempt(true);
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

/** resolves true once `node` knows a leader, false after `ms` */
function leaderKnown(node: RaftNode, ms: number): Promise<boolean> {
  if (node.leader !== NONE) return Promise.resolve(true);
  if (ms <= 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (known: boolean): void => {
      timer.cancel();
      node.off('leader', onLeader);
      resolve(known);
    };
    const onLeader = ({ leader }: { leader: number }): void => {
      if (leader !== NONE) done(true);
    };
    const timer = node.clock.setTimer(ms, () => done(false));
    node.on('leader', onLeader);
  });
}

function msLeft(deadline: grpc.Deadline, clock: Clock): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - clock.now() : Infinity;
}
