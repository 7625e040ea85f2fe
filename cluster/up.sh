#!/usr/bin/env bash
# Starts the local control plane: etcd, kube-apiserver (RBAC on),
# kube-controller-manager, kube-scheduler and kwok, all from the pinned
# toolchain, then registers fake nodes, a default StorageClass and a pool of
# PersistentVolumes, and starts the real node (cluster/node.sh). Idempotent: a
# healthy cluster is left alone, a stopped or stale one (from a killed run) is
# restarted or recreated; a stopped kubelet or containerd is only restarted.
# A supervisor (cluster/supervise.sh) then starts again any control-plane
# component that exits. Returns when every fake node and the real node are Ready. Where the real node
# cannot run (DEVSERVERS_REAL_NODE=0, or a cause node.sh names), the cluster
# comes up with the fake nodes only.
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
source "$here/procs.sh"

for b in kwokctl kubectl kube-apiserver etcd kwok; do
  command -v "$b" >/dev/null || { log "missing $b: run 'make bootstrap' first"; exit 1; }
done

# Every component's process is alive (kwok, the fake kubelets, included; a dead
# one shows as NotReady nodes only minutes later), the API server is ready,
# and so are the fake nodes. The real node is not judged here: a stopped
# kubelet must never make the cluster, and its stacks, be recreated.
healthy() {
  local pid
  for pid in "$KWOK_WORKDIR/clusters/$name/pids/"*.pid; do
    [[ -e $pid ]] && kill -0 "$(<"$pid")" 2>/dev/null || return 1
  done
  kubectl get --raw /readyz >/dev/null 2>&1 &&
    kubectl wait --for=condition=Ready --timeout=5s node -l type=kwok >/dev/null 2>&1
}

# kwokctl's configuration: kwok manages the fake nodes only (annotated
# kwok.x-k8s.io/node=fake), and the API server reaches the real kubelet (logs,
# exec, port-forward) with the cluster's admin certificate at its InternalIP.
kwokctl_config() {
  local pki="$KWOK_WORKDIR/clusters/$name/pki"
  cat <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
componentsPatches:
  - name: kube-apiserver
    extraArgs:
      - {key: kubelet-client-certificate, value: $pki/admin.crt}
      - {key: kubelet-client-key, value: $pki/admin.key}
      - {key: kubelet-preferred-address-types, value: "InternalIP,Hostname"}
  - name: kwok-controller
    extraArgs:
      - {key: manage-all-nodes, value: "false", override: true}
      - {key: manage-nodes-with-annotation-selector, value: kwok.x-k8s.io/node=fake}
YAML
}

if kwokctl get clusters 2>/dev/null | grep -qx "$name"; then
  if healthy; then
    log "cluster '$name' already running"
  else
    log "cluster '$name' exists but is not answering; restarting it"
    if ! flock -o "$KWOK_WORKDIR/clusters/$name/start.lock" kwokctl start cluster --name "$name" >&2 || ! kubectl wait --for=condition=Ready --timeout=10s node -l type=kwok >/dev/null 2>&1; then
      log "restart failed; recreating cluster '$name' (its stacks go with it)"
      stop "$KWOK_WORKDIR/clusters/$name/supervise.pid"
      "$here/node.sh" down
      kwokctl delete cluster --name "$name" >&2 || true
      rm -rf "$here/../.cluster/$name-state" "$here/../.cluster/$name-volumes"
    fi
  fi
fi

if ! kwokctl get clusters 2>/dev/null | grep -qx "$name"; then
  log "creating cluster '$name' (kube v$KUBERNETES_VERSION, etcd v$ETCD_VERSION)"
  rm -f "$KUBECONFIG"
  kwokctl_config >"$KWOK_WORKDIR/$name.kwokctl.yaml"
  kwokctl create cluster --name "$name" --kubeconfig "$KUBECONFIG" \
    --config "$KWOK_WORKDIR/$name.kwokctl.yaml" --kube-authorization=true --wait 120s >&2 || {
      log "kwokctl create failed; logs: kwokctl logs --name $name kube-apiserver (KWOK_WORKDIR=$KWOK_WORKDIR)"
      log "if a port is in use by a killed run, 'make cluster-down' then retry"
      exit 1
    }
fi

# The supervisor of the control plane: one per cluster, its PID beside the components'.
supervisor="$KWOK_WORKDIR/clusters/$name/supervise.pid"
if ! alive "$supervisor"; then
  setsid "$here/supervise.sh" "$name" </dev/null >>"$KWOK_WORKDIR/clusters/$name/supervise.log" 2>&1 &
  echo $! >"$supervisor"
fi

kubectl apply -f "$here/nodes.yaml" >/dev/null
kubectl apply -f "$here/storage.yaml" >/dev/null
# The volumes' data lives beside the cluster and goes with it on cluster-down.
# hostPath directories keep their mode (no fsGroup): writable for the pods' UID.
volumes="$(cd "$here/.." && pwd)/.cluster/$name-volumes"
mkdir -p "$volumes"
for i in $(seq -w 1 "${DEVSERVERS_PV_COUNT:-40}"); do
  [[ -d $volumes/pv-$i ]] || install -d -m 0777 "$volumes/pv-$i"
done
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
  hostPath: {path: $volumes/pv-$i, type: Directory}
PV
done | kubectl apply -f - >/dev/null
kubectl wait --for=condition=Ready --timeout=120s node -l type=kwok >/dev/null
if [[ ${DEVSERVERS_REAL_NODE:-1} != 0 ]]; then
  "$here/node.sh" up || log "the cluster runs with fake nodes only: DevServers of the cpu flavors stay Pending"
fi
kubectl get nodes >&2
