import type { Message, MessageType, NodeId } from './types.js';

const EMPTY = new Uint8Array();

/** a Message with every field that is not given set to its zero value */
export function newMessage(
  p: Partial<Message> & { type: MessageType; from: NodeId; to: NodeId; term: number },
): Message {
  return {
    index: 0,
    logTerm: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot: undefined,
    snapshotOffset: 0,
    snapshotData: EMPTY,
    snapshotDone: false,
    context: EMPTY,
    transfer: false,
    ...p,
  };
}

/** a string key for comparing opaque contexts */
export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i] as number);
  return s;
}
