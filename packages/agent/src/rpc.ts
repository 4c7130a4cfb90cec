// Small helpers around grpc-js calls (clients themselves come from @shoal/api's createClient).
import { grpc, ShoalError } from '@shoal/api';

export { unary } from '@shoal/api';

/** Resolves with the first message of a server stream, or rejects on error/end/timeout. */
export function firstMessage<T>(call: grpc.ClientReadableStream<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new ShoalError('DeadlineExceeded', `${what}: no first message within ${timeoutMs} ms`)), timeoutMs);
    const onData = (m: T): void => done(undefined, m);
    const onError = (e: unknown): void => done(ShoalError.fromGrpc(e));
    const onEnd = (): void => done(new ShoalError('Unavailable', `${what}: stream ended before its first message`));
    function done(err: ShoalError | undefined, m?: T): void {
      clearTimeout(timer);
      call.off('data', onData);
      call.off('error', onError);
      call.off('end', onEnd);
      if (err) return reject(err);
      call.pause(); // the caller attaches its own listener, then resumes
      resolve(m as T);
    }
    call.on('data', onData);
    call.on('error', onError);
    call.on('end', onEnd);
  });
}

/** Cancels a call, swallowing the CANCELLED error it emits afterwards. */
export function cancelCall(call: { cancel(): void; on(ev: 'error', fn: (e: unknown) => void): unknown } | undefined): void {
  if (!call) return;
  call.on('error', () => {});
  call.cancel();
}
