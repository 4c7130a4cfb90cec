// Follows one Assignments stream: a COMPLETE set first, then INCREMENTAL changes chained by
// sequence numbers (applies_to of a change = results_in of the one before). A gap means changes
// were lost: the stream must be reopened to get a new COMPLETE set.
import { AssignmentAction, AssignmentsType, ShoalError, type AssignmentsMessage, type Config, type Secret, type Task } from '@shoal/api';

export interface AssignmentDelta {
  complete: boolean;
  updated: Task[];
  /** Task ids no longer assigned (for a COMPLETE set: empty, the set itself says it). */
  removed: string[];
}

export class AssignmentGapError extends ShoalError {
  constructor(expected: number | undefined, got: number) {
    super('FailedPrecondition', expected === undefined ? `assignments: expected a COMPLETE set first, got an INCREMENTAL change` : `assignments: gap (expected applies_to ${expected}, got ${got})`);
    this.name = 'AssignmentGapError';
  }
}

export class AssignmentTracker {
  /** results_in of the last message applied; undefined until a COMPLETE set arrived. */
  seq: number | undefined;
  readonly secrets = new Map<string, Secret>();
  readonly configs = new Map<string, Config>();

  /** Call when a new stream opens: the next message must be a COMPLETE set. */
  reset(): void {
    this.seq = undefined;
  }

  /** Applies one message; throws AssignmentGapError when a change is missing. */
  apply(msg: AssignmentsMessage): AssignmentDelta {
    const complete = msg.type === AssignmentsType.ASSIGNMENTS_COMPLETE;
    if (!complete && (this.seq === undefined || msg.appliesTo !== this.seq)) throw new AssignmentGapError(this.seq, msg.appliesTo);
    if (complete) {
      this.secrets.clear();
      this.configs.clear();
    }
    const updated: Task[] = [];
    const removed: string[] = [];
    for (const ch of msg.changes) {
      const item = ch.assignment?.item;
      if (!item) continue;
      const remove = ch.action === AssignmentAction.ASSIGNMENT_REMOVE;
      switch (item.$case) {
        case 'task':
          if (remove) {
            if (!complete) removed.push(item.task.id);
          } else updated.push(item.task);
          break;
        case 'secret':
          if (remove) this.secrets.delete(item.secret.id);
          else this.secrets.set(item.secret.id, item.secret);
          break;
        case 'config':
          if (remove) this.configs.delete(item.config.id);
          else this.configs.set(item.config.id, item.config);
          break;
      }
    }
    this.seq = msg.resultsIn;
    return { complete, updated, removed };
  }
}
