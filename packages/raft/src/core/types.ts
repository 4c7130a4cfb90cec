// Shared vocabulary of the Raft core, its storage and its transport.
// The core is a pure state machine: messages and ticks in, a Ready batch of effects out.
// Nothing in this file performs I/O.

/** Node ids are small positive integers chosen by the cluster (0 means "none"). */
export type NodeId = number;
export const NONE: NodeId = 0;

export enum EntryType {
  Normal = 0,
  /** data is an encoded ConfChange */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** Cluster membership: voters and learners (non-voting members that receive the log). */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

export enum ConfChangeType {
  AddLearner = 0,
  PromoteLearner = 1,
  RemoveNode = 2,
}

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** opaque, for the layer above (e.g. the peer's address) */
  context: Uint8Array;
}

export enum MessageType {
  PreVote = 0,
  PreVoteResp = 1,
  Vote = 2,
  VoteResp = 3,
  Append = 4,
  AppendResp = 5,
  Heartbeat = 6,
  HeartbeatResp = 7,
  /** one chunk of a snapshot; the follower assembles chunks until `snapshotDone` */
  Snapshot = 8,
  SnapshotResp = 9,
  /** a follower forwards a proposal to the leader */
  Propose = 10,
  ReadIndex = 11,
  ReadIndexResp = 12,
  TimeoutNow = 13,
}

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** Append: index of the entry before `entries`; AppendResp: matched/hint index; Vote: candidate's last index */
  index: number;
  /** Append: term of `index`; Vote: candidate's last term */
  logTerm: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppendResp rejection hint: follower's last index (or conflicting index) */
  rejectHint: number;
  /** Snapshot chunk: metadata of the snapshot being sent */
  snapshot?: SnapshotMetadata | undefined;
  snapshotOffset: number;
  snapshotData: Uint8Array;
  snapshotDone: boolean;
  /** ReadIndex / heartbeat context echoed back */
  context: Uint8Array;
  /** Vote/PreVote: the vote was caused by leadership transfer (ignore leader lease) */
  transfer: boolean;
}

/** What the core can read from durable storage (the unstable tail lives in the core). */
export interface RaftStorageReader {
  initialState(): { hardState: HardState; confState: ConfState };
  /** entries in [lo, hi), at most maxBytes (at least one entry if any) */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export interface ReadState {
  index: number;
  context: Uint8Array;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

export interface SoftState {
  leader: NodeId;
  role: Role;
}

/**
 * One batch of effects. The driver must, in order:
 * 1. persist hardState / entries / snapshot (and sync) when present,
 * 2. send `messages`,
 * 3. apply `committedEntries` (and the snapshot, if any) to the state machine,
 * 4. call advance(ready).
 */
export interface Ready {
  softState?: SoftState | undefined;
  hardState?: HardState | undefined;
  entries: Entry[];
  snapshot?: Snapshot | undefined;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
}

export interface RaftConfig {
  id: NodeId;
  electionTicks: number; // base election timeout; actual is randomized in [electionTicks, 2*electionTicks)
  heartbeatTicks: number;
  maxSizePerMsg: number; // bytes of entries per Append
  maxInflightMsgs: number; // pipelined appends per follower
  maxSnapshotChunk: number; // bytes per snapshot chunk
  preVote: boolean;
  checkQuorum: boolean;
  /**
   * A leader's commit advance alone is not announced at once with an empty append per follower:
   * it rides on the next append (a busy leader sends one soon) or heartbeat, or goes out when the
   * driver calls RawNode.flushCommit() (the driver's short timer). Off: announced in the next Ready.
   */
  lazyCommit?: boolean;
  /** injected randomness: returns an integer in [0, n) */
  randInt: (n: number) => number;
}

export class RaftError extends Error {
  constructor(
    public readonly code: 'NotLeader' | 'ProposalDropped' | 'Compacted' | 'Unavailable' | 'InvalidArgument',
    message: string,
    public readonly leader: NodeId = NONE,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}
