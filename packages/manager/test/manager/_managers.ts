// Helpers for the tests that run several in-process managers on loopback gRPC.
import { createServer as netServer } from 'node:net';
import { ShoalError, type ControlClient } from '@shoal/api';

/** A TCP port free on 127.0.0.1 at the time of the call. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Calls a Control method by name; rejects with a ShoalError. */
export function call<R>(client: ControlClient, method: string, req: unknown): Promise<R> {
  const fn = (client as unknown as Record<string, (r: unknown, cb: (e: unknown, r: unknown) => void) => void>)[method]!;
  return new Promise((resolve, reject) => fn.call(client, req, (e, r) => (e ? reject(ShoalError.fromGrpc(e)) : resolve(r as R))));
}
