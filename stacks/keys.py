"""``update --ssh-public-key-file``: replace a server's authorized keys in place.

The keys live in the server's ``NAME-authorized-keys`` Secret, which its pod
mounts read-only. The update changes that Secret alone, through the path of
every update of an existing server (:func:`.lifecycle.update_server`: under
the server's lock, previewed first for a server that mounts a claim), so the
Deployment keeps its spec and its pod keeps running: sessions, processes,
the home and claims are untouched, and so are the host keys. The kubelet
refreshes a mounted Secret within its sync period plus its cache's
propagation delay (``syncFrequency``, 1 min by default: Kubernetes,
"Mounted Secrets are updated automatically"), and the pod's start script
installs each new version as ``~/.ssh/authorized_keys``
(:func:`devservers.components.sshd.render_start_script`).
"""

from __future__ import annotations

from dataclasses import replace

from devservers.components import DevServerSpec
from devservers.stacks.base.results import KeysUpdate
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine.programs import Progress, ServerState
from devservers.stacks.lifecycle import update_server


def update_authorized_keys(
    settings: Settings,
    user: str,
    name: str,
    keys: tuple[str, ...],
    progress: Progress | None = None,
) -> KeysUpdate:
    """Replaces a server's authorized keys with ``keys``; its pod keeps running.

    Args:
        settings: Where the stacks and the cluster are.
        user: The server's owner.
        name: The server.
        keys: OpenSSH public keys, normalised
            (:func:`devservers.components.sshkeys.parse_public_keys`), at least one.
        progress: Receives the engine's progress lines.

    Returns:
        The keys added and removed (both empty: the server had exactly
        ``keys``, and nothing changed), and the server.

    Raises:
        NotFound: No such DevServer.
        OtherBackend: The cluster has the server, this backend has no stack of it.
        Conflict: Locked, changed meanwhile, unsafe plan, or on another cluster.
        ProvisionError: The engine failed.
    """
    before: list[tuple[str, ...]] = []

    def change(state: ServerState) -> ServerState:
        before.append(state.spec.ssh_public_keys)
        if set(state.spec.ssh_public_keys) == set(keys):
            return state
        spec = DevServerSpec(**{**state.spec.model_dump(), "ssh_public_keys": keys})
        return replace(state, spec=spec)

    details = update_server(settings, user, name, change, wait=False, progress=progress)
    added = tuple(k for k in keys if k not in before[-1])
    removed = tuple(k for k in before[-1] if k not in keys)
    return KeysUpdate(added, removed, details)
