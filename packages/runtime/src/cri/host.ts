// Host-side work that CRI does not do for us: per-task directories, size-limited tmpfs mounts,
// named volume directories, the pids limit, ulimits, and cleaning pod cgroups CRI leaves behind.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CGROUP_ROOT = '/sys/fs/cgroup';

export function isCgroupV2Unified(): boolean {
  return existsSync(join(CGROUP_ROOT, 'cgroup.controllers'));
}

/** Every hierarchy root in which a cgroup path may exist (v1 controllers + hybrid unified). */
async function hierarchyRoots(): Promise<string[]> {
  if (isCgroupV2Unified()) return [CGROUP_ROOT];
  const names = await readdir(CGROUP_ROOT).catch(() => [] as string[]);
  return names.map((n) => join(CGROUP_ROOT, n));
}

/** Removes a cgroup path (and its children, deepest first) from every hierarchy. */
export async function removeCgroupTree(cgroupPath: string): Promise<string[]> {
  const left: string[] = [];
  for (const root of await hierarchyRoots()) {
    const dir = join(root, cgroupPath);
    if (!existsSync(dir)) continue;
    const rmTree = async (d: string): Promise<void> => {
      const ents = await readdir(d, { withFileTypes: true }).catch(() => []);
      for (const e of ents) if (e.isDirectory()) await rmTree(join(d, e.name));
      await rmdir(d).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') left.push(`${d}: ${err.code}`);
      });
    };
    await rmTree(dir);
  }
  return left;
}

/** Names of the child cgroups of a path, in any hierarchy (pod cgroups under the cgroup root). */
export async function cgroupChildren(cgroupPath: string): Promise<string[]> {
  const names = new Set<string>();
  for (const root of await hierarchyRoots()) {
    const ents = await readdir(join(root, cgroupPath), { withFileTypes: true }).catch(() => []);
    for (const e of ents) if (e.isDirectory()) names.add(e.name);
  }
  return [...names].sort();
}

/** Lists the cgroup directories left for a path (for tests and diagnostics). */
export async function existingCgroupDirs(cgroupPath: string): Promise<string[]> {
  return (await hierarchyRoots()).map((r) => join(r, cgroupPath)).filter((d) => existsSync(d));
}

/**
 * Limits the number of processes of a container by creating its cgroup before runc does (runc
 * joins an existing cgroup and leaves pids.max alone when the OCI spec has no pids limit, which
 * CRI v0.25 cannot express).
 */
export async function presetPidsLimit(containerCgroup: string, pids: number): Promise<void> {
  if (isCgroupV2Unified()) {
    // Enable the pids controller down the path, then set pids.max in the leaf.
    const parts = containerCgroup.split('/').filter(Boolean);
    let cur = CGROUP_ROOT;
    for (const p of parts) {
      await writeFile(join(cur, 'cgroup.subtree_control'), '+pids').catch(() => undefined);
      cur = join(cur, p);
      await mkdir(cur, { recursive: true });
    }
    await writeFile(join(cur, 'pids.max'), String(pids));
    return;
  }
  const dir = join(CGROUP_ROOT, 'pids', containerCgroup);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'pids.max'), String(pids));
}

/** Reads a value from a container's cgroup (v1: controller/path/file; v2: path/file). */
export async function readCgroupFile(cgroupPath: string, v1Controller: string, file: string): Promise<string> {
  const p = isCgroupV2Unified() ? join(CGROUP_ROOT, cgroupPath, file) : join(CGROUP_ROOT, v1Controller, cgroupPath, file);
  return (await readFile(p, 'utf8')).trim();
}

export async function isMountPoint(dir: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[1] === dir);
}

export async function mountTmpfs(dir: string, sizeBytes: number | undefined): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (await isMountPoint(dir)) return;
  const opts = ['mode=1777', 'nosuid', 'nodev'];
  if (sizeBytes) opts.push(`size=${sizeBytes}`);
  await run('mount', ['-t', 'tmpfs', '-o', opts.join(','), 'shoal-tmpfs', dir]);
}

/** Unmounts every mount at or below dir (deepest first). */
export async function unmountBelow(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    await run('umount', [m]).catch(() => run('umount', ['-l', m]));
  }
}

export async function removeTaskDir(dir: string): Promise<void> {
  await unmountBelow(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Applies ulimits to a running process with prlimit(1). Best effort by construction: CRI v0.25
 * has no rlimits, so limits apply from just after start (children forked before that keep the
 * old limits).
 */
export async function applyUlimits(pid: number, ulimits: { name: string; soft: number; hard: number }[]): Promise<void> {
  if (ulimits.length === 0) return;
  const args = ['--pid', String(pid), ...ulimits.map((u) => `--${u.name}=${u.soft}:${u.hard}`)];
  await run('prlimit', args);
}
