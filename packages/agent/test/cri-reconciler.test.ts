// The agent's reconcile loop on real containers: a private containerd 1.6 (started by this test,
// root) behind CriRuntime. Tasks walk ACCEPTED → PREPARING → READY → STARTING → RUNNING and end
// COMPLETE/FAILED with exit codes; prepares and starts run concurrently but never more than the
// bound; runtime errors (an image that cannot be pulled, a command that does not exist) reach
// the task status as readable messages; unassigned tasks leave nothing behind.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TaskState, type TaskStatus } from '@shoal/api';
import { CriRuntime, type ContainerHandle, type TaskContainerSpec } from '@shoal/runtime';
import { realClock } from '../src/clock.js';
import { silentLogger } from '../src/log.js';
import { Reconciler } from '../src/reconciler.js';
import { TaskDb } from '../src/taskdb.js';
import { tempDir } from './helpers/agent.js';
import { makeTask } from './helpers/tasks.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const NAME = 'ag-cri-test';
const S = TaskState;

/** Counts prepares and starts in flight (the part the agent bounds). */
class CountingCri extends CriRuntime {
  active = 0;
  peak = 0;
  private async counted<T>(f: () => Promise<T>): Promise<T> {
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    try {
      return await f();
    } finally {
      this.active--;
    }
  }
  override prepare(spec: TaskContainerSpec): Promise<ContainerHandle> {
    return this.counted(() => super.prepare(spec));
  }
  override start(h: ContainerHandle): Promise<void> {
    return this.counted(() => super.start(h));
  }
}

let socket = '';
const stateRoot = `/var/lib/shoal-test/${NAME}/shoal`;

test.before(async () => {
  if (process.getuid?.() !== 0) throw new Error('this test must run as root (it starts containerd and runc)');
  try {
    const { stdout } = await run('bash', [join(REPO, 'scripts/runtime/containerd-up.sh'), NAME], { timeout: 120_000 });
    socket = stdout.trim().split('\n').pop() ?? '';
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`containerd-up.sh ${NAME} failed (run scripts/runtime/install.sh as root first): ${err.stderr || err.message}`);
  }
});

test.after.always(async () => {
  await run('bash', [join(REPO, 'scripts/runtime/containerd-down.sh'), NAME], { timeout: 120_000 });
});

const sleeper = (id: string) => makeTask(id, {}, { image: 'shoal-test/busybox:1', command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done'] });

test.serial('tasks on real containers: states in order, bounded concurrency, exit codes and readable runtime errors', async (t) => {
  const runtime = new CountingCri({ endpoint: socket, stateRoot, cgroupRoot: `/shoal/${NAME}`, nodeId: 'node-1' });
  const db = new TaskDb(tempDir());
  await db.open();
  const seen = new Map<string, TaskState[]>();
  const last = new Map<string, TaskStatus>();
  const rec = new Reconciler({
    runtime, clock: realClock, db, logger: silentLogger, nodeId: () => 'node-1', maxConcurrent: 2, pollIntervalMs: 200,
    onStatus: (id, s) => {
      const xs = seen.get(id) ?? [];
      if (xs[xs.length - 1] !== s.state) xs.push(s.state);
      seen.set(id, xs);
      last.set(id, { ...s });
    },
  });
  const describe = () => Object.fromEntries([...last].map(([id, s]) => [id, `${TaskState[s.state]} ${s.err}`]));
  try {
    const good = ['g1', 'g2', 'g3', 'g4', 'g5'];
    const tasks = [
      ...good.map(sleeper),
      makeTask('exit0', {}, { image: 'shoal-test/busybox:1', command: ['sh', '-c', 'exit 0'] }),
      makeTask('exit3', {}, { image: 'shoal-test/busybox:1', command: ['sh', '-c', 'echo bye >&2; exit 3'] }),
      makeTask('noimage', {}, { image: '127.0.0.1:1/shoal-test/nope:1' }),
      makeTask('nocmd', {}, { image: 'shoal-test/busybox:1', command: ['/no/such/program'] }),
    ];
    await rec.apply({ complete: true, updated: tasks, removed: [] });
    const settled = (id: string, state: TaskState) => last.get(id)?.state === state;
    await waitFor('5 sleepers RUNNING, exit0 COMPLETE, exit3 FAILED, noimage REJECTED, nocmd FAILED', () =>
      good.every((id) => settled(id, S.RUNNING)) && settled('exit0', S.COMPLETE) && settled('exit3', S.FAILED)
      && settled('noimage', S.REJECTED) && settled('nocmd', S.FAILED), 90_000, describe);

    for (const id of good) {
      // Every step reported, in order (the initial ASSIGNED report is optional).
      t.deepEqual(seen.get(id)!.filter((s) => s !== S.ASSIGNED), [S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING], id);
      t.true((last.get(id)!.container?.pid ?? 0) > 0);
      t.truthy(last.get(id)!.container?.containerId);
    }
    t.true(runtime.peak <= 2, `at most 2 prepares/starts at once, saw ${runtime.peak}`);
    t.is(runtime.peak, 2, 'and they did overlap');

    t.is(last.get('exit0')!.container?.exitCode, 0);
    t.is(last.get('exit3')!.container?.exitCode, 3);
    t.is(last.get('exit3')!.err, 'task: non-zero exit (3)');
    t.log(`noimage: ${last.get('noimage')!.err}`);
    t.regex(last.get('noimage')!.err, /^pullImage: image "127\.0\.0\.1:1\/shoal-test\/nope:1": .*connection refused/);
    t.log(`nocmd: ${last.get('nocmd')!.err}`);
    t.regex(last.get('nocmd')!.err, /^start: task nocmd: .*"\/no\/such\/program".*no such file or directory/);

    // Unassign everything: containers stopped and removed, nothing left on the host.
    await rec.apply({ complete: true, updated: [], removed: [] });
    await waitFor('no controllers left', () => rec.controllers.length === 0, 60_000, describe);
    t.deepEqual((await runtime.list()).map((c) => c.handle.taskId), []);
    const dir = join(stateRoot, 'tasks');
    t.deepEqual(existsSync(dir) ? await readdir(dir) : [], [], 'no task dirs (logs, hosts) left');
  } finally {
    await rec.close();
    await db.close();
    await runtime.close();
  }
});
