// Test helpers: a transport served on a loopback port, recording what it hears.
import { RaftService, bindServer, createServer, grpc } from '@shoal/api';
import { RaftTransport, type TransportOptions } from '../../src/transport/index.js';
import { MessageType, type Message, type NodeId } from '../../src/core/types.js';
import { newMessage } from '../../src/core/message.js';

export interface Node {
  t: RaftTransport;
  server: grpc.Server;
  addr: string;
  port: number;
  received: Message[];
  batches: number;
  unreachable: NodeId[];
  broken: { id: NodeId; reason: string }[];
  snapshotFailed: NodeId[];
  close(): Promise<void>;
}

const unimplemented = (_call: unknown, cb: (err: grpc.ServiceError | null) => void): void =>
  cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in this test', message: 'unimplemented', name: 'Error', metadata: new grpc.Metadata() });

export async function startNode(id: NodeId, opts: Partial<TransportOptions> = {}, port = 0): Promise<Node> {
  const n = { received: [], batches: 0, unreachable: [], broken: [], snapshotFailed: [] } as unknown as Node;
  n.t = new RaftTransport({
    id,
    clusterId: 'c1',
    handler: {
      onMessages: (m) => {
        n.batches++;
        n.received.push(...m);
      },
      onUnreachable: (p) => n.unreachable.push(p),
      onSnapshotFailed: (p) => n.snapshotFailed.push(p),
      onStreamBroken: (p, reason) => n.broken.push({ id: p, reason }),
    },
    ...opts,
  });
  n.server = createServer();
  n.server.addService(RaftService, { stream: n.t.handleStream, join: unimplemented, leave: unimplemented, members: unimplemented });
  n.port = await bindServer(n.server, `127.0.0.1:${port}`);
  n.addr = `127.0.0.1:${n.port}`;
  n.close = async () => {
    n.t.stop();
    n.server.forceShutdown();
  };
  return n;
}

export function msg(from: NodeId, to: NodeId, index: number, bytes = 0): Message {
  return newMessage({
    type: MessageType.Append,
    from,
    to,
    term: 1,
    index,
    entries: bytes > 0 ? [{ term: 1, index: index + 1, type: 0, data: new Uint8Array(bytes).fill(index & 0xff) }] : [],
  });
}

/** waits for a condition, failing with `what` after the deadline */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
