#!/usr/bin/env bash
# The demo: a DevServer with a volume on the local cluster, then `devctl list`.
# Idempotent: an existing demo server is kept and listed.
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
