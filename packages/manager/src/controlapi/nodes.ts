// Control API: nodes and the cluster (join tokens, rotation).
import {
  NodeRole,
  NodeState,
  RaftMemberStatus,
  ShoalError,
  type GetClusterRequest,
  type GetClusterResponse,
  type GetJoinTokensResponse,
  type GetNodeRequest,
  type GetNodeResponse,
  type ListNodesRequest,
  type ListNodesResponse,
  type RemoveNodeRequest,
  type RemoveNodeResponse,
  type RotateJoinTokenRequest,
  type RotateJoinTokenResponse,
  type UpdateClusterRequest,
  type UpdateClusterResponse,
  type UpdateNodeRequest,
  type UpdateNodeResponse,
} from '@shoal/api';
import { getCluster, redactCluster, requireCluster, rotateTokens } from '../ca/cluster.js';
import { orphanNodeTasks } from '../dispatcher/node-down.js';
import { memberOfNode } from '../loops/roles.js';
import { notFound, read, requireId, type ControlDeps } from './deps.js';
import { matchFilters, nodeFilterable } from './filters.js';
import { assertClusterSpec, assertNodeSpec } from './validate-specs.js';

export async function getNode(d: ControlDeps, req: GetNodeRequest): Promise<GetNodeResponse> {
  requireId('node_id', req.nodeId);
  const node = await read(d, req.read, (tx) => tx.get('nodes', req.nodeId));
  if (!node) throw notFound('node', req.nodeId);
  return { node };
}

export async function listNodes(d: ControlDeps, req: ListNodesRequest): Promise<ListNodesResponse> {
  const nodes = await read(d, req.read, (tx) =>
    tx
      .all('nodes')
      .filter((n) => matchFilters(nodeFilterable(n), req.filters))
      .filter((n) => req.roles.length === 0 || req.roles.includes(n.role))
      .filter((n) => req.availabilities.length === 0 || req.availabilities.includes(n.spec?.availability ?? 0)),
  );
  return { nodes };
}

export async function updateNode(d: ControlDeps, req: UpdateNodeRequest): Promise<UpdateNodeResponse> {
  requireId('node_id', req.nodeId);
  if (!req.nodeVersion) throw new ShoalError('InvalidArgument', 'invalid node_version: the version read is required', { field: 'node_version' });
  assertNodeSpec(req.spec);
  const node = await d.state.update((tx) => {
    const cur = tx.get('nodes', req.nodeId);
    if (!cur) throw notFound('node', req.nodeId);
    const demoting = cur.spec?.desiredRole === NodeRole.MANAGER && req.spec!.desiredRole === NodeRole.WORKER;
    if (demoting) {
      const managers = tx.all('nodes').filter((n) => n.spec?.desiredRole === NodeRole.MANAGER);
      if (managers.length <= 1) throw new ShoalError('FailedPrecondition', `node ${cur.id} is the last manager of the cluster and cannot be demoted`);
      // the demoted manager leaves raft: the voters left must still reach a quorum
      const m = d.membership ? memberOfNode(cur, d.membership.members()) : undefined;
      const why = m && d.membership!.removalRefusal(m.raftId);
      if (why) throw new ShoalError('FailedPrecondition', `can't demote node ${cur.id}: ${why} (bring the unreachable managers back or remove them first)`);
    }
    tx.update('nodes', { ...cur, meta: { ...cur.meta, version: req.nodeVersion }, spec: req.spec });
    return tx.get('nodes', cur.id)!;
  });
  d.log.info('node updated', { nodeId: node.id, availability: node.spec?.availability, desiredRole: node.spec?.desiredRole });
  return { node };
}

export async function removeNode(d: ControlDeps, req: RemoveNodeRequest): Promise<RemoveNodeResponse> {
  requireId('node_id', req.nodeId);
  const before = d.state.view((tx) => tx.get('nodes', req.nodeId));
  if (!before) throw notFound('node', req.nodeId);
  const member = d.membership ? memberOfNode(before, d.membership.members()) : undefined;
  if (before.role === NodeRole.MANAGER || before.spec?.desiredRole === NodeRole.MANAGER || member) {
    if (!req.force) throw new ShoalError('FailedPrecondition', `node ${before.id} is a manager; demote it before removing it (or force the removal of a down manager)`);
    const reachable = member ? d.membership!.isReachable(member.raftId) : before.managerStatus?.reachability !== RaftMemberStatus.UNREACHABLE;
    if (reachable) throw new ShoalError('FailedPrecondition', `node ${before.id} is a reachable manager; demote it before removing it`);
    if (member) {
      // a down manager, forced out: raft first (only while the voters left keep a quorum)
      const why = d.membership!.removalRefusal(member.raftId);
      if (why) throw new ShoalError('FailedPrecondition', `can't remove manager node ${before.id}: ${why}`);
      await d.membership!.removeMember(member.raftId);
      d.log.info('down manager removed from raft', { nodeId: before.id, raftId: member.raftId });
    }
  }
  await d.state.update((tx) => {
    const n = tx.get('nodes', req.nodeId);
    if (!n) throw notFound('node', req.nodeId);
    const state = n.status?.state ?? NodeState.NODE_UNKNOWN;
    if (state !== NodeState.NODE_DOWN && !req.force) {
      throw new ShoalError('FailedPrecondition', `node ${n.id} is not down and can't be removed (use force to remove it anyway)`);
    }
    orphanNodeTasks(tx, n.id, 'node removed from the cluster', '');
    tx.delete('nodes', n.id);
    const c = getCluster(tx);
    if (c && !c.removedNodes.includes(n.id)) tx.update('cluster', { ...c, removedNodes: [...c.removedNodes, n.id] });
  });
  d.log.info('node removed', { nodeId: req.nodeId, force: req.force });
  return {};
}

export async function getClusterInfo(d: ControlDeps, req: GetClusterRequest): Promise<GetClusterResponse> {
  const c = await read(d, req.read, (tx) => requireCluster(tx));
  return { cluster: redactCluster(c) };
}

export async function updateCluster(d: ControlDeps, req: UpdateClusterRequest): Promise<UpdateClusterResponse> {
  if (!req.clusterVersion) throw new ShoalError('InvalidArgument', 'invalid cluster_version: the version read is required', { field: 'cluster_version' });
  assertClusterSpec(req.spec);
  const c = await d.state.update((tx) => {
    const cur = requireCluster(tx);
    tx.update('cluster', { ...cur, meta: { ...cur.meta, version: req.clusterVersion }, spec: req.spec });
    return tx.get('cluster', cur.id)!;
  });
  return { cluster: redactCluster(c) };
}

export async function getJoinTokens(d: ControlDeps): Promise<GetJoinTokensResponse> {
  const c = d.state.view((tx) => requireCluster(tx));
  return { tokens: c.rootCa?.joinTokens ?? { worker: '', manager: '' }, caCertHash: c.rootCa?.caCertHash ?? '', managerAddrs: d.managerAddrs?.() ?? [] };
}

export async function rotateJoinToken(d: ControlDeps, req: RotateJoinTokenRequest): Promise<RotateJoinTokenResponse> {
  if (!req.worker && !req.manager) throw new ShoalError('InvalidArgument', 'invalid worker: choose the worker and/or the manager token to rotate', { field: 'worker' });
  const tokens = await d.state.update((tx) => {
    const cur = requireCluster(tx);
    const joinTokens = rotateTokens(cur, req, d.random);
    tx.update('cluster', { ...cur, rootCa: { ...(cur.rootCa ?? { caCert: Buffer.alloc(0), caKey: Buffer.alloc(0), caCertHash: '' }), joinTokens } });
    return joinTokens;
  });
  d.log.info('join token rotated', { worker: req.worker, manager: req.manager });
  return { tokens };
}
