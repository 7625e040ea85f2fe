#!/usr/bin/env bash
# The local cluster's real node: Debian's containerd, runc and CNI plugins,
# with a config of the project's own, and the pinned kubelet, registered as
# node real-0 beside kwok's fake nodes. DevServer pods of the cpu flavors run
# here for real. Files live under .cluster/NAME-node, sockets under
# /run/devservers-NAME-HASH (HASH: of that directory). The host state the
# kubelet and the CNI plugins change (sysctls, iptables chains, the bridge,
# cgroups, mounts, directories) is recorded before the first start and undone
# by `down`.
#
# Usage: cluster/node.sh up     start what is not running, import the images
#                               (idempotent); exit 3 with one line naming the
#                               cause when this machine cannot run the node
#        cluster/node.sh down   stop what it started (by PID) and undo its
#                               host state (idempotent)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
eval "$("$repo/toolchain/env.sh")"
name="${DEVSERVERS_CLUSTER_NAME:-devservers}"
node=real-0
dir="$repo/.cluster/$name-node"
# Names on the host are this checkout's own (two checkouts may both run a
# cluster named NAME; a stale one's `down` must never touch the live one's).
node_id="devservers-$name-$(printf %s "$dir" | sha256sum | cut -c1-8)"
run="/run/$node_id"
sock="$run/containerd.sock"
pki="$KWOK_WORKDIR/clusters/$name/pki"
# The bridge and pod network, chosen at the first start (cluster/pod_network.py).
bridge=
subnet=
kubelet_port="${DEVSERVERS_KUBELET_PORT:-10250}"
sysctls=(kernel.panic kernel.panic_on_oops vm.overcommit_memory net.ipv4.ip_forward)
# Chains the kubelet and the CNI bridge plugin may create (v4 and v6 tables).
chains=(filter:KUBE-FIREWALL filter:KUBE-KUBELET-CANARY nat:KUBE-KUBELET-CANARY
  mangle:KUBE-KUBELET-CANARY mangle:KUBE-IPTABLES-HINT nat:KUBE-MARK-DROP
  nat:KUBE-MARK-MASQ nat:KUBE-POSTROUTING filter:CNI-FORWARD filter:CNI-ADMIN)
# Directories outside $dir that the node creates (removed only if it made them).
host_dirs=(/var/lib/kubelet /run/containerd /var/lib/cni "$run")

log() { printf '[node] %s\n' "$*" >&2; }
crictl() { command crictl --runtime-endpoint "unix://$sock" --timeout 10s "$@"; }

source "$here/procs.sh"

# The node's IPv4 address: the source of the default route, else the first
# global one. (A kubelet refuses a loopback node IP; it serves on this one.)
node_ip() {
  ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | grep . ||
    ip -4 -o addr show scope global | awk '{sub("/.*", "", $4); print $4; exit}'
}

# Why this machine cannot run the node, or nothing.
missing() {
  local b
  for b in containerd runc iptables; do
    command -v "$b" >/dev/null || { echo "$b is not installed (run 'make system')"; return; }
  done
  [[ -x /usr/lib/cni/bridge ]] || { echo "the CNI plugins are not installed (run 'make system')"; return; }
  for b in kubelet crictl; do
    command -v "$b" >/dev/null || { echo "$b is not built (run 'make bootstrap')"; return; }
  done
  [[ $EUID -eq 0 ]] || { echo "a kubelet needs root (this is UID $EUID)"; return; }
  [[ -n $(node_ip) ]] || { echo "no IPv4 address other than loopback for the node"; return; }
  [[ -d /sys/fs/cgroup/cpu || -f /sys/fs/cgroup/cgroup.controllers ]] \
    || echo "no cgroup hierarchy at /sys/fs/cgroup"
}

record_host_state() {
  [[ -f $dir/host-state ]] && return
  local s c
  {
    for s in "${sysctls[@]}"; do echo "sysctl $s $(sysctl -n "$s")"; done
    for c in "${chains[@]}"; do
      iptables -t "${c%%:*}" -S "${c#*:}" >/dev/null 2>&1 && echo "chain4 $c"
      ip6tables -t "${c%%:*}" -S "${c#*:}" >/dev/null 2>&1 && echo "chain6 $c"
    done
    for s in "${host_dirs[@]}"; do [[ -e $s ]] && echo "dir $s"; done
  } >"$dir/host-state.tmp" || true
  mv "$dir/host-state.tmp" "$dir/host-state"
}

# Chooses the bridge and pod network once, at the first start: ones this host
# does not use, so a bridge a killed node left behind is never shared.
choose_network() {
  [[ -s $dir/network ]] || python3 "$here/pod_network.py" >"$dir/network.tmp"
  [[ -s $dir/network ]] || mv "$dir/network.tmp" "$dir/network"
  read -r bridge subnet <"$dir/network"
}

write_config() {
  mkdir -p "$dir"/{cni/net.d,cni/ipam,containerd,kubelet,pki,logs} "$run"
  cat >"$dir/containerd.toml" <<TOML
version = 2
root = "$dir/containerd/root"
state = "$run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/devservers/pause:3.10"
  # root here lacks CAP_SYS_RESOURCE: runc must not lower oom_score_adj.
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
TOML
  cat >"$dir/cni/net.d/10-devservers.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$node_id",
  "plugins": [
    {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": true,
     "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$dir/cni/ipam",
              "ranges": [[{"subnet": "$subnet"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
JSON
  cat >"$dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(node_ip)
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
cgroupRoot: /$node_id
failSwapOn: false
failCgroupV1: false
makeIPTablesUtilChains: false
resolvConf: /etc/resolv.conf
serializeImagePulls: false
# The images are imported, never pulled: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
nodeStatusUpdateFrequency: 4s
YAML
}

# A client certificate of the node (system:node:real-0 in group system:nodes),
# signed by the cluster's CA, and the kubelet's kubeconfig.
write_credentials() {
  [[ -s $dir/pki/node.crt && $dir/pki/node.crt -nt $pki/ca.crt ]] && return
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/pki/node.key" -subj "/O=system:nodes/CN=system:node:$node" \
    -out "$dir/pki/node.csr" 2>/dev/null
  openssl x509 -req -in "$dir/pki/node.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 365 -out "$dir/pki/node.crt" 2>/dev/null
  local server; server="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  KUBECONFIG="$dir/kubelet.kubeconfig" kubectl config set-cluster local \
    --server="$server" --certificate-authority="$pki/ca.crt" --embed-certs >/dev/null
  KUBECONFIG="$dir/kubelet.kubeconfig" kubectl config set-credentials node \
    --client-certificate="$dir/pki/node.crt" --client-key="$dir/pki/node.key" --embed-certs >/dev/null
  KUBECONFIG="$dir/kubelet.kubeconfig" kubectl config set-context local --cluster=local --user=node >/dev/null
  KUBECONFIG="$dir/kubelet.kubeconfig" kubectl config use-context local >/dev/null
}

start_containerd() {
  alive "$dir/containerd.pid" && return
  log "starting containerd ($(containerd --version | awk '{print $3}'))"
  setsid containerd --config "$dir/containerd.toml" >>"$dir/logs/containerd.log" 2>&1 </dev/null &
  echo $! >"$dir/containerd.pid"
  local i
  for i in $(seq 100); do ctr --address "$sock" version >/dev/null 2>&1 && return; sleep 0.1; done
  log "containerd did not answer on $sock; see $dir/logs/containerd.log"; return 1
}

# Imports each image archive whose image containerd does not have yet.
import_images() {
  local image archive
  while read -r image archive; do
    ctr --address "$sock" -n k8s.io images ls -q "name==$image" | grep -qx "$image" \
      && [[ $archive -ot $dir/imported-$(basename "$archive") ]] && continue
    log "importing $image"
    ctr --address "$sock" -n k8s.io images import --no-unpack=false "$archive" >/dev/null
    ctr --address "$sock" -n k8s.io images ls -q "name==$image" | grep -qx "$image" \
      || { log "importing $archive did not give $image"; return 1; }
    touch "$dir/imported-$(basename "$archive")"
  done < <("$repo/images/build.sh")
}

# The kubelet's cgroupRoot must exist in every hierarchy; cpuset needs its
# parent's cpus and mems (cgroup v1 does not inherit them).
make_cgroups() {
  local base
  for base in /sys/fs/cgroup/*/; do
    [[ -f ${base}cgroup.procs && ! -L ${base%/} ]] || continue
    mkdir -p "${base}$node_id"
  done
  if [[ -f /sys/fs/cgroup/cpuset/cpuset.cpus ]]; then
    cp /sys/fs/cgroup/cpuset/cpuset.cpus "/sys/fs/cgroup/cpuset/$node_id/cpuset.cpus"
    cp /sys/fs/cgroup/cpuset/cpuset.mems "/sys/fs/cgroup/cpuset/$node_id/cpuset.mems"
  fi
}

start_kubelet() {
  alive "$dir/kubelet.pid" && return
  make_cgroups
  if (echo >"/dev/tcp/127.0.0.1/$kubelet_port") 2>/dev/null; then
    log "port $kubelet_port is in use by another program (another kubelet?); set DEVSERVERS_KUBELET_PORT"
    return 1
  fi
  log "starting kubelet $(kubelet --version | awk '{print $2}') as node $node"
  setsid kubelet --config "$dir/kubelet.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
    --root-dir "$dir/kubelet" --cert-dir "$dir/pki" --hostname-override "$node" \
    --node-ip "$(node_ip)" --node-labels "devservers.dev/node=real,node.kubernetes.io/instance-type=cpu" \
    >>"$dir/logs/kubelet.log" 2>&1 </dev/null &
  echo $! >"$dir/kubelet.pid"
}

up() {
  local why; why="$(missing)"
  if [[ -n $why ]]; then log "no real node: $why"; exit 3; fi
  mkdir -p "$dir"
  record_host_state
  choose_network
  log "pod network $subnet on bridge $bridge"
  write_config
  write_credentials
  start_containerd
  import_images
  start_kubelet
  kubectl wait --for=condition=Ready --timeout=60s "node/$node" >/dev/null 2>&1 || {
    sleep 5
    kubectl wait --for=condition=Ready --timeout=60s "node/$node" >/dev/null || {
      log "node $node is not Ready; see $dir/logs/kubelet.log"; exit 1; }
  }
}

# The network namespace files of this node's pods, as their sandboxes record them.
pod_netns() {
  local id
  for id in $(crictl pods -q 2>/dev/null); do
    crictl inspectp -o json "$id" 2>/dev/null | python3 -c '
import json, sys
spec = json.load(sys.stdin).get("info", {}).get("runtimeSpec", {})
for ns in spec.get("linux", {}).get("namespaces", []):
    if ns.get("type") == "network" and ns.get("path"):
        print(ns["path"])' || true
  done
}

# Unmounts every mount point under $1, deepest first.
unmount_under() {
  local m
  for m in $(awk -v p="$1" 'index($2, p) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}

# Removes a cgroup subtree in every hierarchy, deepest first.
remove_cgroups() {
  local base d
  for base in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    [[ -d $base$1 ]] || continue
    find "$base$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# Deletes the NAT rules and chains the bridge plugin made for this network.
remove_cni_rules() {
  local rule chain
  { iptables -t nat -S POSTROUTING 2>/dev/null || true; } | { grep -F "$node_id" || true; } |
  while read -r rule; do
    chain="$(sed -n 's/.* -j \(CNI-[0-9a-f]*\).*/\1/p' <<<"$rule")"
    eval "iptables -t nat ${rule/-A/-D}" 2>/dev/null || true
    [[ -n $chain ]] && { iptables -t nat -F "$chain"; iptables -t nat -X "$chain"; } 2>/dev/null || true
  done
}

down() {
  [[ -d $dir ]] || return 0
  stop "$dir/kubelet.pid"
  # Removing the sandboxes runs the CNI DEL of each pod (its netns, NAT chains,
  # IP). A containerd that was killed (kill -9, a session that ended) is started
  # again for it: it knows its pods from its own root, which outlives it.
  [[ -f $dir/containerd.toml ]] && start_containerd || true
  local netns=()
  if alive "$dir/containerd.pid"; then
    mapfile -t netns < <(pod_netns)
    crictl rmp --all --force >/dev/null 2>&1 || true
  fi
  stop "$dir/containerd.pid"
  # The CRI leaves the namespace of a pod whose processes were killed with it.
  local ns
  for ns in "${netns[@]}"; do
    [[ -e $ns ]] && { umount "$ns" 2>/dev/null || true; rm -f "$ns"; }
  done
  local f
  # A shim outlives containerd when its pod was not removed: stop it by its PID file.
  for f in "$run"/containerd/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [[ -s $f ]] && kill -9 "$(<"$f")" 2>/dev/null || true
  done
  remove_cni_rules
  # (A node started before the network was chosen had this one.)
  { [[ -s $dir/network ]] && read -r bridge subnet <"$dir/network"; } || bridge=devsrv0
  ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge"
  unmount_under "$dir/"
  unmount_under "$run/"
  remove_cgroups "$node_id"
  if [[ -f $dir/host-state ]]; then
    local kind a b
    while read -r kind a b; do
      [[ $kind == sysctl ]] && sysctl -q -w "$a=$b" >/dev/null
    done <"$dir/host-state"
    for a in "${chains[@]}"; do
      grep -qx "chain4 $a" "$dir/host-state" || iptables -t "${a%%:*}" -X "${a#*:}" 2>/dev/null || true
      grep -qx "chain6 $a" "$dir/host-state" || ip6tables -t "${a%%:*}" -X "${a#*:}" 2>/dev/null || true
    done
    for a in "${host_dirs[@]}"; do
      grep -qx "dir $a" "$dir/host-state" || { unmount_under "$a/"; rm -rf "$a"; }
    done
  fi
  rm -rf "$dir"
  log "node $node stopped; host state restored"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
