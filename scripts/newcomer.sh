#!/usr/bin/env bash
# The newcomer path as a new user walks it on a fresh clone (CI runs it, .ci/run): README command 1 exactly as
# the README gives it, then `memindex doctor`, `memindex sql` and a call through the official MCP inspector's
# CLI over stdio. Each step checks what it printed; any failure stops with the step's name.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
step() { echo "== newcomer: $*" >&2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

step "README command 1"
cmd=$(grep -m1 -E '^ *bash scripts/setup.sh && \.venv/bin/memindex ingest ' README.md | sed 's/^ *//')
[ -n "$cmd" ] || { echo "README command 1 not found in README.md" >&2; exit 1; }
bash -c "$cmd" >"$out/query.txt"
cat "$out/query.txt"
grep -qi "ask not what your country" "$out/query.txt" || { echo "the query found no line of the speech" >&2; exit 1; }

step "memindex doctor"
.venv/bin/memindex doctor --store demo-store --json >"$out/doctor.json"
.venv/bin/python - "$out/doctor.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print(json.dumps(report)[:400])
assert report, "doctor printed nothing"
PY

step "memindex sql"
.venv/bin/memindex sql "SELECT name, round(duration) AS seconds FROM videos" --store demo-store --format json >"$out/sql.json"
cat "$out/sql.json"
grep -q "bbb_narrated.mp4" "$out/sql.json" || { echo "sql did not list the ingested video" >&2; exit 1; }

step "MCP inspector (stdio)"
npx -y @modelcontextprotocol/inspector --cli .venv/bin/memindex serve --mcp-stdio --store demo-store \
  --method tools/call --tool-name search --tool-arg "query=ask not what your country can do for you" \
  --tool-arg k=3 >"$out/mcp.json"
.venv/bin/python - "$out/mcp.json" <<'PY'
import json, sys
called = json.load(open(sys.argv[1]))
assert not called.get("isError"), called
hits = called["structuredContent"]["hits"]
assert hits and "country" in hits[0]["text"].lower(), hits[:1]
print("mcp search:", hits[0]["text"][:80])
PY
step "done"
