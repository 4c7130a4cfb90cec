// The gRPC face of a RaftNode: the Raft service (Stream for the transport; Members, Join, Leave
// and Propose for clients and other managers) and the mapping of RaftError codes to gRPC status.
import { grpc, type RaftServer } from '@shoal/api';
import { RaftError, type NodeId } from '../core/types.js';
import type { RaftNode } from './node.js';

/** trailer naming the leader's raft id when a follower refuses a request */
export const LEADER_TRAILER = 'raft-leader';

export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (err instanceof RaftError) {
    const code =
      err.code === 'NotLeader'
        ? grpc.status.FAILED_PRECONDITION
        : err.code === 'ProposalDropped'
          ? grpc.status.ABORTED
          : err.code === 'InvalidArgument'
            ? grpc.status.INVALID_ARGUMENT
            : grpc.status.UNAVAILABLE;
    if (err.code === 'NotLeader') metadata.set(LEADER_TRAILER, String(err.leader));
    return { code, details: `${err.code}: ${err.message}`, metadata };
  }
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e.code === 'number') return { code: e.code, details: e.details ?? String(e.message), metadata: e.metadata ?? metadata };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err), metadata };
}

/** the leader id a refusing server named, or 0 */
export function leaderFromError(err: grpc.ServiceError): NodeId {
  const v = err.metadata?.get(LEADER_TRAILER)[0];
  return v === undefined ? 0 : Number(v);
}

function unary<Req, Res>(fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, cb) => {
    fn(call.request).then(
      (res) => cb(null, res),
      (err: unknown) => cb(toServiceError(err)),
    );
  };
}

export function raftService(node: RaftNode): RaftServer {
  let joinChain: Promise<unknown> = Promise.resolve();
  return {
    stream: node.transport.handleStream,
    members: unary(async () => ({
      members: node.memberList().map((m) => ({ raftId: m.id, nodeId: String(m.id), addr: m.addr, learner: m.learner })),
      leader: node.leader,
      bootstrap: node.bootstrapConfState(),
      removed: node.removedIds(),
    })),
    // a follower forwarded this proposal and waits to apply it itself: it is told the commit at
    // once instead of commitDelayMs later (lazyCommit)
    propose: unary(async (req) => {
      const r = await node.propose(req.data);
      node.flushCommit();
      return r;
    }),
    join: unary(async (req) => {
      // one join at a time: raft ids are chosen from the membership the previous join left
      const p = joinChain.then(async () => {
        if (!node.isLeader) throw new RaftError('NotLeader', 'join at the leader', node.leader);
        const existing = node.memberList().find((m) => m.addr === req.addr);
        let raftId = existing?.id;
        if (raftId === undefined) {
          raftId = Math.max(0, ...node.memberList().map((m) => m.id), ...node.removedIds()) + 1;
          await node.addMember(raftId, req.addr);
        }
        return {
          raftId,
          members: node.memberList().map((m) => ({ raftId: m.id, nodeId: String(m.id), addr: m.addr, learner: m.learner })),
          removed: node.removedIds(),
          clusterId: node.clusterId,
          bootstrap: node.bootstrapConfState(),
        };
      });
      joinChain = p.catch(() => undefined);
      return p;
    }),
    leave: unary(async (req) => {
      await node.removeMember(req.raftId);
      return {};
    }),
  };
}
