#!/usr/bin/env bash
# Builds the project's images without a registry, each an OCI archive for
# `ctr -n k8s.io images import`: a Debian base (mmdebstrap, this machine's apt
# sources), the DevServer image (images/devserver/Dockerfile) on it, the sshd
# carrier (images/sshd/Dockerfile: a static sshd built from Debian's source
# package of OpenSSH $OPENSSH_VERSION) on it, the reaper (images/reaper/Dockerfile:
# a wheel of this repository and the toolchain's engines) on it, and the
# sandbox ("pause") image from build/pause of the pinned k8s.io/kubernetes.
# An archive is named by a hash of its inputs, so a finished one is never
# rebuilt and a changed input rebuilds only what depends on it. Buildah's
# storage (vfs: nothing mounted) is a scratch directory under the cache.
#
# Usage: images/build.sh          build what is missing; print "NAME ARCHIVE" per image
#        images/build.sh --list   print the same lines without building
# Env:   DEVSERVERS_DEBIAN_SOURCES  apt sources serving bookworm (default: this machine's)
#        UV                         the uv command (default: uv)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
# shellcheck source=toolchain/pins.env
source "$here/../toolchain/pins.env"
toolchain="$("$repo/toolchain/prefix.sh")"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/devservers/images"

# The pause image's tag, which containerd's sandbox_image names. The source's
# build/pause/Makefile must say TAG $PAUSE_TAG or $PAUSE_TAG.<patch> (v1.34.4:
# 3.10.1, whose change from 3.10 was Windows-only); its TAG is the binary's -v.
PAUSE_TAG=3.10
SUITE=bookworm
# The Debian version of the openssh source package the carrier's sshd is built
# from; the carrier's tag says it (":" dropped, "+" as "-": tags allow neither).
# The Python setting sshd_image defaults to that tag (a unit test checks it).
OPENSSH_VERSION=1:9.2p1-2+deb12u10
SSHD_TAG="$(sed 's/^[0-9]*://; s/+/-/g' <<<"$OPENSSH_VERSION")"

log() { printf '[images %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

sources="${DEVSERVERS_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
if [[ -z "${DEVSERVERS_DEBIAN_SOURCES:-}" && ! -f "$sources" ]]; then sources=/etc/apt/sources.list; fi
[[ -f "$sources" ]] || fail "no apt sources file $sources: set DEVSERVERS_DEBIAN_SOURCES"

# key TEXT... -> 12 hex digits of this script and TEXT: an archive's name.
key() { { cat "${BASH_SOURCE[0]}"; printf '%s\n' "$@"; } | sha256sum | cut -c1-12; }

debian=localhost/devservers/debian:$SUITE
devserver=localhost/devservers/devserver:$SUITE
pause=localhost/devservers/pause:$PAUSE_TAG
sshd=localhost/devservers/sshd:$SSHD_TAG
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml")"
reaper=localhost/devservers/reaper:$version
debian_key="$(key "$SUITE" "$(cat "$sources")")"
devserver_key="$(key "$debian_key" "$(cd "$here/devserver" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)")"
pause_key="$(key "$KUBERNETES_VERSION" "$PAUSE_TAG")"
sshd_key="$(key "$debian_key" "$OPENSSH_VERSION" "$(sha256sum <"$here/sshd/Dockerfile")")"
debian_archive="$cache/debian-$SUITE-$debian_key.oci.tar"
devserver_archive="$cache/devserver-$SUITE-$devserver_key.oci.tar"
pause_archive="$cache/pause-$PAUSE_TAG-$pause_key.oci.tar"
sshd_archive="$cache/sshd-$SSHD_TAG-$sshd_key.oci.tar"
# The reaper's wheel is made of the package's files (tests and docs aside).
package_files() { git -C "$repo" ls-files -z -- pyproject.toml uv.lock components cli stacks reaper; }
reaper_key="$(key "$debian_key" "$(cat "$repo/toolchain/pins.env" "$here/reaper/Dockerfile")" \
  "$(cd "$repo" && package_files | xargs -0 sha256sum)")"
reaper_archive="$cache/reaper-$version-$reaper_key.oci.tar"

list() {
  printf '%s %s\n' "$debian" "$debian_archive" "$devserver" "$devserver_archive" \
    "$pause" "$pause_archive" "$sshd" "$sshd_archive" "$reaper" "$reaper_archive"
}
case "${1:-}" in
  --list) list; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--list]" >&2; exit 2 ;;
esac

if [[ -f "$debian_archive" && -f "$devserver_archive" && -f "$pause_archive" && -f "$sshd_archive" \
  && -f "$reaper_archive" ]]; then
  log "all images cached in $cache"; list; exit 0
fi
command -v buildah >/dev/null && command -v mmdebstrap >/dev/null \
  || fail "needs buildah and mmdebstrap (apt-get install buildah mmdebstrap)"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # one build at a time per cache
work="$(mktemp -d "$cache/.work.XXXXXX")"
# Buildah's storage, network state and temporary files live in $work: its
# defaults would create /var/lib/containers, /etc/cni/net.d, /run/containers.
mkdir -p "$work/tmp"
cat >"$work/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
cat >"$work/containers.conf" <<EOF
[network]
network_backend = "cni"
network_config_dir = "$work/cni"
[engine]
tmp_dir = "$work/run/libpod"
EOF
export CONTAINERS_STORAGE_CONF="$work/storage.conf" CONTAINERS_CONF="$work/containers.conf"
export TMPDIR="$work/tmp" BUILDAH_ISOLATION=chroot BUILDAH_FORMAT=oci
# Two side effects have no option: buildah 1.28 run by root commits with a
# blob-info cache in /var/lib/containers/cache, and mmdebstrap's mounts make
# libmount create /run/mount. What this run creates of them goes at exit
# (directories only if empty).
created=()
[[ -e /var/lib/containers ]] || created+=(/var/lib/containers/cache/blob-info-cache-v1.boltdb
  /var/lib/containers/cache /var/lib/containers)
[[ -e /run/mount ]] || created+=(/run/mount)
building=
cleanup() {
  local rc=$? p
  if ((rc != 0)) && [[ -n "$building" ]]; then log "FAILED: $building (exit $rc)"; fi
  buildah rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
  for p in "${created[@]}"; do
    if [[ -d "$p" ]]; then rmdir "$p" 2>/dev/null || true; else rm -f "$p"; fi
  done
}
trap cleanup EXIT

# step NAME ARCHIVE FUNCTION -> unless ARCHIVE exists, FUNCTION commits image
# NAME, which is pushed to a temporary archive and moved into place; older
# archives of the same image are removed. FUNCTION runs outside any `||`, so
# errexit stops the run at its first failure.
step() {
  local name="$1" archive="$2" fn="$3" start=$SECONDS old
  if [[ -f "$archive" ]]; then log "$name: cached"; return; fi
  log "$name: building"
  building="$name"
  "$fn" >&2
  buildah push --quiet "$name" "oci-archive:$work/out.tar:$name" >&2
  mv -f "$work/out.tar" "$archive"
  building=
  for old in "${archive%-*}"-*.oci.tar; do [[ "$old" == "$archive" ]] || rm -f "$old"; done
  log "$name: done in $((SECONDS - start))s, $(du -h "$archive" | cut -f1) at $archive"
}

# in_storage NAME ARCHIVE -> NAME in buildah's storage, loaded from ARCHIVE if needed.
in_storage() {
  buildah inspect --type image "$1" >/dev/null 2>&1 && return
  buildah pull --quiet "oci-archive:$2" >/dev/null || fail "load $1 from $2"
}

build_debian() {
  local ctr
  # As debian:*-slim: no manuals, translations or documents but copyrights,
  # also for packages installed later. Device nodes, hostname and resolv.conf
  # stay out: every runtime provides its own.
  mmdebstrap --variant=minbase --format=tar \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -f "$1/etc/hostname" "$1/etc/resolv.conf"' \
    "$SUITE" - "$sources" | mmtarfilter --path-exclude='/dev/*' >"$work/rootfs.tar"
  ctr="$(buildah from scratch)"
  buildah add --quiet "$ctr" "$work/rootfs.tar" /
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/bash "$ctr"
  buildah commit --quiet --rm "$ctr" "$debian" >/dev/null
  rm -f "$work/rootfs.tar"
}

build_devserver() {
  in_storage "$debian" "$debian_archive"
  buildah build --quiet --pull=never --network=host --build-arg "BASE=$debian" \
    -t "$devserver" "$here/devserver"
}

build_sshd() {
  in_storage "$debian" "$debian_archive"
  buildah build --quiet --pull=never --network=host --build-arg "BASE=$debian" \
    --build-arg "OPENSSH_VERSION=$OPENSSH_VERSION" -t "$sshd" "$here/sshd"
}

# The reaper's build context: the locked requirements and their wheels
# (downloaded here, hashes checked, so the build reaches no index), the
# project's wheel (built from a copy of the package's files, so the checkout
# gets no build/ or egg-info) and the engines.
build_reaper() {
  local ctx="$work/reaper" src="$work/reaper-src"
  [[ -x "$toolchain/bin/pulumi" ]] || fail "no toolchain at $toolchain: run 'make toolchain' first"
  mkdir -p "$ctx/bin" "$ctx/wheels" "$src"
  ${UV:-uv} export --quiet --frozen --no-dev --no-emit-project --format requirements-txt \
    --project "$repo" -o "$ctx/requirements.txt"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: -r "$ctx/requirements.txt" -d "$ctx/wheels"
  (cd "$repo" && package_files | tar --null -T - -cf -) | tar -xf - -C "$src"
  cp "$repo/README.md" "$repo/LICENSE" "$src/"
  ${UV:-uv} build --quiet --wheel --out-dir "$ctx/wheels" "$src"
  cp "$toolchain/bin/pulumi" "$toolchain/bin/pulumi-language-python" \
    "$toolchain/bin/pulumi-language-python-exec" \
    "$toolchain/pulumi-home/plugins/resource-kubernetes-v$PULUMI_KUBERNETES_VERSION/pulumi-resource-kubernetes" \
    "$ctx/bin/"
  chmod 0755 "$ctx"/bin/*  # the plugin cache keeps them 0700: the image runs as non-root
  cp "$here/reaper/Dockerfile" "$ctx/"
  in_storage "$debian" "$debian_archive"
  buildah build --quiet --pull=never --network=host --build-arg "BASE=$debian" -t "$reaper" "$ctx"
}

build_pause() {
  local json src tag ctr
  json="$(cd "$work" && GOTOOLCHAIN=local GOWORK=off go mod download -json \
    "k8s.io/kubernetes@v$KUBERNETES_VERSION" 2>&1)" || fail "go mod download: $json"
  src="$(sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p' <<<"$json")/build/pause"
  [[ -f "$src/linux/pause.c" ]] || fail "k8s.io/kubernetes v$KUBERNETES_VERSION has no build/pause/linux/pause.c"
  tag="$(sed -n 's/^TAG ?= //p' "$src/Makefile")"
  [[ "$tag" == "$PAUSE_TAG" || "$tag" == "$PAUSE_TAG".* ]] \
    || fail "build/pause/Makefile of v$KUBERNETES_VERSION has TAG '$tag', not $PAUSE_TAG: update PAUSE_TAG"
  # As upstream's Makefile, with the module version standing in for git describe.
  gcc -Os -Wall -Werror -static -DVERSION="v$tag-v$KUBERNETES_VERSION" \
    -o "$work/pause" "$src/linux/pause.c"
  strip "$work/pause"
  ctr="$(buildah from scratch)"
  buildah copy --quiet "$ctr" "$work/pause" /pause
  buildah config --user 65535:65535 --entrypoint '["/pause"]' "$ctr"
  buildah commit --quiet --rm "$ctr" "$pause" >/dev/null
}

total=$SECONDS
step "$debian" "$debian_archive" build_debian
step "$devserver" "$devserver_archive" build_devserver
step "$pause" "$pause_archive" build_pause
step "$sshd" "$sshd_archive" build_sshd
step "$reaper" "$reaper_archive" build_reaper
log "images ready in $cache ($((SECONDS - total))s)"
list
