// Free loopback ports for the harness. They come from 20000-32767, below Linux's ephemeral range
// (32768-60999): a port taken with bind(0) is released before the daemon binds it, and in that
// window the kernel may hand the same ephemeral port to any outgoing connection or another bind(0)
// (a node's /metrics once answered with another process's HTTP/2). Ports below the range are never
// handed out by the kernel; each process starts at its own offset (by pid) and checks that a port
// can be bound before it gives it out.
import { createServer } from 'node:net';

const LOW = 20_000;
const HIGH = 32_767;
let next = LOW + ((process.pid * 7919) % (HIGH - LOW + 1));

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i <= HIGH - LOW; i++) {
    const port = next;
    next = next >= HIGH ? LOW : next + 1;
    if (await canBind(port)) return port;
  }
  throw new Error(`no free loopback port in ${LOW}-${HIGH}`);
}

export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}
