export { RaftTransport, type TransportHandler, type TransportOptions } from './transport.js';
export { messageToWire, messageFromWire } from './codec.js';
export { createLogger, type Logger, type LogLevel } from './logger.js';
