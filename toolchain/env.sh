#!/usr/bin/env bash
# Prints shell exports that put the pinned toolchain and the project's virtual
# environment on PATH and point Pulumi and kubectl at the local cluster.
# Usage: eval "$(toolchain/env.sh)"   (or: eval "$(make -s env)")
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
prefix="$("$here/prefix.sh")"
# A second local cluster (DEVSERVERS_CLUSTER_NAME) gets a kubeconfig of its own.
name="${DEVSERVERS_CLUSTER_NAME:-devservers}"
kubeconfig="$repo/.cluster/kubeconfig"
[[ $name == devservers ]] || kubeconfig="$repo/.cluster/$name.kubeconfig"
# Stacks of the local cluster live beside it: `make cluster-down` forgets them too.
state="$repo/.cluster/$name-state"
cat <<ENV
export DEVSERVERS_TOOLCHAIN="$prefix"
export PATH="$prefix/bin:$repo/.venv/bin:\$PATH"
export PULUMI_HOME="$prefix/pulumi-home"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
export KWOK_WORKDIR="$repo/.cluster/kwok"
export KUBECONFIG="$kubeconfig"
export DEVSERVERS_BACKEND_URL="\${DEVSERVERS_BACKEND_URL:-file://$state/servers}"
ENV
