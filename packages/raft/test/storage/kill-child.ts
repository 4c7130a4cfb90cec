// Child process for storage-kill.test.ts: appends entries to a LevelStorage in a loop and prints
// each last index once its save() resolved (i.e. was synced). The parent SIGKILLs it at random.
// Every 97 batches it snapshots and compacts, so that crashes also hit compaction batches; every
// 11 batches it rewrites its last three entries under a new term (a conflicting suffix), and the
// small WAL segments (argv[3] bytes) make crashes hit segment changes and checkpoints too.
import { LevelStorage } from '../../src/storage/index.js';
import { EntryType, type Entry } from '../../src/core/types.js';
import { entryPayload } from './payload.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: kill-child.ts DIR [WAL_SEGMENT_BYTES]');
const segmentBytes = Number(process.argv[3] ?? 64 << 20);
// background writes to level in slices of 5 operations, so that kills also land between slices
const s = await LevelStorage.open(dir, { walSegmentBytes: segmentBytes, levelSliceOps: 5 });
let next = s.lastIndex() + 1;
let term = s.hardState().term + 1;
process.stdout.write(`open ${s.lastIndex()}\n`);
for (let round = 0; ; round++) {
  const ents: Entry[] = [];
  if (round % 11 === 10 && next > s.firstIndex() + 3) {
    term++;
    for (let i = next - 3; i < next; i++) ents.push({ index: i, term, type: EntryType.Normal, data: entryPayload(i) });
  } else {
    const n = 1 + (round % 7);
    for (let i = 0; i < n; i++, next++) ents.push({ index: next, term, type: EntryType.Normal, data: entryPayload(next) });
  }
  const last = next - 1;
  await s.save({ term, vote: 1, commit: last }, ents);
  process.stdout.write(`ack ${last}\n`);
  if (round % 97 === 96) {
    await s.createSnapshot(last, { voters: [1, 2, 3], learners: [] }, entryPayload(last), last - 20);
  }
}
