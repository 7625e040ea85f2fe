#!/usr/bin/env bash
# Starts the local control plane: etcd, kube-apiserver (RBAC on),
# kube-controller-manager, kube-scheduler and kwok, all from the pinned
# toolchain, then registers fake nodes, a default StorageClass and a pool of
# PersistentVolumes. Idempotent: a healthy cluster is left alone, a stopped or
# stale one (from a killed run) is restarted or recreated.
# Returns only when every node is Ready.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$("$here/../toolchain/env.sh")"
source "$here/../toolchain/pins.env"
name="${DEVSERVERS_CLUSTER_NAME:-devservers}"
mkdir -p "$KWOK_WORKDIR"
export KWOK_RUNTIME=binary KWOK_KUBE_VERSION="v$KUBERNETES_VERSION"
export KWOK_KUBE_BINARY_PREFIX="$DEVSERVERS_TOOLCHAIN/bin"
export KWOK_KUBE_APISERVER_BINARY="$DEVSERVERS_TOOLCHAIN/bin/kube-apiserver"
export KWOK_KUBE_CONTROLLER_MANAGER_BINARY="$DEVSERVERS_TOOLCHAIN/bin/kube-controller-manager"
export KWOK_KUBE_SCHEDULER_BINARY="$DEVSERVERS_TOOLCHAIN/bin/kube-scheduler"
export KWOK_KUBECTL_BINARY="$DEVSERVERS_TOOLCHAIN/bin/kubectl"
export KWOK_ETCD_BINARY="$DEVSERVERS_TOOLCHAIN/bin/etcd"
export KWOK_CONTROLLER_BINARY="$DEVSERVERS_TOOLCHAIN/bin/kwok"

log() { printf '[cluster] %s\n' "$*" >&2; }

for b in kwokctl kubectl kube-apiserver etcd kwok; do
  command -v "$b" >/dev/null || { log "missing $b: run 'make bootstrap' first"; exit 1; }
done

# Every component's process is alive (kwok, the fake kubelets, included; a dead
# one shows as NotReady nodes only minutes later), the API server is ready,
# and so are the nodes.
healthy() {
  local pid
  for pid in "$KWOK_WORKDIR/clusters/$name/pids/"*.pid; do
    [[ -e $pid ]] && kill -0 "$(<"$pid")" 2>/dev/null || return 1
  done
  kubectl get --raw /readyz >/dev/null 2>&1 &&
    kubectl wait --for=condition=Ready --timeout=5s node --all >/dev/null 2>&1
}

if kwokctl get clusters 2>/dev/null | grep -qx "$name"; then
  if healthy; then
    log "cluster '$name' already running"
  else
    log "cluster '$name' exists but is not answering; restarting it"
    if ! kwokctl start cluster --name "$name" >&2 || ! kubectl wait --for=condition=Ready --timeout=10s node --all >/dev/null 2>&1; then
      log "restart failed; recreating cluster '$name' (its stacks go with it)"
      kwokctl delete cluster --name "$name" >&2 || true
      rm -rf "$here/../.cluster/$name-state"
    fi
  fi
fi

if ! kwokctl get clusters 2>/dev/null | grep -qx "$name"; then
  log "creating cluster '$name' (kube v$KUBERNETES_VERSION, etcd v$ETCD_VERSION)"
  rm -f "$KUBECONFIG"
  kwokctl create cluster --name "$name" --kubeconfig "$KUBECONFIG" \
    --kube-authorization=true --wait 120s >&2 || {
      log "kwokctl create failed; logs: kwokctl logs --name $name kube-apiserver (KWOK_WORKDIR=$KWOK_WORKDIR)"
      log "if a port is in use by a killed run, 'make cluster-down' then retry"
      exit 1
    }
fi

kubectl apply -f "$here/nodes.yaml" >/dev/null
kubectl apply -f "$here/storage.yaml" >/dev/null
for i in $(seq -w 1 "${DEVSERVERS_PV_COUNT:-40}"); do
  cat <<PV
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-pv-$i
  labels: {app.kubernetes.io/part-of: devservers-local-cluster}
spec:
  capacity: {storage: 100Gi}
  accessModes: [ReadWriteOnce, ReadWriteMany, ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: standard
  hostPath: {path: /var/lib/devservers-local/pv-$i}
PV
done | kubectl apply -f - >/dev/null
kubectl wait --for=condition=Ready --timeout=120s node --all >/dev/null
kubectl get nodes >&2
