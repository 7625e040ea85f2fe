#!/usr/bin/env bash
# The demo: a DevServer with a volume on the local cluster, `devctl list`, then
# a real SSH session into its pod on the real node: the user, the mounted
# claim, the CPU and memory limits the flavor set and the /dev/shm size.
# Idempotent: an existing demo server is kept, listed and reached.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$("$here/../toolchain/env.sh")"
ns="$(python -c 'from devservers.stacks import load_settings; print(load_settings().server_namespace)')"
key="$here/../.cluster/demo_ed25519"

kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns" >/dev/null
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: demo-data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Gi}}
YAML
[[ -f "$key.pub" ]] || ssh-keygen -q -t ed25519 -N "" -C "devservers-demo" -f "$key"
if ! devctl -q describe demo >/dev/null 2>&1; then
  devctl create demo --flavor cpu-small -v demo-data:/data --ttl 4h \
    --ssh-public-key-file "$key.pub"
fi
devctl list
# What the session prints is read inside the pod: the cgroup's CPU quota and
# memory limit (cgroup v1 or v2), not the host's. The login shell runs it.
DEVSERVERS_SSH_PUBLIC_KEY_FILES="$key.pub" devctl ssh demo -- '
  echo "user:    $(id)"
  echo "volume:  $(df -h /data | tail -1)"
  if [ -f /sys/fs/cgroup/cpu.max ]; then read -r q p </sys/fs/cgroup/cpu.max; m=$(cat /sys/fs/cgroup/memory.max)
  else q=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us); p=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)
       m=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); fi
  echo "cpus:    $((q / p)) (limit; the host has $(nproc --all))"
  echo "memory:  $((m / 1048576)) MiB (limit)"
  echo "shm:     $(df -h /dev/shm | tail -1)"'
