#!/usr/bin/env bash
# Keeps the local control plane running: once a second, when a component
# kwokctl started (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok-controller) has exited, `kwokctl start cluster` starts
# it again (it starts only what is not running). A component that lost its
# leader lease during an API server freeze exits by design and comes back
# here; one that is stopped (SIGSTOP) has not exited and is left alone.
# Started by cluster/up.sh, which keeps its PID in clusters/NAME/supervise.pid;
# stopped by cluster/down.sh; ends by itself once the cluster is deleted.
# Every start takes clusters/NAME/start.lock, as other starters do (flock).
#
# Usage: cluster/supervise.sh NAME   (in the environment cluster/up.sh sets)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/procs.sh"
name="$1"
dir="$KWOK_WORKDIR/clusters/$name"

log() { printf '%s [supervise] %s\n' "$(date -u +%FT%TZ)" "$*"; }

while [[ -d $dir/pids ]]; do
  for pidfile in "$dir"/pids/*.pid; do
    [[ -e $pidfile ]] && ! alive "$pidfile" || continue
    log "$(basename "$pidfile" .pid) exited; starting it again"
    flock -o "$dir/start.lock" kwokctl start cluster --name "$name" >/dev/null 2>&1 ||
      log "kwokctl start cluster failed"
    break
  done
  sleep 1
done
log "cluster $name is gone"
