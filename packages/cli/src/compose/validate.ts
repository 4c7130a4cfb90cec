// Validation of a merged Compose tree against the Compose file format 3.0–3.13, key by key, into
// the typed ProjectModel. Errors carry file:line:col and the key path; keys Docker's stack deploy
// ignores are recorded for a warning; keys it forbids are rejected with Docker's explanation.
import { isAbsolute, resolve } from 'node:path';
import { asMap, bool, commandOf, durationMs, fail, fields, int, listOrDict, str, strish, stringDict, strList, strOrList } from './check.js';
import { ComposeError, type Pos } from './errors.js';
import type { FileObjModel, NetworkModel, ProjectModel, ServiceModel, VolumeModel } from './model.js';
import { dependsOn, extraHosts, fileRefs, healthcheck, ports, serviceNetworks, tmpfs, ulimits, volumes, type PartCtx } from './service-parts.js';
import { child, type LMap, type LNode } from './tree.js';
import { deploy } from './validate-deploy.js';

/** Service keys in the v3 schema that `docker stack deploy` ignores (warned about). */
export const UNSUPPORTED_KEYS = [
  'build', 'cgroupns_mode', 'cgroup_parent', 'credential_spec', 'devices', 'domainname', 'external_links', 'ipc', 'isolation',
  'links', 'mac_address', 'network_mode', 'pid', 'privileged', 'restart', 'security_opt', 'shm_size', 'userns_mode',
];
/** Deprecated keys and Docker's explanation. */
export const DEPRECATED_KEYS: Record<string, string> = {
  container_name: 'Setting the container name is not supported.',
  expose: "Exposing ports is unnecessary - services on the same network can access each other's containers on any port.",
};
/** Keys `docker stack deploy` refuses, with Docker's explanation. */
export const FORBIDDEN_KEYS: Record<string, string> = {
  extends: 'Support for `extends` is not implemented yet.',
  volume_driver: 'Instead of setting the volume driver on the service, define a volume using the top-level `volumes` option and specify the driver there.',
  volumes_from: 'To share a volume between services, define it using the top-level `volumes` option and reference it from each service that shares it using the service-level `volumes` option.',
  cpu_quota: 'Set resource limits using deploy.resources',
  cpu_shares: 'Set resource limits using deploy.resources',
  cpuset: 'Set resource limits using deploy.resources',
  mem_limit: 'Set resource limits using deploy.resources',
  memswap_limit: 'Set resource limits using deploy.resources',
};

function service(name: string, n: LNode, path: string, ctx: PartCtx, keyPos: Pos): ServiceModel {
  const s: ServiceModel = {
    name, pos: n.pos, path, environment: [], envFiles: [], labels: {}, sysctls: {}, capAdd: [], capDrop: [], ulimits: [], extraHosts: [],
    dns: [], dnsSearch: [], ports: [], mounts: [], secrets: [], configs: [], deploy: { mode: 'replicated', labels: {}, constraints: [], preferences: [] },
    dependsOn: [], unsupported: [], deprecated: [],
  };
  const handlers: Record<string, (v: LNode, q: string) => void> = {
    image: (v, q) => (s.image = str(v, q)),
    command: (v, q) => (s.command = commandOf(v, q)),
    entrypoint: (v, q) => (s.entrypoint = commandOf(v, q)),
    environment: (v, q) => (s.environment = listOrDict(v, q)),
    env_file: (v, q) => (s.envFiles = strOrList(v, q).map((f) => ({ file: isAbsolute(f) ? f : resolve(ctx.workingDir, f), pos: v.pos, path: q }))),
    labels: (v, q) => (s.labels = stringDict(v, q)),
    hostname: (v, q) => (s.hostname = str(v, q)),
    extra_hosts: (v, q) => (s.extraHosts = extraHosts(v, q)),
    dns: (v, q) => (s.dns = strOrList(v, q)),
    dns_search: (v, q) => (s.dnsSearch = strOrList(v, q)),
    user: (v, q) => (s.user = strish(v, q)),
    working_dir: (v, q) => (s.workingDir = str(v, q)),
    stop_grace_period: (v, q) => (s.stopGracePeriodMs = durationMs(v, q)),
    stop_signal: (v, q) => (s.stopSignal = str(v, q)),
    read_only: (v, q) => (s.readOnly = bool(v, q)),
    init: (v, q) => (s.init = bool(v, q)),
    sysctls: (v, q) => (s.sysctls = stringDict(v, q)),
    cap_add: (v, q) => (s.capAdd = strList(v, q)),
    cap_drop: (v, q) => (s.capDrop = strList(v, q)),
    ulimits: (v, q) => (s.ulimits = ulimits(v, q)),
    logging: (v, q) => {
      const l: NonNullable<ServiceModel['logging']> = { options: {} };
      fields(v, q, { driver: (w, r) => (l.driver = str(w, r)), options: (w, r) => (l.options = stringDict(w, r)) });
      s.logging = l;
    },
    tty: (v, q) => (s.tty = bool(v, q)),
    stdin_open: (v, q) => (s.stdinOpen = bool(v, q)),
    healthcheck: (v, q) => (s.healthcheck = healthcheck(v, q)),
    ports: (v, q) => (s.ports = ports(v, q)),
    networks: (v, q) => (s.networks = serviceNetworks(v, q)),
    volumes: (v, q) => s.mounts.push(...volumes(v, q, ctx)),
    tmpfs: (v, q) => s.mounts.push(...tmpfs(strOrList(v, q), v, q)),
    secrets: (v, q) => (s.secrets = fileRefs(v, q)),
    configs: (v, q) => (s.configs = fileRefs(v, q)),
    deploy: (v, q) => (s.deploy = deploy(v, q)),
    depends_on: (v, q) => (s.dependsOn = dependsOn(v, q)),
  };
  for (const k of UNSUPPORTED_KEYS) handlers[k] = () => void s.unsupported.push(k);
  for (const k of Object.keys(DEPRECATED_KEYS)) handlers[k] = () => void s.deprecated.push(k);
  fields(n, path, handlers, { unknown: (k) => (FORBIDDEN_KEYS[k] ? `not supported by stack deploy: ${FORBIDDEN_KEYS[k]}` : undefined) });
  if (!s.image) {
    const why = s.unsupported.includes('build') ? ': stack deploy does not build images (build the image and set image:)' : '';
    throw new ComposeError(keyPos, path, `image is required${why}`);
  }
  return s;
}

/** external: true | false | {name: x} (older files). Returns [external, name]. */
function external(v: LNode, q: string): [boolean, string | undefined] {
  if (v.kind === 'map') {
    let name: string | undefined;
    fields(v, q, { name: (w, r) => (name = str(w, r)) });
    return [true, name];
  }
  return [bool(v, q), undefined];
}

function network(key: string, n: LNode, path: string): NetworkModel {
  const m: NetworkModel = { key, external: false, driverOpts: {}, attachable: false, internal: false, ipv6: false, labels: {}, pos: n.pos, path };
  if (n.kind === 'scalar' && n.value === null) return m;
  fields(n, path, {
    name: (v, q) => (m.name = str(v, q)),
    external: (v, q) => {
      const [ext, name] = external(v, q);
      m.external = ext;
      if (name) m.name = name;
    },
    driver: (v, q) => (m.driver = str(v, q)),
    driver_opts: (v, q) => (m.driverOpts = stringDict(v, q)),
    attachable: (v, q) => (m.attachable = bool(v, q)),
    internal: (v, q) => (m.internal = bool(v, q)),
    enable_ipv6: (v, q) => (m.ipv6 = bool(v, q)),
    labels: (v, q) => (m.labels = stringDict(v, q)),
    ipam: (v, q) => {
      const ipam: NonNullable<NetworkModel['ipam']> = { configs: [] };
      fields(v, q, {
        driver: (w, r) => (ipam.driver = str(w, r)),
        config: (w, r) => {
          const items = w.kind === 'seq' ? w.items : fail(w, r, 'must be a list');
          ipam.configs = items.map((it, i) => {
            const c: { subnet?: string; ipRange?: string; gateway?: string } = {};
            fields(it, `${r}[${i}]`, {
              subnet: (x, p) => (c.subnet = str(x, p)),
              ip_range: (x, p) => (c.ipRange = str(x, p)),
              gateway: (x, p) => (c.gateway = str(x, p)),
              aux_addresses: (x, p) => void listOrDict(x, p),
            });
            return c;
          });
        },
        options: (w, r) => void stringDict(w, r),
      });
      m.ipam = ipam;
    },
  });
  if (m.external && (m.driver || m.ipam || Object.keys(m.driverOpts).length)) fail(n, path, 'an external network cannot set driver, driver_opts or ipam');
  return m;
}

function volume(key: string, n: LNode, path: string): VolumeModel {
  const m: VolumeModel = { key, external: false, driverOpts: {}, labels: {}, pos: n.pos, path };
  if (n.kind === 'scalar' && n.value === null) return m;
  fields(n, path, {
    name: (v, q) => (m.name = str(v, q)),
    external: (v, q) => {
      const [ext, name] = external(v, q);
      m.external = ext;
      if (name) m.name = name;
    },
    driver: (v, q) => (m.driver = str(v, q)),
    driver_opts: (v, q) => (m.driverOpts = stringDict(v, q)),
    labels: (v, q) => (m.labels = stringDict(v, q)),
  });
  return m;
}

function fileObject(kind: 'secret' | 'config', key: string, n: LNode, path: string, ctx: PartCtx): FileObjModel {
  const m: FileObjModel = { key, external: false, labels: {}, driverOpts: {}, pos: n.pos, path };
  const h: Record<string, (v: LNode, q: string) => void> = {
    name: (v, q) => (m.name = str(v, q)),
    file: (v, q) => {
      const f = str(v, q);
      m.file = isAbsolute(f) ? f : resolve(ctx.workingDir, f);
    },
    external: (v, q) => {
      const [ext, name] = external(v, q);
      m.external = ext;
      if (name) m.name = name;
    },
    labels: (v, q) => (m.labels = stringDict(v, q)),
    template_driver: (v, q) => void str(v, q),
  };
  if (kind === 'secret') {
    h['driver'] = (v, q) => (m.driver = str(v, q));
    h['driver_opts'] = (v, q) => (m.driverOpts = stringDict(v, q));
  }
  fields(n, path, h);
  if (m.external && m.file) fail(n, path, `an external ${kind} cannot have a file`);
  if (!m.external && !m.file && !m.driver) fail(n, path, `a ${kind} needs file: (or external: true)`);
  return m;
}

const VERSION = /^3(\.(\d|1[0-3]))?$/;

export function validateProject(root: LMap, workingDir: string, env: Readonly<Record<string, string | undefined>>): ProjectModel {
  const ctx: PartCtx = { workingDir, home: env['HOME'] };
  const p: ProjectModel = { workingDir, services: [], networks: new Map(), volumes: new Map(), secrets: new Map(), configs: new Map() };
  const named = <T>(v: LNode, q: string, f: (k: string, n: LNode, path: string, keyPos: Pos) => T): Map<string, T> => {
    const out = new Map<string, T>();
    if (v.kind === 'scalar' && v.value === null) return out;
    for (const [k, e] of asMap(v, q).entries) {
      if (k.startsWith('x-')) continue;
      if (!/^[a-zA-Z0-9._-]+$/.test(k)) throw new ComposeError(e.keyPos, `${q}.${k}`, 'invalid name (use letters, digits, ".", "_" and "-")');
      out.set(k, f(k, e.value, `${q}.${k}`, e.keyPos));
    }
    return out;
  };
  fields(root, '', {
    version: (v, q) => {
      const ver = strish(v, q);
      if (!VERSION.test(ver)) fail(v, q, `unsupported Compose file version "${ver}" (3.0 to 3.13 are supported; version may be omitted)`);
      p.version = ver;
    },
    name: (v, q) => void str(v, q),
    services: (v, q) => (p.services = [...named(v, q, (k, n, path, kp) => service(k, n, path, ctx, kp)).values()]),
    networks: (v, q) => (p.networks = named(v, q, network)),
    volumes: (v, q) => (p.volumes = named(v, q, volume)),
    secrets: (v, q) => (p.secrets = named(v, q, (k, n, path) => fileObject('secret', k, n, path, ctx))),
    configs: (v, q) => (p.configs = named(v, q, (k, n, path) => fileObject('config', k, n, path, ctx))),
  });
  crossCheck(p, root);
  return p;
}

/** References between services and top-level objects. */
function crossCheck(p: ProjectModel, root: LMap): void {
  const names = new Set(p.services.map((s) => s.name));
  if (!child(root, 'services')) throw new ComposeError(root.pos, 'services', 'a stack needs at least one service');
  for (const s of p.services) {
    for (const n of s.networks ?? []) {
      if (n.name !== 'default' && !p.networks.has(n.name)) throw new ComposeError(n.pos, n.path, `service "${s.name}" refers to undefined network "${n.name}"`);
    }
    for (const m of s.mounts) {
      if (m.type === 'volume' && m.source !== undefined && !p.volumes.has(m.source)) throw new ComposeError(m.pos, m.path, `service "${s.name}" refers to undefined volume "${m.source}"`);
    }
    for (const r of s.secrets) if (!p.secrets.has(r.source)) throw new ComposeError(r.pos, r.path, `service "${s.name}" refers to undefined secret "${r.source}"`);
    for (const r of s.configs) if (!p.configs.has(r.source)) throw new ComposeError(r.pos, r.path, `service "${s.name}" refers to undefined config "${r.source}"`);
    for (const d of s.dependsOn) if (!names.has(d.name)) throw new ComposeError(d.pos, d.path, `service "${s.name}" depends on undefined service "${d.name}"`);
    for (const d of s.dependsOn) {
      if (d.condition !== 'service_healthy') continue;
      const h = p.services.find((x) => x.name === d.name)?.healthcheck;
      // as Docker Compose: waiting for "healthy" needs a healthcheck on the dependency
      if (!h || h.disable) {
        const at = d.conditionAt ?? d;
        throw new ComposeError(at.pos, at.path, `service "${s.name}" depends on "${d.name}" being healthy, but "${d.name}" has no healthcheck${h?.disable ? ' (it is disabled)' : ''}`);
      }
    }
    if (s.deploy.endpointMode === 'dnsrr') {
      const ing = s.ports.find((x) => x.mode === 'ingress');
      if (ing) throw new ComposeError(ing.pos, ing.path, 'a port published in ingress mode cannot be used with endpoint_mode: dnsrr (use mode: host)');
    }
  }
}
