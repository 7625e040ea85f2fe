"""The sshd configuration and start script of a DevServer. Pure text, no I/O.

sshd runs as the unprivileged DevServer user (UID 1000) on a non-privileged
port: public-key authentication only, no passwords, no root, agent
forwarding allowed, sftp served in-process. Kubernetes mounts Secrets with
group-readable modes under ``fsGroup``, which sshd's StrictModes rejects, so
the start script copies keys into private files first.
"""

from __future__ import annotations

from dataclasses import dataclass

SSH_PORT = 2222
"""Port sshd listens on inside the pod (non-privileged, so no root needed)."""

CONTAINER = "devserver"
"""Name of the pod's one container, the one running sshd."""

LOGIN_USER = "dev"
"""The user name clients log in as; it runs as the pod's UID (1000)."""

HOST_KEY_TYPES = ("ed25519", "ecdsa")
"""Host key algorithms generated per DevServer, in preference order."""


@dataclass(frozen=True)
class SshdPaths:
    """Where sshd's inputs live. Defaults are the paths inside the pod.

    Attributes:
        config_dir: Mounted ConfigMap with ``sshd_config`` and ``start.sh``.
        host_keys_dir: Mounted Secret with ``ssh_host_<type>_key`` files.
        authorized_keys_dir: Mounted Secret with ``authorized_keys``.
        run_dir: Writable directory for private key copies and the pid file.
    """

    config_dir: str = "/etc/devserver/sshd"
    host_keys_dir: str = "/etc/devserver/host-keys"
    authorized_keys_dir: str = "/etc/devserver/authorized-keys"
    run_dir: str = "/run/devserver"


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
UsePAM no
StrictModes yes
AllowAgentForwarding yes
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp
"""


def render_start_script(paths: SshdPaths, login: str = LOGIN_USER) -> str:
    """A POSIX sh script that installs keys with safe modes, makes ``login`` resolve, execs sshd.

    sshd looks the login user up by name (``getpwnam``) and reads
    ``AuthorizedKeysFile`` relative to that entry's home, so ``login`` must
    resolve to the UID the script runs as, with ``$HOME`` as its home. When
    the image's ``/etc/passwd`` has no such line, the script writes one into
    ``run_dir`` and serves it through nss_wrapper (``LD_PRELOAD``), also in
    the sessions sshd starts; with neither it stops with a message naming
    what the image lacks. ``$SSHD`` overrides the sshd binary (tests).

    Args:
        paths: Where the inputs are mounted.
        login: The user name clients log in as.
    """
    run = paths.run_dir
    return f"""\
#!/bin/sh
set -eu
umask 077
uid=$(id -u)
gid=$(id -g)
mkdir -p "$HOME/.ssh" "{run}"
cp "{paths.authorized_keys_dir}/authorized_keys" "$HOME/.ssh/authorized_keys"
chmod 700 "$HOME/.ssh"
chmod 600 "$HOME/.ssh/authorized_keys"
for t in {" ".join(HOST_KEY_TYPES)}; do
  if [ -f "{paths.host_keys_dir}/ssh_host_${{t}}_key" ]; then
    cp "{paths.host_keys_dir}/ssh_host_${{t}}_key" "{run}/ssh_host_${{t}}_key"
    chmod 600 "{run}/ssh_host_${{t}}_key"
  fi
done
# StrictModes refuses a group/world-writable home. An emptyDir home is created
# root-owned and mode 0777 by the kubelet, which this unprivileged user cannot
# change; the pod has one user only, so relax the check for that case alone.
chmod go-w "$HOME" 2>/dev/null || true
strict=yes
case "$(ls -ld "$HOME")" in
  ?????w*|????????w*)
    strict=no
    echo "devserver: $HOME is writable by others; StrictModes off" >&2 ;;
esac
# sshd finds the login user by name: "{login}" must be UID $uid with home $HOME.
if ! grep -q "^{login}:[^:]*:$uid:[^:]*:[^:]*:$HOME:" /etc/passwd; then
  lib=
  for f in /usr/lib/*-linux-gnu/libnss_wrapper.so /usr/lib64/libnss_wrapper.so \\
      /usr/lib/libnss_wrapper.so; do
    if [ -f "$f" ]; then lib=$f; break; fi
  done
  if [ -z "$lib" ]; then
    echo "devserver: the image has no passwd entry {login} (UID $uid, home $HOME)" \\
      "and no libnss_wrapper.so; see 'DevServer images' in the devservers README" >&2
    exit 1
  fi
  shell=/bin/bash
  [ -x "$shell" ] || shell=/bin/sh
  grep -v -e "^{login}:" -e "^[^:]*:[^:]*:$uid:" /etc/passwd >"{run}/passwd" || true
  echo "{login}:x:$uid:$gid:DevServer user:$HOME:$shell" >>"{run}/passwd"
  grep -v -e "^{login}:" -e "^[^:]*:[^:]*:$gid:" /etc/group >"{run}/group" || true
  echo "{login}:x:$gid:" >>"{run}/group"
  chmod 644 "{run}/passwd" "{run}/group"
  export LD_PRELOAD="$lib" NSS_WRAPPER_PASSWD="{run}/passwd" NSS_WRAPPER_GROUP="{run}/group"
  echo "devserver: user {login} served by nss_wrapper ($lib)" >&2
  set -- -o "SetEnv=LD_PRELOAD=$lib NSS_WRAPPER_PASSWD={run}/passwd NSS_WRAPPER_GROUP={run}/group"
fi
exec "${{SSHD:-/usr/sbin/sshd}}" -D -e -f "{paths.config_dir}/sshd_config" \\
  -o "StrictModes=$strict" "$@"
"""
