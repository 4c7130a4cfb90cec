// Object ids in the style of SwarmKit's: 25 base-36 characters ([0-9a-z]), about 129 random bits.
// Ids end up in container and pod names, hostnames, label values, cgroup and file paths; an
// alphabet with '_' and '-' (nanoid's) made about one task in 32 start with one of them, which
// the CRI runtime refuses (the task was REJECTED).
//
// A deploy of 100,000 tasks asks for 100,000 ids in a few seconds on the leader: random bytes are
// drawn from the CSPRNG a pool at a time, and each character takes one byte below 252 (= 7 × 36,
// so `b % 36` is uniform; bytes 252..255 are skipped).
import { randomFillSync } from 'node:crypto';

export const OBJECT_ID_LENGTH = 25;

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const pool = new Uint8Array(4096);
let pos = pool.length;

export function newObjectId(): string {
  let id = '';
  while (id.length < OBJECT_ID_LENGTH) {
    if (pos === pool.length) {
      randomFillSync(pool);
      pos = 0;
    }
    const b = pool[pos++]!;
    if (b < 252) id += ALPHABET[b % 36];
  }
  return id;
}
