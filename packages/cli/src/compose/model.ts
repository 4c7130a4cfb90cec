// The validated, typed Compose project: what validate.ts produces and convert/ consumes.
import type { Pos } from './errors.js';

export interface At {
  pos: Pos;
  path: string;
}

export interface PortModel extends At {
  target: number;
  published: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  mode: 'ingress' | 'host';
}

export interface MountModel extends At {
  type: 'bind' | 'volume' | 'tmpfs';
  /** bind: absolute host path; volume: top-level volume key (or undefined for anonymous) */
  source?: string;
  target: string;
  readOnly: boolean;
  propagation?: string;
  nocopy?: boolean;
  tmpfsSize?: number;
  tmpfsMode?: number;
}

export interface FileRefModel extends At {
  source: string;
  target?: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

export interface HealthModel {
  test?: string[];
  disable: boolean;
  intervalMs?: number;
  timeoutMs?: number;
  startPeriodMs?: number;
  retries?: number;
}

export interface UpdateModel {
  parallelism?: number;
  delayMs?: number;
  failureAction?: 'pause' | 'continue' | 'rollback';
  monitorMs?: number;
  maxFailureRatio?: number;
  order?: 'start-first' | 'stop-first';
  canary?: { enabled: boolean; autoPromoteAfterMs?: number };
}

export interface ResourcesModel {
  nanoCpus?: number;
  memoryBytes?: number;
  pids?: number;
}

export interface DeployModel {
  mode: 'replicated' | 'global' | 'replicated-job' | 'global-job';
  replicas?: number;
  labels: Record<string, string>;
  update?: UpdateModel;
  rollback?: UpdateModel;
  limits?: ResourcesModel;
  reservations?: ResourcesModel;
  restart?: { condition?: 'none' | 'on-failure' | 'any'; delayMs?: number; maxAttempts?: number; windowMs?: number };
  constraints: string[];
  preferences: string[];
  maxReplicasPerNode?: number;
  endpointMode?: 'vip' | 'dnsrr';
}

export interface ServiceNetworkModel extends At {
  name: string;
  aliases: string[];
  addresses: string[];
}

export type DependsCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface ServiceModel extends At {
  name: string;
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment: Array<[string, string | null]>;
  envFiles: Array<At & { file: string }>;
  labels: Record<string, string>;
  hostname?: string;
  user?: string;
  workingDir?: string;
  stopSignal?: string;
  stopGracePeriodMs?: number;
  readOnly?: boolean;
  init?: boolean;
  sysctls: Record<string, string>;
  capAdd: string[];
  capDrop: string[];
  ulimits: Array<{ name: string; soft: number; hard: number }>;
  tty?: boolean;
  stdinOpen?: boolean;
  /** "IP HOSTNAME" */
  extraHosts: string[];
  dns: string[];
  dnsSearch: string[];
  healthcheck?: HealthModel;
  logging?: { driver?: string; options: Record<string, string> };
  ports: PortModel[];
  /** undefined when the service lists no networks (it then joins <stack>_default) */
  networks?: ServiceNetworkModel[];
  mounts: MountModel[];
  secrets: FileRefModel[];
  configs: FileRefModel[];
  deploy: DeployModel;
  /** conditionAt: where `condition:` was written (absent for the short syntax) */
  dependsOn: Array<At & { name: string; condition: DependsCondition; conditionAt?: At }>;
  /** keys present that stack deploy ignores */
  unsupported: string[];
  deprecated: string[];
}

export interface NetworkModel extends At {
  key: string;
  /** explicit name (name: or external name); else <stack>_<key> */
  name?: string;
  external: boolean;
  driver?: string;
  driverOpts: Record<string, string>;
  ipam?: { driver?: string; configs: Array<{ subnet?: string; ipRange?: string; gateway?: string }> };
  attachable: boolean;
  internal: boolean;
  ipv6: boolean;
  labels: Record<string, string>;
}

export interface VolumeModel extends At {
  key: string;
  name?: string;
  external: boolean;
  driver?: string;
  driverOpts: Record<string, string>;
  labels: Record<string, string>;
}

export interface FileObjModel extends At {
  key: string;
  name?: string;
  external: boolean;
  /** absolute path of the file holding the data */
  file?: string;
  labels: Record<string, string>;
  driver?: string;
  driverOpts: Record<string, string>;
}

export interface ProjectModel {
  version?: string;
  /** directory relative paths are resolved against (that of the first file) */
  workingDir: string;
  services: ServiceModel[];
  networks: Map<string, NetworkModel>;
  volumes: Map<string, VolumeModel>;
  secrets: Map<string, FileObjModel>;
  configs: Map<string, FileObjModel>;
}
