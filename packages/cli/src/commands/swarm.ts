// shoal swarm init / join / join-token / leave
import { Command, Option } from 'commander';
import { execShoald } from '../daemon.js';
import { control } from './common.js';

/** Options passed through to `shoald init|join` unchanged. */
function daemonArgs(o: Record<string, string | boolean | undefined>, names: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [key, flag] of Object.entries(names)) {
    const v = o[key];
    if (v === true) out.push(flag);
    else if (typeof v === 'string') out.push(flag, v);
  }
  return out;
}

const COMMON = { advertiseAddr: '--advertise-addr', listenAddr: '--listen-addr', dataDir: '--data-dir', dataPathAddr: '--data-path-addr' };

export function registerSwarm(program: Command, setExit: (code: number) => void): void {
  const swarm = program.command('swarm').description('Manage the swarm');
  const common = (c: Command): Command =>
    c.option('--advertise-addr <addr>', 'address other nodes reach this node at (host[:port])')
      .option('--listen-addr <addr>', 'address to listen on (host:port)', undefined)
      .option('--data-dir <dir>', 'state directory of the daemon')
      .option('--data-path-addr <addr>', 'address for overlay (VXLAN) traffic');

  common(swarm.command('init').description('Create a swarm with this node as its first manager (runs shoald init)'))
    .option('--force-new-cluster', 'start a one-manager cluster from this manager\'s state')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      setExit(await execShoald(['init', ...daemonArgs(o, { ...COMMON, forceNewCluster: '--force-new-cluster' })]));
    });

  common(swarm.command('join').description('Join a swarm as a worker or manager (runs shoald join)').argument('<manager-addr>', 'a manager, host:port'))
    .requiredOption('--token <token>', 'join token (decides worker or manager)')
    .action(async (addr: string, o: Record<string, string | boolean | undefined>) => {
      setExit(await execShoald(['join', '--token', String(o['token']), ...daemonArgs(o, COMMON), addr]));
    });

  swarm.command('join-token').description('Show or rotate the join token of a role')
    .addArgument(new Command().createArgument('<role>', 'worker or manager').choices(['worker', 'manager']))
    .option('--rotate', 'replace the token (old one stops working)')
    .option('-q, --quiet', 'only print the token')
    .action(async (role: 'worker' | 'manager', o: { rotate?: boolean; quiet?: boolean }, cmd: Command) => {
      const c = control(cmd);
      if (o.rotate) await c.call('rotateJoinToken', { worker: role === 'worker', manager: role === 'manager' });
      const res = await c.call('getJoinTokens', {});
      const token = res.tokens?.[role] ?? '';
      if (o.quiet) {
        process.stdout.write(`${token}\n`);
        return;
      }
      const addr = res.managerAddrs[0] ?? '<manager-addr>';
      if (o.rotate) process.stdout.write(`Successfully rotated ${role} join token.\n\n`);
      process.stdout.write(`To add a ${role} to this swarm, run the following command:\n\n    shoal swarm join --token ${token} ${addr}\n\n`);
    });

  swarm.command('leave').description('Leave the swarm (runs shoald leave)')
    .option('-f, --force', 'leave even if this is a manager (breaks quorum if it is needed)')
    .addOption(new Option('--data-dir <dir>', 'state directory of the daemon'))
    .action(async (o: { force?: boolean; dataDir?: string }) => {
      const args = ['leave'];
      if (o.force) args.push('--force');
      if (o.dataDir) args.push('--data-dir', o.dataDir);
      setExit(await execShoald(args));
    });

}
