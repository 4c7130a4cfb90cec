// The Logs and LogBroker gRPC services of a manager. Agents keep their ListenSubscriptions stream
// on the manager that holds their dispatcher session, which is the leader: the leader's broker
// knows every connected node. So the leader serves SubscribeLogs from its broker, and a follower
// forwards the client's stream to the leader (one hop, marked, so that two managers that both
// think the other leads do not bounce it forever) and relays it back, status included.
import {
  createClient,
  grpc,
  LogBrokerService,
  LogsClient,
  LogsService,
  ShoalError,
  type ListenSubscriptionsRequest,
  type PublishLogsMessage,
  type PublishLogsResponse,
  type SubscribeLogsMessage,
  type SubscribeLogsRequest,
  type SubscriptionMessage,
} from '@shoal/api';
import type { LeaderInfo } from '../controlapi/server.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { LogBroker } from './broker.js';

const FORWARDED = 'shoal-forwarded';

export class LogsServer {
  private readonly clients = new Map<string, LogsClient>();
  private readonly log: Logger;

  constructor(
    private readonly broker: LogBroker,
    private readonly leader: LeaderInfo,
    log?: Logger,
  ) {
    this.log = (log ?? silentLogger).child({ component: 'logs' });
  }

  /** Logs: what clients call (any manager). */
  logsImplementation(): grpc.UntypedServiceImplementation {
    return {
      subscribeLogs: (call: grpc.ServerWritableStream<SubscribeLogsRequest, SubscribeLogsMessage>) => this.subscribeLogs(call),
    };
  }

  /** LogBroker: what agents call. */
  brokerImplementation(): grpc.UntypedServiceImplementation {
    return {
      listenSubscriptions: (call: grpc.ServerWritableStream<ListenSubscriptionsRequest, SubscriptionMessage>) => this.listenSubscriptions(call),
      publishLogs: (call: grpc.ServerReadableStream<PublishLogsMessage, PublishLogsResponse>, cb: grpc.sendUnaryData<PublishLogsResponse>) =>
        this.publishLogs(call, cb),
    };
  }

  register(server: grpc.Server): void {
    server.addService(LogsService, this.logsImplementation());
    server.addService(LogBrokerService, this.brokerImplementation());
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private subscribeLogs(call: grpc.ServerWritableStream<SubscribeLogsRequest, SubscribeLogsMessage>): void {
    let ended = false;
    const fail = (err: unknown): void => {
      if (ended) return;
      ended = true;
      call.emit('error', ShoalError.fromGrpc(err).toGrpc());
    };
    if (!this.leader.isLeader()) {
      const addr = this.leader.leaderAddr();
      if (!addr || call.metadata.get(FORWARDED).length > 0) {
        fail(new ShoalError('Unavailable', addr ? `not the leader; the leader is at ${addr}` : 'no leader elected yet; try again', addr ? { leader: addr } : {}));
        return;
      }
      this.forward(addr, call);
      return;
    }
    try {
      const cancel = this.broker.subscribe(call.request, {
        write: (m) => {
          if (!ended) call.write(m);
        },
        end: (err) => {
          if (ended) return;
          if (err) return fail(err);
          ended = true;
          call.end();
        },
      });
      call.on('cancelled', () => {
        ended = true;
        cancel();
      });
    } catch (err) {
      fail(err);
    }
  }

  /** Relays the client's subscription through the leader. */
  private forward(addr: string, call: grpc.ServerWritableStream<SubscribeLogsRequest, SubscribeLogsMessage>): void {
    let client = this.clients.get(addr);
    if (!client) {
      client = createClient(LogsClient, addr);
      this.clients.set(addr, client);
    }
    const md = new grpc.Metadata();
    md.set(FORWARDED, '1');
    this.log.debug('forwarding a log subscription to the leader', { leader: addr });
    const up = client.subscribeLogs(call.request, md);
    let done = false;
    up.on('data', (m: SubscribeLogsMessage) => {
      if (!done) call.write(m);
    });
    up.on('error', (e: unknown) => {
      if (done) return;
      done = true;
      call.emit('error', ShoalError.fromGrpc(e).toGrpc());
    });
    up.on('end', () => {
      if (done) return;
      done = true;
      call.end();
    });
    call.on('cancelled', () => {
      done = true;
      up.cancel();
    });
  }

  private listenSubscriptions(call: grpc.ServerWritableStream<ListenSubscriptionsRequest, SubscriptionMessage>): void {
    let stop: () => void;
    try {
      stop = this.broker.listen(call.request.nodeId, (m) => call.write(m));
    } catch (err) {
      call.emit('error', ShoalError.fromGrpc(err).toGrpc());
      return;
    }
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
  }

  private publishLogs(call: grpc.ServerReadableStream<PublishLogsMessage, PublishLogsResponse>, cb: grpc.sendUnaryData<PublishLogsResponse>): void {
    // subscription id -> node id of what this stream published and has not closed yet
    const open = new Map<string, string>();
    let finished = false;
    const ended = (reason: string): void => {
      if (finished) return;
      finished = true;
      for (const [subId, nodeId] of open) this.broker.publicationEnded(subId, nodeId, reason);
      open.clear();
    };
    call.on('data', (m: PublishLogsMessage) => {
      const nodeId = m.nodeId || m.messages[0]?.context?.nodeId || '';
      if (m.close) open.delete(m.subscriptionId);
      else open.set(m.subscriptionId, nodeId);
      this.broker.publish(m);
    });
    call.on('end', () => {
      ended('its publication ended without closing');
      cb(null, {});
    });
    call.on('cancelled', () => ended('its publication stream broke'));
    call.on('error', () => ended('its publication stream failed'));
  }
}
