// A persistent (immutable, structurally shared) B+tree keyed by strings in code-unit order.
//
// A published tree is never mutated: readers holding its root see a stable snapshot for as long
// as they keep it. Writers go through a `TreeBuilder`, which path-copies nodes on first touch and
// then mutates its own copies in place (ownership is an "edit" token, as in Clojure transients),
// so a batch of k writes copies each touched node once, not k times. `finish()` publishes the
// new root and retires the token; nodes of the retired token are frozen by convention.

/** Ownership token of one builder. Nodes created under a live token may be mutated in place. */
export type Edit = { readonly owner: 'edit' };

const MAX = 64; // max entries per node; a node that exceeds it splits in two
const MIN = 16; // a node below it is merged with a sibling when the two fit in one

export class Leaf<V> {
  constructor(
    public keys: string[],
    public vals: V[],
    public edit: Edit | null,
  ) {}
}

export class Branch<V> {
  // keys[i] is the smallest key under kids[i]
  constructor(
    public keys: string[],
    public kids: TreeNode<V>[],
    public edit: Edit | null,
  ) {}
}

export type TreeNode<V> = Leaf<V> | Branch<V>;

/** First position whose key is >= key. */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Child of a branch that may hold key: the last one whose smallest key is <= key (or the first). */
function childIndex(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 0 : lo - 1;
}

function own<V>(n: TreeNode<V>, edit: Edit): TreeNode<V> {
  if (n.edit === edit) return n;
  return n instanceof Leaf ? new Leaf(n.keys.slice(), n.vals.slice(), edit) : new Branch(n.keys.slice(), n.kids.slice(), edit);
}

interface InsertResult<V> {
  added: boolean;
  split: TreeNode<V> | null;
}

function insert<V>(node: TreeNode<V>, key: string, val: V, edit: Edit, res: InsertResult<V>): TreeNode<V> {
  if (node instanceof Leaf) {
    const i = lowerBound(node.keys, key);
    const n = own(node, edit) as Leaf<V>;
    if (i < n.keys.length && n.keys[i] === key) {
      n.vals[i] = val;
      res.added = false;
      return n;
    }
    n.keys.splice(i, 0, key);
    n.vals.splice(i, 0, val);
    res.added = true;
    if (n.keys.length > MAX) {
      const half = n.keys.length >>> 1;
      res.split = new Leaf(n.keys.splice(half), n.vals.splice(half), edit);
    }
    return n;
  }
  const i = childIndex(node.keys, key);
  const child = insert(node.kids[i]!, key, val, edit, res);
  const n = own(node, edit) as Branch<V>;
  n.kids[i] = child;
  n.keys[i] = child.keys[0]!;
  const split = res.split;
  if (split) {
    res.split = null;
    n.kids.splice(i + 1, 0, split);
    n.keys.splice(i + 1, 0, split.keys[0]!);
    if (n.kids.length > MAX) {
      const half = n.kids.length >>> 1;
      res.split = new Branch(n.keys.splice(half), n.kids.splice(half), edit);
    }
  }
  return n;
}

function merge<V>(a: TreeNode<V>, b: TreeNode<V>, edit: Edit): TreeNode<V> {
  if (a instanceof Leaf && b instanceof Leaf) return new Leaf(a.keys.concat(b.keys), a.vals.concat(b.vals), edit);
  const x = a as Branch<V>;
  const y = b as Branch<V>;
  return new Branch(x.keys.concat(y.keys), x.kids.concat(y.kids), edit);
}

/** Returns the node after removing key (res.removed says whether key was there). */
function remove<V>(node: TreeNode<V>, key: string, edit: Edit, res: { removed: boolean }): TreeNode<V> {
  if (node instanceof Leaf) {
    const i = lowerBound(node.keys, key);
    if (i >= node.keys.length || node.keys[i] !== key) return node;
    const n = own(node, edit) as Leaf<V>;
    n.keys.splice(i, 1);
    n.vals.splice(i, 1);
    res.removed = true;
    return n;
  }
  const i = childIndex(node.keys, key);
  const child = remove(node.kids[i]!, key, edit, res);
  if (!res.removed) return node;
  const n = own(node, edit) as Branch<V>;
  if (child.keys.length === 0) {
    n.kids.splice(i, 1);
    n.keys.splice(i, 1);
    return n;
  }
  n.kids[i] = child;
  n.keys[i] = child.keys[0]!;
  if (child.keys.length < MIN && n.kids.length > 1) {
    const j = i + 1 < n.kids.length ? i + 1 : i - 1;
    const a = Math.min(i, j);
    const left = n.kids[a]!;
    const right = n.kids[a + 1]!;
    if (left.keys.length + right.keys.length <= MAX) {
      n.kids.splice(a, 2, merge(left, right, edit));
      n.keys.splice(a + 1, 1);
    }
  }
  return n;
}

/** Visits entries with key >= start in order; stops when fn returns false. Returns false if stopped. */
function walk<V>(node: TreeNode<V>, start: string | undefined, fn: (key: string, val: V) => boolean | void): boolean {
  if (node instanceof Leaf) {
    const keys = node.keys;
    const vals = node.vals;
    for (let i = start === undefined ? 0 : lowerBound(keys, start); i < keys.length; i++) {
      if (fn(keys[i]!, vals[i]!) === false) return false;
    }
    return true;
  }
  const kids = node.kids;
  let i = start === undefined ? 0 : childIndex(node.keys, start);
  if (!walk(kids[i]!, start, fn)) return false;
  for (i++; i < kids.length; i++) if (!walk(kids[i]!, undefined, fn)) return false;
  return true;
}

function lookup<V>(root: TreeNode<V>, key: string): V | undefined {
  let n = root;
  while (n instanceof Branch) n = n.kids[childIndex(n.keys, key)]!;
  const i = lowerBound(n.keys, key);
  return i < n.keys.length && n.keys[i] === key ? n.vals[i] : undefined;
}

const EMPTY_LEAF = new Leaf<never>([], [], null);

/** An immutable sorted map from string keys to values. */
export class PTree<V> {
  private constructor(
    /** @internal */ readonly root: TreeNode<V>,
    readonly size: number,
  ) {}

  static empty<V>(): PTree<V> {
    return new PTree<V>(EMPTY_LEAF as TreeNode<V>, 0);
  }

  /** @internal */
  static of<V>(root: TreeNode<V>, size: number): PTree<V> {
    return new PTree(root, size);
  }

  get(key: string): V | undefined {
    return lookup(this.root, key);
  }

  /** Visits entries in key order starting at the first key >= start; fn returns false to stop. */
  forEach(fn: (key: string, val: V) => boolean | void, start?: string): void {
    walk(this.root, start, fn);
  }

  /** Visits the entries whose key starts with prefix, in key order. */
  forEachPrefix(prefix: string, fn: (key: string, val: V) => void): void {
    walk(this.root, prefix, (k, v) => {
      if (!k.startsWith(prefix)) return false;
      fn(k, v);
      return true;
    });
  }

  /** The first value whose key starts with prefix. */
  firstWithPrefix(prefix: string): V | undefined {
    let found: V | undefined;
    walk(this.root, prefix, (k, v) => {
      if (k.startsWith(prefix)) found = v;
      return false;
    });
    return found;
  }

  values(): V[] {
    const out: V[] = new Array<V>(this.size);
    let i = 0;
    walk(this.root, undefined, (_k, v) => {
      out[i++] = v;
    });
    return out;
  }

  builder(edit: Edit = { owner: 'edit' }): TreeBuilder<V> {
    return new TreeBuilder(this, edit);
  }
}

/** Batches writes onto a PTree; the source tree stays unchanged. Use once, then `finish()`. */
export class TreeBuilder<V> {
  private root: TreeNode<V>;
  private count: number;
  private edit: Edit | null;
  private readonly res: InsertResult<V> = { added: false, split: null };

  constructor(from: PTree<V>, edit: Edit) {
    this.root = from.root;
    this.count = from.size;
    this.edit = edit;
  }

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return lookup(this.root, key);
  }

  firstWithPrefix(prefix: string): V | undefined {
    return PTree.of(this.root, this.count).firstWithPrefix(prefix);
  }

  set(key: string, val: V): void {
    const edit = this.live();
    const res = this.res;
    res.split = null;
    const n = insert(this.root, key, val, edit, res);
    const split = res.split as TreeNode<V> | null;
    if (split) {
      this.root = new Branch([n.keys[0]!, split.keys[0]!], [n, split], edit);
      res.split = null;
    } else {
      this.root = n;
    }
    if (res.added) this.count++;
  }

  /** Removes key; returns whether it was present. */
  delete(key: string): boolean {
    const edit = this.live();
    const res = { removed: false };
    const n = remove(this.root, key, edit, res);
    if (!res.removed) return false;
    let r: TreeNode<V> = n;
    while (r instanceof Branch && r.kids.length <= 1) r = r.kids.length === 0 ? (EMPTY_LEAF as TreeNode<V>) : r.kids[0]!;
    this.root = r;
    this.count--;
    return true;
  }

  /** Publishes the result; the builder cannot be written to afterwards. */
  finish(): PTree<V> {
    this.edit = null;
    return PTree.of(this.root, this.count);
  }

  private live(): Edit {
    if (!this.edit) throw new Error('TreeBuilder used after finish()');
    return this.edit;
  }
}
