"""The user part of a DevServer: who may log in, and how the server proves itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s


class DevServerUser(pulumi.ComponentResource):
    """authorized_keys and SSH host keys, as two Secrets in the user's namespace.

    The host keys are generated once by the caller and passed in on every
    update, so they stay stable and clients can pin them.

    Attributes:
        authorized_keys_secret: Name of the Secret holding ``authorized_keys``.
        host_keys_secret: Name of the Secret holding ``ssh_host_<type>_key`` files.
    """

    authorized_keys_secret: pulumi.Output[str]
    host_keys_secret: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        public_keys: Sequence[str],
        host_private_keys: Mapping[str, str],
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        timeouts: pulumi.CustomTimeouts | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("devservers:index:DevServerUser", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, custom_timeouts=timeouts)
        authorized = k8s.core.v1.Secret(
            f"{name}-authorized-keys",
            metadata=_meta(f"{name}-authorized-keys", namespace, labels, annotations),
            type="Opaque",
            string_data={"authorized_keys": "\n".join(public_keys) + "\n"},
            opts=child,
        )
        host = k8s.core.v1.Secret(
            f"{name}-host-keys",
            metadata=_meta(f"{name}-host-keys", namespace, labels, annotations),
            type="Opaque",
            string_data=pulumi.Output.secret(
                {f"ssh_host_{kind}_key": key for kind, key in host_private_keys.items()}
            ),
            opts=child,
        )
        self.authorized_keys_secret = authorized.metadata.name
        self.host_keys_secret = host.metadata.name
        self.register_outputs(
            {
                "authorized_keys_secret": self.authorized_keys_secret,
                "host_keys_secret": self.host_keys_secret,
            }
        )


def _meta(
    name: str, namespace: str, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name, namespace=namespace, labels=dict(labels), annotations=dict(annotations)
    )
