#!/usr/bin/env bash
# Wall time of `devctl create --wait` and `devctl delete` on the local cluster.
# Usage: bench/create_delete.sh [N]   (default 5; prints each run and the medians)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$("$here/../toolchain/env.sh")"
n="${1:-5}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export DEVSERVERS_USER=bench DEVSERVERS_BACKEND_URL="file://$work/state" PULUMI_CONFIG_PASSPHRASE=bench
mkdir -p "$work/state"
kubectl get namespace dev-bench >/dev/null 2>&1 || kubectl create namespace dev-bench >/dev/null
ssh-keygen -q -t ed25519 -N "" -f "$work/key"
now() { echo "$EPOCHREALTIME"; }
creates=(); deletes=()
for i in $(seq 1 "$n"); do
  t0=$(now); devctl -q create "b$i" --wait --ssh-public-key-file "$work/key.pub" >/dev/null
  t1=$(now); devctl -q delete "b$i" --yes >/dev/null
  t2=$(now)
  creates+=("$(awk "BEGIN{print $t1 - $t0}")"); deletes+=("$(awk "BEGIN{print $t2 - $t1}")")
  echo "run $i: create ${creates[-1]}s delete ${deletes[-1]}s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "median create: $(median "${creates[@]}")s  median delete: $(median "${deletes[@]}")s  (n=$n)"
