"""Whether a flavor can be scheduled now: nodes, taints, selectors and what is already used."""

from __future__ import annotations

from kubernetes import client

from devservers.components.catalog import BUILTIN_FLAVORS, find_flavor
from devservers.stacks.kube.capacity import availability, pod_requests

CPU_SMALL = find_flavor(BUILTIN_FLAVORS, "cpu-small")
GPU_SMALL = find_flavor(BUILTIN_FLAVORS, "gpu-small")
GPU_LARGE = find_flavor(BUILTIN_FLAVORS, "gpu-large")


def node(name: str, *, gpus: int = 0, ready: bool = True, cordoned: bool = False) -> client.V1Node:
    allocatable = {"cpu": "64", "memory": "512Gi", "pods": "110"}
    labels = {"kubernetes.io/hostname": name}
    taints = None
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
        labels["nvidia.com/gpu.present"] = "true"
        taints = [client.V1Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")]
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1NodeSpec(taints=taints, unschedulable=cordoned),
        status=client.V1NodeStatus(
            allocatable=allocatable,
            conditions=[client.V1NodeCondition(type="Ready", status=str(ready))],
        ),
    )


def pod(on: str, requests: dict[str, str], init: dict[str, str] | None = None) -> client.V1Pod:
    def container(name: str, wants: dict[str, str]) -> client.V1Container:
        resources = client.V1ResourceRequirements(requests=wants)
        return client.V1Container(name=name, resources=resources)

    return client.V1Pod(
        spec=client.V1PodSpec(
            node_name=on,
            containers=[container("main", requests)],
            init_containers=[container("init", init)] if init else None,
        )
    )


def test_cpu_flavor_fits_the_cpu_node_not_the_tainted_gpu_node() -> None:
    fits, reason = availability(CPU_SMALL, [node("gpu-0", gpus=8), node("cpu-0")], [])

    assert fits is True
    assert reason == "fits on cpu-0"


def test_gpu_flavor_needs_the_selected_and_tainted_node() -> None:
    fits, reason = availability(GPU_SMALL, [node("cpu-0")], [])

    assert fits is False
    assert reason == "cpu-0: nodeSelector nvidia.com/gpu.present=true not matched"
    assert availability(GPU_SMALL, [node("cpu-0"), node("gpu-0", gpus=8)], [])[0] is True


def test_untolerated_taint_is_named() -> None:
    spread = CPU_SMALL.model_copy(update={"node_selector": {"nvidia.com/gpu.present": "true"}})

    fits, reason = availability(spread, [node("gpu-0", gpus=8)], [])
    assert fits is False
    assert reason == "gpu-0: taint nvidia.com/gpu=present:NoSchedule not tolerated"


def test_used_gpus_are_subtracted() -> None:
    busy = [
        pod("gpu-0", {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "4"}),
        pod("elsewhere", {"cpu": "64"}),
    ]

    fits, reason = availability(GPU_LARGE, [node("gpu-0", gpus=8)], busy)
    assert fits is False
    assert reason == "gpu-0: needs 8 nvidia.com/gpu, 4 free"
    assert availability(GPU_SMALL, [node("gpu-0", gpus=8)], busy)[0] is True


def test_memory_shortage_is_shown_in_binary_units() -> None:
    busy = [pod("cpu-0", {"memory": "510Gi"})]

    fits, reason = availability(CPU_SMALL, [node("cpu-0")], busy)
    assert fits is False
    assert reason == "cpu-0: needs 4Gi memory, 2Gi free"


def test_cordoned_and_not_ready_nodes_do_not_count() -> None:
    fits, reason = availability(CPU_SMALL, [node("a", cordoned=True), node("b", ready=False)], [])

    assert fits is False
    assert reason == "a: cordoned; b: not Ready"
    assert availability(CPU_SMALL, [], []) == (False, "the cluster has no nodes")


def test_pod_requests_take_the_larger_of_containers_and_init_containers() -> None:
    requests = pod_requests(pod("n", {"cpu": "1", "memory": "1Gi"}, init={"cpu": "3"}))

    assert requests["cpu"] == 3
    assert requests["memory"] == 2**30
    assert requests["pods"] == 1
