// @shoal/runtime: the Runtime interface (the only door to containers) and its implementations.
export * from './runtime.js';
export { RuntimeError, isRuntimeError, fromGrpcError } from './errors.js';
export { parseCriLogLine, parseCriLog, CriLogAssembler, readCriLogFile, parseRfc3339NanoMs, type CriLogRecord } from './logs.js';
export { CriRuntime, type CriRuntimeOptions } from './cri/runtime.js';
export { HollowRuntime, ManualScheduler, realScheduler, normalizeRef, type HollowRuntimeOptions, type HollowScheduler, type HollowFailure, type HollowStage } from './hollow.js';
