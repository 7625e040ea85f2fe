#!/usr/bin/env bash
# Builds the pinned engines (Pulumi CLI, Kubernetes provider plugin, Kubernetes
# control plane, kubelet, crictl, etcd, kwok) from the Go module proxy into a
# cache directory keyed by the pins. Idempotent: a finished binary is never
# rebuilt, and each binary is built in a temporary directory and moved into
# place only on success.
#
# Usage: toolchain/bootstrap.sh            build what is missing
#        toolchain/bootstrap.sh --prefix   print the toolchain directory
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=toolchain/pins.env
source "$here/pins.env"
prefix="$("$here/prefix.sh")"
if [[ "${1:-}" == "--prefix" ]]; then echo "$prefix"; exit 0; fi

bin="$prefix/bin"
work="$prefix/.work"
mkdir -p "$bin" "$work"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local
export GONOSUMDB="" GOWORK=off
export PULUMI_HOME="$prefix/pulumi-home"
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

log() { printf '[bootstrap %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# module_dir MODULE@VERSION -> prints the extracted module directory.
module_dir() {
  local json
  json="$(go mod download -json "$1" 2>&1)" || fail "go mod download $1: $json"
  sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p' <<<"$json"
}

# fresh_dir NAME -> an empty, writable build directory.
fresh_dir() {
  local d="$work/$1"
  [[ -d "$d" ]] && chmod -R u+w "$d" && rm -rf "$d"
  mkdir -p "$d"; echo "$d"
}

# copy_module MODULE@VERSION DEST -> writable copy of the module's files.
copy_module() {
  local src; src="$(module_dir "$1")"
  [[ -n "$src" ]] || fail "module $1 has no directory"
  cp -r "$src" "$2"; chmod -R u+w "$2"
}

# step NAME BINARY... FUNCTION -> runs FUNCTION unless every BINARY exists.
step() {
  local name="$1" fn="${!#}" missing=0 start
  for b in "${@:2:$#-2}"; do [[ -x "$bin/$b" ]] || missing=1; done
  if (( missing == 0 )); then log "$name: cached"; return; fi
  start=$SECONDS
  log "$name: building"
  ( "$fn" ) || fail "$name"
  log "$name: done in $((SECONDS - start))s"
}

# install_bins DIR -> moves built binaries into the toolchain atomically.
install_bins() {
  local f
  for f in "$1"/*; do mv -f "$f" "$bin/$(basename "$f")"; done
}

build_pulumi() {
  local d out; d="$(fresh_dir pulumi)"; out="$d/out"; mkdir -p "$out"
  copy_module "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" "$d/pkg"
  copy_module "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" "$d/sdk"
  (cd "$d/pkg" && go build -trimpath -o "$out/pulumi" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    ./cmd/pulumi) || fail "go build pulumi v$PULUMI_VERSION"
  cp "$d/sdk/python/cmd/pulumi-language-python-exec" "$out/"
  chmod +x "$out/pulumi-language-python-exec"
  install_bins "$out"
}

# A real user's machine may already have the Pulumi CLI: link it instead.
use_system_pulumi() {
  local found dir b
  found="$(PATH="${PATH//$bin:/}" command -v pulumi)" || fail "DEVSERVERS_SYSTEM_PULUMI=1 but no pulumi on PATH"
  dir="$(dirname "$(readlink -f "$found")")"
  for b in pulumi pulumi-language-python pulumi-language-python-exec; do
    if [[ -x "$dir/$b" ]]; then ln -sf "$dir/$b" "$bin/$b"; fi
  done
  log "using $("$bin/pulumi" version) from $dir"
}

build_provider() {
  local d out ver="$PULUMI_KUBERNETES_VERSION"
  d="$(fresh_dir provider)"; out="$d/out"; mkdir -p "$out"
  copy_module "github.com/pulumi/pulumi-kubernetes/provider/v4@$PULUMI_KUBERNETES_MODULE_VERSION" "$d/provider"
  # go.mod replaces the SDK with ../sdk: lay the released SDK beside it.
  copy_module "github.com/pulumi/pulumi-kubernetes/sdk/v4@v$ver" "$d/sdk"
  (cd "$d/provider/cmd/pulumi-resource-kubernetes" && VERSION="$ver" go run generate.go) \
    || fail "generate provider schema v$ver"
  (cd "$d/provider" && go build -trimpath -o "$out/pulumi-resource-kubernetes" \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$ver" \
    ./cmd/pulumi-resource-kubernetes) || fail "go build pulumi-resource-kubernetes v$ver"
  install_bins "$out"
}

build_language_python() {
  # Published only as pseudo-versions, and not in the checksum database:
  # GONOSUMDB covers exactly this module. go.mod replaces ../../../../pkg and
  # ../../.. (the sdk), so the SDK tree of the same release hosts it beside pkg.
  local d out m="github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3"
  d="$(fresh_dir language-python)"; out="$d/out"; mkdir -p "$out"
  copy_module "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_LANGUAGE_PYTHON_VERSION" "$d/pkg"
  copy_module "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_LANGUAGE_PYTHON_VERSION" "$d/sdk"
  mkdir -p "$d/sdk/python/cmd"
  GONOSUMDB="$m" copy_module "$m@$PULUMI_LANGUAGE_PYTHON_MODULE_VERSION" "$d/sdk/python/cmd/pulumi-language-python"
  (cd "$d/sdk/python/cmd/pulumi-language-python" && GONOSUMDB="$m" go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_LANGUAGE_PYTHON_VERSION" \
    -o "$out/pulumi-language-python" .) \
    || fail "go build pulumi-language-python $PULUMI_LANGUAGE_PYTHON_MODULE_VERSION"
  install_bins "$out"
}

install_provider_plugin() {
  "$bin/pulumi" plugin install resource kubernetes "v$PULUMI_KUBERNETES_VERSION" \
    --file "$bin/pulumi-resource-kubernetes" >&2 \
    || fail "pulumi plugin install kubernetes v$PULUMI_KUBERNETES_VERSION"
}

# kube_module DIR -> a wrapper module in DIR requiring k8s.io/kubernetes; prints
# the module's directory. k8s.io/kubernetes requires its staging modules at
# v0.0.0 through ./staging replaces; each is pointed at its published release.
kube_module() {
  local kdir m staged="v0.${KUBERNETES_VERSION#1.}"
  kdir="$(module_dir "k8s.io/kubernetes@v$KUBERNETES_VERSION")"
  (cd "$1" && go mod init devservers.invalid/kubernetes >/dev/null 2>&1 &&
    go mod edit -require="k8s.io/kubernetes@v$KUBERNETES_VERSION" &&
    for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kdir/go.mod"); do
      go mod edit -replace="$m=$m@$staged"
    done) || fail "wrapper module for k8s.io/kubernetes v$KUBERNETES_VERSION"
  echo "$kdir"
}

# build_kube NAME CMD... -> version-stamped binaries of k8s.io/kubernetes' mains.
build_kube() {
  local d out kdir c v="v$KUBERNETES_VERSION" ld="-s -w" pkg
  d="$(fresh_dir "$1")"; out="$d/out"; mkdir -p "$out"
  kdir="$(kube_module "$d")"
  cd "$d"
  for c in "${@:2}"; do
    mkdir -p "cmd/$c"; cp "$kdir/cmd/$c"/*.go "cmd/$c/"; chmod u+w "cmd/$c"/*.go
  done
  local major="${KUBERNETES_VERSION%%.*}" minor; minor="$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  go build -trimpath -ldflags "$ld" -o "$out/" ./cmd/... || fail "go build k8s.io/kubernetes $v ${*:2}"
  install_bins "$out"
}

build_kubernetes() { build_kube kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl; }
build_kubelet() { build_kube kubelet kubelet; }

build_crictl() {
  local d out; d="$(fresh_dir crictl)"; out="$d/out"; mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRI_TOOLS_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@v$CRI_TOOLS_VERSION" || fail "go install crictl v$CRI_TOOLS_VERSION"
  install_bins "$out"
}

build_etcd() {
  local d out; d="$(fresh_dir etcd)"; out="$d/out"; mkdir -p "$out"
  cd "$d"
  go mod init devservers.invalid/etcd >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  cat > main.go <<'GO'
// Command etcd runs the etcd server of the pinned go.etcd.io/etcd/server/v3.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go build -trimpath -ldflags "-s -w" -o "$out/etcd" . || fail "go build etcd v$ETCD_VERSION"
  install_bins "$out"
}

build_kwok() {
  local d out; d="$(fresh_dir kwok)"; out="$d/out"; mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@v$KWOK_VERSION" \
    || fail "go install kwok v$KWOK_VERSION"
  install_bins "$out"
}

total=$SECONDS
if [[ "${DEVSERVERS_SYSTEM_PULUMI:-}" == 1 ]]; then
  use_system_pulumi
else
  step "pulumi v$PULUMI_VERSION" pulumi pulumi-language-python-exec build_pulumi
  step "pulumi-language-python $PULUMI_LANGUAGE_PYTHON_MODULE_VERSION" pulumi-language-python build_language_python
fi
step "pulumi-resource-kubernetes v$PULUMI_KUBERNETES_VERSION" pulumi-resource-kubernetes build_provider
if ! "$bin/pulumi" plugin ls 2>/dev/null | grep -q "kubernetes *resource *$PULUMI_KUBERNETES_VERSION"; then
  install_provider_plugin
fi
step "etcd v$ETCD_VERSION" etcd build_etcd
step "kwok v$KWOK_VERSION" kwok kwokctl build_kwok
step "kubernetes v$KUBERNETES_VERSION" kube-apiserver kube-controller-manager kube-scheduler kubectl build_kubernetes
step "kubelet v$KUBERNETES_VERSION" kubelet build_kubelet
step "crictl v$CRI_TOOLS_VERSION" crictl build_crictl
rm -rf "$work"
log "toolchain ready in $prefix ($((SECONDS - total))s)"
