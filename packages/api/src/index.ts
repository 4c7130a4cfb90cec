// @shoal/api: the wire API (generated from proto/) plus the few helpers every package shares.
export * from './gen/shoal/v1/types.js';
export * from './gen/shoal/v1/specs.js';
export * from './gen/shoal/v1/objects.js';
export * from './gen/shoal/v1/control.js';
export * from './gen/shoal/v1/dispatcher.js';
export * from './gen/shoal/v1/raft.js';
export * from './gen/shoal/v1/ca.js';
export * from './gen/shoal/v1/logs.js';
export * from './gen/shoal/v1/health.js';
export { Duration } from './gen/google/protobuf/duration.js';
export { Timestamp } from './gen/google/protobuf/timestamp.js';
export * from './errors.js';
export * from './time.js';
export * from './grpc.js';
