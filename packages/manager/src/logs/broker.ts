// The log broker: matches clients' log subscriptions (Logs.SubscribeLogs) with the agents that
// hold the logs (LogBroker.ListenSubscriptions / PublishLogs). A subscription is resolved against
// the store into tasks, the tasks into nodes; every node that runs a matching task is asked
// (through its ListenSubscriptions stream) to publish the logs of exactly those tasks, and the
// messages of all of them are merged into the client's stream as they come. Each ask is a
// publication with its own id (`<subscription>.<n>`); a follow of a service or node asks again for
// each task of it that starts running later (all of its lines), so a replaced or scaled-up task
// shows up in the stream.
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

type PublicationState = 'asked' | 'open' | 'closed' | 'gone';

/** One ask of one node: publish these tasks' logs under this id. */
interface Publication {
  id: string;
  nodeId: string;
  tasks: ReadonlySet<string>;
  state: PublicationState;
  timer: Timer | undefined;
}

interface Subscription {
  id: string;
  selector: LogSelector;
  options: LogSubscriptionOptions;
  sink: LogSink;
  publications: Map<string, Publication>;
  /** every task asked for so far (a follow picks up tasks that start later) */
  asked: Set<string>;
  /** why logs are incomplete, one line per node */
  problems: string[];
  done: boolean;
  seq: number;
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
  /** publication id -> its subscription (what PublishLogs messages are routed by) */
  private readonly pubs = new Map<string, { sub: Subscription; pub: Publication }>();
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
    const found = this.pubs.get(msg.subscriptionId);
    if (!found || found.sub.done) return;
    const { sub, pub } = found;
    const nodeId = msg.nodeId || msg.messages[0]?.context?.nodeId || '';
    if (nodeId !== pub.nodeId) {
      this.log.debug('publication from a node not asked', { subscriptionId: sub.id, nodeId, asked: pub.nodeId });
      return;
    }
    if (pub.state === 'closed' || pub.state === 'gone') return;
    if (pub.state === 'asked') {
      pub.state = 'open';
      pub.timer?.cancel();
      pub.timer = undefined;
    }
    const messages = msg.messages.filter((m) => pub.tasks.has(m.context?.taskId ?? ''));
    if (messages.length) sub.sink.write({ messages });
    if (msg.close) {
      pub.state = 'closed';
      this.pubs.delete(pub.id);
      this.maybeFinish(sub);
    }
  }

  /** A node's publication stream ended; without a close message before, the node is gone. */
  publicationEnded(publicationId: string, nodeId: string, reason: string): void {
    const found = this.pubs.get(publicationId);
    if (!found || found.sub.done || found.pub.nodeId !== nodeId) return;
    if (found.pub.state === 'asked' || found.pub.state === 'open') this.lose(found.sub, found.pub, reason);
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
      selector: sel,
      options,
      sink,
      publications: new Map(),
      asked: new Set(),
      problems: [],
      done: false,
      seq: 0,
    };
    const byNode = new Map<string, string[]>();
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
        byNode.set(t.nodeId, [...(byNode.get(t.nodeId) ?? []), t.id]);
      }
    });
    this.subs.set(sub.id, sub);
    this.ensureWatch();
    this.log.debug('log subscription', { subscriptionId: sub.id, nodes: [...byNode.keys()], follow: options.follow, missing: sub.problems });
    if (options.follow && sub.problems.length) {
      this.finish(sub);
      return () => {};
    }
    for (const [nodeId, taskIds] of byNode) this.ask(sub, nodeId, taskIds, options);
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

  /** Asks `nodeId` to publish the logs of `taskIds` under a new publication id. */
  private ask(sub: Subscription, nodeId: string, taskIds: string[], options: LogSubscriptionOptions): void {
    const listener = this.listeners.get(nodeId);
    if (!listener) return;
    const timeout = this.o.publisherTimeoutMs ?? 30_000;
    const pub: Publication = { id: `${sub.id}.${++sub.seq}`, nodeId, tasks: new Set(taskIds), state: 'asked', timer: undefined };
    for (const id of taskIds) sub.asked.add(id);
    sub.publications.set(pub.id, pub);
    this.pubs.set(pub.id, { sub, pub });
    pub.timer = this.clock.setTimer(timeout, () => this.lose(sub, pub, `did not answer within ${timeout} ms`));
    listener.send({ id: pub.id, selector: { serviceIds: [], nodeIds: [], taskIds }, options, close: false });
  }

  private ensureWatch(): void {
    if (this.unwatch) return;
    this.unwatch = this.o.state.subscribe((c) => {
      if (this.subs.size === 0) return;
      for (const ch of c.changes) {
        if (ch.action === 'create' && ch.table !== 'tasks') continue;
        if (ch.table === 'nodes') {
          const n = ch.object as Node;
          if (ch.action === 'delete') this.nodeGone(n.id, 'it was removed from the cluster');
          else if (n.status?.state === NodeState.NODE_DOWN) this.nodeGone(n.id, `it is down (${n.status.message || 'no heartbeat'})`);
        } else if (ch.table === 'tasks' && ch.action !== 'delete') {
          this.taskChanged(ch.object as Task);
        }
      }
    });
  }

  /** Following a service or node: a task of it that starts running later is asked for too. */
  private taskChanged(t: Task): void {
    if (!t.nodeId || (t.status?.state ?? TaskState.NEW) < TaskState.RUNNING || !this.listeners.has(t.nodeId)) return;
    for (const sub of this.subs.values()) {
      if (sub.done || !sub.options.follow || sub.asked.has(t.id)) continue;
      if (!sub.selector.serviceIds.includes(t.serviceId) && !sub.selector.nodeIds.includes(t.nodeId)) continue;
      // everything the new task wrote (within `since`): it started after the subscription
      this.ask(sub, t.nodeId, [t.id], { ...sub.options, tail: -1 });
    }
  }

  private nodeGone(nodeId: string, reason: string): void {
    for (const sub of [...this.subs.values()]) {
      for (const pub of [...sub.publications.values()]) {
        if (pub.nodeId === nodeId && (pub.state === 'asked' || pub.state === 'open')) this.lose(sub, pub, reason);
      }
    }
  }

  private lose(sub: Subscription, pub: Publication, reason: string): void {
    if (sub.done || pub.state === 'gone' || pub.state === 'closed') return;
    pub.state = 'gone';
    pub.timer?.cancel();
    pub.timer = undefined;
    this.pubs.delete(pub.id);
    const node = this.o.state.view((tx) => tx.get('nodes', pub.nodeId));
    const why = `${nodeName(node, pub.nodeId)} stopped publishing: ${reason}`;
    if (!sub.problems.includes(why)) sub.problems.push(why);
    this.log.info('log publisher lost', { subscriptionId: sub.id, nodeId: pub.nodeId, reason });
    if (sub.options.follow) this.finish(sub);
    else this.maybeFinish(sub);
  }

  private maybeFinish(sub: Subscription): void {
    for (const p of sub.publications.values()) if (p.state === 'asked' || p.state === 'open') return;
    this.finish(sub);
  }

  /** Ends the subscription: tells the nodes still publishing to stop, ends the client's stream. */
  private finish(sub: Subscription, cancelled = false): void {
    if (sub.done) return;
    sub.done = true;
    this.subs.delete(sub.id);
    for (const pub of sub.publications.values()) {
      pub.timer?.cancel();
      pub.timer = undefined;
      this.pubs.delete(pub.id);
      if (pub.state !== 'asked' && pub.state !== 'open') continue;
      try {
        this.listeners.get(pub.nodeId)?.send({ id: pub.id, selector: undefined, options: undefined, close: true });
      } catch (err) {
        this.log.debug('telling a node to stop publishing failed', { nodeId: pub.nodeId, err: (err as Error).message });
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
