// Promisified gRPC clients for tests: `await control.listNodes({})` instead of callbacks.
// Clients are made only through @shoal/api's createClient (the one place channels are built).
import * as api from '@shoal/api';
import { ControlClient, createClient, grpc, ShoalError } from '@shoal/api';

type MethodDef = {
  path: string;
  requestSerialize: (v: never) => Buffer;
  requestDeserialize: (b: Buffer) => unknown;
  responseDeserialize: (b: Buffer) => unknown;
  requestStream: boolean;
  responseStream: boolean;
};

/**
 * Fill a partial request with the defaults of its message type (so tests may write `{}` or
 * `{ filters: { names: ['web'] } }`): the generated codec `<Method>Request.fromPartial` when it
 * exists, else the top-level defaults of the decoded empty message.
 */
function filler(def: MethodDef): (req: unknown) => unknown {
  const method = def.path.slice(def.path.lastIndexOf('/') + 1);
  const codec = (api as unknown as Record<string, { fromPartial?: (o: unknown) => unknown } | undefined>)[`${method}Request`];
  if (codec && typeof codec.fromPartial === 'function') return (req) => codec.fromPartial!(req ?? {});
  return (req) => ({ ...(def.requestDeserialize(Buffer.alloc(0)) as object), ...(req as object) });
}

export interface CallOpts {
  /** per-call deadline (default 10 s) */
  timeoutMs?: number;
}

type Builtin = Date | Buffer | Uint8Array | string | number | boolean | bigint | undefined | null;
/** A request where every nested message may be partial (filled by the codec's fromPartial). */
export type DeepPartial<T> = T extends Builtin
  ? T
  : T extends readonly (infer U)[]
    ? DeepPartial<U>[]
    : T extends { $case: string }
      ? { [K in keyof T]?: DeepPartial<T[K]> } & { $case: T['$case'] }
      : T extends object
        ? { [K in keyof T]?: DeepPartial<T[K]> }
        : Partial<T>;

/** Every unary method of a service definition as `(req) => Promise<res>`. */
export type Promisified<S> = {
  [K in keyof S as S[K] extends { requestStream: false; responseStream: false } ? K : never]: S[K] extends {
    requestSerialize: (v: infer Req) => Buffer;
    responseDeserialize: (b: Buffer) => infer Res;
  }
    ? (req: DeepPartial<Req>, opts?: CallOpts) => Promise<Res>
    : never;
} & { close(): void; readonly addr: string };

type AnyCtor = (new (addr: string, creds: grpc.ChannelCredentials, opts?: object) => grpc.Client) & { service: Record<string, MethodDef> };

/** Build a promisified client of any generated service; errors reject as ShoalError. */
export function promisifiedClient<C extends AnyCtor>(ctor: C, addr: string): Promisified<C['service']> {
  const client = createClient(ctor as unknown as new (a: string, c: grpc.ChannelCredentials, o?: Partial<grpc.ClientOptions>) => grpc.Client, addr);
  const out: Record<string, unknown> = { close: () => client.close(), addr };
  for (const [name, def] of Object.entries(ctor.service)) {
    if (def.requestStream || def.responseStream) continue;
    const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
    if (typeof fn !== 'function') continue;
    const fill = filler(def);
    out[name] = (req: unknown, opts: CallOpts = {}) =>
      new Promise((resolve, reject) => {
        fn.call(client, fill(req), new grpc.Metadata(), { deadline: Date.now() + (opts.timeoutMs ?? 10_000) }, (err: grpc.ServiceError | null, res: unknown) =>
          err ? reject(ShoalError.fromGrpc(err)) : resolve(res),
        );
      });
  }
  return out as Promisified<C['service']>;
}

export type ControlApi = Promisified<(typeof ControlClient)['service']>;

/** A Control API client bound to `addr` ("host:port" or "unix:/path/control.sock"). */
export function controlClient(addr: string): ControlApi {
  return promisifiedClient(ControlClient, addr);
}
