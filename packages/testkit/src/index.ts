// @shoal/testkit: a harness of real shoald processes for integration tests and benchmarks.
export { startCluster, Cluster, type ClusterOptions } from './cluster.js';
export { NodeProcess, killAllChildren, shoaldCommand, REPO_ROOT, type ExitInfo, type NodeRoleName } from './process.js';
export { controlClient, promisifiedClient, type ControlApi, type Promisified, type CallOpts } from './client.js';
export { waitFor, observed, WaitTimeoutError, type Check, type WaitOptions } from './wait.js';
export { freePort, freePorts } from './ports.js';
export { fetchText, parseMetrics, metricValue, type Sample } from './metrics.js';
export * from './services.js';
export { containerdUp, type ContainerdUpOptions, type PrivateContainerd } from './containerd.js';
export { measureDeploy, measureFailover } from './measure.js';
export { HollowFarm, type HollowFarmOptions, type HollowFarmStats } from './hollow-farm.js';
export { FarmProcess, type FarmProcessOptions } from './hollow-farm-process.js';
