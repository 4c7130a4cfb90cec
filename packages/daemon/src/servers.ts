// The node's gRPC servers, built only through @shoal/api's createServer/bindServer: the TCP
// listen address (Control, Dispatcher, Raft, NodeCA, CA, Logs, LogBroker, Health) and, on
// managers, the local control socket for the CLI (Control, Logs and Health).
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
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

export type ServiceName = keyof ManagerServices;
export type ServiceSource = () => ManagerServices | undefined;

const DEFS = {
  control: ControlService,
  dispatcher: DispatcherService,
  raft: RaftService,
  nodeCA: NodeCAService,
  ca: CAService,
  logs: LogsService,
  logBroker: LogBrokerService,
  health: HealthService,
} as const;

type Handler = (call: { emit(ev: 'error', e: unknown): unknown } & object, cb?: (err: unknown) => void) => void;

/**
 * An implementation of `name` that looks the real one up at call time, so the servers can be
 * bound before the manager has started (raft must hear from the leader while it catches up);
 * until then callers get UNAVAILABLE (retryable).
 */
export function lazyService(name: ServiceName, source: ServiceSource): Impl {
  const out: Record<string, Handler> = {};
  for (const method of Object.keys(DEFS[name])) {
    out[method] = (call, cb) => {
      const impl = source()?.[name] as Record<string, Handler> | undefined;
      const fn = impl?.[method];
      if (typeof fn === 'function') return fn.call(impl, call, cb);
      const err = { code: grpc.status.UNAVAILABLE, details: `${name} is not serving yet on this node` };
      if (cb) cb(err);
      else call.emit('error', err);
    };
  }
  return out as unknown as Impl;
}

function addAll(server: grpc.Server, svc: ManagerServices, which: ServiceName[]): string[] {
  const added: string[] = [];
  for (const k of which) {
    const impl = svc[k];
    if (!impl) continue;
    server.addService(DEFS[k], impl);
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
  services: ManagerServices;
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
    try {
      control = await startControlSocket(opts.controlSocket, opts.services, log);
    } catch (err) {
      tcp.forceShutdown();
      throw err;
    }
  }
  return { tcp, control, tcpAddr };
}

/** The local control socket for the CLI: Control, Logs (`shoal service logs`) and Health. */
export async function startControlSocket(path: string, services: ManagerServices, log: Logger): Promise<grpc.Server> {
  removeStaleSocket(path);
  mkdirSync(dirname(path), { recursive: true });
  const control = createServer();
  const added = addAll(control, services, ['control', 'logs', 'health']);
  await bindServer(control, `unix:${path}`);
  log.info('control socket listening', { path, services: added });
  return control;
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
