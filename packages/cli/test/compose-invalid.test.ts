// Every invalid file fails with the exact file:line:col, key path and reason.
import test from 'ava';
import { ComposeError } from '../src/compose/index.js';
import { invalid, stack } from './helpers.js';

const cases: Array<[file: string, line: number, col: number, path: string, reason: RegExp]> = [
  ['wrong-type-replicas.yml', 5, 17, 'services.web.deploy.replicas', /^must be an integer, got string "three"$/],
  ['wrong-type-labels.yml', 6, 13, 'services.web.labels', /^must be a list or a mapping/],
  ['unknown-deploy-key.yml', 6, 7, 'services.web.deploy.replicaz', /^unknown key/],
  ['unknown-service-key.yml', 3, 5, 'services.web.imagee', /^unknown key/],
  ['unknown-top-key.yml', 4, 1, 'volumez', /^unknown key/],
  ['bad-duration.yml', 6, 17, 'services.web.healthcheck.interval', /^invalid duration "10x"/],
  ['bad-memory.yml', 7, 19, 'services.web.deploy.resources.limits.memory', /^invalid size "512X"/],
  ['bad-cpus.yml', 7, 17, 'services.web.deploy.resources.limits.cpus', /^invalid cpus "half"/],
  ['missing-variable.yml', 3, 12, 'services.web.image', /^required variable TAG is missing a value: TAG must be set$/],
  ['bad-interpolation.yml', 4, 14, 'services.web.command', /^invalid interpolation format/],
  ['port-out-of-range.yml', 6, 9, 'services.web.ports[1]', /^port 70000 is out of range \(1-65535\)$/],
  ['bad-port-mode.yml', 7, 15, 'services.web.ports[0].mode', /^must be one of ingress, host, got "routing"$/],
  ['dependency-cycle.yml', 4, 18, 'services.a.depends_on', /^dependency cycle between services: a -> b -> c -> a$/],
  ['forbidden-volumes-from.yml', 4, 5, 'services.web.volumes_from', /^not supported by stack deploy: To share a volume/],
  ['undefined-network.yml', 4, 23, 'services.web.networks[1]', /undefined network "back"/],
  ['undefined-secret.yml', 5, 9, 'services.web.secrets[0]', /undefined secret "missing"/],
  ['unsupported-version.yml', 1, 10, 'version', /^unsupported Compose file version "2.4"/],
  ['bad-restart-condition.yml', 6, 20, 'services.web.deploy.restart_policy.condition', /^must be one of none, on-failure, any, got "always"$/],
  ['no-image.yml', 2, 3, 'services.web', /^image is required: stack deploy does not build images/],
  ['bad-canary.yml', 7, 19, 'services.web.deploy.update_config.x-shoal.canary', /^must be a boolean/],
  ['canary-auto-without-canary.yml', 8, 31, 'services.web.deploy.update_config.x-shoal.auto_promote_after', /^needs canary: true$/],
  ['canary-bad-auto-promote.yml', 8, 31, 'services.web.deploy.update_config.x-shoal.auto_promote_after', /^invalid duration "soon"/],
  ['canary-unknown-key.yml', 8, 11, 'services.web.deploy.update_config.x-shoal.promote_after', /^unknown key/],
  ['global-with-replicas.yml', 6, 17, 'services.web.deploy.replicas', /^replicas cannot be used with mode global$/],
  ['duplicate-key.yml', 4, 3, '', /^invalid YAML: Map keys must be unique/],
  ['healthy-without-healthcheck.yml', 6, 20, 'services.web.depends_on.db.condition', /^service "web" depends on "db" being healthy, but "db" has no healthcheck$/],
  ['healthy-healthcheck-disabled.yml', 6, 20, 'services.web.depends_on.db.condition', /^service "web" depends on "db" being healthy, but "db" has no healthcheck \(it is disabled\)$/],
];

for (const [file, line, col, path, reason] of cases) {
  test(`invalid/${file}`, (t) => {
    const e = t.throws(() => stack([invalid(file)]), { instanceOf: ComposeError }) as ComposeError;
    t.deepEqual(e.pos, { file: invalid(file), line, col });
    t.is(e.path, path);
    t.regex(e.reason, reason);
    t.true(e.message.startsWith(`${invalid(file)}:${line}:${col}: ${path ? `${path}: ` : ''}`));
  });
}
