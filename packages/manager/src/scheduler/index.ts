// Scheduler: pure placement core (see scheduler.ts) and the constraint language it shares with
// the Control API's validation.
export { schedule, SchedulerState, type Assignment, type ScheduleInput, type ScheduleResult, type Unschedulable } from './scheduler.js';
export {
  parseConstraint,
  parseConstraints,
  parseSpreadDescriptor,
  matchConstraint,
  matchConstraints,
  nodeAttribute,
  type Constraint,
  type ConstraintKey,
} from './constraint.js';
export { explain, filterNode, requirementsOf, platformMatches, type FilterReason, type NodeInfo, type TaskRequirements } from './filters.js';
