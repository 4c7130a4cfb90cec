// shoal node ls / inspect / update / promote / demote / rm / ps
import { ListFilters, Node, NodeAvailability, NodeRole, NodeSpec, ListTasksRequest, ListNodesRequest } from '@shoal/api';
import { Command, Option } from 'commander';
import { usageError } from '../errors.js';
import { printList } from '../output/table.js';
import { collect, control, json, listFilters, parseFilters } from './common.js';
import { findNode } from './lookup.js';
import { printTasks } from './service.js';
import { NODE_HEADERS, nodeRow } from './views.js';

async function updateNode(cmd: Command, ref: string, change: (spec: NodeSpec) => void): Promise<void> {
  const c = control(cmd);
  const n = await findNode(c, ref);
  const spec = NodeSpec.fromJSON(NodeSpec.toJSON(n.spec ?? NodeSpec.fromJSON({})));
  spec.annotations ??= { name: '', labels: {} };
  change(spec);
  await c.call('updateNode', { nodeId: n.id, nodeVersion: n.meta?.version ?? 0, spec });
  process.stdout.write(`${n.description?.hostname || n.id}\n`);
}

export function registerNode(program: Command): void {
  const node = program.command('node').description('Manage swarm nodes');

  node.command('ls').alias('list').description('List nodes')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'only print ids')
    .option('-f, --filter <key=value>', 'filter: id, name, label, role, availability', collect)
    .action(async (opts: { format?: string; quiet?: boolean; filter?: string[] }, cmd: Command) => {
      const f = parseFilters(opts.filter, ['id', 'name', 'label', 'role', 'availability']);
      const req = ListNodesRequest.fromJSON({});
      req.filters = listFilters(new Map([...f].filter(([k]) => k !== 'name')));
      req.roles = (f.get('role') ?? []).map((r) => (r === 'manager' ? NodeRole.MANAGER : r === 'worker' ? NodeRole.WORKER : badValue('role', r)));
      req.availabilities = (f.get('availability') ?? []).map(availability);
      const names = f.get('name');
      const nodes = (await control(cmd).call('listNodes', req)).nodes
        .filter((n) => !names || names.some((x) => (n.description?.hostname ?? '').startsWith(x)))
        .sort((a, b) => (a.description?.hostname ?? '').localeCompare(b.description?.hostname ?? ''));
      printList(nodes, opts, { headers: NODE_HEADERS, row: nodeRow, id: (n) => n.id, json: (n) => Node.toJSON(n) });
    });

  node.command('inspect').description('Show nodes in detail (JSON)').argument('<node...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const nodes = await Promise.all(refs.map((r) => findNode(control(cmd), r)));
      json(nodes.map((n) => Node.toJSON(n)));
    });

  node.command('update').description("Change a node's availability, role or labels").argument('<node>')
    .option('--availability <a>', 'active, pause or drain')
    .option('--role <role>', 'worker or manager')
    .option('--label-add <key=value>', 'add or change a node label (repeatable)', collect)
    .option('--label-rm <key>', 'remove a node label (repeatable)', collect)
    .action(async (ref: string, o: { availability?: string; role?: string; labelAdd?: string[]; labelRm?: string[] }, cmd: Command) => {
      const av = o.availability === undefined ? undefined : availability(o.availability);
      const role = o.role === undefined ? undefined : o.role === 'manager' ? NodeRole.MANAGER : o.role === 'worker' ? NodeRole.WORKER : badValue('--role', o.role);
      await updateNode(cmd, ref, (spec) => {
        if (av !== undefined) spec.availability = av;
        if (role !== undefined) spec.desiredRole = role;
        for (const k of o.labelRm ?? []) delete spec.annotations!.labels[k];
        for (const l of o.labelAdd ?? []) {
          const at = l.indexOf('=');
          spec.annotations!.labels[at < 0 ? l : l.slice(0, at)] = at < 0 ? '' : l.slice(at + 1);
        }
      });
    });

  node.command('promote').description('Make nodes managers').argument('<node...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      for (const r of refs) await updateNode(cmd, r, (s) => void (s.desiredRole = NodeRole.MANAGER));
    });
  node.command('demote').description('Make managers workers').argument('<node...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      for (const r of refs) await updateNode(cmd, r, (s) => void (s.desiredRole = NodeRole.WORKER));
    });

  node.command('rm').alias('remove').description('Remove nodes from the swarm').argument('<node...>')
    .option('--force', 'remove a node that is not down')
    .action(async (refs: string[], o: { force?: boolean }, cmd: Command) => {
      for (const r of refs) {
        const n = await findNode(control(cmd), r);
        await control(cmd).call('removeNode', { nodeId: n.id, force: !!o.force });
        process.stdout.write(`${n.description?.hostname || n.id}\n`);
      }
    });

  node.command('ps').description('List tasks running on nodes').argument('<node...>')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'only print ids')
    .option('-a, --all', 'show old tasks too')
    .action(async (refs: string[], o: { format?: string; quiet?: boolean; all?: boolean }, cmd: Command) => {
      const c = control(cmd);
      const nodes = await Promise.all(refs.map((r) => findNode(c, r)));
      const req = ListTasksRequest.fromJSON({});
      req.nodeIds = nodes.map((n) => n.id);
      const { tasks } = await c.call('listTasks', req);
      const { services } = await c.call('listServices', { filters: ListFilters.fromJSON({}), read: undefined });
      await printTasks(cmd, tasks, new Map(services.map((s) => [s.id, s.spec?.annotations?.name ?? s.id])), o);
    });
}

function availability(a: string): NodeAvailability {
  const v = { active: NodeAvailability.ACTIVE, pause: NodeAvailability.PAUSE, drain: NodeAvailability.DRAIN }[a];
  return v ?? badValue('availability', a);
}

function badValue(what: string, v: string): never {
  throw usageError(`invalid ${what} "${v}"`);
}
