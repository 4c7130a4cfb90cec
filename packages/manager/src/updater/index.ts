export * from './config.js';
export * from './dirty.js';
export * from './tracker.js';
export * from './updater.js';
