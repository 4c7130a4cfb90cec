// Validation of a service's `deploy:` section.
import { asSeq, bool, durationMs, fail, fields, int, nanoCpus, num, oneOf, str, stringDict, strList, bytes } from './check.js';
import type { DeployModel, ResourcesModel, UpdateModel } from './model.js';
import type { LNode } from './tree.js';

function updateConfig(n: LNode, path: string): UpdateModel {
  const u: UpdateModel = {};
  fields(
    n,
    path,
    {
      parallelism: (v, q) => (u.parallelism = int(v, q)),
      delay: (v, q) => (u.delayMs = durationMs(v, q)),
      failure_action: (v, q) => (u.failureAction = oneOf(v, q, ['pause', 'continue', 'rollback'] as const)),
      monitor: (v, q) => (u.monitorMs = durationMs(v, q)),
      max_failure_ratio: (v, q) => {
        const r = num(v, q);
        u.maxFailureRatio = r >= 0 && r <= 1 ? r : fail(v, q, `must be between 0 and 1, got ${r}`);
      },
      order: (v, q) => (u.order = oneOf(v, q, ['start-first', 'stop-first'] as const)),
      'x-shoal': (v, q) => {
        let auto: LNode | undefined; // Shoal's canary updates (README "Canary updates")
        fields(v, q, {
          canary: (w, r) => (u.canary = { ...u.canary, enabled: bool(w, r) }),
          auto_promote_after: (w, r) => {
            auto = w;
            u.canary = { enabled: u.canary?.enabled ?? false, autoPromoteAfterMs: durationMs(w, r) };
          },
        }, { extensions: false });
        if (auto && !u.canary?.enabled) fail(auto, `${q}.auto_promote_after`, 'needs canary: true');
      },
    },
  );
  return u;
}

function resources(n: LNode, path: string, limits: boolean): ResourcesModel {
  const r: ResourcesModel = {};
  const h: Record<string, (v: LNode, q: string) => void> = {
    cpus: (v, q) => (r.nanoCpus = nanoCpus(v, q)),
    memory: (v, q) => (r.memoryBytes = bytes(v, q)),
  };
  if (limits) h['pids'] = (v, q) => (r.pids = int(v, q));
  else {
    h['generic_resources'] = (v, q) => void asSeq(v, q);
    h['devices'] = (v, q) => void asSeq(v, q);
  }
  fields(n, path, h);
  return r;
}

export function deploy(n: LNode, path: string): DeployModel {
  const d: DeployModel = { mode: 'replicated', labels: {}, constraints: [], preferences: [] };
  let replicasNode: LNode | undefined;
  let maxPerNode: LNode | undefined;
  fields(n, path, {
    mode: (v, q) => (d.mode = oneOf(v, q, ['replicated', 'global', 'replicated-job', 'global-job'] as const)),
    replicas: (v, q) => {
      replicasNode = v;
      d.replicas = int(v, q);
    },
    labels: (v, q) => (d.labels = stringDict(v, q)),
    endpoint_mode: (v, q) => (d.endpointMode = oneOf(v, q, ['vip', 'dnsrr'] as const)),
    update_config: (v, q) => (d.update = updateConfig(v, q)),
    rollback_config: (v, q) => (d.rollback = updateConfig(v, q)),
    resources: (v, q) =>
      fields(v, q, {
        limits: (w, r) => (d.limits = resources(w, r, true)),
        reservations: (w, r) => (d.reservations = resources(w, r, false)),
      }),
    restart_policy: (v, q) => {
      const rp: NonNullable<DeployModel['restart']> = {};
      fields(v, q, {
        condition: (w, r) => (rp.condition = oneOf(w, r, ['none', 'on-failure', 'any'] as const)),
        delay: (w, r) => (rp.delayMs = durationMs(w, r)),
        max_attempts: (w, r) => (rp.maxAttempts = int(w, r)),
        window: (w, r) => (rp.windowMs = durationMs(w, r)),
      });
      d.restart = rp;
    },
    placement: (v, q) =>
      fields(v, q, {
        constraints: (w, r) => (d.constraints = strList(w, r)),
        preferences: (w, r) =>
          (d.preferences = asSeq(w, r).items.map((it, i) => {
            let spread = '';
            fields(it, `${r}[${i}]`, { spread: (x, s) => (spread = str(x, s)) });
            return spread || fail(it, `${r}[${i}]`, 'spread is required');
          })),
        max_replicas_per_node: (w, r) => {
          maxPerNode = w;
          d.maxReplicasPerNode = int(w, r);
        },
      }),
  });
  if (replicasNode && (d.mode === 'global' || d.mode === 'global-job')) {
    fail(replicasNode, `${path}.replicas`, `replicas cannot be used with mode ${d.mode}`);
  }
  if (maxPerNode && d.mode === 'global') fail(maxPerNode, `${path}.placement.max_replicas_per_node`, 'cannot be used with mode global');
  return d;
}
