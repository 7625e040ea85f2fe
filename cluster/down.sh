#!/usr/bin/env bash
# Stops and deletes the local cluster, its real node (undoing the host state it
# changed), its volumes' data, the stacks kept for it and devctl's SSH entries
# and lock files of its servers. Idempotent. The control plane's supervisor
# (cluster/up.sh started it) is stopped first, by PID.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$("$here/../toolchain/env.sh")"
name="${DEVSERVERS_CLUSTER_NAME:-devservers}"
source "$here/procs.sh"
stop "$KWOK_WORKDIR/clusters/$name/supervise.pid"
# Forget the SSH entries, pinned host keys and lock files of this cluster's
# servers first: its kubeconfig names the context they were written for.
if [[ -f $KUBECONFIG ]] && command -v devctl >/dev/null; then
  devctl --kubeconfig "$KUBECONFIG" --context "kwok-$name" ssh-config --clear -o json >/dev/null ||
    echo "cluster-down: 'devctl ssh-config --clear' failed: the SSH entries of its servers stay" >&2
fi
"$here/node.sh" down
if command -v kwokctl >/dev/null && kwokctl get clusters 2>/dev/null | grep -qx "$name"; then
  kwokctl delete cluster --name "$name" >&2
fi
rm -f "$KUBECONFIG"
rm -rf "$here/../.cluster/$name-state" "$here/../.cluster/$name-volumes"
