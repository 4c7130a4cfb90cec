#!/usr/bin/env node
// Builds Shoal's test images without a registry or Docker: a deterministic rootfs from
// busybox-static, packed as an OCI image layout archive (for `ctr images import`) and as a
// docker-archive (for `docker load`). Usage: node oci-build.mjs OUTDIR [BUSYBOX]
//
// Output (OUTDIR):
//   oci/busybox-1.tar oci/busybox-2.tar oci/pause-1.tar   OCI layout archives (one image each)
//   docker/busybox-1.tar docker/busybox-2.tar docker/pause-1.tar   docker-archive tars
//   images.json   [{ref, file, manifestDigest, configDigest}]
// Everything (timestamps, owners, order) is fixed so that the same busybox gives the same digests.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

const outDir = process.argv[2];
const busyboxPath = process.argv[3] ?? '/bin/busybox';
if (!outDir) {
  console.error('usage: oci-build.mjs OUTDIR [BUSYBOX]');
  process.exit(2);
}

// ---------- a minimal deterministic ustar writer ----------
function octal(n, width) {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}
function header(name, { type, size = 0, mode, linkname = '' }) {
  const h = Buffer.alloc(512, 0);
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 154);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`path too long: ${prefix}/${name}`);
  }
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(0, 12), 136, 12, 'ascii'); // mtime = epoch
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder
  h.write(type, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 8, 'ascii');
  return h;
}
/** entries: {path, type: 'dir'|'file'|'symlink', mode?, data?, target?}; sorted by path. */
function tar(entries) {
  const parts = [];
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const e of sorted) {
    if (e.type === 'dir') {
      parts.push(header(e.path.endsWith('/') ? e.path : `${e.path}/`, { type: '5', mode: e.mode ?? 0o755 }));
    } else if (e.type === 'symlink') {
      parts.push(header(e.path, { type: '2', mode: 0o777, linkname: e.target }));
    } else {
      const data = Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
      parts.push(header(e.path, { type: '0', mode: e.mode ?? 0o644, size: data.length }));
      parts.push(data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// ---------- root filesystems ----------
const busybox = readFileSync(busyboxPath);
const applets = execFileSync(busyboxPath, ['--list-full'], { encoding: 'utf8' })
  .split('\n').map((s) => s.trim()).filter(Boolean);

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  'shoal:x:1000:1000:shoal test user:/home/shoal:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
const group = ['root:x:0:', 'shoal:x:1000:', 'extra:x:2000:shoal', 'nogroup:x:65534:', ''].join('\n');

function baseRootfs(appletFilter) {
  const dirs = new Set(['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'root', 'home', 'home/shoal', 'proc', 'sys', 'dev', 'run', 'var']);
  const entries = [];
  entries.push({ path: 'bin/busybox', type: 'file', mode: 0o755, data: busybox });
  for (const a of applets) {
    if (a === 'bin/busybox' || !appletFilter(a)) continue;
    entries.push({ path: a, type: 'symlink', target: '/bin/busybox' });
  }
  entries.push({ path: 'etc/passwd', type: 'file', data: passwd });
  entries.push({ path: 'etc/group', type: 'file', data: group });
  entries.push({ path: 'tmp', type: 'dir', mode: 0o1777 });
  for (const d of dirs) entries.push({ path: d, type: 'dir', mode: d === 'root' ? 0o700 : 0o755 });
  return entries;
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PAUSE_LOOP = 'trap "exit 0" TERM INT; while :; do sleep 2147483647 & wait $!; done';

const images = [
  {
    ref: 'shoal-test/busybox:1', file: 'busybox-1.tar',
    rootfs: [...baseRootfs(() => true), { path: 'VERSION', type: 'file', data: '1\n' }],
    config: { Cmd: ['sh'], Env: [PATH_ENV], WorkingDir: '/' },
  },
  {
    ref: 'shoal-test/busybox:2', file: 'busybox-2.tar',
    rootfs: [...baseRootfs(() => true), { path: 'VERSION', type: 'file', data: '2\n' }],
    config: { Cmd: ['sh'], Env: [PATH_ENV], WorkingDir: '/' },
  },
  {
    ref: 'shoal-test/pause:1', file: 'pause-1.tar',
    rootfs: baseRootfs((a) => a === 'bin/sh' || a === 'bin/sleep'),
    config: { Cmd: ['/bin/sh', '-c', PAUSE_LOOP], Env: [PATH_ENV], WorkingDir: '/' },
  },
];

function json(obj) {
  return Buffer.from(JSON.stringify(obj));
}

mkdirSync(join(outDir, 'oci'), { recursive: true });
mkdirSync(join(outDir, 'docker'), { recursive: true });
const summary = [];

for (const img of images) {
  const layerTar = tar(img.rootfs);
  const diffId = sha256(layerTar);
  const layerGz = gzipSync(layerTar, { level: 9 }); // zlib writes mtime 0 and no name: deterministic
  const layerDigest = sha256(layerGz);
  const config = json({
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: img.config,
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'shoal scripts/runtime/oci-build.mjs' }],
  });
  const configDigest = sha256(config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configDigest}`, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layerDigest}`, size: layerGz.length }],
  });
  const manifestDigest = sha256(manifest);
  const [repo, tag] = img.ref.split(':');
  const index = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${manifestDigest}`,
      size: manifest.length,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: {
        'io.containerd.image.name': `docker.io/${repo}:${tag}`,
        'org.opencontainers.image.ref.name': tag,
      },
    }],
  });
  const ociArchive = tar([
    { path: 'oci-layout', type: 'file', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { path: 'index.json', type: 'file', data: index },
    { path: 'blobs', type: 'dir' },
    { path: 'blobs/sha256', type: 'dir' },
    { path: `blobs/sha256/${configDigest}`, type: 'file', data: config },
    { path: `blobs/sha256/${manifestDigest}`, type: 'file', data: manifest },
    { path: `blobs/sha256/${layerDigest}`, type: 'file', data: layerGz },
  ]);
  const dockerArchive = tar([
    { path: 'manifest.json', type: 'file', data: json([{ Config: `${configDigest}.json`, RepoTags: [img.ref], Layers: [`${diffId}/layer.tar`] }]) },
    { path: `${configDigest}.json`, type: 'file', data: config },
    { path: diffId, type: 'dir' },
    { path: `${diffId}/layer.tar`, type: 'file', data: layerTar },
    { path: 'repositories', type: 'file', data: json({ [repo]: { [tag]: diffId } }) },
  ]);
  for (const [dir, data] of [['oci', ociArchive], ['docker', dockerArchive]]) {
    const dest = join(outDir, dir, img.file);
    writeFileSync(`${dest}.tmp`, data);
    renameSync(`${dest}.tmp`, dest);
  }
  summary.push({ ref: img.ref, file: img.file, manifestDigest: `sha256:${manifestDigest}`, configDigest: `sha256:${configDigest}` });
}
writeFileSync(join(outDir, 'images.json'), JSON.stringify(summary, null, 2) + '\n');
for (const s of summary) console.log(`${s.ref} ${s.manifestDigest}`);
