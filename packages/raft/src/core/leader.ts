// Leader side of Raft: replication with batching and pipelining (thesis §10.2.1), commitment
// (§3.6.2: only entries of the leader's term are committed by counting), heartbeats,
// check-quorum (§6.2), leadership transfer (§3.10) and ReadIndex (§6.4).
import { ProgressState, Progress, type SnapshotTransfer } from './progress.js';
import type { Raft } from './raft.js';
import { EntryType, MessageType, NONE, RaftError, Role, type Entry, type Message, type NodeId } from './types.js';

/**
 * lazyCommit: sends the commit index to the followers whose last append did not carry it (an
 * empty append each); the driver calls it a moment after a commit advance that no append took along
 */
export function flushCommit(r: Raft): void {
  if (r.role !== Role.Leader) return;
  for (const pr of r.prs.values()) if (pr.id !== r.id && pr.commitSent < r.log.committed) maybeSendAppend(r, pr.id, true);
}

/** lazyCommit: whether some follower was not sent the current commit index yet */
export function commitUnsent(r: Raft): boolean {
  if (r.role !== Role.Leader) return false;
  for (const pr of r.prs.values()) if (pr.id !== r.id && pr.commitSent < r.log.committed) return true;
  return false;
}

/** sends the next batch of entries (or a snapshot chunk) to `to`; returns whether something was sent */
export function maybeSendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.prs.get(to);
  if (!pr || to === r.id || pr.isPaused()) return false;
  if (pr.next > r.log.lastIndex() + 1) pr.next = r.log.lastIndex() + 1; // never past our log
  const prevTerm = r.log.maybeTerm(pr.next - 1);
  if (prevTerm === undefined || pr.next < r.log.firstIndex()) {
    // the follower is behind our compacted log: send a snapshot, in chunks
    pr.becomeSnapshot(r.log.snapshot());
    sendSnapshotChunk(r, pr);
    return true;
  }
  const ents: Entry[] = r.log.entriesFrom(pr.next, r.cfg.maxSizePerMsg);
  if (ents.length === 0 && !sendIfEmpty) return false;
  r.send({ type: MessageType.Append, to, index: pr.next - 1, logTerm: prevTerm, entries: ents, commit: r.log.committed });
  pr.commitSent = r.log.committed;
  const last = ents.length > 0 ? (ents[ents.length - 1] as Entry).index : pr.next - 1;
  pr.sentEntries(last, ents.length);
  return true;
}

function sendSnapshotChunk(r: Raft, pr: Progress): void {
  const t = pr.transfer as SnapshotTransfer;
  const data = t.snapshot.data;
  const end = Math.min(data.byteLength, t.offset + Math.max(1, r.cfg.maxSnapshotChunk));
  r.send({
    type: MessageType.Snapshot,
    to: pr.id,
    snapshot: t.snapshot.metadata,
    snapshotOffset: t.offset,
    snapshotData: data.subarray(t.offset, end),
    snapshotDone: end >= data.byteLength,
  });
  t.idleHeartbeats = 0;
}

export function bcastAppend(r: Raft): void {
  for (const id of r.prs.keys()) {
    if (id !== r.id) maybeSendAppend(r, id, true);
  }
}

/**
 * Sends what proposals and commit advances left pending, at most one append per follower for
 * everything that accumulated since the last call (batching, thesis §10.2.1): the driver calls it
 * through RawNode whenever it collects messages, so that many proposals and acknowledgements
 * handled in one go produce one append per follower, not one each.
 */
export function flushAppends(r: Raft): void {
  if (!r.pendingAppend && !r.pendingCommit) return;
  const sendIfEmpty = r.pendingCommit; // a new commit index is worth an empty append
  r.pendingAppend = false;
  r.pendingCommit = false;
  if (r.role !== Role.Leader) return;
  for (const id of r.prs.keys()) {
    if (id !== r.id) maybeSendAppend(r, id, sendIfEmpty);
  }
}

function bcastHeartbeat(r: Raft, context?: Uint8Array): void {
  const ctx = context ?? r.readOnly.lastPendingContext() ?? new Uint8Array();
  for (const pr of r.prs.values()) {
    if (pr.id === r.id) continue;
    r.send({ type: MessageType.Heartbeat, to: pr.id, commit: Math.min(pr.match, r.log.committed), context: ctx });
    // a lost snapshot chunk is sent again when the transfer made no progress for a while
    if (pr.state === ProgressState.Snapshot && pr.transfer && ++pr.transfer.idleHeartbeats >= 3) {
      sendSnapshotChunk(r, pr);
    }
  }
}

/** §3.6.2: commit the highest index a quorum of voters has persisted, if it is of this term */
export function maybeCommit(r: Raft): boolean {
  const matches = r.confState.voters.map((v) => r.prs.get(v)?.match ?? 0).sort((a, b) => b - a);
  const mci = matches[r.quorum() - 1] ?? 0;
  let moved: boolean;
  if (r.knobs.unsafeCommitOldTerm === true) {
    moved = mci > r.log.committed;
    if (moved) r.log.commitTo(mci);
  } else {
    moved = r.log.maybeCommit(mci, r.term);
  }
  if (moved) releasePendingReads(r);
  return moved;
}

function committedInTerm(r: Raft): boolean {
  return r.log.zeroTermOnErr(r.log.committed) === r.term;
}

/** the driver persisted our log up to `index`: our own copy now counts towards the quorum */
export function selfPersisted(r: Raft): void {
  const self = r.prs.get(r.id);
  if (!self) return;
  if (self.maybeUpdate(Math.min(r.log.persisted, r.log.lastIndex())) && maybeCommit(r) && r.cfg.lazyCommit !== true) r.pendingCommit = true;
}

export function tickLeader(r: Raft): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.electionElapsed >= r.cfg.electionTicks) {
    r.electionElapsed = 0;
    if (r.cfg.checkQuorum) {
      let active = 0;
      for (const v of r.confState.voters) {
        const pr = r.prs.get(v);
        if (v === r.id || pr?.recentActive) active++;
        if (pr && v !== r.id) pr.recentActive = false;
      }
      for (const pr of r.prs.values()) if (pr.id !== r.id) pr.recentActive = false;
      if (active < r.quorum() || !r.isVoter(r.id)) {
        // §6.2: a leader that has not heard from a quorum steps down
        r.becomeFollower(r.term, NONE);
        return;
      }
    }
    if (r.leadTransferee !== NONE) r.leadTransferee = NONE; // transfer took too long: abort
  }
  if (r.heartbeatElapsed >= r.cfg.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    bcastHeartbeat(r);
  }
}

/** appends proposed entries; returns false if they were dropped */
export function propose(r: Raft, ents: Entry[]): boolean {
  if (r.leadTransferee !== NONE) return false;
  if (!r.prs.has(r.id)) return false; // removed from the configuration
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i] as Entry;
    if (e.type !== EntryType.ConfChange) continue;
    // one membership change at a time: the previous one must be applied first
    if (r.pendingConfIndex > r.log.applied) {
      ents[i] = { term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array() };
      if (ents.length === 1) return false;
    } else {
      r.pendingConfIndex = r.log.lastIndex() + i + 1;
    }
  }
  r.appendEntries(ents);
  r.pendingAppend = true; // sent by flushAppends, together with other proposals
  return true;
}

function readIndex(r: Raft, m: Message): void {
  const respond = (index: number): void => {
    if (m.from === r.id || m.from === NONE) r.readStates.push({ index, context: m.context });
    else r.send({ type: MessageType.ReadIndexResp, to: m.from, index, context: m.context });
  };
  if (r.confState.voters.length === 1 && r.isVoter(r.id)) {
    respond(r.log.committed);
    return;
  }
  if (!committedInTerm(r)) {
    // §6.4 step 1: the leader must know the latest commit index, i.e. have committed in its term
    r.pendingReadIndex.push(m);
    return;
  }
  r.readOnly.add(r.log.committed, m.from, m.context);
  r.readOnly.recvAck(r.id, m.context);
  bcastHeartbeat(r, m.context);
}

function releasePendingReads(r: Raft): void {
  if (r.pendingReadIndex.length === 0 || !committedInTerm(r)) return;
  const pending = r.pendingReadIndex;
  r.pendingReadIndex = [];
  for (const m of pending) readIndex(r, m);
}

function onReadAck(r: Raft, m: Message): void {
  if (m.context.byteLength === 0) return;
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (!acks) return;
  let voters = 0;
  for (const a of acks) if (r.isVoter(a)) voters++;
  if (voters < r.quorum()) return;
  for (const req of r.readOnly.advance(m.context)) {
    if (req.from === r.id || req.from === NONE) r.readStates.push({ index: req.index, context: req.context });
    else r.send({ type: MessageType.ReadIndexResp, to: req.from, index: req.index, context: req.context });
  }
}

export function transferLeadership(r: Raft, to: NodeId): void {
  if (to === r.id) return;
  const pr = r.prs.get(to);
  if (!pr || pr.isLearner) throw new RaftError('InvalidArgument', `raft: cannot transfer leadership to ${to}`);
  if (r.leadTransferee === to) return;
  r.electionElapsed = 0; // the transfer must finish within an election timeout
  r.leadTransferee = to;
  if (pr.match === r.log.lastIndex()) r.send({ type: MessageType.TimeoutNow, to });
  else maybeSendAppend(r, to, true);
}

function handleAppendResp(r: Raft, m: Message, pr: Progress): void {
  if (m.reject) {
    let hint = m.rejectHint;
    if (m.logTerm > 0) hint = r.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === ProgressState.Replicate) pr.becomeProbe();
      maybeSendAppend(r, m.from, true);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe)) {
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
    else if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(m.index);
    if (maybeCommit(r) && r.cfg.lazyCommit !== true) r.pendingCommit = true; // sent by flushAppends
    else if (wasPaused) maybeSendAppend(r, m.from, true);
    // pipelining: keep the window full
    while (maybeSendAppend(r, m.from, false)) {
      /* send more */
    }
    if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
      r.send({ type: MessageType.TimeoutNow, to: m.from });
    }
  }
}

function handleSnapshotResp(r: Raft, m: Message, pr: Progress): void {
  const t = pr.transfer;
  if (pr.state !== ProgressState.Snapshot || !t || m.index !== t.snapshot.metadata.index) return;
  if (m.snapshotDone) return; // the AppendResp that follows moves the follower on
  if (m.snapshotOffset === t.offset) return; // a duplicate or an ack for what is in flight
  t.offset = Math.min(m.snapshotOffset, t.snapshot.data.byteLength);
  sendSnapshotChunk(r, pr);
}

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.Propose:
      if (m.entries.length > 0) propose(r, m.entries.map((e) => ({ ...e })));
      return;
    case MessageType.ReadIndex:
      readIndex(r, m);
      return;
    default:
      break;
  }
  const pr = r.prs.get(m.from);
  if (!pr) return;
  pr.recentActive = true;
  switch (m.type) {
    case MessageType.AppendResp:
      handleAppendResp(r, m, pr);
      return;
    case MessageType.HeartbeatResp:
      pr.probeSent = false;
      if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirst();
      if (pr.match < r.log.lastIndex()) maybeSendAppend(r, m.from, true);
      onReadAck(r, m);
      return;
    case MessageType.SnapshotResp:
      handleSnapshotResp(r, m, pr);
      return;
    default:
      return;
  }
}

/** the driver reported the peer unreachable: stop optimistic streaming to it */
export function reportUnreachable(r: Raft, id: NodeId): void {
  const pr = r.prs.get(id);
  if (r.role === Role.Leader && pr && pr.state === ProgressState.Replicate) pr.becomeProbe();
}

/** the driver reports whether sending a snapshot to `id` failed (ok=false restarts it later) */
export function reportSnapshot(r: Raft, id: NodeId, ok: boolean): void {
  const pr = r.prs.get(id);
  if (r.role !== Role.Leader || !pr || pr.state !== ProgressState.Snapshot) return;
  if (!ok) {
    pr.becomeProbe();
    pr.probeSent = true; // wait for the next heartbeat response before probing again
  }
}

/** a membership change was applied while leading */
export function onConfChange(r: Raft): void {
  const cs = r.confState;
  const members = new Set([...cs.voters, ...cs.learners]);
  for (const id of [...r.prs.keys()]) if (!members.has(id)) r.prs.delete(id);
  const next = r.log.lastIndex() + 1;
  for (const id of members) {
    const learner = cs.learners.includes(id);
    const pr = r.prs.get(id);
    if (pr) pr.isLearner = learner;
    else {
      const p = new Progress(id, next, r.cfg.maxInflightMsgs, learner);
      p.recentActive = true;
      r.prs.set(id, p);
    }
  }
  if (!r.isVoter(r.id)) {
    // a leader removed from the configuration steps down (thesis §4.2.2)
    r.becomeFollower(r.term, NONE);
    return;
  }
  if (r.leadTransferee !== NONE && !r.isVoter(r.leadTransferee)) r.leadTransferee = NONE;
  if (maybeCommit(r)) bcastAppend(r);
  else bcastAppend(r);
}

