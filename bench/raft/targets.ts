// The systems under test, behind one interface: a 3-member Shoal raft cluster (one process per
// member, running bench/raft/node.ts) and a 3-member etcd cluster, both on loopback only.
import { RaftClient, RaftKVClient, createClient, grpc } from '@shoal/api';
import * as protoLoader from '@grpc/proto-loader';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Target {
  readonly name: string;
  readonly size: number;
  start(): Promise<void>;
  /** index of the member that leads (asking the given members), or -1 */
  leader(among?: number[]): Promise<number>;
  put(member: number, key: string, value: Buffer, timeoutMs: number): Promise<void>;
  kill(member: number): void;
  restart(member: number): Promise<void>;
  /** the member is up and follows a leader */
  healthy(member: number): Promise<boolean>;
  /** the process id of each member (undefined while down) */
  pid(member: number): number | undefined;
  stop(): Promise<void>;
}

const deadline = (ms: number): grpc.CallOptions => ({ deadline: Date.now() + ms });

function unary<Req, Res>(fn: (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, new grpc.Metadata(), deadline(timeoutMs), (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function waitLine(p: ChildProcess, prefix: string, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      if (buf.includes(prefix)) {
        clearTimeout(timer);
        p.stdout?.off('data', onData);
        resolve();
      }
    };
    p.stdout?.on('data', onData);
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what}: process exited with ${code}`));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** every member process the targets started and that has not exited yet */
const children = new Set<ChildProcess>();

function track(p: ChildProcess): ChildProcess {
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
}

/** SIGKILLs every member process still running (the bench's last resort, e.g. on an error or a signal) */
export function killAll(): void {
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  children.clear();
}

export class ShoalTarget implements Target {
  readonly name = 'shoal';
  readonly size = 3;
  private procs: (ChildProcess | undefined)[] = [];
  private kv: RaftKVClient[] = [];
  private raft: RaftClient[] = [];
  readonly addrs: string[];
  /** the member's program: node.ts beside this file, or RAFT_NODE_ENTRY (an A/B run against another checkout) */
  private readonly entry = process.env.RAFT_NODE_ENTRY ?? fileURLToPath(new URL('./node.ts', import.meta.url));

  constructor(
    private readonly dir: string,
    basePort: number,
  ) {
    this.addrs = [0, 1, 2].map((i) => `127.0.0.1:${basePort + i}`);
  }

  private spawnMember(i: number): ChildProcess {
    const peers = this.addrs.map((a, j) => `${j + 1}=${a}`).join(',');
    const log = createWriteStream(join(this.dir, `shoal-${i + 1}.log`), { flags: 'a' });
    const extra = process.env.RAFT_NODE_ARGS ? process.env.RAFT_NODE_ARGS.split(' ') : []; // e.g. --cpu-prof
    const p = track(
      spawn(process.execPath, [...extra, '--import', 'tsx', '--conditions=shoal-src', this.entry, '--id', String(i + 1), '--peers', peers, '--data', join(this.dir, `shoal-n${i + 1}`)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    p.stderr?.pipe(log);
    this.procs[i] = p;
    return p;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const ps = [0, 1, 2].map((i) => this.spawnMember(i));
    await Promise.all(ps.map((p, i) => waitLine(p, 'ready', 30_000, `shoal member ${i + 1} to start`)));
    this.kv = this.addrs.map((a) => createClient(RaftKVClient, a));
    this.raft = this.addrs.map((a) => createClient(RaftClient, a));
  }

  async leader(among: number[] = [0, 1, 2]): Promise<number> {
    const answers = await Promise.all(
      among.map((i) => unary(this.raft[i]!.members.bind(this.raft[i]!), {}, 300).then((r) => r.leader, () => 0)),
    );
    for (const l of answers) if (l > 0 && among.includes(l - 1)) return l - 1;
    return -1;
  }

  async put(member: number, key: string, value: Buffer, timeoutMs: number): Promise<void> {
    const c = this.kv[member]!;
    await unary(c.put.bind(c), { key, value }, timeoutMs);
  }

  kill(member: number): void {
    this.procs[member]?.kill('SIGKILL');
    this.procs[member] = undefined;
  }

  /** the process id of a member (to find its profile) */
  pid(member: number): number | undefined {
    return this.procs[member]?.pid;
  }

  async restart(member: number): Promise<void> {
    const p = this.spawnMember(member);
    await waitLine(p, 'ready', 30_000, `shoal member ${member + 1} to restart`);
  }

  async healthy(member: number): Promise<boolean> {
    const c = this.raft[member]!;
    const r = await unary(c.members.bind(c), {}, 300).catch(() => undefined);
    return r !== undefined && r.leader > 0;
  }

  async stop(): Promise<void> {
    for (const c of [...this.kv, ...this.raft]) c.close();
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (!p || p.exitCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
            setTimeout(() => p.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
  }
}

interface EtcdClient extends grpc.Client {
  Put(req: { key: Buffer; value: Buffer }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: unknown) => void): void;
  Status(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: { header?: { member_id: string }; leader: string }) => void): void;
}

export class EtcdTarget implements Target {
  readonly name = 'etcd';
  readonly size = 3;
  private procs: (ChildProcess | undefined)[] = [];
  private kv: EtcdClient[] = [];
  private maint: EtcdClient[] = [];
  private readonly clientPorts: number[];
  private readonly peerPorts: number[];

  constructor(
    private readonly dir: string,
    private readonly bin: string,
  ) {
    this.clientPorts = [23791, 23792, 23793];
    this.peerPorts = [23801, 23802, 23803];
  }

  private spawnMember(i: number): ChildProcess {
    const cluster = this.peerPorts.map((p, j) => `e${j + 1}=http://127.0.0.1:${p}`).join(',');
    const log = createWriteStream(join(this.dir, `etcd-${i + 1}.log`), { flags: 'a' });
    const p = track(
      spawn(
        this.bin,
        [
          `--name=e${i + 1}`,
          `--data-dir=${join(this.dir, `etcd-e${i + 1}`)}`,
          `--listen-client-urls=http://127.0.0.1:${this.clientPorts[i]}`,
          `--advertise-client-urls=http://127.0.0.1:${this.clientPorts[i]}`,
          `--listen-peer-urls=http://127.0.0.1:${this.peerPorts[i]}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${this.peerPorts[i]}`,
          `--initial-cluster=${cluster}`,
          '--initial-cluster-state=new',
          '--initial-cluster-token=shoal-bench',
          '--heartbeat-interval=100',
          '--election-timeout=1000',
          '--logger=zap',
          '--log-level=warn',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' } },
      ),
    );
    p.stderr?.pipe(log);
    this.procs[i] = p;
    return p;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const def = protoLoader.loadSync(fileURLToPath(new URL('./etcd.proto', import.meta.url)), { longs: String, keepCase: true, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      etcdserverpb: { KV: new (...a: never[]) => EtcdClient; Maintenance: new (...a: never[]) => EtcdClient };
    };
    for (let i = 0; i < 3; i++) this.spawnMember(i);
    const addrs = this.clientPorts.map((p) => `127.0.0.1:${p}`);
    this.kv = addrs.map((a) => createClient(pkg.etcdserverpb.KV as never, a) as EtcdClient);
    this.maint = addrs.map((a) => createClient(pkg.etcdserverpb.Maintenance as never, a) as EtcdClient);
    const until = Date.now() + 30_000;
    while ((await this.leader()) < 0) {
      if (Date.now() > until) throw new Error('timed out waiting for an etcd leader');
      await sleep(100);
    }
  }

  private status(i: number, timeoutMs = 300): Promise<{ header?: { member_id: string }; leader: string } | undefined> {
    const c = this.maint[i]!;
    return new Promise((resolve) => c.Status({}, new grpc.Metadata(), deadline(timeoutMs), (e, r) => resolve(e ? undefined : r)));
  }

  async leader(among: number[] = [0, 1, 2]): Promise<number> {
    const st = await Promise.all([0, 1, 2].map((i) => (among.includes(i) ? this.status(i) : Promise.resolve(undefined))));
    const ids = st.map((s) => s?.header?.member_id);
    for (const s of st) {
      if (!s || s.leader === '0') continue;
      const idx = ids.indexOf(s.leader);
      if (idx >= 0 && among.includes(idx)) return idx;
    }
    return -1;
  }

  put(member: number, key: string, value: Buffer, timeoutMs: number): Promise<void> {
    const c = this.kv[member]!;
    return new Promise((resolve, reject) => c.Put({ key: Buffer.from(key), value }, new grpc.Metadata(), deadline(timeoutMs), (e) => (e ? reject(e) : resolve())));
  }

  kill(member: number): void {
    this.procs[member]?.kill('SIGKILL');
    this.procs[member] = undefined;
  }

  pid(member: number): number | undefined {
    return this.procs[member]?.pid;
  }

  async restart(member: number): Promise<void> {
    this.spawnMember(member);
    const until = Date.now() + 20_000;
    while (!(await this.healthy(member))) {
      if (Date.now() > until) throw new Error(`timed out waiting for etcd member ${member + 1} to restart`);
      await sleep(50);
    }
  }

  async healthy(member: number): Promise<boolean> {
    const s = await this.status(member);
    return s !== undefined && s.leader !== '0';
  }

  async stop(): Promise<void> {
    for (const c of [...this.kv, ...this.maint]) c.close();
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (!p || p.exitCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
            setTimeout(() => p.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
  }
}
