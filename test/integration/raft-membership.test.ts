// Raft membership as the other managers see it (3 managers, no workers): a write on a follower is
// forwarded to the leader; one manager SIGKILLed and restarted while the others keep going
// catches up with what was committed meanwhile.
// These failed while joined managers never learnt the cluster's bootstrap configuration (the
// founder's voter id lived only in its own index-0 snapshot metadata): they believed the members
// were {2,3}. Raft.Join now answers the bootstrap configuration and a joiner starts from it (and
// keeps the founders' addresses with it, so that a restart from its data dir alone reaches them).
import test from 'ava';
import { observed, replicatedSpec } from '@shoal/testkit';
import { useCluster } from './_cluster.js';

const cluster = useCluster(test, { managers: 3, workers: 0, runtime: 'hollow', heartbeatPeriod: '500ms' });

test.serial('a write through a follower is forwarded to the leader (CLI on a follower)', async (t) => {
  const c = cluster();
  const leader = await c.leader();
  const follower = c.managers().find((m) => m !== leader)!;
  const local = c.controlSocket(follower);
  try {
    const svc = (await local.createService({ spec: replicatedSpec('via-follower', 1) })).service!;
    t.truthy(svc.id);
  } finally {
    local.close();
  }
});

for (const which of ['follower', 'leader'] as const) {
  test.serial(`a SIGKILLed ${which} restarts from its data dir and catches up`, async (t) => {
    const c = cluster();
    const leader = await c.leader();
    const victim = which === 'leader' ? leader : c.managers().find((m) => m !== leader && m.running)!;
    await c.kill(victim, 'SIGKILL');
    await c.leader(30_000);
    const name = `made-while-${which}-down`;
    await c.api.createService({ spec: replicatedSpec(name, 1) });
    await c.restart(victim, { wait: false });
    const own = c.control(victim);
    await c.waitFor(`the restarted ${victim.name} lists service ${name}`, async () => {
      const r = await own.listServices({ filters: { names: [name] } }, { timeoutMs: 2_000 });
      return observed(r.services.length === 1, r.services.map((s) => s.spec?.annotations?.name));
    }, 30_000);
    t.is((await own.listServices({ filters: { names: [name] } }, { timeoutMs: 5_000 })).services.length, 1);
  });
}
