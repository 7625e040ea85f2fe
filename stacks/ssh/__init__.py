"""devctl's client side of SSH: its ``known_hosts`` and ``config``, the port-forward, the relay.

Contract: imports :mod:`..base`, :mod:`devservers.components` and, the one
documented arrow, :mod:`..kube.cluster` (the tunnel rides the cluster
connection); never :mod:`..engine` (host keys come from it through the
operations) or the Pulumi SDK.
"""
