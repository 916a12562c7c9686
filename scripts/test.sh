#!/usr/bin/env bash
# The test command (README command 2; CI runs it): every test but the `gpu` and `network` ones. The `ray` tests
# run beside a Ray head in a loopback-only network namespace (scripts/ray_ns.sh; needs root for unshare).
# Extra arguments go to the main pytest run. pytest's exit 5 (nothing collected) is not a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PATH="$PWD/.venv/bin:$PATH"

python -m pytest -m "not gpu and not network and not ray" "$@"
rc=$?
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1; then
  bash scripts/ray_ns.sh python -m pytest -m "ray and not gpu and not network"
  ray_rc=$?
else
  echo "the ray tests need root (a loopback-only network namespace); skipped here" >&2
  ray_rc=0
fi
[ "$rc" -eq 5 ] && rc=0
[ "$ray_rc" -eq 5 ] && ray_rc=0
[ "$rc" -eq 0 ] && rc=$ray_rc
exit "$rc"
