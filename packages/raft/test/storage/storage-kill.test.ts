// Crash safety of LevelStorage: a child process appends in a loop; we SIGKILL it at random
// moments (right after an ack, a few ms later, or soon after it opened), sometimes leave a torn
// record at the end of its WAL as a power cut would, reopen, and check that every acknowledged
// write survived, intact and contiguous, with terms that never go down.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LevelStorage } from '../../src/storage/index.js';
import { encodeSave, scanRecord } from '../../src/storage/wal-record.js';
import { EntryType } from '../../src/core/types.js';
import { entryPayload } from './payload.js';

const child = fileURLToPath(new URL('./kill-child.ts', import.meta.url));
const ROUNDS = 30;
const SEGMENT_BYTES = 64 << 10;

type KillPoint = { afterAcks: number; delayMs: number } | { afterOpenMs: number };

/** writes half a record after the last record of the newest WAL segment */
async function tearTail(dir: string, index: number): Promise<void> {
  const walDir = join(dir, 'wal');
  const segs = (await readdir(walDir)).filter((n) => n.endsWith('.wal')).sort();
  const path = join(walDir, segs[segs.length - 1] as string);
  const buf = await readFile(path);
  let off = 0;
  for (let r = scanRecord(buf, off); r.kind === 'record'; r = scanRecord(buf, off)) off = r.next;
  const rec = encodeSave(Number.MAX_SAFE_INTEGER, undefined, [{ index, term: 1, type: EntryType.Normal, data: entryPayload(index) }]);
  const h = await open(path, 'r+');
  try {
    await h.write(rec, 0, rec.byteLength >> 1, off);
  } finally {
    await h.close();
  }
}

function runUntilKilled(dir: string, point: KillPoint, deadlineMs: number): Promise<{ lastAck: number; acks: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--conditions=shoal-src', child, dir, String(SEGMENT_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] });
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
        if (line.startsWith('open ') && 'afterOpenMs' in point) setTimeout(kill, point.afterOpenMs);
        if (line.startsWith('ack ')) {
          lastAck = Number(line.slice(4));
          // kill while the next save is in flight, or a little later
          if ('afterAcks' in point && ++acks === point.afterAcks) {
            if (point.delayMs === 0) setImmediate(kill);
            else setTimeout(kill, point.delayMs);
          }
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
    const r = rand(10);
    const point: KillPoint = r < 2 ? { afterOpenMs: rand(20) } : { afterAcks: 1 + rand(150), delayMs: r < 6 ? 0 : rand(15) };
    const { lastAck } = await runUntilKilled(dir, point, 8000);
    maxAck = Math.max(maxAck, lastAck);
    if (rand(3) === 0) await tearTail(dir, maxAck + 1);
    const s = await LevelStorage.open(dir); // must open cleanly
    try {
      const last = s.lastIndex();
      t.true(last >= maxAck, `${where}: acknowledged index ${maxAck} lost (last ${last})`);
      const hs = s.hardState();
      t.true(hs.commit <= last && hs.commit >= maxAck, `${where}: hard state ${JSON.stringify(hs)} vs last ${last}, ack ${maxAck}`);
      const first = s.firstIndex();
      const ents = s.entries(first, last + 1, Number.MAX_SAFE_INTEGER);
      t.is(ents.length, last - first + 1, `${where}: log not contiguous`);
      for (const [i, e] of ents.entries()) {
        if (Buffer.compare(Buffer.from(e.data), Buffer.from(entryPayload(e.index))) !== 0) {
          t.fail(`${where}: entry ${e.index} has wrong content`);
          break;
        }
        if (i > 0 && (ents[i - 1] as (typeof ents)[number]).term > e.term) {
          t.fail(`${where}: the term goes down at entry ${e.index}`);
          break;
        }
      }
      t.true(ents.length === 0 || (ents[ents.length - 1] as (typeof ents)[number]).term <= hs.term, `${where}: an entry's term is past the hard state's`);
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
