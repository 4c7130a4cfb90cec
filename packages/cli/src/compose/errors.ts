// Errors and positions for Compose files: every error names file:line:col and the key path.

export interface Pos {
  file: string;
  /** 1-based */
  line: number;
  /** 1-based */
  col: number;
}

export function fmtPos(p: Pos | undefined): string {
  return p ? `${p.file}:${p.line}:${p.col}` : '<unknown>';
}

/** A problem in a Compose file. `message` is `file:line:col: path: reason`. */
export class ComposeError extends Error {
  readonly pos: Pos | undefined;
  readonly path: string;
  readonly reason: string;
  constructor(pos: Pos | undefined, path: string, reason: string) {
    super(`${fmtPos(pos)}: ${path ? `${path}: ` : ''}${reason}`);
    this.name = 'ComposeError';
    this.pos = pos;
    this.path = path;
    this.reason = reason;
  }
}
