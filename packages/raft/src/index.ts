export * from './core/types.js';
export { RawNode, type Status, type ProgressStatus } from './core/rawnode.js';
export { MemoryStorage } from './core/memory-storage.js';
export { encodeConfChange, decodeConfChange, applyToConfState } from './core/confchange.js';
export { newMessage } from './core/message.js';
export type { TestingKnobs } from './core/raft.js';
export { LevelStorage, type LevelStorageOptions } from './storage/index.js';
export { RaftTransport, createLogger, type TransportHandler, type TransportOptions, type Logger } from './transport/index.js';
