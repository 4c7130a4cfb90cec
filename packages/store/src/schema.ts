// What the store holds: one table per object kind, its wire codec and its secondary indexes.
// Adding a kind (e.g. volumes) is one entry in SCHEMAS plus a line in StoreObjects.
import { Cluster, Config, Network, Node, Secret, Service, Task } from '@shoal/api';
import type { Meta } from '@shoal/api';

/** The object type of each kind. */
export interface StoreObjects {
  cluster: Cluster;
  node: Node;
  service: Service;
  task: Task;
  network: Network;
  secret: Secret;
  config: Config;
}

export type Kind = keyof StoreObjects;
export type StoreObject = StoreObjects[Kind];

/** Table accessor names on views and transactions (`view.tasks`, `tx.services`, …). */
export const TABLE_NAMES = {
  cluster: 'clusters',
  node: 'nodes',
  service: 'services',
  task: 'tasks',
  network: 'networks',
  secret: 'secrets',
  config: 'configs',
} as const satisfies Record<Kind, string>;
export type TableName = (typeof TABLE_NAMES)[Kind];

/** Any stored object: an id and a meta. */
export interface Stored {
  id: string;
  meta?: Meta | undefined;
}

export interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/**
 * A secondary index. `key` returns the index key of an object, or undefined to leave it out.
 * Entries are stored as `key + SEP + id`, so a key lookup is a prefix scan of `key + SEP` and a
 * compound key (`serviceId SEP slot`) can also be scanned by its first part.
 */
export interface IndexDef<T> {
  readonly name: string;
  readonly unique: boolean;
  key(obj: T): string | undefined;
}

export interface TableSchema<K extends Kind = Kind> {
  readonly kind: K;
  readonly table: TableName;
  /** Stable one-byte code used in entries and snapshots. Never reuse a code. */
  readonly code: number;
  readonly codec: Codec<StoreObjects[K]>;
  readonly indexes: readonly IndexDef<StoreObjects[K]>[];
}

/** Separator between the parts of an index entry; ids and names never contain it. */
export const SEP = '\u0000';

/** Order-preserving text form of a small integer (enums, slots). */
export function numKey(n: number): string {
  if (n < 0) return '!' + String(-n).padStart(16, '0');
  return String(n).padStart(16, '0');
}

/** Names are matched case-insensitively, as in Docker Swarm. */
export function nameKey(name: string | undefined): string | undefined {
  return name ? name.toLowerCase() : undefined;
}

function named<T>(unique: boolean, name: (o: T) => string | undefined): IndexDef<T> {
  return { name: 'name', unique, key: (o) => nameKey(name(o)) };
}

const schemas = [
  {
    kind: 'cluster',
    table: 'clusters',
    code: 1,
    codec: Cluster,
    indexes: [named<Cluster>(true, (o) => o.spec?.annotations?.name)],
  } satisfies TableSchema<'cluster'>,
  {
    kind: 'node',
    table: 'nodes',
    code: 2,
    codec: Node,
    indexes: [
      named<Node>(false, (o) => o.spec?.annotations?.name || o.description?.hostname),
      { name: 'role', unique: false, key: (o: Node) => numKey(o.role) },
      { name: 'availability', unique: false, key: (o: Node) => numKey(o.spec?.availability ?? 0) },
    ],
  } satisfies TableSchema<'node'>,
  {
    kind: 'service',
    table: 'services',
    code: 3,
    codec: Service,
    indexes: [named<Service>(true, (o) => o.spec?.annotations?.name)],
  } satisfies TableSchema<'service'>,
  {
    kind: 'task',
    table: 'tasks',
    code: 4,
    codec: Task,
    indexes: [
      named<Task>(false, (o) => o.annotations?.name),
      // compound (service id, slot): also serves "tasks of a service" as a prefix scan
      { name: 'serviceSlot', unique: false, key: (o: Task) => (o.serviceId ? o.serviceId + SEP + numKey(o.slot) : undefined) },
      { name: 'node', unique: false, key: (o: Task) => o.nodeId || undefined },
      { name: 'desiredState', unique: false, key: (o: Task) => numKey(o.desiredState) },
    ],
  } satisfies TableSchema<'task'>,
  {
    kind: 'network',
    table: 'networks',
    code: 5,
    codec: Network,
    indexes: [named<Network>(true, (o) => o.spec?.annotations?.name)],
  } satisfies TableSchema<'network'>,
  {
    kind: 'secret',
    table: 'secrets',
    code: 6,
    codec: Secret,
    indexes: [named<Secret>(true, (o) => o.spec?.annotations?.name)],
  } satisfies TableSchema<'secret'>,
  {
    kind: 'config',
    table: 'configs',
    code: 7,
    codec: Config,
    indexes: [named<Config>(true, (o) => o.spec?.annotations?.name)],
  } satisfies TableSchema<'config'>,
] as const;

/** Schemas in code order (the order of tables in snapshots). */
export const SCHEMAS: readonly TableSchema[] = schemas as unknown as readonly TableSchema[];
export const KINDS: readonly Kind[] = SCHEMAS.map((s) => s.kind);

const byKind = new Map<Kind, TableSchema>(SCHEMAS.map((s) => [s.kind, s]));
const byCode = new Map<number, TableSchema>(SCHEMAS.map((s) => [s.code, s]));

export function schemaOf<K extends Kind>(kind: K): TableSchema<K> {
  const s = byKind.get(kind);
  if (!s) throw new Error(`unknown kind ${kind}`);
  return s as unknown as TableSchema<K>;
}

export function schemaByCode(code: number): TableSchema | undefined {
  return byCode.get(code);
}

/** Position of a kind in SCHEMAS (used for per-kind arrays). */
export const KIND_POS: Readonly<Record<Kind, number>> = Object.fromEntries(KINDS.map((k, i) => [k, i])) as Record<Kind, number>;

export function indexPos(schema: TableSchema, name: string): number {
  const i = schema.indexes.findIndex((d) => d.name === name);
  if (i < 0) throw new Error(`${schema.kind} has no index ${name}`);
  return i;
}
