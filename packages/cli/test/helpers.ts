import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ServiceSpec } from '@shoal/api';
import { convertStack, loadCompose, type StackSpecs } from '../src/compose/index.js';

export const CORPUS = fileURLToPath(new URL('../../../test/compose/', import.meta.url));
export const valid = (...p: string[]): string => join(CORPUS, 'valid', ...p);
export const invalid = (name: string): string => join(CORPUS, 'invalid', name);

export function stack(files: string[], env: Record<string, string> = {}, name = 'app'): StackSpecs {
  return convertStack(loadCompose(files, { env }), name);
}

export function svc(s: StackSpecs, name: string): ServiceSpec {
  const found = s.services.find((x) => x.annotations?.name === name);
  if (!found) throw new Error(`no service ${name} in ${s.services.map((x) => x.annotations?.name).join(', ')}`);
  return found;
}

export const sec = (seconds: number, nanos = 0): { seconds: number; nanos: number } => ({ seconds, nanos });
