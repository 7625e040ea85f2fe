# Shell functions on processes named by PID files, sourced by the cluster scripts.

# alive PIDFILE -> true if the process runs (a zombie does not count: this VM's
# PID 1 reaps late, so kill -0 alone is true for one).
alive() {
  local pid state
  [[ -s $1 ]] && pid="$(<"$1")" && [[ -r /proc/$pid/stat ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat")"
  [[ $state != Z && $state != X ]]
}

# stop PIDFILE -> TERM, then KILL after 10 s, of the process the file names.
stop() {
  alive "$1" || { rm -f "$1"; return 0; }
  local pid i; pid="$(<"$1")"
  kill "$pid" 2>/dev/null || true
  for i in $(seq 100); do alive "$1" || break; sleep 0.1; done
  alive "$1" && kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}
