// The cluster object: created once by the first leader, holding the join tokens and the list of
// removed node ids. Until the CA lands the token digest is taken over the cluster id.
import { ShoalError, type Cluster, type JoinTokens } from '@shoal/api';
import type { ReadTx, WriteTx } from '../state/state.js';
import { caDigest, generateJoinToken, generateJoinTokens, type RandomBytes } from './join-tokens.js';

export const DEFAULT_CLUSTER_NAME = 'default';

export function getCluster(tx: ReadTx): Cluster | undefined {
  return tx.all('cluster')[0];
}

export function requireCluster(tx: ReadTx): Cluster {
  const c = getCluster(tx);
  if (!c) throw new ShoalError('Unavailable', 'the cluster is not initialised yet');
  return c;
}

/** Create the cluster object if none exists (idempotent). */
export function ensureCluster(tx: WriteTx, id: string, random?: RandomBytes): Cluster {
  const existing = getCluster(tx);
  if (existing) return existing;
  const caCertHash = caDigest(Buffer.from(`shoal-cluster:${id}`));
  const cluster: Cluster = {
    id,
    spec: { annotations: { name: DEFAULT_CLUSTER_NAME, labels: {} }, orchestration: { taskHistoryRetentionLimit: 5 } },
    rootCa: { caCert: Buffer.alloc(0), caKey: Buffer.alloc(0), caCertHash, joinTokens: generateJoinTokens(caCertHash, random) },
    removedNodes: [],
  };
  tx.create('cluster', cluster);
  return cluster;
}

/** New tokens for the roles asked for; the other stays. */
export function rotateTokens(c: Cluster, which: { worker: boolean; manager: boolean }, random?: RandomBytes): JoinTokens {
  const digest = c.rootCa?.caCertHash ?? '';
  const cur = c.rootCa?.joinTokens ?? { worker: '', manager: '' };
  const next = { ...cur };
  if (which.worker) next.worker = generateJoinToken(digest, random);
  if (which.manager) next.manager = generateJoinToken(digest, random);
  while (next.worker === next.manager) next.manager = generateJoinToken(digest, random);
  return next;
}

/** The cluster as the API returns it: never the CA key. */
export function redactCluster(c: Cluster): Cluster {
  return { ...c, rootCa: c.rootCa ? { ...c.rootCa, caKey: Buffer.alloc(0) } : undefined };
}
