#!/usr/bin/env bash
# kfn demo: sets everything up, then plans and applies a real XDP chain of built-in
# functions [blocklist, flowstats] on a veth pair between two throwaway network
# namespaces. It keeps its own pin root and state dir, so it never touches the chains
# of a kfn already running on this host.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm run -s build

export KFN_PIN_ROOT=/sys/fs/bpf/kfn-demo KFN_STATE_DIR=/run/kfn-demo
kfn() { node dist/cli/main.js "$@"; }
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi
prefix=kfn-demo
manifests=examples/demo

say "Sandbox: netns $prefix-a (198.18.0.1, 2001:2::1) <-veth-> $prefix-b (198.18.0.2 + 198.18.0.3, 2001:2::2)"
# A previous demo's chains live in the demo's own pin root: only those are removed.
kfn destroy --all --auto-approve >/dev/null 2>&1 || true
bash scripts/sandbox.sh down "$prefix"
bash scripts/sandbox.sh up "$prefix"

say "kfn validate $manifests"
kfn validate "$manifests"

say "kfn plan $manifests"
kfn plan "$manifests"

say "kfn apply $manifests --auto-approve"
kfn apply "$manifests" --auto-approve

ping_from() { ip netns exec "$prefix-b" ping -c 3 -i 0.2 -W 1 "$@" >/dev/null 2>&1 && echo "replies" || echo "no reply (dropped)"; }
say "Traffic from $prefix-b"
echo "  ping from 198.18.0.2 (allowed):  $(ping_from -I 198.18.0.2 198.18.0.1)"
echo "  ping from 198.18.0.3 (blocked):  $(ping_from -I 198.18.0.3 198.18.0.1)"
echo "  ping6 from 2001:2::2 (allowed):  $(ping_from -6 2001:2::1)"

say "What each kernel function saw (kfn show --stats)"
kfn show --stats

say "Counters per function (kfn stats)"
kfn stats

say "Rates over one second (kfn top --once; live: kfn top, q quits)"
kfn top --once

say "kfn plan again: the kernel matches the manifests"
kfn plan "$manifests"

cat <<MSG

Look further (the demo keeps its chains in its own pin root and state dir):
  export KFN_PIN_ROOT=$KFN_PIN_ROOT KFN_STATE_DIR=$KFN_STATE_DIR
  node dist/cli/main.js show --stats        what runs, per interface, with counters
  node dist/cli/main.js top                 busiest flows and per-function rates, live
  node dist/cli/main.js plan $manifests     edit $manifests/chain.yaml, then plan and apply
  node dist/cli/main.js functions           the built-in functions the chain uses
  ip -n $prefix-a link show $prefix-a0      the kernel's own view (prog/xdp ...)
Remove the demo (its own pin root only; nothing else kfn runs here):
  KFN_PIN_ROOT=$KFN_PIN_ROOT KFN_STATE_DIR=$KFN_STATE_DIR node dist/cli/main.js destroy --all --auto-approve && bash scripts/sandbox.sh down $prefix
MSG
