import test from 'ava';
import { rmSync as rmTmp } from 'node:fs';
const tmpDirs: string[] = [];
function keep(d: string): string {
  tmpDirs.push(d);
  return d;
}
test.after.always(() => {
  for (const d of tmpDirs) rmTmp(d, { recursive: true, force: true });
});
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient, createClient, HealthClient, ServingStatus, ShoalError, type ControlServer, type HealthCheckRequest, type HealthCheckResponse } from '@shoal/api';
import { daemonLogger } from '../src/log.js';
import type { ManagerServices } from '../src/manager-host.js';
import { unary } from '../src/rpc.js';
import { lazyService, nodeHealth, startServers, stopServer } from '../src/servers.js';

test('services bound before the manager starts answer UNAVAILABLE, then serve; the control socket serves Control and Health', async (t) => {
  let live: ManagerServices | undefined;
  const services: ManagerServices = {
    control: lazyService('control', () => live),
    health: nodeHealth(() => ({ role: 'manager' })),
  };
  const sock = join(keep(mkdtempSync(join(tmpdir(), 'shoald-s-'))), 'control.sock');
  const log = daemonLogger({}, { write: () => {} });
  const servers = await startServers({ listenAddr: '127.0.0.1:0', controlSocket: sock, services, log });
  const tcp = createClient(ControlClient, servers.tcpAddr);
  const local = createClient(ControlClient, `unix:${sock}`);
  const health = createClient(HealthClient, `unix:${sock}`);
  try {
    const early = await t.throwsAsync(unary((r, m, o, cb) => tcp.listNodes(r, m, o, cb), { roles: [], availabilities: [] }, 5_000), { instanceOf: ShoalError });
    t.is(early!.code, 'Unavailable');
    live = { control: { listNodes: (_c, cb) => cb(null, { nodes: [] }) } as Partial<ControlServer> as ControlServer };
    t.deepEqual(await unary((r, m, o, cb) => tcp.listNodes(r, m, o, cb), { roles: [], availabilities: [] }, 5_000), { nodes: [] });
    t.deepEqual(await unary((r, m, o, cb) => local.listNodes(r, m, o, cb), { roles: [], availabilities: [] }, 5_000), { nodes: [] });
    const h = await unary<HealthCheckRequest, HealthCheckResponse>((r, m, o, cb) => health.check(r, m, o, cb), { service: '' }, 5_000);
    t.is(h.status, ServingStatus.SERVING);
    t.is(h.details['role'], 'manager');
  } finally {
    tcp.close();
    local.close();
    health.close();
    await stopServer(servers.control);
    await stopServer(servers.tcp);
  }
});
