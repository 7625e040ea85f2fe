"""The real node's pod network never overlaps one the host uses (cluster/pod_network.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "cluster" / "pod_network.py"
spec = importlib.util.spec_from_file_location("pod_network", SCRIPT)
assert spec and spec.loader
pod_network = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pod_network)

HOST_ROUTES = [
    {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
    {"dst": "192.0.2.0/24", "dev": "eth0"},
    {"type": "local", "dst": "127.0.0.0/8", "dev": "lo", "table": "local"},
]
HOST_LINKS = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.2", "prefixlen": 24}]},
]


def test_a_quiet_host_gets_the_first_network() -> None:
    assert pod_network.choose(HOST_ROUTES, HOST_LINKS) == ("devsrv88", "10.88.0.0/16")


def test_a_network_routed_by_another_cluster_is_skipped() -> None:
    # containerd's and podman's default bridge network
    routes = [*HOST_ROUTES, {"dst": "10.88.0.0/16", "dev": "cni0"}]
    assert pod_network.choose(routes, HOST_LINKS) == ("devsrv89", "10.89.0.0/16")


def test_a_wider_route_covers_every_network_inside_it() -> None:
    routes = [*HOST_ROUTES, {"dst": "10.64.0.0/10", "dev": "vpn0"}]
    assert pod_network.choose(routes, HOST_LINKS) == ("devsrv128", "10.128.0.0/16")


def test_a_bridge_left_by_a_killed_node_is_not_shared() -> None:
    # A link that is down has no route left, but keeps its name and address.
    down = {
        "ifname": "devsrv88",
        "addr_info": [{"family": "inet", "local": "10.88.0.1", "prefixlen": 16}],
    }
    assert pod_network.choose(HOST_ROUTES, [*HOST_LINKS, down]) == ("devsrv89", "10.89.0.0/16")
    nameless = {"ifname": "devsrv89", "addr_info": []}
    assert pod_network.choose(HOST_ROUTES, [*HOST_LINKS, down, nameless])[0] == "devsrv90"


def test_ipv6_addresses_do_not_count() -> None:
    v6 = {"ifname": "eth1", "addr_info": [{"family": "inet6", "local": "fe80::1", "prefixlen": 64}]}
    assert pod_network.choose(HOST_ROUTES, [*HOST_LINKS, v6]) == ("devsrv88", "10.88.0.0/16")


def test_a_host_using_all_of_10_8_has_no_choice() -> None:
    routes = [*HOST_ROUTES, {"dst": "10.0.0.0/8", "dev": "vpn0"}]
    assert pod_network.choose(routes, HOST_LINKS) is None
