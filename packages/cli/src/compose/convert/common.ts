// Naming and labels shared by every converted object (Docker's conventions, so that users
// migrating from `docker stack deploy` keep their filters working).
import { msDuration, type Duration } from '@shoal/api';

export const NAMESPACE_LABEL = 'com.docker.stack.namespace';
export const IMAGE_LABEL = 'com.docker.stack.image';

export interface StackCtx {
  stack: string;
  env: Readonly<Record<string, string | undefined>>;
  warnings: string[];
}

export const scoped = (stack: string, name: string): string => `${stack}_${name}`;

export function withNamespace(stack: string, labels: Record<string, string>): Record<string, string> {
  return { ...labels, [NAMESPACE_LABEL]: stack };
}

export const dur = (ms: number | undefined): Duration | undefined => (ms === undefined ? undefined : msDuration(ms));
