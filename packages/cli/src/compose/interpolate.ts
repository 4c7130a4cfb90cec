// Variable interpolation as Compose does it: ${VAR}, $VAR, ${VAR:-default}, ${VAR-default},
// ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}, and $$ for a literal dollar sign.
import { existsSync, readFileSync } from 'node:fs';
import { ComposeError, type Pos } from './errors.js';
import type { LNode } from './tree.js';

export type Env = Readonly<Record<string, string | undefined>>;

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/;

export interface InterpolateContext {
  env: Env;
  /** collects "variable is not set" warnings (deduplicated by the caller) */
  warn: (msg: string) => void;
}

/** Interpolate one string. Throws a ComposeError located at `pos` with `path`. */
export function interpolateString(s: string, ctx: InterpolateContext, pos: Pos, path: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = s[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = matchBrace(s, i + 1);
      if (end < 0) throw new ComposeError(pos, path, `invalid interpolation format: ${JSON.stringify(s)} (unterminated "\${"; escape a literal $ as $$)`);
      out += substitute(s.slice(i + 2, end), ctx, pos, path, s);
      i = end + 1;
      continue;
    }
    const m = NAME.exec(s.slice(i + 1));
    if (!m) throw new ComposeError(pos, path, `invalid interpolation format: ${JSON.stringify(s)} (escape a literal $ as $$)`);
    out += lookup(m[0], ctx);
    i += 1 + m[0].length;
  }
  return out;
}

function matchBrace(s: string, open: number): number {
  let depth = 0;
  for (let j = open; j < s.length; j++) {
    if (s[j] === '$' && s[j + 1] === '$') {
      j++;
      continue;
    }
    if (s[j] === '{') depth++;
    else if (s[j] === '}') {
      depth--;
      if (depth === 0) return j;
    }
  }
  return -1;
}

function lookup(name: string, ctx: InterpolateContext): string {
  const v = ctx.env[name];
  if (v === undefined) {
    ctx.warn(`The "${name}" variable is not set. Defaulting to a blank string.`);
    return '';
  }
  return v;
}

function substitute(body: string, ctx: InterpolateContext, pos: Pos, path: string, whole: string): string {
  const m = NAME.exec(body);
  if (!m) throw new ComposeError(pos, path, `invalid interpolation format: ${JSON.stringify(whole)} (bad variable name in "\${${body}}")`);
  const name = m[0];
  const rest = body.slice(name.length);
  const value = ctx.env[name];
  if (rest === '') return lookup(name, ctx);
  const op = /^(:?[-?+])/.exec(rest);
  if (!op) throw new ComposeError(pos, path, `invalid interpolation format: ${JSON.stringify(whole)} (unexpected "${rest}")`);
  const arg = rest.slice(op[1]!.length);
  const colon = op[1]!.startsWith(':');
  const unsetOrEmpty = value === undefined || (colon && value === '');
  switch (op[1]!.slice(-1)) {
    case '-':
      return unsetOrEmpty ? interpolateString(arg, ctx, pos, path) : value!;
    case '+':
      return unsetOrEmpty ? '' : interpolateString(arg, ctx, pos, path);
    default: {
      if (!unsetOrEmpty) return value!;
      const msg = interpolateString(arg, ctx, pos, path);
      throw new ComposeError(pos, path, `required variable ${name} is missing a value${msg ? `: ${msg}` : ''}`);
    }
  }
}

/** Interpolate every string value of a tree in place (keys are left alone, as Compose does). */
export function interpolateTree(n: LNode, ctx: InterpolateContext, path = ''): void {
  if (n.kind === 'scalar') {
    if (typeof n.value === 'string' && n.value.includes('$')) n.value = interpolateString(n.value, ctx, n.pos, path);
    return;
  }
  if (n.kind === 'seq') {
    n.items.forEach((it, i) => interpolateTree(it, ctx, `${path}[${i}]`));
    return;
  }
  for (const [k, e] of n.entries) interpolateTree(e.value, ctx, path ? `${path}.${k}` : k);
}

/** Parse a .env / env_file: KEY=VALUE lines, # comments, optional `export`, optional quotes. */
export function parseEnvFile(text: string): Array<[string, string | undefined]> {
  const out: Array<[string, string | undefined]> = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const body = line.startsWith('export ') ? line.slice(7).trim() : line;
    const eq = body.indexOf('=');
    if (eq < 0) {
      out.push([body, undefined]);
      continue;
    }
    const key = body.slice(0, eq).trim();
    let val = body.slice(eq + 1).trim();
    const q = val[0];
    if ((q === '"' || q === "'") && val.length >= 2 && val.endsWith(q)) {
      val = val.slice(1, -1);
      if (q === '"') val = val.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      const hash = val.indexOf(' #');
      if (hash >= 0) val = val.slice(0, hash).trim();
    }
    out.push([key, val]);
  }
  return out;
}

/** The environment used for interpolation: `.env` next to the first file, overridden by `env`. */
export function interpolationEnv(dotEnvPath: string, env: Env): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (existsSync(dotEnvPath)) {
    for (const [k, v] of parseEnvFile(readFileSync(dotEnvPath, 'utf8'))) if (v !== undefined) out[k] = v;
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
