// The Control service over gRPC. Reads are answered from the local state (or after a read
// barrier when the caller asks for a linearizable read); writes are carried out on the leader: a
// follower forwards them to the leader's Control API, or answers Unavailable with the leader's
// address in metadata when it cannot.
import {
  bindServer,
  ControlClient,
  ControlService,
  createClient,
  createServer,
  grpc,
  ShoalError,
  type ControlServer as ControlServerImpl,
} from '@shoal/api';
import { errorMessage } from '../util/log.js';
import type { ManagerMetrics } from '../metrics.js';
import type { ControlDeps } from './deps.js';
import * as nodes from './nodes.js';
import * as res from './resources.js';
import * as svc from './services.js';

export interface LeaderInfo {
  isLeader(): boolean;
  /** Control API address of the current leader, when known */
  leaderAddr(): string | undefined;
}

export interface ControlServerOptions {
  leader?: LeaderInfo;
  /** forward writes from a follower to the leader (default true) */
  forward?: boolean;
  metrics?: ManagerMetrics;
}

type Handler = (d: ControlDeps, req: never) => Promise<unknown>;

const READS: Record<string, Handler> = {
  getNode: nodes.getNode,
  listNodes: nodes.listNodes,
  getTask: svc.getTask,
  listTasks: svc.listTasks,
  getService: svc.getService,
  listServices: svc.listServices,
  getNetwork: res.getNetwork,
  listNetworks: res.listNetworks,
  getSecret: res.getSecret,
  listSecrets: res.listSecrets,
  getConfig: res.getConfig,
  listConfigs: res.listConfigs,
  getCluster: nodes.getClusterInfo,
  getJoinTokens: nodes.getJoinTokens,
};

const WRITES: Record<string, Handler> = {
  updateNode: nodes.updateNode,
  removeNode: nodes.removeNode,
  createService: svc.createService,
  updateService: svc.updateService,
  scaleService: svc.scaleService,
  rollbackService: svc.rollbackService,
  promoteService: svc.promoteService,
  removeService: svc.removeService,
  createNetwork: res.createNetwork,
  removeNetwork: res.removeNetwork,
  createSecret: res.createSecret,
  updateSecret: res.updateSecret,
  removeSecret: res.removeSecret,
  createConfig: res.createConfig,
  updateConfig: res.updateConfig,
  removeConfig: res.removeConfig,
  updateCluster: nodes.updateCluster,
  rotateJoinToken: nodes.rotateJoinToken,
};

const FORWARDED = 'shoal-forwarded';

export class ControlServer {
  private readonly clients = new Map<string, ControlClient>();
  private server: grpc.Server | undefined;

  constructor(
    private readonly deps: ControlDeps,
    private readonly opts: ControlServerOptions = {},
  ) {}

  /** Call a method directly (no gRPC): what the handlers do, minus forwarding. */
  call(method: string, req: unknown): Promise<unknown> {
    const h = READS[method] ?? WRITES[method];
    if (!h) return Promise.reject(new ShoalError('Unimplemented', `unknown method ${method}`));
    return h(this.deps, req as never);
  }

  /** The gRPC implementation of the Control service. */
  implementation(): ControlServerImpl {
    const impl: Record<string, grpc.handleUnaryCall<unknown, unknown>> = {};
    for (const method of [...Object.keys(READS), ...Object.keys(WRITES)]) {
      const write = method in WRITES;
      impl[method] = (call, callback) => {
        this.handle(method, write, call)
          .then((r) => {
            this.opts.metrics?.controlRequests.inc({ method, code: 'OK' });
            callback(null, r);
          })
          .catch((err: unknown) => {
            const e = ShoalError.fromGrpc(err);
            this.opts.metrics?.controlRequests.inc({ method, code: e.code });
            if (e.code === 'Internal') this.deps.log.error('control request failed', { method, err: errorMessage(err) });
            callback(e.toGrpc() as grpc.ServiceError, null);
          });
      };
    }
    return impl as unknown as ControlServerImpl;
  }

  private async handle(method: string, write: boolean, call: grpc.ServerUnaryCall<unknown, unknown>): Promise<unknown> {
    const leader = this.opts.leader;
    if (!write || !leader || leader.isLeader()) return this.call(method, call.request);
    const addr = leader.leaderAddr();
    const forwarded = call.metadata.get(FORWARDED).length > 0;
    if (!addr || forwarded || this.opts.forward === false) {
      throw new ShoalError('Unavailable', addr ? `not the leader; the leader is at ${addr}` : 'no leader elected yet; try again', addr ? { leader: addr } : {});
    }
    return this.forward(addr, method, call.request, call.getDeadline());
  }

  private forward(addr: string, method: string, req: unknown, deadline: grpc.Deadline): Promise<unknown> {
    let client = this.clients.get(addr);
    if (!client) {
      client = createClient(ControlClient, addr);
      this.clients.set(addr, client);
    }
    const md = new grpc.Metadata();
    md.set(FORWARDED, '1');
    const fn = (client as unknown as Record<string, (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void>)[method]!;
    const options: grpc.CallOptions = { deadline: deadline === Infinity ? Date.now() + 30_000 : deadline };
    this.deps.log.debug('forwarding write to the leader', { method, leader: addr });
    return new Promise((resolve, reject) => {
      fn.call(client, req, md, options, (err, r) => (err ? reject(ShoalError.fromGrpc(err)) : resolve(r)));
    });
  }

  /** Register on an existing server (the daemon serves several services on one port). */
  register(server: grpc.Server): void {
    server.addService(ControlService, this.implementation());
  }

  /** Serve on its own gRPC server; returns the port. */
  async listen(addr: string): Promise<number> {
    this.server = createServer();
    this.register(this.server);
    return bindServer(this.server, addr);
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
  }
}
