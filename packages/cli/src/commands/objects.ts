// shoal network|secret|config create / ls / inspect / rm
import { readFileSync } from 'node:fs';
import { Config, ConfigSpec, Network, NetworkSpec, Secret, SecretSpec } from '@shoal/api';
import { Command, Option } from 'commander';
import { CliError } from '../errors.js';
import { ago, printList, shortId } from '../output/table.js';
import { collect, control, json, kv, listFilters, parseFilters } from './common.js';
import { findConfig, findNetwork, findSecret } from './lookup.js';

const listOpts = (c: Command): Command =>
  c.addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'only print ids')
    .option('-f, --filter <key=value>', 'filter: id, name, label', collect);

type ListOpts = { format?: string; quiet?: boolean; filter?: string[] };

function readData(file: string): Buffer {
  try {
    return file === '-' ? readFileSync(0) : readFileSync(file);
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function registerObjects(program: Command): void {
  const net = program.command('network').description('Manage networks');
  net.command('create').description('Create an overlay network').argument('<name>')
    .option('-d, --driver <driver>', 'network driver', 'overlay')
    .option('-o, --opt <key=value>', 'driver option (repeatable)', collect)
    .option('--subnet <cidr>', 'subnet')
    .option('--gateway <ip>', 'gateway')
    .option('--attachable', 'allow standalone containers to attach')
    .option('--internal', 'no external connectivity')
    .option('--ipv6', 'enable IPv6')
    .option('-l, --label <key=value>', 'label (repeatable)', collect)
    .action(async (name: string, o: { driver: string; opt?: string[]; subnet?: string; gateway?: string; attachable?: boolean; internal?: boolean; ipv6?: boolean; label?: string[] }, cmd: Command) => {
      const spec = NetworkSpec.fromJSON({});
      spec.annotations = { name, labels: kv(o.label) };
      spec.driver = { name: o.driver, options: kv(o.opt) };
      if (o.subnet || o.gateway) spec.ipam = { driver: undefined, configs: [{ subnet: o.subnet ?? '', range: '', gateway: o.gateway ?? '' }] };
      spec.attachable = !!o.attachable;
      spec.internal = !!o.internal;
      spec.ipv6 = !!o.ipv6;
      const { network } = await control(cmd).call('createNetwork', { spec });
      process.stdout.write(`${network!.id}\n`);
    });
  listOpts(net.command('ls').alias('list').description('List networks')).action(async (o: ListOpts, cmd: Command) => {
    const { networks } = await control(cmd).call('listNetworks', { filters: listFilters(parseFilters(o.filter, ['id', 'name', 'label'])), read: undefined });
    printList(networks, o, {
      headers: ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], id: (n) => n.id, json: (n) => Network.toJSON(n),
      row: (n) => [shortId(n.id), n.spec?.annotations?.name ?? '', n.spec?.driver?.name || 'overlay', 'swarm'],
    });
  });
  net.command('inspect').description('Show networks in detail (JSON)').argument('<network...>').action(async (refs: string[], _o: unknown, cmd: Command) => {
    json((await Promise.all(refs.map((r) => findNetwork(control(cmd), r)))).map((n) => Network.toJSON(n)));
  });
  net.command('rm').alias('remove').description('Remove networks').argument('<network...>').action(async (refs: string[], _o: unknown, cmd: Command) => {
    for (const r of refs) {
      const n = await findNetwork(control(cmd), r);
      await control(cmd).call('removeNetwork', { networkId: n.id });
      process.stdout.write(`${n.spec?.annotations?.name}\n`);
    }
  });

  for (const kind of ['secret', 'config'] as const) {
    const grp = program.command(kind).description(`Manage ${kind}s`);
    grp.command('create').description(`Create a ${kind} from a file (or - for stdin)`).argument('<name>').argument('<file>')
      .option('-l, --label <key=value>', 'label (repeatable)', collect)
      .action(async (name: string, file: string, o: { label?: string[] }, cmd: Command) => {
        const data = readData(file);
        const annotations = { name, labels: kv(o.label) };
        if (kind === 'secret') {
          const spec = SecretSpec.fromJSON({});
          Object.assign(spec, { annotations, data });
          process.stdout.write(`${(await control(cmd).call('createSecret', { spec })).secret!.id}\n`);
        } else {
          const spec = ConfigSpec.fromJSON({});
          Object.assign(spec, { annotations, data });
          process.stdout.write(`${(await control(cmd).call('createConfig', { spec })).config!.id}\n`);
        }
      });
    listOpts(grp.command('ls').alias('list').description(`List ${kind}s`)).action(async (o: ListOpts, cmd: Command) => {
      const filters = listFilters(parseFilters(o.filter, ['id', 'name', 'label']));
      const items: Array<Secret | Config> = kind === 'secret'
        ? (await control(cmd).call('listSecrets', { filters, read: undefined })).secrets
        : (await control(cmd).call('listConfigs', { filters, read: undefined })).configs;
      printList(items, o, {
        headers: ['ID', 'NAME', 'CREATED', 'UPDATED'], id: (x) => x.id,
        json: (x) => (kind === 'secret' ? Secret.toJSON(x as Secret) : Config.toJSON(x as Config)),
        row: (x) => [shortId(x.id), x.spec?.annotations?.name ?? '', ago(x.meta?.createdAt), ago(x.meta?.updatedAt)],
      });
    });
    grp.command('inspect').description(`Show ${kind}s in detail (JSON; data is never shown for secrets)`).argument(`<${kind}...>`)
      .action(async (refs: string[], _o: unknown, cmd: Command) => {
        if (kind === 'secret') json((await Promise.all(refs.map((r) => findSecret(control(cmd), r)))).map((x) => Secret.toJSON(x)));
        else json((await Promise.all(refs.map((r) => findConfig(control(cmd), r)))).map((x) => Config.toJSON(x)));
      });
    grp.command('rm').alias('remove').description(`Remove ${kind}s`).argument(`<${kind}...>`).action(async (refs: string[], _o: unknown, cmd: Command) => {
      for (const r of refs) {
        if (kind === 'secret') {
          const x = await findSecret(control(cmd), r);
          await control(cmd).call('removeSecret', { secretId: x.id });
          process.stdout.write(`${x.spec?.annotations?.name}\n`);
        } else {
          const x = await findConfig(control(cmd), r);
          await control(cmd).call('removeConfig', { configId: x.id });
          process.stdout.write(`${x.spec?.annotations?.name}\n`);
        }
      }
    });
  }
}
