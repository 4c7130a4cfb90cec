#!/usr/bin/env node
// shoald: the Shoal node daemon.
//   shoald init [flags]                  start a new cluster: the first manager (and its agent)
//   shoald join --token T [flags] ADDR…  join a cluster as a manager or a worker (by the token)
//   shoald run --data-dir DIR [flags]    restart a node from its data dir (also: shoald --data-dir DIR)
//   shoald leave --data-dir DIR [--force] the node running on DIR leaves the swarm (see leave.ts)
import { Command, Option } from 'commander';
import { runCommand, initCommand, joinCommand } from './commands.js';
import { ConfigError, DEFAULTS, type RawFlags } from './config.js';
import type { Daemon } from './daemon.js';
import { IdentityError } from './identity.js';
import { RemovedError } from './daemon.js';
import { LEAVE_SIGNAL, LeaveError, leaveCommand, takeLeaveRequest, writeLeaveResult } from './leave.js';
import { daemonLogger, errorMessage } from './log.js';
import { ShoalError } from '@shoal/api';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function withNodeFlags(cmd: Command, opts: { creating: boolean }): Command {
  cmd
    .option('--data-dir <dir>', `node state directory${opts.creating ? ` (default ${DEFAULTS.dataDir})` : ''}`)
    .option('--listen-addr <host:port>', `gRPC listen address (default ${DEFAULTS.listenAddr})`)
    .option('--advertise-addr <host:port>', 'address other nodes reach this node at (default: the listen address)')
    .option('--control-socket <path>', `unix socket for the local CLI (default ${DEFAULTS.controlSocket} with the default data dir, else <data-dir>/control.sock)`)
    .option('--metrics-addr <host:port>', `Prometheus /metrics address, "off" to disable (default ${DEFAULTS.metricsAddr})`)
    .addOption(new Option('--runtime <kind>', `container runtime (default ${DEFAULTS.runtime})`).choices(['cri', 'hollow']))
    .option('--containerd-socket <path>', `containerd socket for --runtime cri (default ${DEFAULTS.containerdSocket})`)
    .option('--cgroup-parent <path>', 'cgroup parent of task pods for --runtime cri (default /shoal/<node id>)')
    .option('--heartbeat-period <duration>', `agent heartbeat period the dispatcher asks for (default ${DEFAULTS.heartbeatPeriod})`)
    .option('--hostname <name>', 'node hostname (default: the OS hostname)')
    .option('--labels <k=v>', 'node labels (repeat the flag, or k=v,k2=v2)', collect)
    .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']))
    .addOption(new Option('--log-format <format>', 'default: human on a terminal, else json').choices(['json', 'human']));
  return cmd;
}

async function serve(make: () => Promise<Daemon>): Promise<void> {
  let daemon: Daemon;
  try {
    daemon = await make();
  } catch (err) {
    return die(err);
  }
  let signals = 0;
  const shutdown = (why: string, code: number): void => {
    if (signals++ > 0) {
      process.stderr.write(`shoald: ${why} again; exiting now\n`);
      process.exit(code || 1);
    }
    daemon.log.info('shutting down', { reason: why });
    const force = setTimeout(() => {
      process.stderr.write('shoald: shutdown took too long; exiting\n');
      process.exit(code || 1);
    }, 15_000);
    force.unref();
    daemon.stop().finally(() => process.exit(code));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  daemon.on('fatal', ({ message, exitCode }) => {
    process.stderr.write(`shoald: ${message}\n`);
    shutdown('fatal error', exitCode);
  });
  watchParent(() => shutdown('parent process exited', 0));
  // `shoald leave` writes its request into the data dir, then signals
  let leaving = false;
  process.on(LEAVE_SIGNAL, () => {
    const req = takeLeaveRequest(daemon.opts.config.dataDir);
    if (!req || leaving) return;
    leaving = true;
    daemon.leave(req.force).then(
      () => process.exit(0),
      (err: unknown) => {
        leaving = false;
        daemon.log.warn('leave refused', { err: errorMessage(err) });
        writeLeaveResult(daemon.opts.config.dataDir, errorMessage(err));
      },
    );
  });
  try {
    await daemon.start();
  } catch (err) {
    await daemon.stop().catch(() => {});
    return die(err);
  }
}

/** With SHOAL_PARENT_PID set (test harness), exit when that process is gone. */
function watchParent(onGone: () => void): void {
  const pid = Number(process.env['SHOAL_PARENT_PID'] ?? '');
  if (!Number.isInteger(pid) || pid <= 1) return;
  const t = setInterval(() => {
    try {
      process.kill(pid, 0);
    } catch {
      clearInterval(t);
      onGone();
    }
  }, 1_000);
  t.unref();
}

function die(err: unknown): never {
  const known = err instanceof LeaveError || err instanceof ConfigError || err instanceof IdentityError || err instanceof RemovedError || err instanceof ShoalError;
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`shoald: ${msg}\n`);
  if (!known && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  process.exit(err instanceof RemovedError ? err.exitCode : 1);
}

export function buildProgram(): Command {
  const program = new Command('shoald').description('Shoal node daemon: manager and/or agent').showHelpAfterError().enablePositionalOptions();
  withNodeFlags(program.command('init').description('start a new cluster with this node as its first manager'), { creating: true }).action(
    (flags: RawFlags) => serve(() => initCommand(flags)),
  );
  withNodeFlags(
    program
      .command('join')
      .description('join a cluster through one of its managers; the token decides manager or worker')
      .requiredOption('--token <token>', 'join token (shoal swarm join-token worker|manager)')
      .argument('<addr...>', 'manager addresses (host:port)'),
    { creating: true },
  ).action((addrs: string[], flags: RawFlags & { token: string }) => serve(() => joinCommand(flags, flags.token, addrs)));
  withNodeFlags(program.command('run').description('restart a node from its data dir'), { creating: false }).action((flags: RawFlags) =>
    serve(() => runCommand(flags)),
  );
  program
    .command('leave')
    .description('the node running on the data dir leaves the swarm (a manager only with --force)')
    .option('--data-dir <dir>', `node state directory (default ${DEFAULTS.dataDir})`)
    .option('-f, --force', 'leave even if this node is a manager (it leaves raft first)')
    .action(async (flags: { dataDir?: string; force?: boolean }) => {
      const dataDir = flags.dataDir ?? DEFAULTS.dataDir;
      const log = daemonLogger({ component: 'shoald-leave' }, { level: 'warn' });
      try {
        const nodeId = await leaveCommand(dataDir, flags.force === true, log);
        process.stdout.write(`Node ${nodeId} left the swarm.\n`);
        process.exit(0);
      } catch (err) {
        die(err);
      }
    });
  // plain `shoald --data-dir DIR` is `shoald run`
  withNodeFlags(program, { creating: false }).action((flags: RawFlags) => {
    if (!flags.dataDir) {
      program.help({ error: true });
    }
    return serve(() => runCommand(flags));
  });
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => die(err));
