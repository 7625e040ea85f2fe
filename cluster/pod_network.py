"""Chooses the real node's bridge and pod network: the first 10.N.0.0/16 this host does not use.

Usage: python3 cluster/pod_network.py  →  prints "BRIDGE SUBNET", e.g. "devsrv88 10.88.0.0/16"

A subnet is taken only when no IPv4 route of any table and no address of any
link (down ones included) overlaps it, and no link already has its bridge's
name. So a bridge left by a node whose processes were killed
(its pods' network namespaces keep their addresses) or another cluster's
network (containerd's and podman's default is 10.88.0.0/16) is never shared:
a pod of this node never gets an address that something else answers for.
Exits 1 with one line on stderr when every candidate is taken.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

CANDIDATES = range(88, 255)
"""Second octets tried in order (10.88.0.0/16 first, the subnet the node always had)."""


def choose(routes: list[dict], links: list[dict]) -> tuple[str, str] | None:
    """The first free (bridge, subnet), or None.

    Args:
        routes: ``ip -j -4 route show table all``.
        links: ``ip -j addr show`` (every link, with its ``addr_info``).
    """
    prefixes = [r["dst"] for r in routes if r.get("dst", "default") != "default"]
    prefixes += [
        f"{a['local']}/{a['prefixlen']}"
        for link in links
        for a in link.get("addr_info", [])
        if a.get("family") == "inet"
    ]
    used = [ipaddress.ip_network(p, strict=False) for p in prefixes]
    used = [n for n in used if n.prefixlen > 0]
    names = {link.get("ifname") for link in links}
    for octet in CANDIDATES:
        subnet = ipaddress.ip_network(f"10.{octet}.0.0/16")
        bridge = f"devsrv{octet}"
        if bridge not in names and not any(subnet.overlaps(n) for n in used):
            return bridge, str(subnet)
    return None


def ip_json(*args: str) -> list[dict]:
    """What ``ip -j ARGS`` prints, parsed."""
    return json.loads(subprocess.run(["ip", "-j", *args], capture_output=True, check=True).stdout)


def main() -> int:
    """Prints the chosen "BRIDGE SUBNET"; 1 when there is none."""
    chosen = choose(ip_json("-4", "route", "show", "table", "all"), ip_json("addr", "show"))
    if chosen is None:
        print("every 10.N.0.0/16 for the pod network is in use on this host", file=sys.stderr)
        return 1
    print(*chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
