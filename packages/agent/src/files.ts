// Secrets and configs of the tasks on this node. The dispatcher sends the secrets and configs that
// the node's tasks reference (only those); the agent writes each reference of a task as a file
// under a 0700 directory of its data dir, <dir>/<taskId>/, with the reference's mode and owner,
// and bind-mounts it read-only into the container: secrets at /run/secrets/<target> (or the
// absolute target), configs at /<target>. A task's files are removed with its container.
import { chmod, chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { ShoalError, type Config, type FileTarget, type Secret, type Task } from '@shoal/api';
import type { BindMount } from '@shoal/runtime';
import { errorMessage, type Logger } from './log.js';

export interface TaskFilesOptions {
  /** Directory for the files (created 0700). */
  dir: string;
  secret: (id: string) => Secret | undefined;
  config: (id: string) => Config | undefined;
  logger: Logger;
}

/** Where a reference lands in the container. Relative targets go under `base`; no ".." allowed. */
export function targetPath(kind: 'secret' | 'config', name: string, field: string): string {
  if (!name) throw new ShoalError('InvalidArgument', `${kind} reference has no target`, { field });
  const base = kind === 'secret' ? '/run/secrets' : '/';
  const p = posix.normalize(name.startsWith('/') ? name : posix.join(base, name));
  if (name.split('/').includes('..') || p === '/' || p === '/run/secrets') {
    throw new ShoalError('InvalidArgument', `${kind} target "${name}" is not a valid file path`, { field });
  }
  return p;
}

function numericId(v: string, what: string, field: string): number | undefined {
  if (v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new ShoalError('InvalidArgument', `${what} must be numeric, got "${v}"`, { field });
  return Number(v);
}

interface FileSpec {
  kind: 'secret' | 'config';
  name: string;
  data: Uint8Array;
  target: string;
  mode: number;
  uid: number | undefined;
  gid: number | undefined;
}

export class TaskFiles {
  private readonly log: Logger;
  private dirReady: Promise<void> | undefined;
  private chownWarned = false;

  constructor(private readonly o: TaskFilesOptions) {
    this.log = o.logger.child({ component: 'files' });
  }

  get dir(): string {
    return this.o.dir;
  }

  /** What `task` references, resolved; Unavailable (retryable) while one has not arrived yet. */
  specsOf(task: Task): FileSpec[] {
    const c = task.spec?.container;
    const out: FileSpec[] = [];
    const file = (f: FileTarget | undefined, kind: 'secret' | 'config', name: string, i: number, defaultMode: number): Omit<FileSpec, 'data' | 'kind' | 'name'> => {
      const field = `spec.container.${kind}s[${i}].file`;
      return {
        target: targetPath(kind, f?.name || name, `${field}.name`),
        mode: f?.mode ? f.mode & 0o7777 : defaultMode,
        uid: numericId(f?.uid ?? '', 'uid', `${field}.uid`),
        gid: numericId(f?.gid ?? '', 'gid', `${field}.gid`),
      };
    };
    (c?.secrets ?? []).forEach((r, i) => {
      const s = this.o.secret(r.secretId);
      if (!s) throw new ShoalError('Unavailable', `secret ${r.secretName || r.secretId} has not reached this node yet`);
      const name = r.secretName || s.spec?.annotations?.name || r.secretId;
      out.push({ kind: 'secret', name, data: s.spec?.data ?? new Uint8Array(), ...file(r.file, 'secret', name, i, 0o444) });
    });
    (c?.configs ?? []).forEach((r, i) => {
      const cf = this.o.config(r.configId);
      if (!cf) throw new ShoalError('Unavailable', `config ${r.configName || r.configId} has not reached this node yet`);
      const name = r.configName || cf.spec?.annotations?.name || r.configId;
      out.push({ kind: 'config', name, data: cf.spec?.data ?? new Uint8Array(), ...file(r.file, 'config', name, i, 0o444) });
    });
    return out;
  }

  /** Writes the task's secret and config files; returns their read-only bind mounts. */
  async mounts(task: Task): Promise<BindMount[]> {
    const specs = this.specsOf(task);
    if (specs.length === 0) return [];
    await this.ensureDir();
    const taskDir = join(this.o.dir, task.id);
    // 0700: the container sees the files through their bind mounts, not through this path
    await mkdir(taskDir, { recursive: true, mode: 0o700 });
    const out: BindMount[] = [];
    let i = 0;
    for (const f of specs) {
      const path = join(taskDir, `${f.kind}-${i++}`);
      await writeFile(path, f.data, { mode: 0o600 });
      if (f.uid !== undefined || f.gid !== undefined) {
        try {
          await chown(path, f.uid ?? -1, f.gid ?? -1);
        } catch (err) {
          // without root the owner cannot change; the mode still applies
          if (!this.chownWarned) this.log.warn('cannot set the owner of secret/config files (not root?)', { err: errorMessage(err) });
          this.chownWarned = true;
        }
      }
      await chmod(path, f.mode);
      out.push({ type: 'bind', source: path, target: f.target, readOnly: true });
    }
    return out;
  }

  /** Removes a task's files (its container is gone). */
  async release(taskId: string): Promise<void> {
    await rm(join(this.o.dir, taskId), { recursive: true, force: true });
  }

  /** Removes the files of every task not in `keep` (after a restart). */
  async prune(keep: ReadonlySet<string>): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(this.o.dir);
    } catch {
      return;
    }
    await Promise.all(entries.filter((e) => !keep.has(e)).map((e) => rm(join(this.o.dir, e), { recursive: true, force: true })));
  }

  private ensureDir(): Promise<void> {
    this.dirReady ??= (async () => {
      await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
      await chmod(this.o.dir, 0o700);
    })();
    return this.dirReady;
  }
}
