// A linearizability checker for the KV history (Wing & Gong's search with Lowe's memoization of
// (linearized set, state) pairs), run separately per key: a KV map is linearizable iff each
// key's sub-history is, since every operation touches one key.
//
// Operations whose outcome is unknown (no return) may take effect at any point after their
// invocation, or never.
import type { HistoryOp } from './cluster.js';

type State = string | null;

/** applies op to state; returns the new state, or undefined if op's observed output is impossible */
function stepModel(state: State, op: HistoryOp): State | undefined {
  switch (op.kind) {
    case 'put':
      return op.value;
    case 'get':
      if (op.ret === undefined) return state;
      return op.output === state ? state : undefined;
    case 'cas': {
      const swapped = state === op.expect;
      if (op.ret !== undefined && op.output !== swapped) return undefined;
      return swapped ? op.value : state;
    }
  }
}

interface Event {
  op: HistoryOp;
  slot: number;
  isCall: boolean;
  time: number;
  match: Event | undefined;
  prev: Event | undefined;
  next: Event | undefined;
}

/** checks one key's history */
export function checkKey(ops: HistoryOp[]): boolean {
  const events: Event[] = [];
  ops.forEach((op, slot) => {
    const call: Event = { op, slot, isCall: true, time: op.invoke, match: undefined, prev: undefined, next: undefined };
    events.push(call);
    // an open operation returns "at infinity": once only those are left, the search is done
    const ret: Event = { op, slot, isCall: false, time: op.ret ?? Number.POSITIVE_INFINITY, match: call, prev: undefined, next: undefined };
    call.match = ret;
    events.push(ret);
  });
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.slot - b.slot : a.isCall ? -1 : 1));
  const head: Event = { op: ops[0] as HistoryOp, slot: -1, isCall: false, time: -1, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  const lift = (e: Event): void => {
    (e.prev as Event).next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match as Event;
    (m.prev as Event).next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Event): void => {
    const m = e.match as Event;
    (m.prev as Event).next = m;
    if (m.next) m.next.prev = m;
    (e.prev as Event).next = e;
    if (e.next) e.next.prev = e;
  };

  let state: State = null;
  let linearized = 0n;
  const cache = new Set<string>();
  const stack: { e: Event; state: State }[] = [];
  let entry = head.next;
  while (entry) {
    if (!entry.isCall && entry.time === Number.POSITIVE_INFINITY) return true; // only open ops remain
    if (entry.isCall) {
      const next = stepModel(state, entry.op);
      if (next !== undefined) {
        const lin = linearized | (1n << BigInt(entry.slot));
        const key = `${lin.toString(36)}|${next === null ? '\u0000' : next}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ e: entry, state });
          state = next;
          linearized = lin;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      // a return whose call could not be linearized before it: backtrack
      const top = stack.pop();
      if (!top) return false;
      state = top.state;
      linearized &= ~(1n << BigInt(top.e.slot));
      unlift(top.e);
      entry = top.e.next;
    }
  }
  return true;
}

export function checkHistory(history: HistoryOp[]): { ok: true } | { ok: false; key: string } {
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  for (const [key, ops] of byKey) {
    if (!checkKey(ops)) return { ok: false, key };
  }
  return { ok: true };
}
