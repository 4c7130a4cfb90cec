// Object ids in the style of SwarmKit's: 25 base-36 characters ([0-9a-z]) from 128 random bits.
// Ids end up in container and pod names, hostnames, label values, cgroup and file paths; an
// alphabet with '_' and '-' (nanoid's) made about one task in 32 start with one of them, which
// the CRI runtime refuses (the task was REJECTED).
import { randomBytes } from 'node:crypto';

export const OBJECT_ID_LENGTH = 25;

export function newObjectId(): string {
  let n = 0n;
  for (const b of randomBytes(16)) n = (n << 8n) | BigInt(b);
  return n.toString(36).padStart(OBJECT_ID_LENGTH, '0');
}
