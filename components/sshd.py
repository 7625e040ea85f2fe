"""The sshd configuration and start scripts of a DevServer. Pure text, no I/O.

sshd comes with the DevServer, not with the user's image: the sshd carrier
image (``images/sshd``: a static sshd and busybox under ``/devserver``) is
copied into an emptyDir that the user's container mounts read-only, and the
scripts run under the carrier's busybox, so any Linux image of the node's
architecture with a ``/bin/sh`` works. sshd runs as the unprivileged
DevServer user (UID 1000) on a non-privileged port: public-key
authentication only, no passwords, no root, agent forwarding allowed, sftp
served in-process. Kubernetes mounts Secrets with group-readable modes under
``fsGroup``, which sshd's StrictModes rejects, so the start script copies
keys into private files first.
"""

from __future__ import annotations

from dataclasses import dataclass

SSH_PORT = 2222
"""Port sshd listens on inside the pod (non-privileged, so no root needed)."""

CONTAINER = "devserver"
"""Name of the pod's one container, the one running sshd."""

LOGIN_USER = "dev"
"""The user name clients log in as; it runs as the pod's UID (1000)."""

HOST_KEY_TYPES = ("ed25519",)
"""Host key algorithms generated per DevServer, in preference order.

The carrier's sshd is built without OpenSSL: ed25519 is the one key type it
loads (ECDSA and RSA need OpenSSL).
"""

KEYS_POLL_SECONDS = 2
"""How often the pod compares its mounted authorized keys with those installed."""

CARRIER_DIR = "/devserver"
"""Where the sshd carrier image keeps ``sshd`` and ``busybox`` (images/sshd/Dockerfile)."""


@dataclass(frozen=True)
class SshdPaths:
    """Where sshd's inputs live. Defaults are the paths inside the pod.

    Attributes:
        config_dir: Mounted ConfigMap with ``sshd_config`` and ``start.sh``.
        host_keys_dir: Mounted Secret with ``ssh_host_<type>_key`` files.
        authorized_keys_dir: Mounted Secret with ``authorized_keys``.
        run_dir: Writable directory for private key copies and the pid file.
        carrier_dir: The carrier's files (``sshd``, ``busybox``), read-only.
        passwd_dir: Writable directory where the passwd script writes
            ``passwd`` and ``group``, mounted over ``/etc/passwd`` and
            ``/etc/group`` in the user's container.
    """

    config_dir: str = "/etc/devserver/sshd"
    host_keys_dir: str = "/etc/devserver/host-keys"
    authorized_keys_dir: str = "/etc/devserver/authorized-keys"
    run_dir: str = "/run/devserver"
    carrier_dir: str = "/etc/devserver/carrier"
    passwd_dir: str = "/etc/devserver/passwd"


def render_sshd_config(paths: SshdPaths, port: int = SSH_PORT) -> str:
    """The ``sshd_config`` text (OpenSSH ``sshd_config(5)`` keywords)."""
    host_keys = "\n".join(f"HostKey {paths.run_dir}/ssh_host_{t}_key" for t in HOST_KEY_TYPES)
    return f"""\
Port {port}
ListenAddress 0.0.0.0
{host_keys}
PidFile {paths.run_dir}/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PermitEmptyPasswords no
StrictModes yes
AllowAgentForwarding yes
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp
"""


def render_passwd_script(paths: SshdPaths, login: str = LOGIN_USER) -> str:
    """A busybox sh script, run in the user's image, that writes its passwd and group files.

    sshd looks the login user up by name in ``/etc/passwd`` (musl's
    ``getpwnam``: no NSS) and reads ``AuthorizedKeysFile`` from that entry's
    home, and sessions name the user through the same files. The script
    copies the image's own entries, minus any other holder of the name or of
    the UID/GID it runs as, and adds ``login`` with home ``$HOME`` and the
    image's ``/bin/bash``, else ``/bin/sh``, as login shell. It first checks
    that the image's ``/bin/sh`` exists and is for this architecture (the ELF
    machine of the carrier's busybox), else it exits 1 with the reason and a
    hint on stderr, which the pod shows as the container's message.
    ``$DEVSERVER_SH`` overrides the shell checked (tests).

    Args:
        paths: Where the carrier is mounted and where to write.
        login: The user name clients log in as.
    """
    bb = f"{paths.carrier_dir}/busybox"
    out = paths.passwd_dir
    return f"""\
set -eu
bb={bb}
fail() {{
  echo "devserver: $*; see 'DevServer images' in the devservers README" >&2
  exit 1
}}
sh=${{DEVSERVER_SH:-/bin/sh}}
[ -e "$sh" ] || fail "the image has no /bin/sh, which sessions need: use an image with a shell"
elf() {{ "$bb" od -An -tx1 -j18 -N2 "$1" 2>/dev/null | "$bb" tr -d ' \\n'; }}
theirs=$(elf "$sh")
ours=$(elf "$bb")
[ "$theirs" = "$ours" ] || fail "the image's /bin/sh is not a program for this node" \
  "($("$bb" uname -m); ELF machine $theirs, not $ours): use an image of this architecture"
uid=$("$bb" id -u)
gid=$("$bb" id -g)
shell=/bin/sh
[ -x /bin/bash ] && shell=/bin/bash
{{
  "$bb" grep -v -e "^{login}:" -e "^[^:]*:[^:]*:$uid:" /etc/passwd 2>/dev/null || true
  echo "{login}:x:$uid:$gid:DevServer user:$HOME:$shell"
}} >"{out}/passwd"
{{
  "$bb" grep -v -e "^{login}:" -e "^[^:]*:[^:]*:$gid:" /etc/group 2>/dev/null || true
  echo "{login}:x:$gid:"
}} >"{out}/group"
"$bb" chmod 644 "{out}/passwd" "{out}/group"
"""


def render_start_script(paths: SshdPaths, login: str = LOGIN_USER) -> str:
    """A busybox sh script that installs keys with safe modes and execs the carrier's sshd.

    Every ``KEYS_POLL_SECONDS`` while sshd runs, a new version of the mounted
    authorized keys (the kubelet refreshes a Secret volume in place) is
    installed as ``~/.ssh/authorized_keys``; ``$DEVSERVER_KEYS_POLL``
    overrides the period (tests).

    ``login`` must resolve to the UID the script runs as, with ``$HOME`` as
    its home (:func:`render_passwd_script` sees to it); otherwise the script
    stops with a message naming what is missing. Sessions get the
    container's ``$PATH`` (the image's, e.g. a conda environment's ``bin``)
    instead of sshd's built-in one. ``$SSHD`` overrides the sshd binary
    (tests).

    Args:
        paths: Where the inputs are mounted.
        login: The user name clients log in as.
    """
    run = paths.run_dir
    return f"""\
set -eu
bb={paths.carrier_dir}/busybox
umask 077
uid=$("$bb" id -u)
"$bb" mkdir -p "$HOME/.ssh" "{run}"
"$bb" chmod 700 "$HOME/.ssh"
keys="{paths.authorized_keys_dir}/authorized_keys"
# Installs the Secret's keys (mode 600: umask) and remembers the version installed.
install_keys() {{
  "$bb" cp "$keys" "$HOME/.ssh/authorized_keys.new" &&
    "$bb" mv "$HOME/.ssh/authorized_keys.new" "$HOME/.ssh/authorized_keys" &&
    "$bb" cp "$keys" "{run}/authorized_keys.installed"
}}
install_keys
for t in {" ".join(HOST_KEY_TYPES)}; do
  if [ -f "{paths.host_keys_dir}/ssh_host_${{t}}_key" ]; then
    "$bb" cp "{paths.host_keys_dir}/ssh_host_${{t}}_key" "{run}/ssh_host_${{t}}_key"
    "$bb" chmod 600 "{run}/ssh_host_${{t}}_key"
  fi
done
# StrictModes refuses a group/world-writable home. An emptyDir home is created
# root-owned and mode 0777 by the kubelet, which this unprivileged user cannot
# change; the pod has one user only, so relax the check for that case alone.
"$bb" chmod go-w "$HOME" 2>/dev/null || true
strict=yes
case "$("$bb" ls -ld "$HOME")" in
  ?????w*|????????w*)
    strict=no
    echo "devserver: $HOME is writable by others; StrictModes off" >&2 ;;
esac
# sshd finds the login user by name: "{login}" must be UID $uid with home $HOME.
if ! "$bb" grep -q "^{login}:[^:]*:$uid:[^:]*:[^:]*:$HOME:" /etc/passwd; then
  echo "devserver: /etc/passwd has no entry {login} (UID $uid, home $HOME);" \
    "see 'DevServer images' in the devservers README" >&2
  exit 1
fi
# The Secret changes in place (devctl update --ssh-public-key-file) and the
# kubelet refreshes the mounted file: install each new version while sshd
# ($$ once exec'd) runs. A hand edit of authorized_keys stays until then.
(
  while "$bb" sleep "${{DEVSERVER_KEYS_POLL:-{KEYS_POLL_SECONDS}}}" && "$bb" kill -0 $$; do
    "$bb" cmp -s "$keys" "{run}/authorized_keys.installed" || install_keys || true
  done
) </dev/null >/dev/null 2>&1 &
exec "${{SSHD:-{paths.carrier_dir}/sshd}}" -D -e -f "{paths.config_dir}/sshd_config" \
  -o "StrictModes=$strict" -o "SetEnv=PATH=$PATH"
"""
