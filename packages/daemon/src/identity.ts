// The node's identity on disk: <data-dir>/node.json. Written atomically (write a temp file,
// fsync it, rename over the old one, fsync the directory) so that a crash at any point leaves
// either the old or the new identity, never a torn file.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type NodeRoleName = 'manager' | 'worker';

export interface NodeAddrs {
  /** TCP address the node's gRPC server listens on (managers; workers too, for Health/Logs). */
  listen: string;
  /** address the other nodes reach this node at */
  advertise: string;
  /** manager addresses this node knows (join targets, then what the session reports) */
  managers: string[];
}

export interface NodeIdentityFile {
  nodeId: string;
  clusterId: string;
  role: NodeRoleName;
  /** raft member id, for managers */
  raftId?: number;
  addrs: NodeAddrs;
}

export const IDENTITY_FILE = 'node.json';

export class IdentityError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdentityError';
  }
}

export function identityPath(dataDir: string): string {
  return join(dataDir, IDENTITY_FILE);
}

/** Write `data` to `path` atomically and durably (tmp + fsync + rename + fsync dir). */
export function writeFileAtomic(path: string, data: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  // make the rename itself durable
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export function validateIdentity(v: unknown, where: string): NodeIdentityFile {
  const bad = (why: string): never => {
    throw new IdentityError(`${where}: ${why}`);
  };
  if (typeof v !== 'object' || v === null) return bad('not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o['nodeId'] !== 'string' || !o['nodeId']) bad('nodeId missing');
  if (typeof o['clusterId'] !== 'string' || !o['clusterId']) bad('clusterId missing');
  if (o['role'] !== 'manager' && o['role'] !== 'worker') bad('role must be "manager" or "worker"');
  if (o['raftId'] !== undefined && (typeof o['raftId'] !== 'number' || !Number.isInteger(o['raftId']) || o['raftId'] <= 0)) {
    bad('raftId must be a positive integer');
  }
  if (o['role'] === 'manager' && o['raftId'] === undefined) bad('a manager needs a raftId');
  const a = o['addrs'] as Record<string, unknown> | undefined;
  if (typeof a !== 'object' || a === null) return bad('addrs missing');
  if (typeof a['listen'] !== 'string' || typeof a['advertise'] !== 'string') bad('addrs.listen/advertise missing');
  if (!Array.isArray(a['managers']) || !a['managers'].every((m) => typeof m === 'string')) bad('addrs.managers must be a list of addresses');
  const id: NodeIdentityFile = {
    nodeId: o['nodeId'] as string,
    clusterId: o['clusterId'] as string,
    role: o['role'] as NodeRoleName,
    addrs: { listen: a['listen'] as string, advertise: a['advertise'] as string, managers: [...(a['managers'] as string[])] },
  };
  if (o['raftId'] !== undefined) id.raftId = o['raftId'] as number;
  return id;
}

/** The identity in `dataDir`, or undefined when the node has none yet. Throws on a corrupt file. */
export function readIdentity(dataDir: string): NodeIdentityFile | undefined {
  const path = identityPath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new IdentityError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new IdentityError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateIdentity(parsed, path);
}

export function writeIdentity(dataDir: string, id: NodeIdentityFile): void {
  validateIdentity(id, 'identity to write');
  writeFileAtomic(identityPath(dataDir), JSON.stringify(id, null, 2) + '\n');
}
