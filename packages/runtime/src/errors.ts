import { ShoalError, type ErrorCode } from '@shoal/api';

/**
 * The runtime's error: a ShoalError with the operation that failed, readable enough to be shown
 * as a task status message ("prepare: image "x" not found: ...").
 */
export class RuntimeError extends ShoalError {
  readonly operation: string;
  constructor(code: ErrorCode, operation: string, message: string, opts: { cause?: unknown } = {}) {
    super(code, `${operation}: ${message}`, opts);
    this.name = 'RuntimeError';
    this.operation = operation;
  }
}

export function isRuntimeError(e: unknown, code?: ErrorCode): e is RuntimeError {
  return e instanceof RuntimeError && (code === undefined || e.code === code);
}

// gRPC status numbers (avoid importing grpc-js here so the hollow runtime stays light).
const GRPC_TO_CODE: Record<number, ErrorCode> = {
  1: 'Cancelled',
  2: 'Internal',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  6: 'AlreadyExists',
  7: 'PermissionDenied',
  8: 'Unavailable', // RESOURCE_EXHAUSTED
  9: 'FailedPrecondition',
  10: 'Conflict',
  11: 'InvalidArgument',
  12: 'Unimplemented',
  13: 'Internal',
  14: 'Unavailable',
  15: 'Internal',
  16: 'Unauthenticated',
};

/** Turns a gRPC error from containerd into a RuntimeError with a short, readable message. */
export function fromGrpcError(operation: string, err: unknown, subject?: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const e = err as { code?: unknown; details?: unknown; message?: unknown } | undefined;
  const grpcCode = typeof e?.code === 'number' ? e.code : undefined;
  let code: ErrorCode = grpcCode === undefined ? 'Internal' : (GRPC_TO_CODE[grpcCode] ?? 'Internal');
  let text = typeof e?.details === 'string' && e.details ? e.details : String(e?.message ?? err);
  if (grpcCode === 14 && /ENOENT|ECONNREFUSED|No connection established|connect/i.test(text)) {
    text = `containerd is not reachable (${text})`;
  }
  // containerd wraps errors as "failed to X: failed to Y: cause"; keep the chain but classify
  // common causes that come back as UNKNOWN/INTERNAL.
  if (code === 'Internal') {
    if (/not found|no such file or directory|does not exist/i.test(text)) code = /executable file not found|exec: /.test(text) ? 'InvalidArgument' : 'NotFound';
    else if (/already exists|is reserved/i.test(text)) code = 'AlreadyExists';
    // A registry refusing the pull (no or wrong credentials): containerd reports "401 Unauthorized".
    else if (/\b401 Unauthorized\b|authorization failed|no basic auth credentials/i.test(text)) code = 'Unauthenticated';
  }
  if (subject) text = `${subject}: ${text}`;
  return new RuntimeError(code, operation, text, { cause: err });
}
