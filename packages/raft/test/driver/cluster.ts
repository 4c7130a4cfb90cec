// A raft cluster in one process on loopback: real level storage in temp dirs, real gRPC.
import { RaftKVClient, RaftKVService, RaftService, bindServer, createClient, createServer, grpc } from '@shoal/api';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftNode, raftService, type RaftNodeOptions } from '../../src/driver/index.js';
import { KvStateMachine, raftKvService } from '../../src/kv/index.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Member {
  id: number;
  addr: string;
  dir: string;
  node?: RaftNode;
  kv?: KvStateMachine;
  server?: grpc.Server;
}

export class Cluster {
  members: Member[] = [];
  private root = '';

  static async create(n: number, extra: Partial<RaftNodeOptions> = {}): Promise<Cluster> {
    const c = new Cluster();
    c.root = await mkdtemp(join(tmpdir(), 'shoal-raft-drv-'));
    for (let i = 1; i <= n; i++) c.members.push({ id: i, addr: `127.0.0.1:${await freePort()}`, dir: join(c.root, `n${i}`) });
    for (const m of c.members) await c.start(m.id, extra);
    return c;
  }

  member(id: number): Member {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: number): RaftNode {
    const n = this.member(id).node;
    if (!n) throw new Error(`member ${id} is stopped`);
    return n;
  }

  /** starts (or restarts) a member; `join` starts it with no configuration, to be added by the leader */
  async start(id: number, extra: Partial<RaftNodeOptions> = {}, join = false): Promise<RaftNode> {
    const m = this.member(id);
    const kv = new KvStateMachine();
    const boot = this.members.filter((x) => !join && x.id <= 3).map((x) => ({ id: x.id, addr: x.addr }));
    const node = await RaftNode.start({
      id,
      clusterId: 'test',
      dataDir: m.dir,
      stateMachine: kv,
      ...(join ? { peers: this.members.filter((x) => x.id !== id).map((x) => ({ id: x.id, addr: x.addr })) } : { bootstrap: boot }),
      tickMs: 50,
      ...extra,
    });
    const server = createServer();
    server.addService(RaftService, raftService(node));
    server.addService(RaftKVService, raftKvService(node, kv));
    await bindServer(server, m.addr);
    m.node = node;
    m.kv = kv;
    m.server = server;
    return node;
  }

  async add(): Promise<Member> {
    const id = Math.max(...this.members.map((m) => m.id)) + 1;
    const m: Member = { id, addr: `127.0.0.1:${await freePort()}`, dir: join(this.root, `n${id}`) };
    this.members.push(m);
    return m;
  }

  async stop(id: number): Promise<void> {
    const m = this.member(id);
    m.server?.forceShutdown();
    await m.node?.stop();
    m.node = undefined;
    m.server = undefined;
  }

  running(): RaftNode[] {
    return this.members.flatMap((m) => (m.node ? [m.node] : []));
  }

  async waitLeader(what = 'a leader', timeoutMs = 10_000, among = this.running()): Promise<RaftNode> {
    let found: RaftNode | undefined;
    await waitFor(what, () => {
      found = among.find((n) => n.isLeader && among.filter((o) => o.leader === n.id).length >= Math.floor(among.length / 2) + 1);
      return found !== undefined;
    }, timeoutMs);
    return found as RaftNode;
  }

  kvClient(id: number): RaftKVClient {
    return createClient(RaftKVClient, this.member(id).addr);
  }

  async destroy(): Promise<void> {
    for (const m of this.members) if (m.node) await this.stop(m.id);
    await rm(this.root, { recursive: true, force: true });
  }
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const val = (s: string): Uint8Array => Buffer.from(s);
export const str = (v: Uint8Array | undefined): string | undefined => (v ? Buffer.from(v).toString() : undefined);
