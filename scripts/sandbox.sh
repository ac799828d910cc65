#!/usr/bin/env bash
# Test and demo hosts: two network namespaces joined by a veth pair.
#   sandbox.sh up   PREFIX   creates PREFIX-a (veth PREFIX-a0, 198.18.0.1/24, 2001:2::1/64)
#                            and PREFIX-b (veth PREFIX-b0, 198.18.0.2/24 + 198.18.0.3/24, 2001:2::2/64)
#   sandbox.sh down PREFIX   removes both namespaces (and with them the veth pair)
# Optional: SANDBOX_NET=198.18.N selects another /24 inside 198.18.0.0/15.
set -euo pipefail
cmd=${1:?usage: sandbox.sh up|down PREFIX}
p=${2:?usage: sandbox.sh up|down PREFIX}
net=${SANDBOX_NET:-198.18.0}
a="$p-a"; b="$p-b"
case "$cmd" in
  up)
    ip netns add "$a"
    ip netns add "$b"
    ip link add "$p-a0" netns "$a" type veth peer name "$p-b0" netns "$b"
    ip -n "$a" addr add "$net.1/24" dev "$p-a0"
    ip -n "$b" addr add "$net.2/24" dev "$p-b0"
    ip -n "$b" addr add "$net.3/24" dev "$p-b0"
    ip -n "$a" addr add 2001:2::1/64 dev "$p-a0" nodad
    ip -n "$b" addr add 2001:2::2/64 dev "$p-b0" nodad
    for ns in "$a" "$b"; do
      ip -n "$ns" link set lo up
    done
    ip -n "$a" link set "$p-a0" up
    ip -n "$b" link set "$p-b0" up
    ;;
  down)
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    ;;
  *) echo "usage: sandbox.sh up|down PREFIX" >&2; exit 2 ;;
esac
