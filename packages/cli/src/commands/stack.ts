// shoal stack deploy / ls / ps / services / rm / config
import { ListFilters, ListTasksRequest, Service } from '@shoal/api';
import { Command, Option } from 'commander';
import { convertStack, loadCompose, NAMESPACE_LABEL, renderConfig, specsToJSON } from '../compose/index.js';
import { printList, table } from '../output/table.js';
import { collect, control } from './common.js';
import { printTasks } from './service.js';
import { deployStack } from './stack-deploy.js';
import { SERVICE_HEADERS, serviceRow } from './views.js';

const nsFilter = (stack: string): ListFilters => ListFilters.fromJSON({ labels: { [NAMESPACE_LABEL]: stack } });
const fmt = (c: Command): Command => c.addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'));
const composeOpt = (c: Command): Command => c.requiredOption('-c, --compose-file <file>', 'Compose file (repeatable; later files override earlier ones)', collect);

function warn(lines: string[]): void {
  for (const w of lines) process.stderr.write(`${w}\n`);
}

export function registerStack(program: Command): void {
  const stack = program.command('stack').description('Manage stacks (Compose files)');

  fmt(composeOpt(stack.command('deploy').description('Deploy or update a stack').argument('<stack>')))
    .option('--prune', 'remove services that are no longer in the Compose file')
    .option('-d, --detach', 'do not wait for the services to converge')
    .option('--dry-run', 'print what would be deployed (Control API specs) without contacting the cluster')
    .action(async (name: string, o: { composeFile: string[]; format: string; prune?: boolean; detach?: boolean; dryRun?: boolean }, cmd: Command) => {
      const specs = convertStack(loadCompose(o.composeFile, { env: process.env }), name);
      if (o.dryRun) {
        if (o.format === 'json') {
          process.stdout.write(`${JSON.stringify(specsToJSON(specs), null, 2)}\n`);
          return;
        }
        warn(specs.warnings);
        const rows = [
          ...specs.networks.map((n) => ['network', n.annotations!.name]),
          ...specs.secrets.map((n) => ['secret', n.annotations!.name]),
          ...specs.configs.map((n) => ['config', n.annotations!.name]),
          ...specs.services.map((n) => ['service', n.annotations!.name]),
        ];
        process.stdout.write(table(['KIND', 'NAME'], rows));
        return;
      }
      warn(specs.warnings);
      await deployStack(control(cmd), name, specs, { prune: !!o.prune, detach: !!o.detach, log: (l) => process.stdout.write(`${l}\n`) });
    });

  composeOpt(stack.command('config').description('Print the merged, interpolated Compose file'))
    .action((o: { composeFile: string[] }) => {
      const l = loadCompose(o.composeFile, { env: process.env });
      warn(l.warnings);
      process.stdout.write(renderConfig(l));
    });

  fmt(stack.command('ls').alias('list').description('List stacks')).action(async (o: { format: string }, cmd: Command) => {
    const { services } = await control(cmd).call('listServices', { filters: ListFilters.fromJSON({ labels: { [NAMESPACE_LABEL]: '' } }), read: undefined });
    const counts = new Map<string, number>();
    for (const s of services) {
      const ns = s.spec?.annotations?.labels[NAMESPACE_LABEL];
      if (ns) counts.set(ns, (counts.get(ns) ?? 0) + 1);
    }
    const rows = [...counts].sort(([a], [b]) => a.localeCompare(b));
    printList(rows, o, { headers: ['NAME', 'SERVICES'], row: ([n, c]) => [n, String(c)], id: ([n]) => n, json: ([name, services]) => ({ name, services }) });
  });

  fmt(stack.command('services').description("List a stack's services").argument('<stack>'))
    .option('-q, --quiet', 'only print ids')
    .action(async (name: string, o: { format: string; quiet?: boolean }, cmd: Command) => {
      const c = control(cmd);
      const { services } = await c.call('listServices', { filters: nsFilter(name), read: undefined });
      services.sort((a, b) => (a.spec?.annotations?.name ?? '').localeCompare(b.spec?.annotations?.name ?? ''));
      const req = ListTasksRequest.fromJSON({});
      req.serviceIds = services.map((s) => s.id);
      const tasks = services.length ? (await c.call('listTasks', req)).tasks : [];
      if (!services.length && !o.quiet && o.format !== 'json') process.stderr.write(`Nothing found in stack: ${name}\n`);
      printList(services, o, { headers: SERVICE_HEADERS, row: (s) => serviceRow(s, tasks), id: (s) => s.id, json: (s) => Service.toJSON(s) });
    });

  fmt(stack.command('ps').description("List a stack's tasks").argument('<stack>'))
    .option('-q, --quiet', 'only print ids')
    .option('-a, --all', 'show old tasks too')
    .action(async (name: string, o: { format: string; quiet?: boolean; all?: boolean }, cmd: Command) => {
      const c = control(cmd);
      const { services } = await c.call('listServices', { filters: nsFilter(name), read: undefined });
      const req = ListTasksRequest.fromJSON({});
      req.serviceIds = services.map((s) => s.id);
      const tasks = services.length ? (await c.call('listTasks', req)).tasks : [];
      await printTasks(cmd, tasks, new Map(services.map((s) => [s.id, s.spec?.annotations?.name ?? s.id])), o);
    });

  stack.command('rm').alias('remove').description('Remove stacks').argument('<stack...>')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const c = control(cmd);
      for (const name of names) {
        const f = { filters: nsFilter(name), read: undefined };
        const { services } = await c.call('listServices', f);
        const { secrets } = await c.call('listSecrets', f);
        const { configs } = await c.call('listConfigs', f);
        const { networks } = await c.call('listNetworks', f);
        if (!services.length && !secrets.length && !configs.length && !networks.length) {
          process.stderr.write(`Nothing found in stack: ${name}\n`);
          continue;
        }
        for (const s of services) {
          process.stdout.write(`Removing service ${s.spec?.annotations?.name}\n`);
          await c.call('removeService', { serviceId: s.id });
        }
        for (const s of secrets) {
          process.stdout.write(`Removing secret ${s.spec?.annotations?.name}\n`);
          await c.call('removeSecret', { secretId: s.id });
        }
        for (const s of configs) {
          process.stdout.write(`Removing config ${s.spec?.annotations?.name}\n`);
          await c.call('removeConfig', { configId: s.id });
        }
        for (const s of networks) {
          process.stdout.write(`Removing network ${s.spec?.annotations?.name}\n`);
          await c.call('removeNetwork', { networkId: s.id });
        }
      }
    });
}
