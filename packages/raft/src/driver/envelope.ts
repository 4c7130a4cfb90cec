// The driver's snapshot format: the member addresses (so that a node restored from a snapshot
// knows where its peers are) followed by the state machine's own bytes.
//   u32 BE length of the members JSON | members JSON | state machine data
import type { NodeId } from '../core/types.js';

export interface SnapshotEnvelope {
  members: Map<NodeId, string>;
  removed: NodeId[];
  data: Uint8Array;
}

export function encodeEnvelope(e: SnapshotEnvelope): Uint8Array {
  const head = Buffer.from(JSON.stringify({ members: [...e.members], removed: e.removed }));
  const out = new Uint8Array(4 + head.byteLength + e.data.byteLength);
  new DataView(out.buffer).setUint32(0, head.byteLength);
  out.set(head, 4);
  out.set(e.data, 4 + head.byteLength);
  return out;
}

export function decodeEnvelope(b: Uint8Array): SnapshotEnvelope {
  if (b.byteLength === 0) return { members: new Map(), removed: [], data: b };
  const len = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
  const head = JSON.parse(Buffer.from(b.buffer, b.byteOffset + 4, len).toString('utf8')) as { members: [number, string][]; removed: number[] };
  return { members: new Map(head.members), removed: head.removed, data: b.subarray(4 + len) };
}
