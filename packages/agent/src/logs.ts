// The agent side of LogBroker: listen for log subscriptions, read the matching local tasks' logs
// from the runtime (tail / since / follow) and publish them on one PublishLogs stream per
// subscription; close it (close=true, then end) when done or when the subscription closes.
import {
  createClient,
  isoTime,
  LogBrokerClient,
  LogStream,
  ShoalError,
  type LogMessage,
  type LogSelector,
  type PublishLogsMessage,
  type SubscriptionMessage,
} from '@shoal/api';
import type { ContainerHandle, LogEntry, LogReadOptions, Runtime } from '@shoal/runtime';
import { errorMessage, type Logger } from './log.js';
import { cancelCall } from './rpc.js';

export interface LogSource {
  taskId: string;
  serviceId: string;
  handle: ContainerHandle | undefined;
}

export interface LogPublisherOptions {
  runtime: Runtime;
  logger: Logger;
  nodeId: () => string;
  /** The local tasks whose logs may be asked for. */
  tasks: () => LogSource[];
  /** Lines per PublishLogs message (default 100). */
  batch?: number;
}

export function selectorMatches(sel: LogSelector | undefined, nodeId: string, t: { taskId: string; serviceId: string }): boolean {
  if (!sel) return false;
  return sel.taskIds.includes(t.taskId) || (t.serviceId !== '' && sel.serviceIds.includes(t.serviceId)) || sel.nodeIds.includes(nodeId);
}

function wireStream(s: LogEntry['stream']): LogStream {
  return s === 'stderr' ? LogStream.STDERR : LogStream.STDOUT;
}

function runtimeStream(s: LogStream): LogEntry['stream'] {
  return s === LogStream.STDERR ? 'stderr' : 'stdout';
}

export class LogPublisher {
  private client: LogBrokerClient | undefined;
  private listen: ReturnType<LogBrokerClient['listenSubscriptions']> | undefined;
  private readonly subs = new Map<string, AbortController>();
  private readonly log: Logger;
  /** Subscriptions served since start (for tests and metrics). */
  served = 0;

  constructor(private readonly opts: LogPublisherOptions) {
    this.log = opts.logger.child({ component: 'logs' });
  }

  /** Starts listening on the manager at `addr` (the session's manager). */
  start(addr: string): void {
    this.stop();
    const client = createClient(LogBrokerClient, addr);
    this.client = client;
    const call = client.listenSubscriptions({ nodeId: this.opts.nodeId() });
    this.listen = call;
    call.on('data', (m: SubscriptionMessage) => this.onSubscription(client, m));
    call.on('error', (e: unknown) => {
      if (this.listen === call) this.log.debug('listen subscriptions ended', { err: errorMessage(e) });
    });
  }

  stop(): void {
    for (const ac of this.subs.values()) ac.abort();
    this.subs.clear();
    const call = this.listen;
    this.listen = undefined;
    cancelCall(call);
    this.client?.close();
    this.client = undefined;
  }

  private onSubscription(client: LogBrokerClient, m: SubscriptionMessage): void {
    if (m.close) {
      this.subs.get(m.id)?.abort();
      this.subs.delete(m.id);
      return;
    }
    if (this.subs.has(m.id)) return;
    const ac = new AbortController();
    this.subs.set(m.id, ac);
    this.served++;
    void this.serve(client, m, ac.signal)
      .catch((err: unknown) => this.log.warn('log subscription failed', { subscriptionId: m.id, err: errorMessage(err) }))
      .finally(() => {
        if (this.subs.get(m.id)?.signal === ac.signal) this.subs.delete(m.id);
      });
  }

  private async serve(client: LogBrokerClient, sub: SubscriptionMessage, signal: AbortSignal): Promise<void> {
    const nodeId = this.opts.nodeId();
    const opts = sub.options;
    const streams = new Set(opts?.streams ?? []);
    const sources = this.opts.tasks().filter((t) => t.handle && selectorMatches(sub.selector, nodeId, t));
    const batchSize = this.opts.batch ?? 100;
    let published: (err?: Error) => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      published = (err) => (err ? reject(err) : resolve());
    });
    const pub = client.publishLogs((err) => published(err ? ShoalError.fromGrpc(err) : undefined));
    pub.on('error', () => {});
    const write = (msg: PublishLogsMessage): Promise<void> =>
      new Promise((resolve) => {
        if (!pub.write(msg)) pub.once('drain', resolve);
        else resolve();
      });
    // An empty first message registers the stream with the broker even if no line follows.
    await write({ subscriptionId: sub.id, messages: [], close: false, nodeId });
    await Promise.all(
      sources.map(async (t) => {
        let batch: LogMessage[] = [];
        let timer: NodeJS.Timeout | undefined;
        const flush = async (): Promise<void> => {
          if (timer) clearTimeout(timer);
          timer = undefined;
          if (!batch.length) return;
          const messages = batch;
          batch = [];
          await write({ subscriptionId: sub.id, messages, close: false, nodeId });
        };
        try {
          const readOpts: LogReadOptions & { signal: AbortSignal } = { signal, follow: opts?.follow ?? false };
          if (opts && opts.tail >= 0) readOpts.tail = opts.tail;
          // the runtime filters streams before the tail: "--tail 1 --stderr" is the last stderr line
          if (streams.size) readOpts.streams = [...streams].map(runtimeStream);
          if (opts?.since) readOpts.since = Date.parse(opts.since);
          for await (const e of this.opts.runtime.logs(t.handle!, readOpts)) {
            if (signal.aborted) break;
            const stream = wireStream(e.stream);
            if (streams.size && !streams.has(stream)) continue;
            batch.push({
              context: { serviceId: t.serviceId, nodeId, taskId: t.taskId },
              timestamp: e.timestamp || isoTime(e.time),
              stream,
              data: Buffer.from(e.text + '\n'),
            });
            if (batch.length >= batchSize) await flush();
            // Following: live lines go out within a short window instead of waiting for a full batch.
            else if (readOpts.follow && !timer) timer = setTimeout(() => void flush(), 25);
          }
        } catch (err) {
          if (!signal.aborted) this.log.warn('reading task logs failed', { taskId: t.taskId, err: errorMessage(err) });
        }
        await flush();
      }),
    );
    await write({ subscriptionId: sub.id, messages: [], close: true, nodeId });
    pub.end();
    await done;
  }
}
