// The log broker: matches clients' log subscriptions (Logs.SubscribeLogs) with the agents that
// hold the logs (LogBroker.ListenSubscriptions / PublishLogs). A subscription is resolved against
// the store into tasks, the tasks into nodes; every node that runs a matching task is asked
// (through its ListenSubscriptions stream) to publish the logs of exactly those tasks, and the
// messages of all of them are merged into the client's stream as they come.
//
// A subscription ends:
//  - without follow: when every asked node has closed its publication (close=true);
//  - with follow: when every asked node has closed (its tasks' logs ended), or when the client
//    goes away (the nodes are told close=true);
//  - with an Unavailable status naming the node when a node holding a live task is not connected
//    at the start, or its streams break (the process died) or the store marks it DOWN before it
//    finished: with follow at once, without follow after the other nodes are done.
// It never waits forever on a node: one that does not open its publication within
// `publisherTimeoutMs` counts as gone.
import {
  NodeState,
  ShoalError,
  TaskState,
  type LogSelector,
  type LogSubscriptionOptions,
  type Node,
  type PublishLogsMessage,
  type SubscribeLogsMessage,
  type SubscribeLogsRequest,
  type SubscriptionMessage,
  type Task,
} from '@shoal/api';
import type { ManagerState, ReadTx } from '../state/state.js';
import { realClock, type Clock, type Timer } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/log.js';

export interface LogBrokerOptions {
  state: ManagerState;
  newId: () => string;
  clock?: Clock;
  log?: Logger;
  /** a node asked to publish that does not open its publication within this time is gone (default 30 s) */
  publisherTimeoutMs?: number;
}

/** Where a subscription's output goes (the client's stream). */
export interface LogSink {
  write(msg: SubscribeLogsMessage): void;
  /** the end of the stream: OK without an error */
  end(err?: ShoalError): void;
}

type PublisherState = 'asked' | 'open' | 'closed' | 'gone';

interface Subscription {
  id: string;
  options: LogSubscriptionOptions;
  sink: LogSink;
  /** node id -> task ids asked of it */
  tasks: Map<string, string[]>;
  publishers: Map<string, PublisherState>;
  /** why logs are incomplete, one line per node */
  problems: string[];
  timers: Map<string, Timer>;
  done: boolean;
}

interface Listener {
  nodeId: string;
  send: (m: SubscriptionMessage) => void;
}

function nodeName(n: Node | undefined, id: string): string {
  const host = n?.description?.hostname || n?.spec?.annotations?.name;
  return host ? `node ${id} (${host})` : `node ${id}`;
}

function isLive(t: Task): boolean {
  return (t.status?.state ?? TaskState.NEW) < TaskState.COMPLETE;
}

/** The tasks a selector names. NotFound for an unknown service or task id. */
export function selectTasks(tx: ReadTx, sel: LogSelector): Task[] {
  const out = new Map<string, Task>();
  for (const id of sel.serviceIds) {
    if (!tx.get('services', id)) throw new ShoalError('NotFound', `service ${id} not found`);
    for (const t of tx.tasksByService(id)) out.set(t.id, t);
  }
  for (const id of sel.taskIds) {
    const t = tx.get('tasks', id);
    if (!t) throw new ShoalError('NotFound', `task ${id} not found`);
    out.set(t.id, t);
  }
  for (const id of sel.nodeIds) {
    if (!tx.get('nodes', id)) throw new ShoalError('NotFound', `node ${id} not found`);
    for (const t of tx.tasksByNode(id)) out.set(t.id, t);
  }
  return [...out.values()];
}

export class LogBroker {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly listeners = new Map<string, Listener>();
  private readonly subs = new Map<string, Subscription>();
  private unwatch: (() => void) | undefined;

  constructor(private readonly o: LogBrokerOptions) {
    this.clock = o.clock ?? realClock;
    this.log = (o.log ?? silentLogger).child({ component: 'logbroker' });
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  isListening(nodeId: string): boolean {
    return this.listeners.has(nodeId);
  }

  // ------------------------------------------------------------ agents

  /**
   * An agent listens for subscriptions. Returns the function to call when its stream ends: the
   * subscriptions still waiting on that node lose it.
   */
  listen(nodeId: string, send: (m: SubscriptionMessage) => void): () => void {
    if (!nodeId) throw new ShoalError('InvalidArgument', 'listen subscriptions: node_id is required', { field: 'node_id' });
    const l: Listener = { nodeId, send };
    const prev = this.listeners.get(nodeId);
    this.listeners.set(nodeId, l);
    this.log.debug('node listening for log subscriptions', { nodeId, replaced: !!prev });
    return () => {
      if (this.listeners.get(nodeId) !== l) return;
      this.listeners.delete(nodeId);
      this.nodeGone(nodeId, 'its connection to the manager closed');
    };
  }

  /** One message of a node's publication. */
  publish(msg: PublishLogsMessage): void {
    const sub = this.subs.get(msg.subscriptionId);
    if (!sub || sub.done) return;
    const nodeId = msg.nodeId || msg.messages[0]?.context?.nodeId || '';
    const st = sub.publishers.get(nodeId);
    if (st === undefined || st === 'closed' || st === 'gone') {
      if (st === undefined) this.log.debug('publication from a node not asked', { subscriptionId: sub.id, nodeId });
      return;
    }
    if (st === 'asked') {
      sub.publishers.set(nodeId, 'open');
      sub.timers.get(nodeId)?.cancel();
      sub.timers.delete(nodeId);
    }
    const wanted = new Set(sub.tasks.get(nodeId));
    const messages = msg.messages.filter((m) => wanted.has(m.context?.taskId ?? ''));
    if (messages.length) sub.sink.write({ messages });
    if (msg.close) {
      sub.publishers.set(nodeId, 'closed');
      this.maybeFinish(sub);
    }
  }

  /** A node's publication stream ended; without a close message before, the node is gone. */
  publicationEnded(subscriptionId: string, nodeId: string, reason: string): void {
    const sub = this.subs.get(subscriptionId);
    if (!sub || sub.done) return;
    const st = sub.publishers.get(nodeId);
    if (st === 'asked' || st === 'open') this.lose(sub, nodeId, reason);
  }

  // ------------------------------------------------------------ clients

  /**
   * Starts a subscription: its messages and its end go to `sink`. Returns the function that
   * cancels it (the client went away). Throws InvalidArgument/NotFound for a bad selector.
   */
  subscribe(req: SubscribeLogsRequest, sink: LogSink): () => void {
    const sel = req.selector;
    if (!sel || sel.serviceIds.length + sel.taskIds.length + sel.nodeIds.length === 0) {
      throw new ShoalError('InvalidArgument', 'a log subscription needs a service, task or node id', { field: 'selector' });
    }
    const options: LogSubscriptionOptions = req.options ?? { streams: [], follow: false, tail: -1, since: undefined };
    const sub: Subscription = {
      id: this.o.newId(),
      options,
      sink,
      tasks: new Map(),
      publishers: new Map(),
      problems: [],
      timers: new Map(),
      done: false,
    };
    this.o.state.view((tx) => {
      for (const t of selectTasks(tx, sel)) {
        if (!t.nodeId) continue;
        if (!this.listeners.has(t.nodeId)) {
          // history on a node that is gone is not worth an error; a live task's logs are
          if (isLive(t)) {
            const why = `${nodeName(tx.get('nodes', t.nodeId), t.nodeId)} is not connected`;
            if (!sub.problems.includes(why)) sub.problems.push(why);
          }
          continue;
        }
        const list = sub.tasks.get(t.nodeId) ?? [];
        list.push(t.id);
        sub.tasks.set(t.nodeId, list);
      }
    });
    this.subs.set(sub.id, sub);
    this.ensureWatch();
    this.log.debug('log subscription', { subscriptionId: sub.id, nodes: [...sub.tasks.keys()], follow: options.follow, missing: sub.problems });
    if (options.follow && sub.problems.length) {
      this.finish(sub);
      return () => {};
    }
    const timeout = this.o.publisherTimeoutMs ?? 30_000;
    for (const [nodeId, taskIds] of sub.tasks) {
      sub.publishers.set(nodeId, 'asked');
      sub.timers.set(nodeId, this.clock.setTimer(timeout, () => this.lose(sub, nodeId, `did not answer within ${timeout} ms`)));
      this.listeners.get(nodeId)!.send({ id: sub.id, selector: { serviceIds: [], nodeIds: [], taskIds }, options, close: false });
    }
    this.maybeFinish(sub);
    return () => {
      if (!sub.done) this.finish(sub, true);
    };
  }

  /** Ends every subscription (the manager stops). */
  close(): void {
    for (const sub of [...this.subs.values()]) {
      sub.problems.push('the manager is shutting down');
      this.finish(sub);
    }
    this.unwatch?.();
    this.unwatch = undefined;
  }

  // ------------------------------------------------------------ internals

  private ensureWatch(): void {
    if (this.unwatch) return;
    this.unwatch = this.o.state.subscribe((c) => {
      if (this.subs.size === 0) return;
      for (const ch of c.changes) {
        if (ch.table !== 'nodes' || ch.action === 'create') continue;
        const n = ch.object as Node;
        if (ch.action === 'delete') this.nodeGone(n.id, 'it was removed from the cluster');
        else if (n.status?.state === NodeState.NODE_DOWN) this.nodeGone(n.id, `it is down (${n.status.message || 'no heartbeat'})`);
      }
    });
  }

  private nodeGone(nodeId: string, reason: string): void {
    for (const sub of [...this.subs.values()]) {
      const st = sub.publishers.get(nodeId);
      if (st === 'asked' || st === 'open') this.lose(sub, nodeId, reason);
    }
  }

  private lose(sub: Subscription, nodeId: string, reason: string): void {
    if (sub.done) return;
    sub.publishers.set(nodeId, 'gone');
    sub.timers.get(nodeId)?.cancel();
    sub.timers.delete(nodeId);
    const node = this.o.state.view((tx) => tx.get('nodes', nodeId));
    sub.problems.push(`${nodeName(node, nodeId)} stopped publishing: ${reason}`);
    this.log.info('log publisher lost', { subscriptionId: sub.id, nodeId, reason });
    if (sub.options.follow) this.finish(sub);
    else this.maybeFinish(sub);
  }

  private maybeFinish(sub: Subscription): void {
    for (const st of sub.publishers.values()) if (st === 'asked' || st === 'open') return;
    this.finish(sub);
  }

  /** Ends the subscription: tells the nodes still publishing to stop, ends the client's stream. */
  private finish(sub: Subscription, cancelled = false): void {
    if (sub.done) return;
    sub.done = true;
    this.subs.delete(sub.id);
    for (const t of sub.timers.values()) t.cancel();
    sub.timers.clear();
    for (const [nodeId, st] of sub.publishers) {
      if (st !== 'asked' && st !== 'open') continue;
      try {
        this.listeners.get(nodeId)?.send({ id: sub.id, selector: undefined, options: undefined, close: true });
      } catch (err) {
        this.log.debug('telling a node to stop publishing failed', { nodeId, err: (err as Error).message });
      }
    }
    if (this.subs.size === 0) {
      this.unwatch?.();
      this.unwatch = undefined;
    }
    if (cancelled) return;
    if (sub.problems.length) sub.sink.end(new ShoalError('Unavailable', `incomplete logs: ${sub.problems.join('; ')}`));
    else sub.sink.end();
  }
}
