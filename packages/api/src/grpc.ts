// The one place that builds gRPC servers and channels between Shoal processes.
// Mutual TLS switches on here for everyone at once when the CA provides certificates;
// until then the credentials are insecure. Nothing else creates a server or a channel itself.
import * as grpc from '@grpc/grpc-js';
import { ShoalError } from './errors.js';

/** Largest message either side accepts (raft batches and snapshot chunks stay well below it). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface TlsMaterial {
  caCert: Buffer;
  cert: Buffer;
  key: Buffer;
}

let tls: TlsMaterial | undefined;

/** Install this process's node certificate; every later server and channel uses mutual TLS. */
export function setNodeTls(material: TlsMaterial | undefined): void {
  tls = material;
}

export function serverCredentials(): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.caCert, [{ cert_chain: tls.cert, private_key: tls.key }], true);
}

export function channelCredentials(): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.caCert, tls.key, tls.cert);
}

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/**
 * Servers need no TCP_NODELAY option (grpc-js has none): Node's Http2Session switches Nagle off
 * on every TCP connection it runs on, accepted ones included, and grpc-js clients set it on the
 * connections they open (test/grpc-nodelay.test.ts checks both sides).
 */
export function createServer(): grpc.Server {
  return new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
}

/** Bind a server on `addr` ("127.0.0.1:0" picks a port; "unix:/path" for a socket); returns the port. */
export function bindServer(server: grpc.Server, addr: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(addr, serverCredentials(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}

type ClientCtor<C> = new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C;

/** Create a client of a generated service for `addr`. */
export function createClient<C>(ctor: ClientCtor<C>, addr: string, options: grpc.ChannelOptions = {}): C {
  return new ctor(addr, channelCredentials(), { ...CHANNEL_OPTIONS, ...options });
}

type UnaryFn<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => unknown;

/** Calls a unary method of a client from createClient with a deadline; rejects with a ShoalError. */
export function unary<Req, Res>(fn: UnaryFn<Req, Res>, req: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(ShoalError.fromGrpc(err)) : resolve(res)));
  });
}

export { grpc };
