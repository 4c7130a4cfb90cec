import { Task, TaskState } from '@shoal/api';

/** A full Task (all defaults filled by fromJSON) for service `svc` with image busybox. */
export function makeTask(id: string, extra: Record<string, unknown> = {}, container: Record<string, unknown> = {}): Task {
  return Task.fromJSON({
    id,
    serviceId: 'svc1',
    slot: 1,
    nodeId: 'node-1',
    serviceAnnotations: { name: 'web' },
    desiredState: TaskState.RUNNING,
    status: { state: TaskState.ASSIGNED, message: 'assigned' },
    spec: { container: { image: 'busybox:1', ...container } },
    ...extra,
  });
}
