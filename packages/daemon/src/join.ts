// Joining a cluster: register through NodeCA with the join token (-> node id, role, cluster id,
// certificate), then, for a manager token, ask the raft leader to add this node (Raft.Join: added
// as a learner, promoted once caught up; one change at a time, so "busy" answers are retried).
// Also: asking the managers whether a node id was removed from the cluster.
import {
  createClient,
  IssuanceState,
  NodeCAClient,
  NodeRole,
  RaftClient,
  ShoalError,
  type IssueNodeCertificateRequest,
  type IssueNodeCertificateResponse,
  type NodeCertificateStatusRequest,
  type NodeCertificateStatusResponse,
  type RaftJoinRequest,
  type RaftMembersRequest,
  type RaftMembersResponse,
  type RaftJoinResponse,
  type RaftLeaveRequest,
  type RaftLeaveResponse,
} from '@shoal/api';
import { errorMessage, type Logger } from './log.js';
import { sleep, unary } from './rpc.js';

const RPC_MS = 10_000;

export interface Registration {
  nodeId: string;
  role: 'manager' | 'worker';
  clusterId: string;
  certificate: Buffer;
  caCert: Buffer;
}

/** Errors that mean "this request will never succeed": stop trying other managers. */
function isFinal(err: unknown): boolean {
  return err instanceof ShoalError && ['PermissionDenied', 'Unauthenticated', 'InvalidArgument', 'AlreadyExists'].includes(err.code);
}

/** Try `fn` against each address until one answers; retry rounds until `deadlineMs`. */
async function eachAddr<T>(
  addrs: readonly string[],
  what: string,
  deadlineMs: number,
  log: Logger,
  fn: (addr: string) => Promise<T>,
  level: 'warn' | 'debug' = 'warn',
): Promise<T> {
  const until = Date.now() + deadlineMs;
  let last: unknown;
  for (let round = 0; ; round++) {
    for (const addr of addrs) {
      try {
        return await fn(addr);
      } catch (err) {
        if (isFinal(err)) throw err;
        last = err;
        log[level](`${what} failed; trying the next manager`, { addr, err: errorMessage(err) });
      }
    }
    if (Date.now() >= until) break;
    await sleep(Math.min(2_000, 200 * 2 ** round));
  }
  throw new ShoalError('Unavailable', `${what}: no manager answered (${addrs.join(', ')}): ${errorMessage(last)}`, { cause: last });
}

export async function register(
  addrs: readonly string[],
  token: string,
  self: { hostname: string; advertiseAddr: string },
  log: Logger,
  deadlineMs = 60_000,
): Promise<Registration> {
  const res = await eachAddr<IssueNodeCertificateResponse>(addrs, 'registration', deadlineMs, log, async (addr) => {
    const ca = createClient(NodeCAClient, addr);
    try {
      return await unary<IssueNodeCertificateRequest, IssueNodeCertificateResponse>((r, m, o, cb) => ca.issueNodeCertificate(r, m, o, cb), { csr: Buffer.alloc(0), token, nodeId: '', hostname: self.hostname, addr: self.advertiseAddr }, RPC_MS);
    } finally {
      ca.close();
    }
  });
  if (!res.nodeId) throw new ShoalError('Internal', 'NodeCA returned no node id');
  if (!res.clusterId) throw new ShoalError('Internal', 'NodeCA returned no cluster id');
  return {
    nodeId: res.nodeId,
    role: res.role === NodeRole.MANAGER ? 'manager' : 'worker',
    clusterId: res.clusterId,
    certificate: res.certificate,
    caCert: res.caCert,
  };
}

/**
 * Raft.Join through the leader: ask any manager for the members and the leader (Raft.Members),
 * then Join at the leader. A refusal (not the leader any more, a membership change in progress,
 * no leader yet) is retried until the deadline.
 */
export async function raftJoin(addrs: readonly string[], nodeId: string, advertiseAddr: string, log: Logger, deadlineMs = 90_000): Promise<RaftJoinResponse> {
  return atLeader(addrs, log, deadlineMs, {
    what: 'join',
    fatal: ['PermissionDenied', 'InvalidArgument', 'AlreadyExists'],
    call: async (client, target) => {
      const res = await unary<RaftJoinRequest, RaftJoinResponse>((r, m, o, cb) => client.join(r, m, o, cb), { nodeId, addr: advertiseAddr }, RPC_MS * 3);
      if (!res.raftId) throw new ShoalError('Internal', `${target}: Raft.Join returned no raft id`);
      log.info('joined raft', { via: target, raftId: res.raftId, members: res.members.length });
      return res;
    },
  });
}

/**
 * Removes raft member `raftId` through the leader (Raft.Leave, the same removal as a demotion's),
 * asking the managers at `addrs` who leads. Raft refuses a removal that would lose quorum.
 */
export async function raftLeave(addrs: readonly string[], raftId: number, log: Logger, deadlineMs = 30_000): Promise<void> {
  await atLeader(addrs, log, deadlineMs, {
    what: 'leave',
    fatal: ['FailedPrecondition', 'PermissionDenied', 'InvalidArgument'],
    call: async (client, target) => {
      await unary<RaftLeaveRequest, RaftLeaveResponse>((r, m, o, cb) => client.leave(r, m, o, cb), { raftId }, RPC_MS);
      log.info('left raft', { via: target, raftId });
    },
  });
}

/**
 * Runs `call` against the raft leader, found by asking the managers at `addrs` in turn
 * (Raft.Members); a leader not yet in the list is added to it. Errors whose code is in `fatal`
 * end the attempt; others (not the leader any more, a membership change in progress, no leader
 * yet) are retried with backoff until the deadline.
 */
async function atLeader<T>(
  addrs: readonly string[],
  log: Logger,
  deadlineMs: number,
  op: { what: string; fatal: readonly string[]; call: (client: RaftClient, target: string) => Promise<T> },
): Promise<T> {
  const until = Date.now() + deadlineMs;
  const known = [...addrs];
  let last: unknown;
  for (let attempt = 0; Date.now() < until; attempt++) {
    const via = known[attempt % known.length]!;
    let target = via;
    try {
      const leader = await findLeader(via);
      if (leader) target = leader;
      if (leader && !known.includes(leader)) known.push(leader);
    } catch (err) {
      last = err;
    }
    const client = createClient(RaftClient, target);
    try {
      return await op.call(client, target);
    } catch (err) {
      last = err;
      if (err instanceof ShoalError && op.fatal.includes(err.code)) throw err;
      log.warn(`raft ${op.what} not accepted yet; retrying`, { addr: target, err: errorMessage(err) });
      await sleep(Math.min(2_000, 100 * 2 ** Math.min(attempt, 5)));
    } finally {
      client.close();
    }
  }
  throw new ShoalError('Unavailable', `could not ${op.what} raft within ${deadlineMs} ms: ${errorMessage(last)}`, { cause: last });
}

/** The leader's address according to the manager at `addr` (Raft.Members), if it knows one. */
async function findLeader(addr: string): Promise<string | undefined> {
  const client = createClient(RaftClient, addr);
  try {
    const res = await unary<RaftMembersRequest, RaftMembersResponse>((r, m, o, cb) => client.members(r, m, o, cb), {}, RPC_MS / 2);
    if (!res.leader) return undefined;
    return res.members.find((m) => m.raftId === res.leader)?.addr || undefined;
  } finally {
    client.close();
  }
}

/** The leader metadata is "raftId@addr", "nodeId@addr" or just "addr". */
export function leaderAddrOf(leader: string): string | undefined {
  const at = leader.lastIndexOf('@');
  const addr = at >= 0 ? leader.slice(at + 1) : leader;
  return /:\d+$/.test(addr) ? addr : undefined;
}

export type Membership = { state: 'member' } | { state: 'removed'; message: string } | { state: 'unknown'; message: string };

/**
 * Whether `nodeId` is still a member, according to the managers' NodeCA. With the node's join
 * token the question is a certificate renewal (IssueNodeCertificate with the node id): a removed
 * node is refused ("... was removed ..."); without one, NodeCertificateStatus (PermissionDenied,
 * NotFound or ISSUANCE_FAILED mean removed). No answer at all is 'unknown' (start anyway and let
 * the session retry).
 */
export async function checkMembership(
  addrs: readonly string[],
  nodeId: string,
  log: Logger,
  deadlineMs = 5_000,
  renew?: { token: string; hostname: string; advertiseAddr: string },
): Promise<Membership> {
  try {
    const res = await eachAddr<Membership>(
      addrs,
      'membership check',
      deadlineMs,
      log,
      async (addr) => {
        const ca = createClient(NodeCAClient, addr);
        try {
          if (renew) {
            await unary<IssueNodeCertificateRequest, IssueNodeCertificateResponse>(
              (r, m, o, cb) => ca.issueNodeCertificate(r, m, o, cb),
              { csr: Buffer.alloc(0), token: renew.token, nodeId, hostname: renew.hostname, addr: renew.advertiseAddr },
              RPC_MS / 2,
            );
            return { state: 'member' };
          }
          const st = await unary<NodeCertificateStatusRequest, NodeCertificateStatusResponse>((r, m, o, cb) => ca.nodeCertificateStatus(r, m, o, cb), { nodeId }, RPC_MS / 2);
          if (st.state === IssuanceState.ISSUANCE_FAILED) return { state: 'removed', message: st.message || 'node certificate revoked' };
          return { state: 'member' };
        } catch (err) {
          // these are answers about the node, not failures of this manager
          if (err instanceof ShoalError && /removed/i.test(err.message)) return { state: 'removed', message: err.message };
          if (!renew && err instanceof ShoalError && (err.code === 'NotFound' || err.code === 'PermissionDenied')) return { state: 'removed', message: err.message };
          if (err instanceof ShoalError && err.code === 'PermissionDenied') return { state: 'unknown', message: err.message }; // e.g. a rotated token
          throw err;
        } finally {
          ca.close();
        }
      },
      'debug',
    );
    return res;
  } catch (err) {
    return { state: 'unknown', message: errorMessage(err) };
  }
}

/** The role the managers give this node now (a registration renewal), or undefined without an answer. */
export async function currentRole(addrs: readonly string[], nodeId: string, renew: { token: string; hostname: string; advertiseAddr: string }, log: Logger): Promise<'manager' | 'worker' | undefined> {
  try {
    const res = await eachAddr<IssueNodeCertificateResponse>(
      addrs,
      'role check',
      1_000,
      log,
      async (addr) => {
        const ca = createClient(NodeCAClient, addr);
        try {
          return await unary<IssueNodeCertificateRequest, IssueNodeCertificateResponse>(
            (r, m, o, cb) => ca.issueNodeCertificate(r, m, o, cb),
            { csr: Buffer.alloc(0), token: renew.token, nodeId, hostname: renew.hostname, addr: renew.advertiseAddr },
            RPC_MS / 2,
          );
        } finally {
          ca.close();
        }
      },
      'debug',
    );
    return res.role === NodeRole.MANAGER ? 'manager' : 'worker';
  } catch {
    return undefined;
  }
}
