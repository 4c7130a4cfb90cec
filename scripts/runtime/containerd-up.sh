#!/usr/bin/env bash
# Starts (idempotently) a containerd instance for Shoal tests or a simulated host.
#   containerd-up.sh NAME [NETNS]
# Instance layout (everything private to NAME):
#   /var/lib/shoal-test/NAME/{root,opt,cni,certs.d,config.toml,containerd.log}
#   /run/shoal-test/NAME/{containerd.sock,state,runc,containerd.pid} (a tmpfs when /run is not one)
# With NETNS, containerd runs inside /run/netns/NETNS (created if missing) via
# `nsenter --net` (not `ip netns exec`, which hides the cgroup mounts from runc).
# Env: SHOAL_SUBNET_INDEX (x in 10.213.x.0/24; default derived from NAME),
#      SHOAL_IMAGES_DIR (default /var/lib/shoal-test/images), SHOAL_CONTAINERD_LOG_LEVEL (info),
#      SHOAL_SANDBOX_IMAGE (default shoal-test/pause:1).
# Prints the socket path on success.
set -euo pipefail
NAME=${1:?usage: containerd-up.sh NAME [NETNS]}
NETNS=${2:-}
[[ "$NAME" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || { echo "containerd-up: bad NAME '$NAME' (want [a-z0-9-], <= 31 chars)" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "containerd-up: must run as root" >&2; exit 1; }
for bin in containerd ctr runc nsenter; do
  command -v "$bin" >/dev/null || { echo "containerd-up: '$bin' not found; run scripts/runtime/install.sh first" >&2; exit 1; }
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BASE=/var/lib/shoal-test/$NAME
RUN=/run/shoal-test/$NAME
SOCK=$RUN/containerd.sock
IMAGES=${SHOAL_IMAGES_DIR:-/var/lib/shoal-test/images}
CNI_BIN=${SHOAL_CNI_BIN:-/usr/lib/cni}
[[ -x $CNI_BIN/bridge ]] || CNI_BIN=/opt/cni/bin
[[ -x $CNI_BIN/bridge ]] || { echo "containerd-up: CNI plugins not found in /usr/lib/cni or /opt/cni/bin" >&2; exit 1; }
if [[ -n "${SHOAL_SUBNET_INDEX:-}" ]]; then IDX=$SHOAL_SUBNET_INDEX; else IDX=$(( $(printf '%s' "$NAME" | cksum | cut -d' ' -f1) % 200 + 20 )); fi
BRIDGE=shoal$IDX

answers() { timeout 5 ctr -a "$SOCK" version >/dev/null 2>&1; }

mkdir -p "$BASE"/{root,opt,cni/net.d,cni/none.d,cni/ipam,certs.d} "$RUN"

running=0
if [[ -f $RUN/containerd.pid ]] && kill -0 "$(cat "$RUN/containerd.pid")" 2>/dev/null && answers; then
  running=1
fi
# containerd's state, runc's root, the shims' fifos and sockets and the pods' netns mounts are
# written for every pod and belong on a tmpfs, as /run is on an ordinary host. Where /run is a
# disk (these VMs: ext4 without a journal, where creating inodes costs containerd and runc a lot
# of system time), the instance gets a tmpfs of its own; containerd-down.sh unmounts it.
if [[ $running -eq 0 && $(stat -f -c %T /run) != tmpfs ]] && ! mountpoint -q "$RUN"; then
  mount -t tmpfs -o mode=0711,size=1g "shoal-run-$NAME" "$RUN"
fi
mkdir -p "$RUN"/{state,runc}

# CNI configs (containerd reloads them without a restart). containerd adds the loopback
# interface itself, so the bridge chain has no loopback plugin. No portmap either: Shoal's
# sandboxes never have port mappings, and each plugin in the chain is one more exec per pod for
# ADD and two for DEL (StopPodSandbox, RemovePodSandbox).
cat >"$BASE/cni/net.d/10-shoal.conflist.tmp" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "shoal-$NAME",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "10.213.$IDX.0/24" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$BASE/cni/ipam"
      }
    }
  ]
}
JSON
mv "$BASE/cni/net.d/10-shoal.conflist.tmp" "$BASE/cni/net.d/10-shoal.conflist"
# Network mode "none": containerd's CRI insists on an eth0 with an address, so these sandboxes
# get one from an isolated, gateway-less bridge and the Shoal runtime deletes eth0 right after
# RunPodSandbox (before the task's container exists); the task sees only loopback.
cat >"$BASE/cni/none.d/10-none.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "shoal-none-$NAME",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "shoaln$IDX",
      "isGateway": false,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "10.214.$IDX.0/24" }]],
        "dataDir": "$BASE/cni/ipam-none"
      }
    }
  ]
}
JSON

if [[ $running -eq 0 ]]; then
  sed -e "s|@ROOT@|$BASE/root|g" -e "s|@STATE@|$RUN/state|g" -e "s|@SOCKET@|$SOCK|g" \
      -e "s|@OPT@|$BASE/opt|g" -e "s|@RUNC_ROOT@|$RUN/runc|g" -e "s|@CNI_BIN@|$CNI_BIN|g" \
      -e "s|@CNI_CONF@|$BASE/cni/net.d|g" -e "s|@CNI_CONF_NONE@|$BASE/cni/none.d|g" \
      -e "s|@REGISTRY_CONFIG@|$BASE/certs.d|g" \
      -e "s|@SANDBOX_IMAGE@|${SHOAL_SANDBOX_IMAGE:-shoal-test/pause:1}|g" \
      -e "s|@LOG_LEVEL@|${SHOAL_CONTAINERD_LOG_LEVEL:-info}|g" \
      "$REPO/deploy/containerd/config.toml.tmpl" >"$BASE/config.toml"
  rm -f "$SOCK"
  cmd=(containerd --config "$BASE/config.toml")
  if [[ -n "$NETNS" ]]; then
    [[ -e /run/netns/$NETNS ]] || ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
    cmd=(nsenter "--net=/run/netns/$NETNS" "${cmd[@]}")
  fi
  printf '%s\n' "$NETNS" >"$RUN/netns"
  # setsid: the daemon must outlive this script and the caller's process group.
  setsid "${cmd[@]}" >>"$BASE/containerd.log" 2>&1 </dev/null &
  echo $! >"$RUN/containerd.pid"
  deadline=$(( $(date +%s) + 30 ))
  until answers; do
    if ! kill -0 "$(cat "$RUN/containerd.pid")" 2>/dev/null; then
      echo "containerd-up: containerd exited; last log lines:" >&2; tail -n 20 "$BASE/containerd.log" >&2; exit 1
    fi
    if (( $(date +%s) > deadline )); then
      echo "containerd-up: $SOCK did not answer within 30s; see $BASE/containerd.log" >&2; exit 1
    fi
    sleep 0.1
  done
fi

# Test images: build (cached) and import what is missing into the CRI namespace.
bash "$HERE/build-images.sh" "$IMAGES" >/dev/null
have=$(ctr -a "$SOCK" -n k8s.io images ls -q)
for spec in busybox-1:shoal-test/busybox:1 busybox-2:shoal-test/busybox:2 pause-1:shoal-test/pause:1; do
  file=${spec%%:*}; ref=docker.io/${spec#*:}
  if ! grep -qxF "$ref" <<<"$have"; then
    ctr -a "$SOCK" -n k8s.io images import "$IMAGES/oci/$file.tar" >/dev/null
  fi
done
echo "$SOCK"
