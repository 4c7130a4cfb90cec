export { KvStateMachine, encodePut, decodePut } from './state-machine.js';
export { raftKvService } from './service.js';
