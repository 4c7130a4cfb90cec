// How services, tasks and nodes are shown in tables.
import {
  nodeAvailabilityToJSON, NodeRole, nodeStateToJSON, PublishMode, Service, Task, TaskState, taskStateToJSON, type Node,
  portProtocolToJSON, raftMemberStatusToJSON,
} from '@shoal/api';
import { ago, shortId } from '../output/table.js';

export function modeName(s: Service): string {
  switch (s.spec?.mode?.$case) {
    case 'global':
      return 'global';
    case 'replicatedJob':
      return 'replicated job';
    case 'globalJob':
      return 'global job';
    default:
      return 'replicated';
  }
}

export function replicasColumn(s: Service, tasks: readonly Task[]): string {
  const mine = tasks.filter((t) => t.serviceId === s.id);
  const running = mine.filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length;
  const mode = s.spec?.mode;
  if (mode?.$case === 'replicated') return `${running}/${mode.replicated.replicas}`;
  if (mode?.$case === 'replicatedJob') {
    const done = mine.filter((t) => t.status?.state === TaskState.COMPLETE).length;
    return `${running}/${mode.replicatedJob.maxConcurrent || mode.replicatedJob.totalCompletions} (${done}/${mode.replicatedJob.totalCompletions} completed)`;
  }
  const desired = mine.filter((t) => t.desiredState === TaskState.RUNNING || t.desiredState === TaskState.COMPLETE).length;
  return `${running}/${desired}`;
}

export function portsColumn(s: Service): string {
  const ports = s.endpoint?.ports?.length ? s.endpoint.ports : (s.spec?.endpoint?.ports ?? []);
  return ports
    .map((p) => `${p.publishMode === PublishMode.HOST ? 'host:' : '*:'}${p.publishedPort || '?'}->${p.targetPort}/${portProtocolToJSON(p.protocol).toLowerCase()}`)
    .join(', ');
}

export const SERVICE_HEADERS = ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'];
export function serviceRow(s: Service, tasks: readonly Task[]): string[] {
  return [shortId(s.id), s.spec?.annotations?.name ?? '', modeName(s), replicasColumn(s, tasks), s.spec?.task?.container?.image ?? '', portsColumn(s)];
}

const stateText = (st: TaskState | undefined): string => taskStateToJSON(st ?? TaskState.NEW).toLowerCase();

export const TASK_HEADERS = ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'];
export function taskRow(t: Task, serviceName: string, nodes: Map<string, string>, now = Date.now()): string[] {
  const name = `${serviceName}.${t.slot || (t.nodeId ? shortId(t.nodeId) : '')}`;
  const current = `${capital(stateText(t.status?.state))} ${ago(t.status?.timestamp, now)}`.trim();
  return [
    shortId(t.id), name, t.spec?.container?.image ?? '', t.nodeId ? (nodes.get(t.nodeId) ?? shortId(t.nodeId)) : '',
    capital(stateText(t.desiredState)), current, t.status?.err ? JSON.stringify(t.status.err) : '',
  ];
}

const capital = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

export const NODE_HEADERS = ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION'];
export function nodeRow(n: Node): string[] {
  let mgr = '';
  if (n.managerStatus && n.role === NodeRole.MANAGER) {
    mgr = n.managerStatus.leader ? 'Leader' : capital(raftMemberStatusToJSON(n.managerStatus.reachability).toLowerCase().replace('reachability_', ''));
  }
  return [
    shortId(n.id), n.description?.hostname ?? '', capital(nodeStateToJSON(n.status?.state ?? 0).replace(/^NODE_/, '').toLowerCase()),
    capital(nodeAvailabilityToJSON(n.spec?.availability ?? 0).toLowerCase()), mgr, n.description?.engineVersion ?? '',
  ];
}
