export { main, buildProgram } from './main.js';
export * from './compose/index.js';
export { execShoald, shoaldPath } from './daemon.js';
export { table } from './output/table.js';
