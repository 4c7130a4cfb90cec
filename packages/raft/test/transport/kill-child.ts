// Child for transport-broken.test.ts: a transport (id 9) that streams to the parent's node and
// prints "connected" once the stream is up; the parent then SIGKILLs this process.
import { startNode, msg, waitFor } from './helpers.js';

const target = process.argv[2];
if (!target) throw new Error('usage: kill-child.ts ADDR');
const n = await startNode(9);
n.t.addPeer(1, target);
n.t.send([msg(9, 1, 1)]);
await waitFor('stream to parent', () => n.t.peerState(1) === 'connected');
process.stdout.write('connected\n');
setInterval(() => n.t.send([msg(9, 1, 2)]), 50);
