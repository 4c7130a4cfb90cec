// A stand-in manager for the worker side of shoald: NodeCA (join token -> node id; membership
// status) and a Dispatcher that keeps sessions and heartbeats, over real gRPC on 127.0.0.1:0.
import {
  AssignmentsType,
  bindServer,
  createServer,
  DispatcherService,
  IssuanceState,
  msDuration,
  NodeCAService,
  NodeRole,
  ShoalError,
  type DispatcherServer,
  type NodeCAServer,
  type grpc,
} from '@shoal/api';

export const WORKER_TOKEN = 'SWMTKN-1-worker';

export class FakeManager {
  readonly server = createServer();
  addr = '';
  readonly registered: { hostname: string; nodeId: string }[] = [];
  readonly sessions: string[] = [];
  heartbeats = 0;
  renewals = 0;
  readonly removed = new Set<string>();
  private next = 1;

  constructor() {
    const ca: NodeCAServer = {
      issueNodeCertificate: (call, cb) => {
        if (call.request.token !== WORKER_TOKEN) return cb(new ShoalError('PermissionDenied', 'invalid join token').toGrpc());
        if (call.request.nodeId) {
          // a renewal
          this.renewals++;
          if (this.removed.has(call.request.nodeId)) return cb(new ShoalError('PermissionDenied', `node ${call.request.nodeId} was removed from the cluster`).toGrpc());
          return cb(null, { nodeId: call.request.nodeId, role: NodeRole.WORKER, certificate: Buffer.alloc(0), caCert: Buffer.alloc(0), clusterId: 'cluster-1' });
        }
        const nodeId = `node-${this.next++}`;
        this.registered.push({ hostname: call.request.hostname, nodeId });
        cb(null, { nodeId, role: NodeRole.WORKER, certificate: Buffer.alloc(0), caCert: Buffer.alloc(0), clusterId: 'cluster-1' });
      },
      nodeCertificateStatus: (call, cb) => {
        if (this.removed.has(call.request.nodeId)) return cb(new ShoalError('PermissionDenied', `node ${call.request.nodeId} was removed`).toGrpc());
        cb(null, { state: IssuanceState.ISSUANCE_ISSUED, certificate: Buffer.alloc(0), message: '' });
      },
    };
    const dispatcher: DispatcherServer = {
      session: (call) => {
        if (this.removed.has(call.request.nodeId)) {
          call.emit('error', new ShoalError('PermissionDenied', 'node removed').toGrpc());
          return;
        }
        this.sessions.push(call.request.nodeId);
        call.write({ sessionId: `s-${this.sessions.length}`, managers: [{ nodeId: 'm', addr: this.addr, weight: 1 }] });
      },
      heartbeat: (_call, cb) => {
        this.heartbeats++;
        cb(null, { period: msDuration(200) });
      },
      updateTaskStatus: (_call, cb) => cb(null, {}),
      assignments: (call) => {
        call.write({ type: AssignmentsType.ASSIGNMENTS_COMPLETE, appliesTo: 0, resultsIn: 0, changes: [] });
      },
    };
    this.server.addService(NodeCAService, ca);
    this.server.addService(DispatcherService, dispatcher);
  }

  async start(): Promise<this> {
    this.addr = `127.0.0.1:${await bindServer(this.server, '127.0.0.1:0')}`;
    return this;
  }

  stop(): void {
    (this.server as grpc.Server).forceShutdown();
  }
}
