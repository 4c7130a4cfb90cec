// Nagle's algorithm must be off on both ends of every gRPC connection: otherwise a small answer
// (a commit acknowledgement, a raft batch) can wait for the peer's delayed ACK (~40 ms on Linux).
// grpc-js has no option for it; Node's Http2Session sets TCP_NODELAY on the connection it runs
// on (servers included) and grpc-js clients set it on the connections they open. This guards
// that against a Node or grpc-js upgrade.
import test from 'ava';
import { Socket } from 'node:net';
import { RaftClient, bindServer, createClient, createServer, grpc } from '@shoal/api';

test('both ends of a connection between createServer and createClient have Nagle off', async (t) => {
  const calls: { local: number | undefined; remote: number | undefined; on: boolean }[] = [];
  const orig = Socket.prototype.setNoDelay;
  Socket.prototype.setNoDelay = function (this: Socket, on?: boolean) {
    calls.push({ local: this.localPort, remote: this.remotePort, on: on ?? true });
    return orig.call(this, on);
  };
  const server = createServer();
  try {
    const port = await bindServer(server, '127.0.0.1:0');
    const client = createClient(RaftClient, `127.0.0.1:${port}`);
    // no service is registered: the call fails, but only after the connection was accepted
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.members({}, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e) => resolve(e)));
    client.close();
    t.is(err?.code, grpc.status.UNIMPLEMENTED);
    const seen = JSON.stringify(calls);
    t.true(calls.some((c) => c.local === port && c.on), `the accepted socket (local port ${port}) got setNoDelay(true); calls: ${seen}`);
    t.true(calls.some((c) => c.remote === port && c.on), `the client's socket (remote port ${port}) got setNoDelay(true); calls: ${seen}`);
    const last = new Map<string, boolean>();
    for (const c of calls) last.set(`${c.local}/${c.remote}`, c.on);
    t.false([...last.values()].includes(false), `nothing switched it back on; calls: ${seen}`);
  } finally {
    Socket.prototype.setNoDelay = orig;
    server.forceShutdown();
  }
});
