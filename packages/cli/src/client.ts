// The CLI's connection to a manager's Control API: promisified unary calls with a deadline,
// gRPC errors turned back into ShoalErrors.
import {
  ControlClient, createClient, grpc, LogsClient, ShoalError, SubscribeLogsRequest,
  type ControlClient as ControlClientT, type SubscribeLogsMessage,
} from '@shoal/api';

export const DEFAULT_HOST = 'unix:/var/run/shoal/control.sock';

export function defaultHost(env: NodeJS.ProcessEnv = process.env): string {
  return env['SHOAL_HOST'] || DEFAULT_HOST;
}

type Method = {
  [K in keyof ControlClientT]: ControlClientT[K] extends (req: infer R, ...a: infer _A) => grpc.ClientUnaryCall ? K : never;
}[keyof ControlClientT];

type Last<K extends Method> = Parameters<ControlClientT[K]>;
type ReqOf<K extends Method> = Last<K>[0];
type ResOf<K extends Method> = Last<K> extends [unknown, unknown, unknown, (e: grpc.ServiceError | null, r: infer R) => void] ? R : never;

export class Control {
  private readonly client: ControlClientT;
  constructor(readonly host: string, readonly timeoutMs: number) {
    this.client = createClient(ControlClient, host);
  }

  call<K extends Method>(method: K, req: ReqOf<K>): Promise<ResOf<K>> {
    const fn = this.client[method] as unknown as (
      req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: unknown) => void,
    ) => grpc.ClientUnaryCall;
    return new Promise((resolve, reject) => {
      fn.call(this.client, req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (e, r) =>
        e ? reject(ShoalError.fromGrpc(e)) : resolve(r as ResOf<K>),
      );
    });
  }

  /** Stream log messages; resolves when the stream ends. */
  logs(req: SubscribeLogsRequest, onMessage: (m: SubscribeLogsMessage) => void): Promise<void> {
    const logs = createClient(LogsClient, this.host);
    return new Promise((resolve, reject) => {
      const stream = logs.subscribeLogs(req);
      stream.on('data', onMessage);
      stream.on('error', (e) => {
        logs.close();
        reject(ShoalError.fromGrpc(e));
      });
      stream.on('end', () => {
        logs.close();
        resolve();
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
