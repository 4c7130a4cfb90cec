// Mapping between the core's Message and the wire RaftMessage (proto/shoal/v1/raft.proto).
import type { RaftEntry, RaftEntryType, RaftMessage } from '@shoal/api';
import type { Entry, Message, SnapshotMetadata } from '../core/types.js';

const EMPTY = Buffer.alloc(0);

function buf(u: Uint8Array): Buffer {
  if (u.byteLength === 0) return EMPTY;
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function entryToWire(e: Entry): RaftEntry {
  return { term: e.term, index: e.index, type: e.type as number as RaftEntryType, data: buf(e.data) };
}

export function messageToWire(m: Message): RaftMessage {
  return {
    type: m.type,
    from: m.from,
    to: m.to,
    term: m.term,
    index: m.index,
    logTerm: m.logTerm,
    entries: m.entries.map(entryToWire),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    snapshot: m.snapshot
      ? { index: m.snapshot.index, term: m.snapshot.term, confState: { voters: m.snapshot.confState.voters, learners: m.snapshot.confState.learners } }
      : undefined,
    snapshotOffset: m.snapshotOffset,
    snapshotData: buf(m.snapshotData),
    snapshotDone: m.snapshotDone,
    context: buf(m.context),
    transfer: m.transfer,
  };
}

export function messageFromWire(w: RaftMessage): Message {
  let snapshot: SnapshotMetadata | undefined;
  if (w.snapshot) {
    snapshot = {
      index: w.snapshot.index,
      term: w.snapshot.term,
      confState: { voters: w.snapshot.confState?.voters ?? [], learners: w.snapshot.confState?.learners ?? [] },
    };
  }
  return {
    type: w.type,
    from: w.from,
    to: w.to,
    term: w.term,
    index: w.index,
    logTerm: w.logTerm,
    entries: w.entries.map((e) => ({ term: e.term, index: e.index, type: e.type as number, data: e.data })),
    commit: w.commit,
    reject: w.reject,
    rejectHint: w.rejectHint,
    snapshot,
    snapshotOffset: w.snapshotOffset,
    snapshotData: w.snapshotData,
    snapshotDone: w.snapshotDone,
    context: w.context,
    transfer: w.transfer,
  };
}

/** approximate encoded size of a message, for batching under the size limit */
export function messageSize(m: Message): number {
  let n = 64 + m.snapshotData.byteLength + m.context.byteLength;
  for (const e of m.entries) n += 24 + e.data.byteLength;
  return n;
}
