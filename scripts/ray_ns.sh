#!/usr/bin/env bash
# Run a command beside a Ray head that lives in a loopback-only network namespace:
#   scripts/ray_ns.sh COMMAND [ARGS...]      (needs root for `unshare -n`; `ray` on PATH)
# Outside such a namespace Ray registers the machine's external address and probes a public DNS server; inside
# it the only interface is loopback, so the head, its workers and the command talk over 127.0.0.1 alone. The
# head listens on 127.0.0.1:$MEMINDEX_RAY_PORT (6399) with $MEMINDEX_RAY_CPUS (2) CPUs; the command gets
# MEMINDEX_RAY_ADDRESS, and the head is stopped when it ends (its exit status is the command's).
set -euo pipefail
if [ "${MEMINDEX_IN_NETNS:-}" != 1 ]; then
  exec unshare --net env MEMINDEX_IN_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
port=${MEMINDEX_RAY_PORT:-6399}
ray start --head --node-ip-address=127.0.0.1 --port="$port" --num-cpus="${MEMINDEX_RAY_CPUS:-2}" \
  --include-dashboard=false --disable-usage-stats >/dev/null
trap 'ray stop --force >/dev/null 2>&1 || true' EXIT
export MEMINDEX_RAY_ADDRESS="127.0.0.1:$port"
"$@"
