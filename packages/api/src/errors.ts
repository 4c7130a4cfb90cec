import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

/** The fixed set of error codes used across Shoal; mapped 1:1 to gRPC status codes at the edge. */
export type ErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'PermissionDenied'
  | 'Unauthenticated'
  | 'DeadlineExceeded'
  | 'Internal'
  | 'Unimplemented'
  | 'Cancelled';

const toGrpc: Record<ErrorCode, GrpcStatus> = {
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  Conflict: GrpcStatus.ABORTED,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  Unavailable: GrpcStatus.UNAVAILABLE,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  Unauthenticated: GrpcStatus.UNAUTHENTICATED,
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
  Internal: GrpcStatus.INTERNAL,
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  Cancelled: GrpcStatus.CANCELLED,
};

const fromGrpc = new Map<number, ErrorCode>(Object.entries(toGrpc).map(([k, v]) => [v, k as ErrorCode]));

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['Unavailable', 'Conflict', 'DeadlineExceeded']);

/** Metadata key that carries the leader's id/address with an Unavailable "not the leader" error. */
export const LEADER_METADATA_KEY = 'shoal-leader';

/**
 * The one error type of Shoal. `code` is from a fixed set; `field` names the offending field path
 * for InvalidArgument; `retryable` says whether trying again may succeed.
 */
export class ShoalError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly leader: string | undefined;
  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; field?: string; leader?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ShoalError';
    this.code = code;
    this.field = opts.field;
    this.leader = opts.leader;
  }
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
  /** A gRPC ServiceError to hand to a callback. */
  toGrpc(): Partial<ServiceError> {
    const metadata = new Metadata();
    metadata.set('shoal-code', this.code);
    if (this.field) metadata.set('shoal-field', this.field);
    if (this.leader) metadata.set(LEADER_METADATA_KEY, this.leader);
    return { code: toGrpc[this.code], details: this.message, message: this.message, metadata };
  }
  /** Rebuild a ShoalError from a gRPC error received by a client. */
  static fromGrpc(err: unknown): ShoalError {
    if (err instanceof ShoalError) return err;
    const e = err as Partial<ServiceError> | undefined;
    if (e && typeof e.code === 'number') {
      const meta = e.metadata;
      const codeMeta = meta?.get('shoal-code')[0];
      const code = (typeof codeMeta === 'string' && codeMeta in toGrpc ? codeMeta : fromGrpc.get(e.code)) as ErrorCode | undefined;
      const field = meta?.get('shoal-field')[0];
      const leader = meta?.get(LEADER_METADATA_KEY)[0];
      const opts: { cause?: unknown; field?: string; leader?: string } = { cause: err };
      if (typeof field === 'string') opts.field = field;
      if (typeof leader === 'string') opts.leader = leader;
      return new ShoalError(code ?? 'Internal', e.details || e.message || 'unknown error', opts);
    }
    return new ShoalError('Internal', err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/** Shorthand for an InvalidArgument error naming the field path and the reason. */
export function invalidArgument(field: string, reason: string): ShoalError {
  return new ShoalError('InvalidArgument', `invalid ${field}: ${reason}`, { field });
}

export function isShoalError(err: unknown, code?: ErrorCode): err is ShoalError {
  return err instanceof ShoalError && (code === undefined || err.code === code);
}
