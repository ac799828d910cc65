#!/usr/bin/env bash
# kfn demo: sets everything up, then plans and applies a real XDP chain
# [blocklist, flowstats] on a veth pair between two throwaway network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm run -s build

kfn() { node dist/cli/main.js "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
prefix=kfn-demo
manifests=examples/demo

say "Sandbox: netns $prefix-a (198.18.0.1, 2001:2::1) <-veth-> $prefix-b (198.18.0.2 + 198.18.0.3, 2001:2::2)"
bash scripts/sandbox.sh down "$prefix"
KFN_PIN_ROOT=${KFN_PIN_ROOT:-/sys/fs/bpf/kfn} node dist/cli/main.js destroy --all --auto-approve >/dev/null 2>&1 || true
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

say "kfn plan again: the kernel matches the manifests"
kfn plan "$manifests"

cat <<MSG

Look further:
  node dist/cli/main.js show --stats        what runs, per interface, with counters
  node dist/cli/main.js plan $manifests     edit $manifests/chain.yaml, then plan and apply
  ip -n $prefix-a link show $prefix-a0      the kernel's own view (prog/xdp ...)
Remove the demo:
  node dist/cli/main.js destroy $manifests --auto-approve && bash scripts/sandbox.sh down $prefix
MSG
