// shoal service logs SERVICE|TASK: streams the logs of a service's tasks (or of one task) from
// the Logs API of the manager. Lines are prefixed "<service>.<slot>.<task>@<node>    | " as in
// Docker; --raw drops the prefix, -t adds the timestamp. The stream ends by itself without
// --follow; an incomplete stream (a node gone) ends with the manager's message and exit code 1.
import { isShoalError, ListTasksRequest, LogStream, SubscribeLogsRequest, type LogMessage, type Task } from '@shoal/api';
import type { Command } from 'commander';
import type { Control } from '../client.js';
import { CliError } from '../errors.js';
import { shortId } from '../output/table.js';
import { control } from './common.js';
import { findService, nodeNames } from './lookup.js';
import { duration, int } from './service-flags.js';

interface LogsFlags {
  follow?: boolean;
  tail: string;
  since?: string;
  timestamps?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  raw?: boolean;
}

/** --since: an RFC 3339 time, or a duration back from now (10m, 1h30m). */
export function sinceOf(v: string, now = Date.now()): string {
  if (/^\d{4}-\d{2}-\d{2}T/.test(v)) {
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new CliError(`--since: not a time: "${v}"`, 2);
    return new Date(t).toISOString();
  }
  return new Date(now - duration('--since', v)).toISOString();
}

export function logsRequest(sel: { serviceIds?: string[]; taskIds?: string[] }, f: LogsFlags, now = Date.now()): SubscribeLogsRequest {
  const req = SubscribeLogsRequest.fromJSON({});
  req.selector = { serviceIds: sel.serviceIds ?? [], nodeIds: [], taskIds: sel.taskIds ?? [] };
  const streams = f.stdout || f.stderr ? [...(f.stdout ? [LogStream.STDOUT] : []), ...(f.stderr ? [LogStream.STDERR] : [])] : [LogStream.STDOUT, LogStream.STDERR];
  req.options = {
    streams,
    follow: !!f.follow,
    tail: f.tail === 'all' ? -1 : int('--tail', f.tail),
    since: f.since ? sinceOf(f.since, now) : undefined,
  };
  return req;
}

/** One output line of a log message. */
export function formatLine(l: LogMessage, f: { timestamps?: boolean; raw?: boolean }, names: { service: (id: string) => string; slot: (taskId: string) => string; node: (id: string) => string }): string {
  const text = l.data.toString('utf8').replace(/\n$/, '');
  const ts = f.timestamps ? `${l.timestamp ?? ''} ` : '';
  if (f.raw) return `${ts}${text}\n`;
  const c = l.context;
  const taskId = c?.taskId ?? '';
  const slot = names.slot(taskId);
  const who = `${names.service(c?.serviceId ?? '')}.${slot ? `${slot}.` : ''}${shortId(taskId)}@${names.node(c?.nodeId ?? '')}`;
  return `${ts}${who}    | ${text}\n`;
}

async function resolveRef(c: Control, ref: string): Promise<{ serviceId: string; serviceName: string; tasks: Task[]; taskId?: string }> {
  try {
    const s = await findService(c, ref);
    const req = ListTasksRequest.fromJSON({});
    req.serviceIds = [s.id];
    const { tasks } = await c.call('listTasks', req);
    return { serviceId: s.id, serviceName: s.spec?.annotations?.name ?? s.id, tasks };
  } catch (serviceErr) {
    // not a service: maybe a task id (full, or a unique prefix)
    const req = ListTasksRequest.fromJSON({});
    const { tasks } = await c.call('listTasks', req).catch(() => ({ tasks: [] as Task[] }));
    const matches = tasks.filter((t) => t.id === ref || t.id.startsWith(ref));
    const task = matches.find((t) => t.id === ref) ?? (matches.length === 1 ? matches[0] : undefined);
    if (!task) {
      if (matches.length > 1) throw new CliError(`task "${ref}" is ambiguous (${matches.length} matches)`);
      throw serviceErr instanceof CliError ? new CliError(`no service or task "${ref}"`) : serviceErr;
    }
    return { serviceId: task.serviceId, serviceName: task.serviceAnnotations?.name || shortId(task.serviceId), tasks: [task], taskId: task.id };
  }
}

export function addLogsCommand(svc: Command): void {
  svc.command('logs').description("Show a service's or a task's logs").argument('<service|task>')
    .option('-f, --follow', 'keep streaming new lines')
    .option('-n, --tail <n>', 'lines from the end of each task (all = everything)', 'all')
    .option('--since <time>', 'only lines since an RFC 3339 time or a duration ago (10m)')
    .option('-t, --timestamps', 'show timestamps')
    .option('--stdout', 'only standard output')
    .option('--stderr', 'only standard error')
    .option('--raw', 'no task prefix')
    .action(async (ref: string, opts: LogsFlags, cmd: Command) => {
      const c = control(cmd);
      const target = await resolveRef(c, ref);
      const req = logsRequest(target.taskId ? { taskIds: [target.taskId] } : { serviceIds: [target.serviceId] }, opts);
      const nodes = await nodeNames(c);
      const slots = new Map(target.tasks.map((t) => [t.id, t.slot ? String(t.slot) : '']));
      const names = {
        service: (id: string) => (id === target.serviceId ? target.serviceName : shortId(id)),
        slot: (taskId: string) => slots.get(taskId) ?? '',
        node: (id: string) => nodes.get(id) ?? shortId(id),
      };
      try {
        await c.logs(req, (m) => {
          for (const l of m.messages) (l.stream === LogStream.STDERR ? process.stderr : process.stdout).write(formatLine(l, opts, names));
        });
      } catch (err) {
        // the manager ended the stream because a node is gone: say so plainly
        if (isShoalError(err, 'Unavailable') && err.message.startsWith('incomplete logs')) throw new CliError(err.message);
        throw err;
      }
    });
}
