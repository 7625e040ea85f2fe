"""Waits that end when the cluster has said why: reasons, exit codes, the engine interrupt."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from pulumi import automation as auto

from devservers.stacks import waits
from devservers.stacks.base.errors import LimitExceeded, ProvisionError
from devservers.stacks.engine.interrupts import interrupt_update
from devservers.stacks.kube.readiness import (
    Blocked,
    blocked,
    event_counts,
    new_events,
    replica_failures,
)
from devservers.stacks.waits import Target, watched_wait

QUOTA = (
    'pods "box-5c9d7-x2x4z" is forbidden: exceeded quota: compute, requested: '
    "limits.cpu=1, used: limits.cpu=0, limited: limits.cpu=500m"
)


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "uid": f"uid-{name}", **extra}


def replica_set(*conditions: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "ReplicaSet",
        "metadata": meta("box-5c9d7"),
        "status": {"conditions": list(conditions)},
    }


def pod(
    *containers: dict[str, Any], conditions: list[dict[str, str]] | None = None, **m: Any
) -> dict[str, Any]:
    return {
        "metadata": meta("box-5c9d7-x2x4z", **m),
        "status": {
            "phase": "Pending",
            "conditions": conditions or [],
            "containerStatuses": list(containers),
        },
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {
        "name": "devserver",
        "image": "no/such:1",
        "state": {"waiting": {"reason": reason, "message": message}},
    }


def event(
    reason: str, message: str, name: str = "box-5c9d7", count: int = 1, uid: str = "e1"
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{name}.1", "uid": uid},
        "involvedObject": {"kind": "ReplicaSet", "name": name},
        "reason": reason,
        "message": message,
        "count": count,
    }


UNSCHEDULABLE = {
    "type": "PodScheduled",
    "status": "False",
    "reason": "Unschedulable",
    "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
}


def test_quota_refusal_of_the_replica_set_is_a_limit() -> None:
    failure = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": QUOTA,
    }

    found = blocked(None, [replica_set(failure)], [], [])

    assert found == Blocked("FailedCreate", f"ReplicaSet box-5c9d7: {QUOTA}", limit=True)


def test_failed_create_event_of_pod_security_is_not_a_limit() -> None:
    refused = (
        'Error creating: pods "box-1" is forbidden: violates PodSecurity "restricted:latest": x'
    )

    found = blocked(None, [replica_set()], [], [event("FailedCreate", refused)])

    assert found is not None and not found.limit
    assert found.message == f"ReplicaSet box-5c9d7: {refused}"


def test_limit_range_refusal_is_a_limit() -> None:
    refused = (
        'Error creating: pods "box-1" is forbidden: '
        "maximum cpu usage per Container is 2, but limit is 4"
    )

    found = blocked(None, [], [], [event("FailedCreate", refused)])

    assert found is not None and found.limit


@pytest.mark.parametrize(
    "reason", ["ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName"]
)
def test_image_errors_end_the_wait_with_the_kubelet_message(reason: str) -> None:
    found = blocked(None, [], [pod(waiting(reason, 'image "no/such:1" not present'))], [])

    assert found is not None and found.reason == reason and not found.limit
    assert found.message == 'pod box-5c9d7-x2x4z container devserver: image "no/such:1" not present'


def test_a_container_that_exited_carries_its_last_lines() -> None:
    crashed = {
        "name": "devserver",
        "restartCount": 2,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "message": "a\ndevserver: no passwd entry dev\n",
            }
        },
    }

    found = blocked(None, [], [pod(crashed)], [])

    assert found is not None and found.reason == "CrashLoopBackOff"
    assert found.message == (
        "pod box-5c9d7-x2x4z container devserver exited with code 1 (Error), restarted 2 time(s)"
    )
    assert found.logs == ("a", "devserver: no passwd entry dev")
    assert found.container == ("box-5c9d7-x2x4z", "devserver")
    assert "  | devserver: no passwd entry dev" in found.describe()


def test_init_containers_that_finished_keep_the_wait_going_one_that_failed_ends_it() -> None:
    done = {"name": "sshd", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    failed = {
        "name": "passwd",
        "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": "no /bin/sh"}},
    }
    starting = pod(waiting("ContainerCreating"))

    assert blocked(None, [], [{**starting, "status": {**starting["status"],
                   "initContainerStatuses": [done]}}], []) is None  # fmt: skip
    found = blocked(None, [], [{**starting, "status": {**starting["status"],
                    "initContainerStatuses": [done, failed]}}], [])  # fmt: skip
    assert found is not None and found.container == ("box-5c9d7-x2x4z", "passwd")


def test_unschedulable_ends_the_wait_unless_an_autoscaler_may_add_a_node() -> None:
    pending = pod(conditions=[UNSCHEDULABLE])
    scaling = event("TriggeredScaleUp", "pod triggered scale-up", name="box-5c9d7-x2x4z", uid="e2")

    found = blocked(None, [], [pending], [])

    assert found is not None and found.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in found.message
    assert blocked(None, [], [pending], [], autoscaler=True) is None
    assert blocked(None, [], [pending], [scaling]) is None
    unbound = "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    binding = pod(conditions=[{**UNSCHEDULABLE, "message": unbound}])
    assert blocked(None, [], [binding], []) is None  # a new claim binds by itself


def test_pulling_creating_and_deleted_pods_keep_the_wait_going() -> None:
    gone = pod(waiting("ErrImagePull"), deletionTimestamp="2026-01-01T00:00:00Z")

    assert blocked(None, [replica_set()], [pod(waiting("ContainerCreating"))], []) is None
    assert blocked(None, [], [gone], []) is None


def test_only_events_new_or_repeated_since_the_wait_began_count() -> None:
    old = event("FailedCreate", QUOTA, count=3)
    seen = event_counts([old])

    assert new_events([old], seen) == []
    assert new_events([event("FailedCreate", QUOTA, count=4)], seen) != []
    assert new_events([event("FailedCreate", QUOTA, uid="e9")], seen) != []


def test_a_refusal_from_before_the_wait_counts_only_when_the_cluster_repeats_it() -> None:
    failure = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": QUOTA,
        "lastTransitionTime": "2026-12-02T18:00:00Z",
    }
    before = replica_failures(None, [replica_set(failure)])

    assert blocked(None, [replica_set(failure)], [], [], stale=before) is None
    repeated = blocked(
        None, [replica_set(failure)], [], [event("FailedCreate", QUOTA)], stale=before
    )
    assert repeated is not None and repeated.limit
    again = {**failure, "lastTransitionTime": "2026-12-02T18:05:00Z"}
    assert blocked(None, [replica_set(again)], [], [], stale=before) is not None


class FakeCluster:
    """Answers the watcher's list calls with fixed objects, from its ``shown_from``-th poll."""

    def __init__(self, shown_from: int = 0, **objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.shown_from = shown_from
        self.calls: dict[str, int] = {}

    def labelled(self, kind: str, selector: str, namespace: str | None) -> list[dict[str, Any]]:
        self.calls[kind] = self.calls.get(kind, 0) + 1
        return self.objects.get(kind, []) if self.calls[kind] > self.shown_from else []

    def config_map(self, namespace: str, name: str) -> None:
        return None

    def pods(self, namespace: str, selector: str) -> list[Any]:
        return []

    def events(self, namespace: str, name: str) -> list[Any]:
        return []

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = [
            o for o in self.objects.get(f"{kind.lower()}s", []) if o["metadata"]["name"] == name
        ]
        return found[0] if found else None


def run_engine(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster) -> None:
    """A stand-in for ``up``: blocks until the watcher interrupts it, then fails like the engine."""
    interrupted = threading.Event()

    def interrupt(stack: str) -> bool:
        assert stack == "alice.box"
        interrupted.set()
        return True

    monkeypatch.setattr("devservers.stacks.waits.interrupt_update", interrupt)
    with watched_wait(Target(cluster, "dev-alice", "alice", "box", "alice.box"), 600):  # type: ignore[arg-type]
        assert interrupted.wait(60), "the watcher never interrupted the engine"
        raise auto.CommandError(auto.CommandResult("", "error: update canceled", 255))


def test_a_quota_refusal_interrupts_the_engine_and_is_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failure = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": QUOTA,
    }

    with pytest.raises(LimitExceeded) as caught:
        run_engine(monkeypatch, FakeCluster(shown_from=1, replicasets=[replica_set(failure)]))

    assert caught.value.exit_code == 4
    assert caught.value.message.startswith("DevServer 'box' cannot become Ready: FailedCreate:")
    assert "exceeded quota: compute" in caught.value.message
    assert "free some of your quota" in (caught.value.hint or "")
    assert "no pod of" not in caught.value.message  # refused, not missing


def test_a_quota_freed_before_the_wait_lets_it_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    failure = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": QUOTA,
        "lastTransitionTime": "2026-12-02T18:00:00Z",
    }
    interrupted: list[str] = []
    monkeypatch.setattr("devservers.stacks.waits.POLL_SECONDS", 0.05)
    monkeypatch.setattr("devservers.stacks.waits.interrupt_update", interrupted.append)
    cluster = FakeCluster(replicasets=[replica_set(failure)])

    with watched_wait(Target(cluster, "dev-alice", "alice", "box", "alice.box"), 600):  # type: ignore[arg-type]
        time.sleep(0.5)  # ten polls while the ReplicaSet controller has not retried yet

    assert interrupted == []


def test_an_image_error_interrupts_the_engine_with_exit_5(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProvisionError) as caught:
        run_engine(monkeypatch, FakeCluster(pods=[pod(waiting("ErrImageNeverPull", "never pull"))]))

    assert caught.value.exit_code == 5
    assert (
        "ErrImageNeverPull: pod box-5c9d7-x2x4z container devserver: never pull"
        in caught.value.message
    )


CHILD = (
    "import sys, time\nprint('ready', flush=True)\ntry:\n    time.sleep(120)\n"
    "except KeyboardInterrupt:\n    sys.exit(42)\n"
)


def engine_like(stack: str) -> subprocess.Popen[str]:
    """A child whose argv looks like ``pulumi up --stack STACK``, ready once it said so."""
    argv = [sys.executable, "-c", CHILD, "up", "--stack", stack]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    return child


def test_interrupt_signals_only_this_process_s_up_of_that_stack() -> None:
    other, mine = engine_like("alice.other"), engine_like("alice.box")
    try:
        assert interrupt_update("alice.nothing") is False
        assert interrupt_update("alice.box") is True
        assert mine.wait(60) == 42  # the SIGINT of Ctrl-C
        assert other.poll() is None
    finally:
        for child in (other, mine):
            child.kill()
            child.communicate()


def deployment(generation: int, observed: int | None) -> dict[str, Any]:
    status = {} if observed is None else {"observedGeneration": observed}
    return {"kind": "Deployment", "metadata": meta("box", generation=generation), "status": status}


def test_objects_no_controller_or_scheduler_acted_on_are_named() -> None:
    from devservers.stacks.kube.readiness import unacted

    assert unacted(deployment(2, 2), [], []) is None
    found = unacted(deployment(2, 1), [], [])
    assert found is not None and found.reason == "NoControllerActed"
    assert "Deployment box: no controller acted on it" in found.message
    assert "kube-controller-manager" in found.message
    unscheduled = pod()
    found = unacted(deployment(1, 1), [], [unscheduled])
    assert found is not None and found.reason == "NoSchedulerActed"
    assert "pod box-5c9d7-x2x4z: no scheduler acted on it" in found.message
    considered = pod(conditions=[{"type": "PodScheduled", "status": "False"}])
    assert unacted(deployment(1, 1), [], [considered]) is None


def test_a_deployment_no_controller_acts_on_ends_the_wait_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("devservers.stacks.waits.POLL_SECONDS", 0.05)
    monkeypatch.setitem(waits.SETTLE_SECONDS, "NoControllerActed", 0.3)

    with pytest.raises(ProvisionError) as caught:
        run_engine(monkeypatch, FakeCluster(deployments=[deployment(1, None)]))

    assert caught.value.exit_code == 5
    assert caught.value.message.startswith(
        "DevServer 'box' cannot become Ready: NoControllerActed: Deployment box: "
        "no controller acted on it"
    )
    assert "no pod of box exists in dev-alice: Deployment box: no controller acted" in (
        caught.value.message
    )
    assert "control plane" in (caught.value.hint or "")


def test_facts_hold_only_events_of_the_current_server_not_an_earlier_one_of_its_name() -> None:
    from devservers.stacks.kube.facts import read_facts

    def obj(kind: str, name: str, uid: str) -> dict[str, Any]:
        return {"kind": kind, "metadata": {"name": name, "uid": uid, "namespace": "ns"}}

    def event(kind: str, name: str, uid: str | None, message: str) -> dict[str, Any]:
        involved = {"kind": kind, "name": name, **({"uid": uid} if uid else {})}
        return {"involvedObject": involved, "message": message}

    listed = {
        "deployments": [obj("Deployment", "box", "d-now")],
        "replicasets": [obj("ReplicaSet", "box-1", "rs-now")],
        "pods": [obj("Pod", "box-1-a", "p-now")],
        "events": [
            event("Deployment", "box", "d-before", "ScalingReplicaSet of the deleted box"),
            event("Pod", "box-1-a", "p-before", "a pod of that name, before"),
            event("Deployment", "box", "d-now", "ScalingReplicaSet now"),
            event("Pod", "box-1-a", "p-now", "Started now"),
            event("Pod", "box-1-a", None, "no uid: matched by name"),
            event("Deployment", "other", "d-other", "another server"),
        ],
    }

    class Cluster:
        def labelled(self, kind: str, selector: str, namespace: str | None) -> list[Any]:
            return listed[kind]

    facts = read_facts(Cluster(), "ns", "alice", "box")  # type: ignore[arg-type]

    assert [e["message"] for e in facts.events] == [
        "ScalingReplicaSet now",
        "Started now",
        "no uid: matched by name",
    ]
