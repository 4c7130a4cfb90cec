// One real shoald OS process of a test cluster: spawn, capture its log (file + in-memory tail),
// kill with any signal, restart from its data dir. Every child is registered so that it is killed
// when the test process exits for any reason (and shoald itself exits when SHOAL_PARENT_PID dies,
// which covers a SIGKILLed test runner).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const live = new Set<ChildProcess>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const killAll = (): void => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    live.clear();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.kill(process.pid, sig);
    });
  }
  process.on('uncaughtExceptionMonitor', killAll);
}

/** Kill every shoald child of this process at once (SIGKILL). */
export function killAllChildren(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

/** How to start shoald: from TypeScript sources through tsx (default) or the built dist. */
export function shoaldCommand(): string[] {
  const mode = process.env['SHOALD_BIN'] ?? 'src';
  const dist = join(REPO_ROOT, 'packages/daemon/dist/main.js');
  if (mode === 'dist' && existsSync(dist)) return [dist];
  return ['--import', 'tsx', '--conditions=shoal-src', join(REPO_ROOT, 'packages/daemon/src/main.ts')];
}

export type NodeRoleName = 'manager' | 'worker';

export interface NodeSpecOptions {
  name: string;
  role: NodeRoleName;
  dataDir: string;
  listenAddr: string;
  metricsAddr: string;
  /** flags common to init/join (runtime, heartbeat period, labels, …) */
  flags: string[];
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const TAIL_LINES = 400;

export class NodeProcess {
  readonly name: string;
  /** the role it was created with (demotion/promotion changes the cluster's view, not this) */
  role: NodeRoleName;
  readonly dataDir: string;
  readonly listenAddr: string;
  readonly metricsAddr: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exitP: Promise<ExitInfo> | undefined;
  private lastExit: ExitInfo | undefined;
  private tail: string[] = [];
  private partial = '';
  private log: WriteStream;
  starts = 0;

  constructor(private readonly spec: NodeSpecOptions) {
    this.name = spec.name;
    this.role = spec.role;
    this.dataDir = spec.dataDir;
    this.listenAddr = spec.listenAddr;
    this.metricsAddr = spec.metricsAddr;
    this.logFile = `${spec.dataDir}.log`;
    this.log = createWriteStream(this.logFile, { flags: 'a' });
  }

  get controlSocket(): string {
    return join(this.dataDir, 'control.sock');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.lastExit === undefined;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.lastExit;
  }

  /** The node id from its node.json (undefined before init/join wrote it). */
  nodeId(): string | undefined {
    try {
      return (JSON.parse(readFileSync(join(this.dataDir, 'node.json'), 'utf8')) as { nodeId: string }).nodeId;
    } catch {
      return undefined;
    }
  }

  /** The common flags plus this node's addresses and data dir. */
  nodeFlags(): string[] {
    return [
      '--data-dir', this.dataDir,
      '--listen-addr', this.listenAddr,
      '--metrics-addr', this.metricsAddr,
      '--hostname', this.name,
      '--log-format', 'json',
      ...this.spec.flags,
    ];
  }

  init(): void {
    this.spawn(['init', ...this.nodeFlags()]);
  }

  join(token: string, managers: string[]): void {
    this.spawn(['join', '--token', token, ...this.nodeFlags(), ...managers]);
  }

  /** Restart from the data dir (`shoald run`). */
  run(extra: string[] = []): void {
    this.spawn(['run', '--data-dir', this.dataDir, ...extra]);
  }

  spawn(args: string[]): void {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    installExitHandlers();
    this.starts++;
    this.note(`---- start #${this.starts}: shoald ${args.join(' ')}`);
    const child = spawn(process.execPath, [...shoaldCommand(), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, SHOAL_PARENT_PID: String(process.pid), SHOAL_LOG_FORMAT: 'json', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.lastExit = undefined;
    live.add(child);
    const onData = (b: Buffer): void => this.capture(b.toString('utf8'));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exitP = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        if (this.partial) this.capture('\n');
        const info = { code, signal };
        if (this.child === child) this.lastExit = info;
        this.note(`---- exited: code=${code} signal=${signal}`);
        resolve(info);
      });
      child.once('error', (err) => this.note(`---- spawn error: ${err.message}`));
    });
  }

  /** Send a signal; resolves once the process has exited (SIGKILL: at once). */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 20_000): Promise<ExitInfo | undefined> {
    const child = this.child;
    if (!child || !this.running) return this.lastExit;
    this.note(`---- harness sends ${signal}`);
    child.kill(signal);
    return this.waitExit(timeoutMs);
  }

  /** Wait for the current process to exit (rejects after timeoutMs with the log tail). */
  async waitExit(timeoutMs: number): Promise<ExitInfo> {
    const p = this.exitP;
    if (!p) throw new Error(`${this.name} was never started`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms\n${this.tailText(20)}`)), timeoutMs);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if it does not stop within graceMs. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    try {
      await this.kill('SIGTERM', graceMs);
    } catch {
      await this.kill('SIGKILL');
    }
  }

  lines(): readonly string[] {
    return this.tail;
  }

  tailText(n = 40): string {
    const lines = this.tail.slice(-n).map((l) => `  ${this.name}| ${l}`);
    return `== ${this.name} (${this.role}, pid ${this.pid ?? '-'}, ${this.running ? 'running' : `exited ${JSON.stringify(this.lastExit ?? null)}`}) log ${this.logFile}\n${lines.join('\n')}`;
  }

  close(): void {
    this.log.end();
  }

  private note(line: string): void {
    this.push(line);
  }

  private capture(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.push(p);
  }

  private push(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.splice(0, this.tail.length - TAIL_LINES);
    this.log.write(line + '\n');
  }
}
