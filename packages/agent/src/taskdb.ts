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

/** The few operations TaskDb needs from its key-value store. */
interface KvBackend {
  open(): Promise<void>;
  close(): Promise<void>;
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  iterator(range: { gte: string; lt: string }): AsyncIterable<[string, unknown]>;
}

/**
 * A Map standing in for level, for agents that need no persistence (a hollow node farm hosting
 * a thousand simulated nodes in one process). Values are kept as they were put (the caller
 * stores fresh objects), and reads return them as a level json db would return a copy.
 */
class MemoryBackend implements KvBackend {
  private readonly map = new Map<string, unknown>();
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async get(key: string): Promise<unknown> {
    return this.map.get(key);
  }
  async put(key: string, value: unknown): Promise<void> {
    this.map.set(key, value);
  }
  async del(key: string): Promise<void> {
    this.map.delete(key);
  }
  set(key: string, value: unknown): void {
    this.map.set(key, value);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  async *iterator(range: { gte: string; lt: string }): AsyncIterable<[string, unknown]> {
    const keys = [...this.map.keys()].filter((k) => k >= range.gte && k < range.lt).sort();
    for (const k of keys) if (this.map.has(k)) yield [k, this.map.get(k)];
  }
}

export class TaskDb {
  private readonly db: KvBackend;
  private readonly memory: boolean;
  /** set when the db is in memory: its task writes can be applied at once (putTaskNow) */
  private readonly mem: MemoryBackend | undefined;

  /** `dataDir` holds the level db; `undefined` keeps everything in memory (lost on restart). */
  constructor(dataDir: string | undefined) {
    this.memory = dataDir === undefined;
    if (dataDir === undefined) {
      this.db = this.mem = new MemoryBackend();
    } else {
      mkdirSync(dataDir, { recursive: true });
      this.db = new Level<string, unknown>(join(dataDir, 'agent-db'), { valueEncoding: 'json' });
    }
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
    if (this.memory) {
      // no serialisation: the record's objects are not mutated after they are put
      await this.db.put(TASK_PREFIX + rec.task.id, { ...rec, status: { ...rec.status } });
      return;
    }
    const v: StoredTask = { task: Task.toJSON(rec.task), status: TaskStatus.toJSON(rec.status) };
    if (rec.handle) v.handle = rec.handle;
    await this.db.put(TASK_PREFIX + rec.task.id, v);
  }

  /** Whether task writes can be applied synchronously (putTaskNow, deleteTaskNow). */
  get inMemory(): boolean {
    return this.mem !== undefined;
  }

  /**
   * putTask, applied before it returns, for an in-memory db: a hollow farm's agents write every
   * transition of every task, and a promise chain per write was a visible share of their CPU.
   * `rec` and its status must be fresh objects that the caller does not mutate afterwards.
   */
  putTaskNow(rec: TaskRecord): void {
    if (!this.mem) throw new Error('TaskDb.putTaskNow: the db is not in memory');
    this.mem.set(TASK_PREFIX + rec.task.id, rec);
  }

  deleteTaskNow(taskId: string): void {
    if (!this.mem) throw new Error('TaskDb.deleteTaskNow: the db is not in memory');
    this.mem.delete(TASK_PREFIX + taskId);
  }

  async deleteTask(taskId: string): Promise<void> {
    await this.db.del(TASK_PREFIX + taskId);
  }

  async getTask(taskId: string): Promise<TaskRecord | undefined> {
    const v = await this.db.get(TASK_PREFIX + taskId);
    if (this.memory) return v as TaskRecord | undefined;
    return v ? decode(v as StoredTask) : undefined;
  }

  async listTasks(): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    for await (const [, v] of this.db.iterator({ gte: TASK_PREFIX, lt: TASK_PREFIX + '\xff' })) {
      out.push(this.memory ? (v as TaskRecord) : decode(v as StoredTask));
    }
    return out;
  }
}

function decode(v: StoredTask): TaskRecord {
  return { task: Task.fromJSON(v.task), status: TaskStatus.fromJSON(v.status), handle: v.handle };
}
