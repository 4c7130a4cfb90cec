// The `shoal` CLI: command tree on commander, one-line errors, exit codes 0 ok / 1 error / 2 usage.
import { Command, CommanderError } from 'commander';
import { pathToFileURL } from 'node:url';
import { defaultHost } from './client.js';
import { ComposeError } from './compose/index.js';
import { closeControl, globals } from './commands/common.js';
import { registerNode } from './commands/node.js';
import { registerObjects } from './commands/objects.js';
import { registerService } from './commands/service.js';
import { registerStack } from './commands/stack.js';
import { registerSwarm } from './commands/swarm.js';
import { CliError, describeError } from './errors.js';

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('shoal')
    .description('Shoal: a Docker-Swarm-style container orchestrator')
    .version('0.1.0', '-v, --version')
    .option('-H, --host <addr>', `manager Control address: host:port or unix:/path (env SHOAL_HOST; default ${defaultHost({})})`)
    .option('--timeout <duration>', 'deadline of each call to the manager', '10s')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => write(`shoal: ${str.trim().replace(/^error: /, 'error: ')}\n`),
    });
  registerSwarm(program, setExit);
  registerNode(program);
  registerService(program);
  registerObjects(program);
  registerStack(program);
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' || err.exitCode === 0) return 0;
      return 2; // commander already printed the one-line message
    }
    let host: string | undefined;
    try {
      host = globals(program).host;
    } catch {
      host = undefined;
    }
    const msg = err instanceof ComposeError ? err.message : describeError(err, host);
    process.stderr.write(`shoal: error: ${msg}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  } finally {
    closeControl();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((c) => process.exit(c));
}
