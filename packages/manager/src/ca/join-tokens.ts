// Join tokens in Docker's format: SWMTKN-1-<digest of the root CA certificate>-<random secret>.
// The digest lets a joining node check the CA it is given; the secret says which role it joins
// with (worker and manager tokens differ only in the secret). Randomness is injected.
import { createHash, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';
import { NodeRole, type JoinTokens } from '@shoal/api';

export const TOKEN_PREFIX = 'SWMTKN';
export const TOKEN_VERSION = 1;

export type RandomBytes = (n: number) => Buffer;

/** Base-36 of a big-endian byte string, left-padded to `len` characters. */
function base36(bytes: Buffer, len: number): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n.toString(36).padStart(len, '0');
}

/** The digest part of a token: sha256 of the CA certificate in base 36 (50 characters). */
export function caDigest(caCert: Buffer | string): string {
  return base36(createHash('sha256').update(caCert).digest(), 50);
}

/** A new token for the cluster whose root CA digest is `digest`. */
export function generateJoinToken(digest: string, random: RandomBytes = nodeRandomBytes): string {
  // 128 bits of secret, 25 base-36 characters, as Docker does
  const secret = base36(random(16), 25);
  return `${TOKEN_PREFIX}-${TOKEN_VERSION}-${digest}-${secret}`;
}

export function generateJoinTokens(digest: string, random: RandomBytes = nodeRandomBytes): JoinTokens {
  let worker = generateJoinToken(digest, random);
  let manager = generateJoinToken(digest, random);
  while (manager === worker) manager = generateJoinToken(digest, random);
  if (worker === manager) worker = generateJoinToken(digest, random);
  return { worker, manager };
}

export interface ParsedToken {
  version: number;
  digest: string;
  secret: string;
}

export function parseJoinToken(token: string): ParsedToken | undefined {
  const m = /^SWMTKN-(\d+)-([0-9a-z]{50})-([0-9a-z]{25})$/.exec(token);
  if (!m) return undefined;
  return { version: Number(m[1]), digest: m[2]!, secret: m[3]! };
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The role a token admits, or undefined when it matches neither current token. */
export function roleForToken(token: string, tokens: JoinTokens | undefined): NodeRole | undefined {
  if (!tokens || !parseJoinToken(token)) return undefined;
  if (tokens.manager && sameString(token, tokens.manager)) return NodeRole.MANAGER;
  if (tokens.worker && sameString(token, tokens.worker)) return NodeRole.WORKER;
  return undefined;
}
