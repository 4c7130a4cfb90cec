// The node's gRPC servers, built only through @shoal/api's createServer/bindServer: the TCP
// listen address (Control, Dispatcher, Raft, NodeCA, CA, Logs, LogBroker, Health) and, on
// managers, the local control socket for the CLI (Control and Health).
import { rmSync, statSync } from 'node:fs';
import {
  bindServer,
  CAService,
  ControlService,
  createServer,
  DispatcherService,
  grpc,
  HealthService,
  LogBrokerService,
  LogsService,
  NodeCAService,
  RaftService,
  ServingStatus,
  type HealthServer,
} from '@shoal/api';
import type { Logger } from './log.js';
import type { ManagerServices } from './manager-host.js';

type Impl = grpc.UntypedServiceImplementation;

/** What the node's own Health service reports when the manager provides none (workers). */
export function nodeHealth(details: () => Record<string, string>): HealthServer {
  return {
    check: (_call, cb) => cb(null, { status: ServingStatus.SERVING, details: details() }),
  };
}

function addAll(server: grpc.Server, svc: ManagerServices & { logBroker?: Impl }, which: (keyof ManagerServices | 'logBroker')[]): string[] {
  const defs = {
    control: ControlService,
    dispatcher: DispatcherService,
    raft: RaftService,
    nodeCA: NodeCAService,
    ca: CAService,
    logs: LogsService,
    logBroker: LogBrokerService,
    health: HealthService,
  } as const;
  const added: string[] = [];
  for (const k of which) {
    const impl = svc[k];
    if (!impl) continue;
    server.addService(defs[k], impl);
    added.push(k);
  }
  return added;
}

export interface NodeServers {
  tcp: grpc.Server;
  control: grpc.Server | undefined;
  tcpAddr: string;
}

export async function startServers(opts: {
  listenAddr: string;
  controlSocket: string | undefined;
  services: ManagerServices & { logBroker?: Impl };
  log: Logger;
}): Promise<NodeServers> {
  const { log } = opts;
  const tcp = createServer();
  const tcpServices = addAll(tcp, opts.services, ['control', 'dispatcher', 'raft', 'nodeCA', 'ca', 'logs', 'logBroker', 'health']);
  const port = await bindServer(tcp, opts.listenAddr);
  const host = opts.listenAddr.slice(0, opts.listenAddr.lastIndexOf(':'));
  const tcpAddr = `${host}:${port}`;
  log.info('grpc listening', { addr: tcpAddr, services: tcpServices });
  let control: grpc.Server | undefined;
  if (opts.controlSocket) {
    removeStaleSocket(opts.controlSocket);
    control = createServer();
    const ctlServices = addAll(control, opts.services, ['control', 'health']);
    try {
      await bindServer(control, `unix:${opts.controlSocket}`);
    } catch (err) {
      tcp.forceShutdown();
      throw err;
    }
    log.info('control socket listening', { path: opts.controlSocket, services: ctlServices });
  }
  return { tcp, control, tcpAddr };
}

/** A socket left behind by a killed process would make bind fail with EADDRINUSE. */
function removeStaleSocket(path: string): void {
  try {
    if (statSync(path).isSocket()) rmSync(path, { force: true });
  } catch {
    // absent
  }
}

/** Graceful shutdown with a deadline, then forced. */
export async function stopServer(server: grpc.Server | undefined, graceMs = 2_000): Promise<void> {
  if (!server) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
