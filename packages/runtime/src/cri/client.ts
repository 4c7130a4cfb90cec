// A small promise-based CRI client: our own proto (packages/runtime/proto/cri/runtime_v1.proto)
// loaded with protobufjs at run time, served over containerd's unix socket with @grpc/grpc-js.
// The socket is local and unauthenticated by design (file permissions guard it), so this client
// uses insecure channel credentials rather than the node mTLS credentials of @shoal/api.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

function protoPath(): string {
  // src/cri/client.ts and dist/cri/client.js both sit two levels below the package root.
  const p = fileURLToPath(new URL('../../proto/cri/runtime_v1.proto', import.meta.url));
  if (!existsSync(p)) throw new Error(`CRI proto not found at ${p}`);
  return p;
}

let root: protobuf.Root | undefined;
function loadRoot(): protobuf.Root {
  root ??= protobuf.loadSync(protoPath());
  return root;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, arrays: true, objects: true };

type AnyObj = Record<string, unknown>;
export type Call = (method: string, req: AnyObj, opts?: { timeoutMs?: number }) => Promise<AnyObj>;

function makeService(serviceName: string): grpc.ServiceDefinition {
  const svc = loadRoot().lookupService(serviceName);
  const def: Record<string, grpc.MethodDefinition<AnyObj, AnyObj>> = {};
  for (const m of Object.values(svc.methods)) {
    m.resolve();
    const reqType = m.resolvedRequestType!;
    const resType = m.resolvedResponseType!;
    def[m.name] = {
      path: `/${serviceName}/${m.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (o: AnyObj) => Buffer.from(reqType.encode(reqType.fromObject(o)).finish()),
      requestDeserialize: (b: Buffer) => reqType.toObject(reqType.decode(b), TO_OBJECT),
      responseSerialize: (o: AnyObj) => Buffer.from(resType.encode(resType.fromObject(o)).finish()),
      responseDeserialize: (b: Buffer) => resType.toObject(resType.decode(b), TO_OBJECT),
      originalName: m.name,
    };
  }
  return def;
}

export interface CriClient {
  runtime: Call;
  image: Call;
  close(): void;
}

/** Connects to a CRI endpoint, e.g. "unix:///run/containerd/containerd.sock" or a plain socket path. */
export function connectCri(endpoint: string, defaultTimeoutMs = 120_000): CriClient {
  const address = endpoint.startsWith('unix:') ? endpoint : `unix://${endpoint}`;
  const options: grpc.ChannelOptions = {
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.max_send_message_length': 16 * 1024 * 1024,
  };
  const creds = grpc.credentials.createInsecure();
  const RuntimeCtor = grpc.makeGenericClientConstructor(makeService('runtime.v1.RuntimeService'), 'RuntimeService');
  const ImageCtor = grpc.makeGenericClientConstructor(makeService('runtime.v1.ImageService'), 'ImageService');
  const rt = new RuntimeCtor(address, creds, options);
  // Share the channel between the two services.
  const im = new ImageCtor(address, creds, { ...options, channelOverride: rt.getChannel() });

  const wrap = (client: grpc.Client): Call => (method, req, opts) =>
    new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, (r: AnyObj, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: AnyObj) => void) => void>)[method];
      if (!fn) return reject(new Error(`CRI method ${method} not declared in runtime_v1.proto`));
      const deadline = new Date(Date.now() + (opts?.timeoutMs ?? defaultTimeoutMs));
      fn.call(client, req, new grpc.Metadata(), { deadline }, (err, value) => {
        if (err) reject(err);
        else resolve(value ?? {});
      });
    });

  return {
    runtime: wrap(rt),
    image: wrap(im),
    close() {
      im.close();
      rt.close();
    },
  };
}
