#!/usr/bin/env bash
# Builds the Shoal test images (shoal-test/busybox:1, shoal-test/busybox:2, shoal-test/pause:1)
# from Debian's busybox-static, without a registry or Docker. Idempotent: rebuilds only when
# busybox or the builder changed. Usage: build-images.sh OUTDIR
set -euo pipefail
OUT=${1:?usage: build-images.sh OUTDIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUSYBOX=${BUSYBOX:-/bin/busybox}
if ! "$BUSYBOX" --list-full >/dev/null 2>&1; then
  echo "build-images: $BUSYBOX is not a busybox with --list-full; install busybox-static (scripts/runtime/install.sh)" >&2
  exit 1
fi
if ! { LC_ALL=C ldd "$BUSYBOX" 2>&1 || true; } | grep -q 'not a dynamic executable'; then
  echo "build-images: $BUSYBOX is dynamically linked; need busybox-static" >&2
  exit 1
fi
mkdir -p "$OUT"
stamp=$(cat "$BUSYBOX" "$HERE/oci-build.mjs" | sha256sum | cut -d' ' -f1)
if [[ -f "$OUT/.stamp" && "$(cat "$OUT/.stamp")" == "$stamp" && -f "$OUT/images.json" ]]; then
  exit 0
fi
node "$HERE/oci-build.mjs" "$OUT" "$BUSYBOX"
echo "$stamp" >"$OUT/.stamp"
