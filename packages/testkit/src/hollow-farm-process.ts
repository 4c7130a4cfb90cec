// A hollow node farm as a child process (see hollow-farm.ts): spawn, wait until every node has
// a session, read its latest stats, stop. Registered like shoald children: killed when the
// harness exits, and the farm exits by itself when its parent dies (SHOAL_PARENT_PID).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { HollowFarmStats } from './hollow-farm.js';
import { REPO_ROOT } from './process.js';

export interface FarmProcessOptions {
  managers: string[];
  joinToken: string;
  count: number;
  prefix: string;
  /** extra node flags for the farm's process, e.g. ['--cpu-prof'] */
  nodeArgs?: string[];
  statsMs?: number;
}

type FarmLine = ({ farm: 'up' | 'stats' } & HollowFarmStats) | { farm: 'error'; message: string };

export class FarmProcess {
  readonly child: ChildProcess;
  latest: HollowFarmStats | undefined;
  error: string | undefined;
  private readonly tail: string[] = [];
  private readonly up: Promise<HollowFarmStats>;
  private readonly exited: Promise<number | null>;

  constructor(readonly opts: FarmProcessOptions) {
    const args = [
      ...(opts.nodeArgs ?? []),
      '--import', 'tsx', '--conditions=shoal-src',
      join(REPO_ROOT, 'packages/testkit/src/hollow-farm.ts'),
      '--managers', opts.managers.join(','),
      '--token', opts.joinToken,
      '--count', String(opts.count),
      '--prefix', opts.prefix,
      '--stats-ms', String(opts.statsMs ?? 2_000),
    ];
    this.child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, SHOAL_PARENT_PID: String(process.pid), FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killOnExit = (): void => void this.child.kill('SIGKILL');
    process.once('exit', killOnExit);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => {
      process.off('exit', killOnExit);
      resolve(code);
    }));
    let resolveUp: (s: HollowFarmStats) => void = () => {};
    let rejectUp: (e: Error) => void = () => {};
    this.up = new Promise((res, rej) => {
      resolveUp = res;
      rejectUp = rej;
    });
    this.up.catch(() => undefined);
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        let m: FarmLine;
        try {
          m = JSON.parse(l) as FarmLine;
        } catch {
          this.keep(l);
          continue;
        }
        if (m.farm === 'error') {
          this.error = m.message;
          rejectUp(new Error(`hollow farm ${opts.prefix}: ${m.message}`));
        } else {
          this.latest = m;
          if (m.farm === 'up') resolveUp(m);
        }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => chunk.split('\n').filter(Boolean).forEach((l) => this.keep(l)));
    void this.exited.then((code) => rejectUp(new Error(`hollow farm ${opts.prefix} exited (code ${code}) before it was up:\n${this.tailText()}`)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once every node of the farm has a dispatcher session. */
  waitUp(): Promise<HollowFarmStats> {
    return this.up;
  }

  tailText(n = 20): string {
    return this.tail.slice(-n).map((l) => `  ${this.opts.prefix}| ${l}`).join('\n');
  }

  /** SIGTERM (agents stop their sessions), SIGKILL after graceMs. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private keep(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 200) this.tail.splice(0, this.tail.length - 200);
  }
}
