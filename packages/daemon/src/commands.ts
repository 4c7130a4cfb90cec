// What `shoald init`, `shoald join` and `shoald run` do before handing over to the Daemon:
// create or read the node identity and the saved settings, register and join when needed.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig, readSavedFlags, writeSavedFlags, ConfigError, parseAddr, type DaemonConfig, type RawFlags } from './config.js';
import { Daemon, joinConfStateOf, type JoinConfState } from './daemon.js';
import { readIdentity, writeFileAtomic, writeIdentity, type NodeIdentityFile } from './identity.js';
import { raftJoin, register } from './join.js';
import { daemonLogger, type Logger } from './log.js';
import type { RaftPeer } from './manager-host.js';

import { PEERS_FILE, TOKEN_FILE } from './files.js';

/** The token the node joined with (kept to renew its registration and learn if it was removed). */
export function readJoinToken(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, TOKEN_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** An id in the style of swarmkit's: 25 base-36 characters from 128 random bits. */
export function newId(): string {
  let n = 0n;
  for (const b of randomBytes(16)) n = (n << 8n) | BigInt(b);
  return n.toString(36).padStart(25, '0').slice(-25);
}

export function makeLogger(c: DaemonConfig, fields: Record<string, unknown> = {}): Logger {
  return daemonLogger({ component: 'shoald', ...fields }, { level: c.logLevel, ...(c.logFormat ? { format: c.logFormat } : {}) });
}

function refuseExisting(c: DaemonConfig, verb: string): void {
  const id = readIdentity(c.dataDir);
  if (id) {
    throw new ConfigError(
      `${c.dataDir} already holds node ${id.nodeId} of cluster ${id.clusterId} (${id.role}); ` +
        `use "shoald run --data-dir ${c.dataDir}" to restart it, or a fresh --data-dir to ${verb}`,
    );
  }
}

export async function initCommand(flags: RawFlags): Promise<Daemon> {
  const c = resolveConfig(flags);
  refuseExisting(c, 'create a new cluster');
  mkdirSync(c.dataDir, { recursive: true, mode: 0o700 });
  const identity: NodeIdentityFile = {
    nodeId: newId(),
    clusterId: newId(),
    role: 'manager',
    raftId: 1,
    addrs: { listen: c.listenAddr, advertise: c.advertiseAddr, managers: [c.advertiseAddr] },
  };
  writeSavedFlags(c);
  writeIdentity(c.dataDir, identity);
  const log = makeLogger(c, { nodeId: identity.nodeId });
  log.info('initialising a new cluster', { clusterId: identity.clusterId });
  return new Daemon({ config: c, identity, mode: 'init', log });
}

export async function joinCommand(flags: RawFlags, token: string, addrs: string[]): Promise<Daemon> {
  const c = resolveConfig(flags);
  if (!token) throw new ConfigError('--token is required');
  if (addrs.length === 0) throw new ConfigError('give at least one manager address (host:port)');
  const managers = addrs.map((a) => parseAddr('manager address', a));
  refuseExisting(c, 'join a cluster');
  mkdirSync(c.dataDir, { recursive: true, mode: 0o700 });
  writeSavedFlags(c);
  writeFileAtomic(join(c.dataDir, TOKEN_FILE), token + '\n');
  const bootLog = makeLogger(c);
  const reg = await register(managers, token, { hostname: c.hostname, advertiseAddr: c.advertiseAddr }, bootLog);
  const log = makeLogger(c, { nodeId: reg.nodeId });
  log.info('registered', { clusterId: reg.clusterId, role: reg.role });
  const identity: NodeIdentityFile = {
    nodeId: reg.nodeId,
    clusterId: reg.clusterId,
    role: reg.role,
    addrs: { listen: c.listenAddr, advertise: c.advertiseAddr, managers },
  };
  let peers: RaftPeer[] = [];
  let joinConfState: JoinConfState | undefined;
  if (reg.role === 'manager') {
    const res = await raftJoin(managers, reg.nodeId, c.advertiseAddr, log);
    joinConfState = joinConfStateOf(res.bootstrap);
    identity.raftId = res.raftId;
    if (res.clusterId && res.clusterId !== reg.clusterId) throw new ConfigError(`raft answered for cluster ${res.clusterId}, NodeCA for ${reg.clusterId}`);
    peers = res.members.map((m) => ({ raftId: m.raftId, nodeId: m.nodeId, addr: m.addr, learner: m.learner }));
    identity.addrs.managers = [...new Set([...managers, ...peers.map((p) => p.addr).filter((a) => a && a !== c.advertiseAddr)])];
    // kept until the manager has started once, so that a crash right after joining can resume
    writeFileAtomic(join(c.dataDir, PEERS_FILE), JSON.stringify(peers, null, 2) + '\n');
  }
  writeIdentity(c.dataDir, identity);
  return new Daemon({ config: c, identity, mode: 'join', peers, joinToken: token, log, ...(joinConfState ? { joinConfState } : {}) });
}

export async function runCommand(flags: RawFlags): Promise<Daemon> {
  const dataDir = flags.dataDir;
  if (!dataDir) throw new ConfigError('--data-dir is required');
  const probe = resolveConfig({ dataDir, metricsAddr: 'off' });
  const identity = readIdentity(probe.dataDir);
  if (!identity) throw new ConfigError(`${probe.dataDir} holds no node identity (node.json): create one with "shoald init" or "shoald join"`);
  const saved = readSavedFlags(probe.dataDir) ?? {};
  const c = resolveConfig(flags, saved);
  const log = makeLogger(c, { nodeId: identity.nodeId });
  let mode: 'init' | 'join' | 'restart' = 'restart';
  let peers: RaftPeer[] = [];
  if (identity.role === 'manager' && !existsSync(join(c.dataDir, 'manager'))) {
    // The manager never persisted anything: the process died between init/join and startup.
    const peersFile = join(c.dataDir, PEERS_FILE);
    if (existsSync(peersFile)) {
      mode = 'join';
      peers = JSON.parse(readFileSync(peersFile, 'utf8')) as RaftPeer[];
    } else if (identity.raftId === 1) {
      mode = 'init';
    }
  }
  const joinToken = readJoinToken(c.dataDir);
  return new Daemon({ config: c, identity, mode, peers, log, ...(joinToken ? { joinToken } : {}) });
}
