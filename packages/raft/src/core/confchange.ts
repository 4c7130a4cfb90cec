// Membership changes one server at a time (Raft thesis §4.1, §4.2.1 learners):
// encoding of ConfChange into entry data and its effect on a ConfState.
import { ConfChangeType, RaftError, type ConfChange, type ConfState, type NodeId } from './types.js';

const VERSION = 1;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const out = new Uint8Array(1 + 1 + 8 + 4 + cc.context.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, VERSION);
  dv.setUint8(1, cc.type);
  dv.setFloat64(2, cc.nodeId);
  dv.setUint32(10, cc.context.byteLength);
  out.set(cc.context, 14);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.byteLength < 14) throw new RaftError('InvalidArgument', 'conf change: too short');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (dv.getUint8(0) !== VERSION) throw new RaftError('InvalidArgument', 'conf change: unknown version');
  const type = dv.getUint8(1);
  if (type !== ConfChangeType.AddLearner && type !== ConfChangeType.PromoteLearner && type !== ConfChangeType.RemoveNode) {
    throw new RaftError('InvalidArgument', `conf change: unknown type ${type}`);
  }
  const nodeId = dv.getFloat64(2);
  const len = dv.getUint32(10);
  if (14 + len > data.byteLength) throw new RaftError('InvalidArgument', 'conf change: truncated context');
  return { type, nodeId, context: data.slice(14, 14 + len) };
}

export function cloneConfState(cs: ConfState): ConfState {
  return { voters: cs.voters.slice(), learners: cs.learners.slice() };
}

function without(ids: NodeId[], id: NodeId): NodeId[] {
  return ids.filter((x) => x !== id);
}

function sorted(ids: NodeId[]): NodeId[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

/** validates a change against the current configuration (used before proposing) */
export function checkConfChange(cs: ConfState, cc: ConfChange): void {
  if (!Number.isInteger(cc.nodeId) || cc.nodeId <= 0) {
    throw new RaftError('InvalidArgument', `conf change: bad node id ${cc.nodeId}`);
  }
  switch (cc.type) {
    case ConfChangeType.AddLearner:
      if (cs.voters.includes(cc.nodeId) || cs.learners.includes(cc.nodeId)) {
        throw new RaftError('InvalidArgument', `conf change: ${cc.nodeId} is already a member`);
      }
      return;
    case ConfChangeType.PromoteLearner:
      if (!cs.learners.includes(cc.nodeId)) {
        throw new RaftError('InvalidArgument', `conf change: ${cc.nodeId} is not a learner`);
      }
      return;
    case ConfChangeType.RemoveNode:
      if (!cs.voters.includes(cc.nodeId) && !cs.learners.includes(cc.nodeId)) {
        throw new RaftError('InvalidArgument', `conf change: ${cc.nodeId} is not a member`);
      }
      if (cs.voters.length === 1 && cs.voters[0] === cc.nodeId) {
        throw new RaftError('InvalidArgument', 'conf change: cannot remove the last voter');
      }
      return;
  }
}

/**
 * The configuration after `cc`. Changes that make no sense for the current configuration
 * (they were validated against an older one) leave it unchanged, so that every member
 * computes the same result from the same log.
 */
export function applyToConfState(cs: ConfState, cc: ConfChange): ConfState {
  let voters = cs.voters.slice();
  let learners = cs.learners.slice();
  switch (cc.type) {
    case ConfChangeType.AddLearner:
      if (!voters.includes(cc.nodeId)) learners.push(cc.nodeId);
      break;
    case ConfChangeType.PromoteLearner:
      if (learners.includes(cc.nodeId)) {
        learners = without(learners, cc.nodeId);
        voters.push(cc.nodeId);
      }
      break;
    case ConfChangeType.RemoveNode:
      if (!(voters.length === 1 && voters[0] === cc.nodeId)) {
        voters = without(voters, cc.nodeId);
        learners = without(learners, cc.nodeId);
      }
      break;
  }
  return { voters: sorted(voters), learners: sorted(learners) };
}
