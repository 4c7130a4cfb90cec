// The agent's local task db on `level`: node identity, manager list, and per task the last
// assignment, the last status and the runtime's container handle. An agent restart reads it back
// so that it neither loses nor restarts running containers.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { NodeRole, Task, TaskStatus } from '@shoal/api';
import type { ContainerHandle } from '@shoal/runtime';

export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  /** PEM, when the CA issued one. */
  certificate?: string;
  caCert?: string;
}

export interface TaskRecord {
  task: Task;
  status: TaskStatus;
  handle?: ContainerHandle | undefined;
}

interface StoredTask {
  task: unknown;
  status: unknown;
  handle?: ContainerHandle;
}

const TASK_PREFIX = 'task/';

export class TaskDb {
  private readonly db: Level<string, unknown>;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Level<string, unknown>(join(dataDir, 'agent-db'), { valueEncoding: 'json' });
  }

  async open(): Promise<void> {
    await this.db.open();
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async getIdentity(): Promise<NodeIdentity | undefined> {
    return (await this.db.get('identity')) as NodeIdentity | undefined;
  }

  async putIdentity(id: NodeIdentity): Promise<void> {
    await this.db.put('identity', id);
  }

  async getManagers(): Promise<string[] | undefined> {
    return (await this.db.get('managers')) as string[] | undefined;
  }

  async putManagers(addrs: string[]): Promise<void> {
    await this.db.put('managers', addrs);
  }

  async putTask(rec: TaskRecord): Promise<void> {
    const v: StoredTask = { task: Task.toJSON(rec.task), status: TaskStatus.toJSON(rec.status) };
    if (rec.handle) v.handle = rec.handle;
    await this.db.put(TASK_PREFIX + rec.task.id, v);
  }

  async deleteTask(taskId: string): Promise<void> {
    await this.db.del(TASK_PREFIX + taskId);
  }

  async getTask(taskId: string): Promise<TaskRecord | undefined> {
    const v = (await this.db.get(TASK_PREFIX + taskId)) as StoredTask | undefined;
    return v ? decode(v) : undefined;
  }

  async listTasks(): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    for await (const [, v] of this.db.iterator({ gte: TASK_PREFIX, lt: TASK_PREFIX + '\xff' })) out.push(decode(v as StoredTask));
    return out;
  }
}

function decode(v: StoredTask): TaskRecord {
  return { task: Task.fromJSON(v.task), status: TaskStatus.fromJSON(v.status), handle: v.handle };
}
