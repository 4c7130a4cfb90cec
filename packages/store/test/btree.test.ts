import test from 'ava';
import fc from 'fast-check';
import { PTree } from '../src/btree.js';

test('persistent B+tree matches a sorted Map under random writes, and old versions stay intact', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 })), { maxLength: 3000 }),
      fc.integer({ min: 1, max: 400 }),
      (ops, batch) => {
        let tree = PTree.empty<number>();
        const model = new Map<string, number>();
        const versions: { tree: PTree<number>; entries: [string, number][] }[] = [];
        for (let i = 0; i < ops.length; i += batch) {
          const b = tree.builder();
          for (const [put, n] of ops.slice(i, i + batch)) {
            const k = `k${n}`;
            if (put) {
              b.set(k, n);
              model.set(k, n);
            } else {
              t.is(b.delete(k), model.delete(k));
            }
          }
          tree = b.finish();
          versions.push({ tree, entries: [...model.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1)) });
        }
        for (const v of versions) {
          const got: [string, number][] = [];
          v.tree.forEach((k, val) => {
            got.push([k, val]);
          });
          if (JSON.stringify(got) !== JSON.stringify(v.entries)) return false;
          if (v.tree.size !== v.entries.length) return false;
          for (const [k, val] of v.entries) if (v.tree.get(k) !== val) return false;
        }
        return true;
      },
    ),
    { numRuns: 60 },
  );
});

test('B+tree prefix scans and range starts', (t) => {
  const b = PTree.empty<string>().builder();
  for (let i = 0; i < 1000; i++) b.set(`s${i % 10}\u0000${String(i).padStart(4, '0')}`, String(i));
  const tree = b.finish();
  const got: string[] = [];
  tree.forEachPrefix('s3\u0000', (_k, v) => got.push(v));
  t.is(got.length, 100);
  t.is(got[0], '3');
  t.is(tree.firstWithPrefix('s9\u0000'), '9');
  t.is(tree.firstWithPrefix('x'), undefined);
  t.throws(() => b.set('late', 'x'), { message: /after finish/ });
});

test('B+tree stays equal to a Map over 50,000 seeded writes with splits and merges', (t) => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let tree = PTree.empty<number>();
  const model = new Map<string, number>();
  const snapshots: [PTree<number>, string][] = [];
  for (let round = 0; round < 50; round++) {
    const b = tree.builder();
    const deleting = round % 3 === 2;
    for (let i = 0; i < 1000; i++) {
      const n = Math.floor(rnd() * 20000);
      const k = `k${n}`;
      if (deleting || rnd() < 0.2) t.is(b.delete(k), model.delete(k));
      else {
        b.set(k, n);
        model.set(k, n);
      }
    }
    tree = b.finish();
    snapshots.push([tree, JSON.stringify([...model.keys()].sort())]);
  }
  for (const [tr, keys] of snapshots) {
    const got: string[] = [];
    tr.forEach((k) => {
      got.push(k);
    });
    t.is(JSON.stringify(got), keys);
  }
});
