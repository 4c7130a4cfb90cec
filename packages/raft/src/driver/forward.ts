// Proposals a follower forwards to the leader (Raft.Propose): one gRPC client per leader address,
// kept until the node stops.
import { RaftClient, createClient, grpc } from '@shoal/api';
import type { Clock } from '../clock.js';
import { RaftError, type NodeId } from '../core/types.js';

export interface ProposalForwarderDeps {
  /** the members' addresses (read live at each call) */
  members: ReadonlyMap<NodeId, string>;
  clock: Clock;
  /** deadline of a forwarded proposal */
  timeoutMs: number;
}

export class ProposalForwarder {
  private readonly clients = new Map<string, RaftClient>();

  constructor(private readonly d: ProposalForwarderDeps) {}

  /** proposes `data` on `leader`; resolves with its index once the leader applied it */
  async propose(leader: NodeId, data: Uint8Array): Promise<number> {
    const addr = this.d.members.get(leader);
    if (!addr) throw new RaftError('NotLeader', 'leader address unknown', leader);
    let c = this.clients.get(addr);
    if (!c) {
      c = createClient(RaftClient, addr);
      this.clients.set(addr, c);
    }
    const client = c;
    const res = await new Promise<{ index: number }>((resolve, reject) => {
      client.propose({ data: Buffer.from(data) }, new grpc.Metadata(), { deadline: this.d.clock.now() + this.d.timeoutMs }, (err, r) => (err ? reject(err) : resolve(r)));
    });
    return res.index;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}
