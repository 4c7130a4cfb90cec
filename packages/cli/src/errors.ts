// CLI errors: one line on stderr, exit 1 (runtime) or 2 (usage).
import { ShoalError } from '@shoal/api';

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export const usageError = (message: string): CliError => new CliError(message, 2);

/** One line for any error, naming the manager address when it cannot be reached. */
export function describeError(err: unknown, host: string | undefined): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof ShoalError) {
    const fromServer = (err.cause as { metadata?: { get(k: string): unknown[] } } | undefined)?.metadata?.get('shoal-code')?.length;
    switch (err.code) {
      case 'Unavailable':
        if (!fromServer) return `cannot reach the manager at ${host ?? '?'} (${networkReason(err.message)})`;
        return `manager unavailable: ${firstLine(err.message)}${err.retryable ? ' (retry later)' : ''}`;
      case 'DeadlineExceeded':
        return `the manager at ${host ?? '?'} did not answer in time (${firstLine(err.message)})`;
      case 'Conflict':
        return `conflict: ${firstLine(err.message)} (the object was changed concurrently; run the command again)`;
      case 'NotFound':
        return firstLine(err.message);
      case 'AlreadyExists':
        return firstLine(err.message);
      case 'InvalidArgument':
        return `invalid request${err.field ? ` (${err.field})` : ''}: ${firstLine(err.message)}`;
      default:
        return `${firstLine(err.message)} (${err.code})`;
    }
  }
  return firstLine(err instanceof Error ? err.message : String(err));
}

const REASONS: Array<[RegExp, string]> = [
  [/ECONNREFUSED/, 'connection refused'],
  [/ENOENT/, 'no such socket'],
  [/EACCES|EPERM/, 'permission denied'],
  [/ENOTFOUND|EAI_AGAIN|DNS resolution failed/, 'unknown host'],
  [/EHOSTUNREACH|ENETUNREACH/, 'host unreachable'],
  [/ETIMEDOUT/, 'connection timed out'],
];

function networkReason(msg: string): string {
  for (const [re, text] of REASONS) if (re.test(msg)) return text;
  return firstLine(msg).replace(/\. Resolution note:.*$/, '');
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
