#!/usr/bin/env bash
# Installs what kfn needs on Debian 12 and prepares the kernel filesystems.
# Idempotent: safe to run again; installs only what is missing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: run as root (it installs packages and mounts bpffs)" >&2
  exit 1
fi

# zsh and systemd (systemd-analyze): the completion and deployment-unit tests check with them.
packages=(clang llvm libbpf-dev libbpf1 bpftool xdp-tools iproute2 util-linux iputils-ping iperf3 hping3 netcat-openbsd make git tshark zsh systemd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi
if [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs tracefs /sys/kernel/tracing || true
fi

node -e 'const [maj] = process.versions.node.split("."); if (+maj < 20) { console.error(`bootstrap: Node >= 20 required, found ${process.versions.node}`); process.exit(1); }'
echo "bootstrap: ok (clang $(clang -dumpversion), $(bpftool version | head -1), node $(node --version))"
