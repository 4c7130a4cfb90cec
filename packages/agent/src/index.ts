// @shoal/agent: the worker side of Shoal — dispatcher session, task reconciliation, health
// checks, local task db and log publishing.
export { Agent, type AgentOptions, type AgentMetrics, type AgentEvents } from './agent.js';
export { Session, type SessionState, type SessionInfo, type SessionOptions, DEFAULT_HEARTBEAT_MS } from './session.js';
export { Reconciler, type ReconcilerOptions } from './reconciler.js';
export { TaskController, isTerminal, TERMINAL_STATES, type StepResult, type ControllerDeps } from './controller.js';
export { AssignmentTracker, AssignmentGapError, type AssignmentDelta } from './assignments.js';
export { StatusReporter, type ReporterOptions } from './reporter.js';
export { HealthMonitor, healthSpecOf, HEALTH_DEFAULTS, type HealthSpec } from './health.js';
export { TaskDb, type NodeIdentity, type TaskRecord } from './taskdb.js';
export { toTaskContainerSpec, stopOptionsOf, mapMount, mapHosts } from './spec.js';
export { LogPublisher, selectorMatches, type LogSource } from './logs.js';
export { Limiter } from './limiter.js';
export { realClock, sleep, backoffMs, type Clock, type Timer } from './clock.js';
export { jsonLogger, silentLogger, type Logger, type LogLevel } from './log.js';
