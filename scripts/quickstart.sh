#!/usr/bin/env bash
# Shoal quickstart: a local cluster of separate shoald processes on loopback, and the demo stack.
#
#   scripts/quickstart.sh [up]     install what is missing, build, start 3 managers + 2 workers,
#                                  deploy deploy/examples/demo with `shoal stack deploy`
#   scripts/quickstart.sh status   show the nodes, the stack's services and tasks
#   scripts/quickstart.sh down     stop every process and containerd it started and remove all state
#
# Run as root on Debian 12 (containerd and runc need it). What it starts:
#   m1 m2 m3  managers (raft), drained: manager-only nodes that run no tasks (hollow runtime)
#   w1 w2     workers, each with its own containerd (scripts/runtime/containerd-up.sh qs-w1|qs-w2)
#             with the busybox test images imported (scripts/runtime/build-images.sh)
# State: $SHOAL_QUICKSTART_DIR (default /var/lib/shoal-quickstart): one data dir, log and pid file
# per node. Ports: $SHOAL_QUICKSTART_PORT (default 4300) for m1, +1 for each next node; /metrics on
# $SHOAL_QUICKSTART_METRICS_PORT (default 9400) + the same offset. $SHOAL_QUICKSTART_NAME (default qs)
# prefixes the containerd instances (qs-w1, qs-w2) and node hostnames. SHOAL_QUICKSTART_SKIP_BUILD=1
# uses the existing build (tests); SHOAL_QUICKSTART_SUBNET (default 236) picks the workers' bridge
# subnets 10.213.N.0/24 and 10.213.N+1.0/24.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
STATE=${SHOAL_QUICKSTART_DIR:-/var/lib/shoal-quickstart}
PORT=${SHOAL_QUICKSTART_PORT:-4300}
MPORT=${SHOAL_QUICKSTART_METRICS_PORT:-9400}
QS=${SHOAL_QUICKSTART_NAME:-qs}
SUBNET=${SHOAL_QUICKSTART_SUBNET:-236}   # bridges 10.213.SUBNET.0/24 and the next one
MANAGERS=(m1 m2 m3)
WORKERS=(w1 w2)
STACK=demo
COMPOSE=$REPO/deploy/examples/demo/docker-compose.yml

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

shoal() { node "$REPO/packages/cli/bin/shoal.js" --host "unix:$STATE/m1/control.sock" "$@"; }

offset() { # node name -> port offset
  case $1 in m1) echo 0 ;; m2) echo 1 ;; m3) echo 2 ;; w1) echo 3 ;; w2) echo 4 ;; esac
}
addr() { echo "127.0.0.1:$((PORT + $(offset "$1")))"; }
maddr() { echo "127.0.0.1:$((MPORT + $(offset "$1")))"; }

# Start `shoald ARGS…` for node NAME in the background, detached from this shell.
start_node() {
  local name=$1; shift
  setsid node "$REPO/packages/daemon/bin/shoald.js" "$@" --log-format json >>"$STATE/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

# Wait (up to $2 s) for a condition given as a command; say what on failure.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || die "timed out after ${secs}s waiting for: $what (logs: $STATE/*.log)"
    sleep 1
  done
}

ready_nodes() { shoal node ls --format json | grep -c '"NODE_READY"\|"READY"'; }
have_ready() { [[ $(ready_nodes) -ge $1 ]]; }

up() {
  [[ $EUID -eq 0 ]] || die "run as root (containerd and runc need it): sudo $0"
  [[ -e $STATE/m1 ]] && die "a quickstart cluster already exists in $STATE; run '$0 down' first (or '$0 status')"

  say "Installing what is missing (containerd, runc, CNI plugins, busybox-static, …)"
  bash "$REPO/scripts/runtime/install.sh"
  command -v node >/dev/null || die "Node.js 20 or newer is needed (https://nodejs.org, or NodeSource's Debian packages)"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js 20 or newer is needed (found $(node --version))"

  cd "$REPO"
  if [[ -n ${SHOAL_QUICKSTART_SKIP_BUILD:-} ]]; then
    [[ -f packages/cli/dist/main.js && -f packages/daemon/dist/main.js ]] || die "SHOAL_QUICKSTART_SKIP_BUILD is set but there is no build (npm run build)"
  else
  say "Building (npm ci, npm run build)"
  if [[ ! -d node_modules || -n ${SHOAL_QUICKSTART_NPM_CI:-} ]]; then npm ci --no-audit --no-fund; else echo "node_modules present; skipping npm ci (SHOAL_QUICKSTART_NPM_CI=1 forces it)"; fi
  npm run -s build
  fi

  mkdir -p "$STATE"
  say "Starting a containerd for each worker"
  local i=0
  for w in "${WORKERS[@]}"; do
    # distinct bridge subnets 10.213.23x.0/24 for the two instances
    SHOAL_SUBNET_INDEX=$((SUBNET + i)) bash "$REPO/scripts/runtime/containerd-up.sh" "$QS-$w" >"$STATE/$w.containerd"
    echo "$w: containerd at $(cat "$STATE/$w.containerd")"
    i=$((i + 1))
  done

  say "Starting the managers"
  start_node m1 init --data-dir "$STATE/m1" --listen-addr "$(addr m1)" --metrics-addr "$(maddr m1)" --hostname $QS-m1 --runtime hollow
  wait_for "m1 answering on $STATE/m1/control.sock with the cluster initialised" 60 shoal swarm join-token -q worker
  local mtoken wtoken
  mtoken=$(shoal swarm join-token -q manager)
  wtoken=$(shoal swarm join-token -q worker)
  for m in m2 m3; do
    start_node "$m" join --token "$mtoken" --data-dir "$STATE/$m" --listen-addr "$(addr "$m")" --metrics-addr "$(maddr "$m")" --hostname "$QS-$m" --runtime hollow "$(addr m1)"
    wait_for "$m ready" 90 have_ready $(( $(offset "$m") + 1 ))
  done
  # manager-only nodes, as in a production swarm: tasks go to the workers
  for id in $(shoal node ls -q --filter role=manager); do shoal node update --availability drain "$id" >/dev/null; done

  say "Starting the workers"
  for w in "${WORKERS[@]}"; do
    start_node "$w" join --token "$wtoken" --data-dir "$STATE/$w" --listen-addr "$(addr "$w")" --metrics-addr "$(maddr "$w")" --hostname "$QS-$w" \
      --runtime cri --containerd-socket "$(cat "$STATE/$w.containerd")" --cgroup-parent "/shoal/$QS-$w/$w" "$(addr m1)"
  done
  wait_for "5 nodes ready" 120 have_ready 5
  shoal node ls

  say "Deploying the demo stack: shoal stack deploy -c deploy/examples/demo/docker-compose.yml $STACK"
  (cd "$(dirname "$COMPOSE")" && shoal stack deploy -c "$COMPOSE" "$STACK")

  say "shoal stack services $STACK"
  shoal stack services "$STACK"
  for s in web worker cache; do
    say "shoal service ps ${STACK}_$s"
    shoal service ps "${STACK}_$s"
  done

  cat <<EOF

The cluster runs (3 managers, 2 workers). Reach it with the CLI:

  export SHOAL_HOST=unix:$STATE/m1/control.sock     # any manager's socket: $STATE/m{1,2,3}/control.sock
  # or: shoal --host $(addr m1) …                   # any manager's address: $(addr m1), $(addr m2), $(addr m3)
  npx shoal stack services $STACK
  npx shoal service ps ${STACK}_web
  npx shoal service logs ${STACK}_worker
  npx shoal stack deploy -c deploy/examples/demo/docker-compose.yml $STACK   # after editing it: a rolling update

Logs: $STATE/<node>.log. Stop everything and remove all state: $0 down
EOF
}

status() {
  [[ -e $STATE/m1 ]] || die "no quickstart cluster in $STATE"
  shoal node ls
  shoal stack services "$STACK"
  shoal stack ps "$STACK"
}

down() {
  [[ $EUID -eq 0 ]] || die "run as root: sudo $0 down"
  local pids=()
  for n in "${WORKERS[@]}" "${MANAGERS[@]}"; do
    [[ -f $STATE/$n.pid ]] || continue
    local pid; pid=$(cat "$STATE/$n.pid")
    # only a shoald of ours: its command line names its data dir
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE/$n"; then
      kill -TERM "$pid" && pids+=("$pid")
    fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  done
  echo "stopped ${#pids[@]} shoald process(es)"
  for w in "${WORKERS[@]}"; do
    # (containerd-down.sh scans /proc; processes that exit meanwhile are not worth a line)
    bash "$REPO/scripts/runtime/containerd-down.sh" "$QS-$w" 2> >(grep -v '/cmdline: No such file' >&2) && echo "removed containerd $QS-$w"
  done
  rm -rf "$STATE"
  echo "removed $STATE"
}

case ${1:-up} in
  up) up ;;
  status) status ;;
  down) down ;;
  *) die "usage: $0 [up|status|down]" ;;
esac
