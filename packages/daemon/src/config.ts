// Daemon configuration: what the flags of `shoald init|join|run` produce, validated, with the
// defaults applied. The settings a node was created with are saved in <data-dir>/config.json so
// that `shoald run --data-dir DIR` restarts it the same way (flags given to `run` override them).
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDurationMs } from '@shoal/api';
import { writeFileAtomic } from './identity.js';
import { isLogLevel, type LogFormat, type LogLevel } from './log.js';

export type RuntimeKind = 'cri' | 'hollow';

export interface DaemonConfig {
  dataDir: string;
  listenAddr: string;
  advertiseAddr: string;
  controlSocket: string;
  /** "" disables the metrics endpoint */
  metricsAddr: string;
  runtime: RuntimeKind;
  containerdSocket: string;
  /** cgroup parent of the task pods for --runtime cri ("" = /shoal/<node id>) */
  cgroupParent: string;
  heartbeatPeriodMs: number;
  hostname: string;
  labels: Record<string, string>;
  logLevel: LogLevel;
  logFormat: LogFormat | undefined;
}

export const DEFAULTS = {
  dataDir: '/var/lib/shoal',
  listenAddr: '127.0.0.1:4242',
  metricsAddr: '127.0.0.1:9323',
  runtime: 'cri' as RuntimeKind,
  containerdSocket: '/run/containerd/containerd.sock',
  heartbeatPeriod: '5s',
  /** the control socket of a node with the default data dir (where the CLI looks by default, like /var/run/docker.sock) */
  controlSocket: '/var/run/shoal/control.sock',
};

export const CONFIG_FILE = 'config.json';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** "host:port" with a numeric port (IPv6 hosts in brackets); returns it normalised. */
export function parseAddr(flag: string, v: string, allowPortZero = false): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535 || (port === 0 && !allowPortZero)) throw new ConfigError(`${flag}: "${v}" is not host:port`);
  return `${m[1]}:${port}`;
}

export function parseLabels(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    for (const kv of item.split(',')) {
      if (!kv) continue;
      const i = kv.indexOf('=');
      const k = (i < 0 ? kv : kv.slice(0, i)).trim();
      if (!k) throw new ConfigError(`--labels: "${kv}" has no key (expected k=v)`);
      out[k] = i < 0 ? '' : kv.slice(i + 1);
    }
  }
  return out;
}

export function parseHeartbeat(v: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(v);
  } catch (err) {
    throw new ConfigError(`--heartbeat-period: ${(err as Error).message}`);
  }
  if (!(ms >= 50)) throw new ConfigError(`--heartbeat-period: ${v} is too short (at least 50ms)`);
  return ms;
}

/** Raw flag values as commander hands them over (all optional). */
export interface RawFlags {
  dataDir?: string;
  listenAddr?: string;
  advertiseAddr?: string;
  controlSocket?: string;
  metricsAddr?: string;
  runtime?: string;
  containerdSocket?: string;
  cgroupParent?: string;
  heartbeatPeriod?: string;
  hostname?: string;
  labels?: string[];
  logLevel?: string;
  logFormat?: string;
}

/** Build the config from flags over saved settings over defaults. */
export function resolveConfig(flags: RawFlags, saved: Partial<RawFlags> = {}): DaemonConfig {
  const pick = <K extends keyof RawFlags>(k: K): RawFlags[K] => (flags[k] !== undefined ? flags[k] : saved[k]);
  const dataDir = resolve(pick('dataDir') ?? DEFAULTS.dataDir);
  const listenAddr = parseAddr('--listen-addr', pick('listenAddr') ?? DEFAULTS.listenAddr);
  const advertiseAddr = parseAddr('--advertise-addr', pick('advertiseAddr') ?? listenAddr);
  const runtime = pick('runtime') ?? DEFAULTS.runtime;
  if (runtime !== 'cri' && runtime !== 'hollow') throw new ConfigError(`--runtime: "${runtime}" (expected cri or hollow)`);
  const metrics = pick('metricsAddr') ?? DEFAULTS.metricsAddr;
  const logLevel = pick('logLevel') ?? (process.env['SHOAL_LOG_LEVEL'] || 'info');
  if (!isLogLevel(logLevel)) throw new ConfigError(`--log-level: "${logLevel}" (expected debug, info, warn or error)`);
  const logFormat = pick('logFormat');
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'human') throw new ConfigError(`--log-format: "${logFormat}" (expected json or human)`);
  // the default node answers where the CLI looks by default; any other data dir keeps its socket
  // inside it, so that several nodes on one host do not collide
  const defaultSocket = dataDir === resolve(DEFAULTS.dataDir) ? DEFAULTS.controlSocket : join(dataDir, 'control.sock');
  const controlSocket = resolve(pick('controlSocket') ?? defaultSocket);
  if (Buffer.byteLength(controlSocket) > 100) throw new ConfigError(`--control-socket: ${controlSocket} is too long for a unix socket path`);
  return {
    dataDir,
    listenAddr,
    advertiseAddr,
    controlSocket,
    metricsAddr: metrics === '' || metrics === 'off' ? '' : parseAddr('--metrics-addr', metrics, true),
    runtime,
    containerdSocket: pick('containerdSocket') ?? DEFAULTS.containerdSocket,
    cgroupParent: pick('cgroupParent') ?? '',
    heartbeatPeriodMs: parseHeartbeat(pick('heartbeatPeriod') ?? DEFAULTS.heartbeatPeriod),
    hostname: pick('hostname') ?? osHostname(),
    labels: parseLabels(pick('labels') ?? []),
    logLevel,
    logFormat: logFormat as LogFormat | undefined,
  };
}

/** The flags worth remembering for `shoald run` (everything but the data dir itself). */
export function savedFlagsOf(c: DaemonConfig): RawFlags {
  return {
    listenAddr: c.listenAddr,
    advertiseAddr: c.advertiseAddr,
    controlSocket: c.controlSocket,
    metricsAddr: c.metricsAddr || 'off',
    runtime: c.runtime,
    containerdSocket: c.containerdSocket,
    ...(c.cgroupParent ? { cgroupParent: c.cgroupParent } : {}),
    heartbeatPeriod: `${c.heartbeatPeriodMs}ms`,
    hostname: c.hostname,
    labels: Object.entries(c.labels).map(([k, v]) => `${k}=${v}`),
    logLevel: c.logLevel,
  };
}

export function readSavedFlags(dataDir: string): RawFlags | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, CONFIG_FILE), 'utf8')) as RawFlags;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${join(dataDir, CONFIG_FILE)}: ${(err as Error).message}`);
  }
}

export function writeSavedFlags(c: DaemonConfig): void {
  writeFileAtomic(join(c.dataDir, CONFIG_FILE), JSON.stringify(savedFlagsOf(c), null, 2) + '\n');
}
