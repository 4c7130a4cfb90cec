// Crash safety of LevelStorage: a child process appends in a loop; we SIGKILL it at random
// moments, reopen, and check that every acknowledged write survived, intact and contiguous.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LevelStorage } from '../../src/storage/index.js';
import { entryPayload } from './payload.js';

const child = fileURLToPath(new URL('./kill-child.ts', import.meta.url));
const ROUNDS = 30;

function runUntilKilled(dir: string, killAfterAcks: number, deadlineMs: number): Promise<{ lastAck: number; acks: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let lastAck = 0;
    let acks = 0;
    let stderr = '';
    let killed = false;
    const kill = (): void => {
      if (!killed) {
        killed = true;
        p.kill('SIGKILL');
      }
    };
    const timer = setTimeout(kill, deadlineMs);
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('ack ')) {
          lastAck = Number(line.slice(4));
          if (++acks >= killAfterAcks) setImmediate(kill); // kill while the next save is in flight
        }
      }
    });
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited on its own (code ${code}): ${stderr}`));
      else resolve({ lastAck, acks });
    });
  });
}

async function lane(t: import('ava').ExecutionContext, dir: string, rounds: number, rand: (n: number) => number, name: string): Promise<void> {
  let maxAck = 0;
  for (let round = 0; round < rounds; round++) {
    const where = `${name} round ${round}`;
    const { lastAck } = await runUntilKilled(dir, 1 + rand(150), 8000);
    maxAck = Math.max(maxAck, lastAck);
    const s = await LevelStorage.open(dir); // must open cleanly
    try {
      const last = s.lastIndex();
      t.true(last >= maxAck, `${where}: acknowledged index ${maxAck} lost (last ${last})`);
      const hs = s.hardState();
      t.true(hs.commit <= last && hs.commit >= maxAck, `${where}: hard state ${JSON.stringify(hs)} vs last ${last}, ack ${maxAck}`);
      const first = s.firstIndex();
      const ents = s.entries(first, last + 1, Number.MAX_SAFE_INTEGER);
      t.is(ents.length, last - first + 1, `${where}: log not contiguous`);
      for (const e of ents) {
        if (Buffer.compare(Buffer.from(e.data), Buffer.from(entryPayload(e.index))) !== 0) {
          t.fail(`${where}: entry ${e.index} has wrong content`);
          break;
        }
      }
      const snap = s.snapshot();
      t.true(snap.metadata.index <= last && first - 1 <= snap.metadata.index, `${where}: snapshot ${snap.metadata.index} outside [${first - 1}, ${last}]`);
      maxAck = last; // a write that reached the disk without its ack is durable from now on
    } finally {
      await s.close();
    }
  }
  t.true(maxAck > rounds, `${name}: the child made progress`);
}

test('acknowledged entries survive SIGKILL at random moments', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  let rnd = seed;
  const rand = (n: number): number => {
    rnd = (rnd * 1103515245 + 12345) % 2147483648;
    return rnd % n;
  };
  t.log(`seed ${seed} (rerun with SEED=${seed})`);
  // two independent databases killed in parallel lanes: 30 kills in all, in half the time
  const dirs = [await mkdtemp(join(tmpdir(), 'shoal-raft-kill-')), await mkdtemp(join(tmpdir(), 'shoal-raft-kill-'))];
  try {
    await Promise.all(dirs.map((d, i) => lane(t, d, ROUNDS / 2, rand, `lane ${i}`)));
  } finally {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});
