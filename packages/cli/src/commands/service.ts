// shoal service create / ls / ps / inspect / scale / update / rollback / rm / logs (service-logs.ts)
import {
  ListTasksRequest, Service, ServiceSpec, Task, TaskState,
  type ContainerSpec,
} from '@shoal/api';
import { Command, Option } from 'commander';
import { usageError } from '../errors.js';
import { printList, shortId } from '../output/table.js';
import { collect, control, json, listFilters, parseFilters } from './common.js';
import { findService, nodeNames } from './lookup.js';
import { applyCommonFlags, int, parsePublish, specFromFlags, type SpecFlags } from './service-flags.js';
import { SERVICE_HEADERS, serviceRow, TASK_HEADERS, taskRow } from './views.js';
import { waitForServices } from './progress.js';
import { addLogsCommand } from './service-logs.js';

const outputOptions = (c: Command): Command =>
  c.addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'only print ids')
    .option('-f, --filter <key=value>', 'filter output (repeatable)', collect);

function specOptions(c: Command): Command {
  return c
    .option('--replicas <n>', 'number of tasks')
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('-p, --publish <port>', 'publish a port: 8080:80, 53:53/udp or published=8080,target=80,mode=host (repeatable)', collect)
    .option('--constraint <expr>', 'placement constraint, e.g. node.role==worker (repeatable)', collect)
    .option('--mount <spec>', 'type=bind|volume|tmpfs,source=…,target=…[,readonly] (repeatable)', collect)
    .option('--limit-cpu <cpus>', 'CPU limit, e.g. 0.5')
    .option('--limit-memory <size>', 'memory limit, e.g. 512M')
    .option('--reserve-cpu <cpus>', 'CPU reservation')
    .option('--reserve-memory <size>', 'memory reservation')
    .option('--restart-condition <cond>', 'none, on-failure or any')
    .option('--restart-delay <duration>', 'delay between restarts')
    .option('--restart-max-attempts <n>', 'maximum restarts (0 = unlimited)')
    .option('--update-parallelism <n>', 'tasks updated at once (0 = all)')
    .option('--update-delay <duration>', 'delay between update batches')
    .option('--update-monitor <duration>', 'how long to watch each updated task')
    .option('--update-failure-action <action>', 'pause, continue or rollback')
    .option('--update-order <order>', 'start-first or stop-first')
    .option('--update-canary', 'stop after the first batch until promoted')
    .option('--update-canary-auto-promote <duration>', 'canary, promoted automatically after this healthy period')
    .option('--update-max-failure-ratio <ratio>', 'failures tolerated during an update (0-1)')
    .option('--health-cmd <cmd>', 'health check command (run with sh -c)')
    .option('--health-interval <duration>', 'time between health checks')
    .option('--entrypoint <cmd>', 'override the image entrypoint')
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user>', 'user[:group]')
    .option('--hostname <name>', 'container hostname')
    .option('-d, --detach', 'return at once instead of waiting for the service to converge');
}

async function listTasks(cmd: Command, serviceIds: string[], nodeIds: string[] = []): Promise<Task[]> {
  const req = ListTasksRequest.fromJSON({});
  req.serviceIds = serviceIds;
  req.nodeIds = nodeIds;
  return (await control(cmd).call('listTasks', req)).tasks;
}

export async function printTasks(cmd: Command, tasks: Task[], services: Map<string, string>, opts: { format?: string; quiet?: boolean; all?: boolean }): Promise<void> {
  const nodes = await nodeNames(control(cmd));
  const shown = opts.all ? tasks : tasks.filter((t) => t.desiredState <= TaskState.RUNNING || t.status?.state === TaskState.RUNNING || t === latestOfSlot(tasks, t));
  shown.sort((a, b) => (services.get(a.serviceId) ?? '').localeCompare(services.get(b.serviceId) ?? '') || a.slot - b.slot);
  printList(shown, opts, { headers: TASK_HEADERS, row: (t) => taskRow(t, services.get(t.serviceId) ?? shortId(t.serviceId), nodes), id: (t) => t.id, json: (t) => Task.toJSON(t) });
}

function latestOfSlot(tasks: Task[], t: Task): Task {
  const same = tasks.filter((x) => x.serviceId === t.serviceId && x.slot === t.slot && x.nodeId === t.nodeId);
  return same.reduce((a, b) => ((a.meta?.version ?? 0) >= (b.meta?.version ?? 0) ? a : b));
}

export function registerService(program: Command): void {
  const svc = program.command('service').description('Manage services').enablePositionalOptions();

  specOptions(
    svc.command('create')
      .description('Create a service')
      .argument('<image>', 'image to run')
      .argument('[command...]', 'command and arguments')
      .passThroughOptions()
      .option('--name <name>', 'service name')
      .option('--mode <mode>', 'replicated, global, replicated-job or global-job', 'replicated')
      .option('-l, --label <KEY=VALUE>', 'service label (repeatable)', collect)
      .option('--container-label <KEY=VALUE>', 'container label (repeatable)', collect)
      .option('--network <name>', 'attach to a network (repeatable)', collect)
      .option('--placement-pref <pref>', 'spread=node.labels.zone (repeatable)', collect),
  ).action(async (image: string, args: string[], opts: SpecFlags & { detach?: boolean }, cmd: Command) => {
    const spec = specFromFlags(image, args, opts);
    const { service } = await control(cmd).call('createService', { spec });
    process.stdout.write(`${service!.id}\n`);
    if (!opts.detach) await waitForServices(control(cmd), [service!.id]);
  });

  outputOptions(svc.command('ls').alias('list').description('List services')).action(async (opts: { format?: string; quiet?: boolean; filter?: string[] }, cmd: Command) => {
    const f = parseFilters(opts.filter, ['name', 'id', 'label', 'mode']);
    const { services } = await control(cmd).call('listServices', { filters: listFilters(f), read: undefined });
    const modes = f.get('mode');
    const shown = services
      .filter((s) => !modes || modes.some((m) => m === (s.spec?.mode?.$case === 'global' ? 'global' : s.spec?.mode?.$case === 'replicated' ? 'replicated' : s.spec?.mode?.$case)))
      .sort((a, b) => (a.spec?.annotations?.name ?? '').localeCompare(b.spec?.annotations?.name ?? ''));
    const tasks = opts.quiet || opts.format === 'json' ? [] : await listTasks(cmd, shown.map((s) => s.id));
    printList(shown, opts, { headers: SERVICE_HEADERS, row: (s) => serviceRow(s, tasks), id: (s) => s.id, json: (s) => Service.toJSON(s) });
  });

  outputOptions(svc.command('ps').description('List the tasks of one or more services').argument('<service...>'))
    .option('-a, --all', 'show old tasks too')
    .action(async (refs: string[], opts: { format?: string; quiet?: boolean; all?: boolean }, cmd: Command) => {
      const services = await Promise.all(refs.map((r) => findService(control(cmd), r)));
      const tasks = await listTasks(cmd, services.map((s) => s.id));
      await printTasks(cmd, tasks, new Map(services.map((s) => [s.id, s.spec?.annotations?.name ?? s.id])), opts);
    });

  svc.command('inspect').description('Show services in detail (JSON)').argument('<service...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const services = await Promise.all(refs.map((r) => findService(control(cmd), r)));
      json(services.map((s) => Service.toJSON(s)));
    });

  svc.command('scale').description('Scale replicated services: shoal service scale web=3 api=5').argument('<service=replicas...>')
    .option('-d, --detach', 'do not wait')
    .action(async (pairs: string[], opts: { detach?: boolean }, cmd: Command) => {
      const ids: string[] = [];
      for (const p of pairs) {
        const at = p.indexOf('=');
        if (at <= 0) throw usageError(`"${p}" is not SERVICE=REPLICAS`);
        const s = await findService(control(cmd), p.slice(0, at));
        const replicas = int('replicas', p.slice(at + 1));
        if (s.spec?.mode?.$case !== 'replicated') throw usageError(`service "${s.spec?.annotations?.name}" is not a replicated service`);
        await control(cmd).call('scaleService', { serviceId: s.id, replicas });
        process.stdout.write(`${s.spec.annotations?.name} scaled to ${replicas}\n`);
        ids.push(s.id);
      }
      if (!opts.detach) await waitForServices(control(cmd), ids);
    });

  specOptions(
    svc.command('update').description('Update a service').argument('<service>')
      .option('--image <image>', 'new image')
      .option('--args <args>', 'new command arguments (space separated)')
      .option('--env-add <KEY=VALUE>', 'add or change an environment variable', collect)
      .option('--env-rm <KEY>', 'remove an environment variable', collect)
      .option('--label-add <KEY=VALUE>', 'add or change a service label', collect)
      .option('--label-rm <KEY>', 'remove a service label', collect)
      .option('--constraint-add <expr>', 'add a placement constraint', collect)
      .option('--constraint-rm <expr>', 'remove a placement constraint', collect)
      .option('--publish-add <port>', 'publish a port', collect)
      .option('--publish-rm <target>', 'unpublish a target port', collect)
      .option('--force', 'replace the tasks even if nothing changed')
      .option('--promote', 'continue a canary update waiting after its first batch (no spec change)'),
  ).action(async (ref: string, opts: SpecFlags & UpdateFlags, cmd: Command) => {
    const c = control(cmd);
    const s = await findService(c, ref);
    if (opts.promote) {
      await c.call('promoteService', { serviceId: s.id });
      process.stdout.write(`${s.spec?.annotations?.name}: promoted\n`);
      if (!opts.detach) await waitForServices(c, [s.id]);
      return;
    }
    const spec = ServiceSpec.fromJSON(ServiceSpec.toJSON(s.spec ?? ServiceSpec.fromJSON({})));
    applyUpdateFlags(spec, opts);
    applyCommonFlags(spec, opts);
    await c.call('updateService', { serviceId: s.id, serviceVersion: s.meta?.version ?? 0, spec });
    process.stdout.write(`${s.spec?.annotations?.name}\n`);
    if (!opts.detach) await waitForServices(c, [s.id]);
  });

  svc.command('rollback').description("Revert a service to its previous spec").argument('<service>').option('-d, --detach', 'do not wait')
    .action(async (ref: string, opts: { detach?: boolean }, cmd: Command) => {
      const s = await findService(control(cmd), ref);
      await control(cmd).call('rollbackService', { serviceId: s.id, serviceVersion: s.meta?.version ?? 0 });
      process.stdout.write(`${s.spec?.annotations?.name}: rollback requested\n`);
      if (!opts.detach) await waitForServices(control(cmd), [s.id]);
    });

  svc.command('promote').description('Continue a canary update waiting after its first batch').argument('<service>')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = await findService(control(cmd), ref);
      await control(cmd).call('promoteService', { serviceId: s.id });
      process.stdout.write(`${s.spec?.annotations?.name}: promoted\n`);
    });

  svc.command('rm').alias('remove').description('Remove services').argument('<service...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      for (const r of refs) {
        const s = await findService(control(cmd), r);
        await control(cmd).call('removeService', { serviceId: s.id });
        process.stdout.write(`${s.spec?.annotations?.name}\n`);
      }
    });

  addLogsCommand(svc);
}

interface UpdateFlags {
  image?: string;
  args?: string;
  envAdd?: string[];
  envRm?: string[];
  labelAdd?: string[];
  labelRm?: string[];
  constraintAdd?: string[];
  constraintRm?: string[];
  publishAdd?: string[];
  publishRm?: string[];
  force?: boolean;
  promote?: boolean;
  detach?: boolean;
}

function applyUpdateFlags(spec: ServiceSpec, f: UpdateFlags): void {
  const task = spec.task!;
  const c = task.container as ContainerSpec;
  if (f.image) c.image = f.image;
  if (f.args !== undefined) c.args = f.args.split(/\s+/).filter(Boolean);
  if (f.envAdd || f.envRm) {
    const env = new Map(c.env.map((e) => [e.split('=')[0]!, e]));
    for (const k of f.envRm ?? []) env.delete(k);
    for (const e of f.envAdd ?? []) env.set(e.split('=')[0]!, e);
    c.env = [...env.values()];
  }
  const labels = (spec.annotations ??= { name: '', labels: {} }).labels;
  for (const k of f.labelRm ?? []) delete labels[k];
  for (const l of f.labelAdd ?? []) {
    const at = l.indexOf('=');
    labels[at < 0 ? l : l.slice(0, at)] = at < 0 ? '' : l.slice(at + 1);
  }
  if (f.constraintAdd || f.constraintRm) {
    const p = (task.placement ??= { constraints: [], preferences: [], maxReplicas: 0, platforms: [] });
    p.constraints = [...p.constraints.filter((x) => !(f.constraintRm ?? []).includes(x)), ...(f.constraintAdd ?? [])];
  }
  if (f.publishAdd || f.publishRm) {
    const e = (spec.endpoint ??= { mode: 0, ports: [] });
    e.ports = [...e.ports.filter((p) => !(f.publishRm ?? []).includes(String(p.targetPort))), ...(f.publishAdd ?? []).flatMap(parsePublish)];
  }
  if (f.force) task.forceUpdate += 1;
}

