#!/usr/bin/env bash
# Stops a containerd instance started by containerd-up.sh and removes everything it left:
# containers (runc), shims, mounts, pod cgroups under /shoal/NAME, the bridge, state and root.
#   containerd-down.sh NAME [--keep-data]
set -uo pipefail
NAME=${1:?usage: containerd-down.sh NAME [--keep-data]}
KEEP=${2:-}
[[ "$NAME" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || { echo "containerd-down: bad NAME '$NAME'" >&2; exit 2; }
BASE=/var/lib/shoal-test/$NAME
RUN=/run/shoal-test/$NAME
SOCK=$RUN/containerd.sock

# 1. containerd itself.
if [[ -f $RUN/containerd.pid ]]; then
  pid=$(cat "$RUN/containerd.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$RUN/containerd.pid"
fi
# 2. containers still running under this instance's runc root, then their shims
#    (shims are found by this instance's socket path in their command line).
if [[ -d $RUN/runc ]]; then
  for ns in "$RUN"/runc/*; do
    [[ -d $ns ]] || continue
    for id in $(runc --root "$ns" list -q 2>/dev/null); do
      runc --root "$ns" kill "$id" KILL 2>/dev/null
      runc --root "$ns" delete --force "$id" 2>/dev/null
    done
  done
fi
for p in /proc/[0-9]*; do
  if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "-address $SOCK "; then kill -KILL "${p#/proc/}" 2>/dev/null; fi
done
# 3. mounts under the instance's paths (deepest first).
for _ in 1 2 3; do
  mapfile -t mnts < <(awk -v a="$RUN/" -v b="$BASE/" 'index($2,a)==1 || index($2,b)==1 {print $2}' /proc/mounts | sort -r)
  [[ ${#mnts[@]} -eq 0 ]] && break
  for m in "${mnts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
done
# 4. pod cgroups that the Shoal CRI runtime creates under /shoal/NAME (cgroup v1 and v2).
for ctl in /sys/fs/cgroup/*/shoal/"$NAME" /sys/fs/cgroup/shoal/"$NAME"; do
  [[ -d $ctl ]] && find "$ctl" -depth -type d -exec rmdir {} + 2>/dev/null
done
for ctl in /sys/fs/cgroup/*/shoal /sys/fs/cgroup/shoal; do [[ -d $ctl ]] && rmdir "$ctl" 2>/dev/null; done
# 5. the node-local bridges (in the instance's network namespace, if it had one).
# ($RUN/netns holds an empty line when the instance ran in the root namespace.)
IPNS=()
NS=$(cat "$RUN/netns" 2>/dev/null || true)
[[ -n "$NS" && -e /run/netns/$NS ]] && IPNS=(-n "$NS")
if [[ -f $BASE/cni/net.d/10-shoal.conflist ]]; then
  br=$(grep -o '"bridge": "[^"]*"' "$BASE/cni/net.d/10-shoal.conflist" | cut -d'"' -f4)
  [[ -n "$br" ]] && ip "${IPNS[@]}" link del "$br" 2>/dev/null
fi
if [[ -f $BASE/cni/none.d/10-none.conflist ]]; then
  br=$(grep -o '"bridge": "[^"]*"' "$BASE/cni/none.d/10-none.conflist" | cut -d'"' -f4)
  [[ -n "$br" ]] && ip "${IPNS[@]}" link del "$br" 2>/dev/null
fi
if [[ "$KEEP" != "--keep-data" ]]; then
  # the instance's own tmpfs (containerd-up.sh mounts one when /run is not a tmpfs)
  mountpoint -q "$RUN" && { umount "$RUN" 2>/dev/null || umount -l "$RUN"; }
  rm -rf "$RUN" "$BASE"
fi
exit 0
