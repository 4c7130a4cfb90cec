// grpc-js sets TCP_NODELAY on the sockets its clients open but not on those its servers accept,
// so a small response (a commit acknowledgement) can sit in Nagle's buffer until the client's
// delayed ACK (~40 ms on Linux). This switches Nagle off on a bound server's future connections.
// It reaches into grpc-js internals (Server.http2Servers); the proper home is createServer() in
// @shoal/api, which this package does not own.
import type { grpc } from '@shoal/api';
import type { Socket } from 'node:net';

export function serverNoDelay(server: grpc.Server): boolean {
  const servers = (server as unknown as { http2Servers?: Map<{ on(ev: 'connection', fn: (s: Socket) => void): void }, unknown> }).http2Servers;
  if (!(servers instanceof Map)) return false;
  for (const h of servers.keys()) h.on('connection', (s: Socket) => s.setNoDelay(true));
  return true;
}
