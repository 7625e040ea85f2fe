"""Why a DevServer will not become Ready: the cluster's facts classified into one reason.

Pure functions over plain Kubernetes JSON (no I/O): the Deployment, its
ReplicaSets, its pods and the Events about them. A wait that meets a
:class:`Blocked` reason ends at once instead of running out its timeout,
and ``describe`` shows the same reason.

Final reasons, in the order they are looked for:

* the ReplicaSet could not create the pod (``FailedCreate``: ResourceQuota,
  LimitRange, Pod Security or another admission refusal), from the
  ReplicaSet's or Deployment's ``ReplicaFailure`` condition or a new Event;
* a container that cannot start: image errors (``ErrImagePull``,
  ``ImagePullBackOff``, ``ErrImageNeverPull``, ``InvalidImageName``) and
  container config errors;
* a container that exited (``CrashLoopBackOff``, or terminated), with its
  last log lines;
* ``Unschedulable`` while no cluster autoscaler can add a node;
* the Deployment's ``ProgressDeadlineExceeded``.

Apart from these, :func:`unacted` names a controller that has not acted on
the server's objects (a controller-manager or scheduler that is down): final
only once it lasts, which the caller times.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Json = Mapping[str, Any]
"""One Kubernetes object as plain JSON (``metadata``, ``spec``, ``status``)."""

IMAGE_ERRORS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
"""Container waiting reasons that mean the image cannot be had (the kubelet's words)."""

START_ERRORS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
"""Container waiting reasons that mean the container cannot be created or run."""

LIMIT_WORDS = ("exceeded quota", "maximum ", "minimum ", "must be less than or equal to")
"""Words of a ResourceQuota or LimitRange refusal in a ``FailedCreate`` message."""

PASSING_UNSCHEDULABLE = ("unbound immediate PersistentVolumeClaims",)
"""Words of an ``Unschedulable`` message that passes by itself (a new claim not bound yet)."""

SCALE_UP_EVENTS = ("TriggeredScaleUp", "Nominated")
"""Pod Events of an autoscaler adding a node (cluster-autoscaler, Karpenter)."""


@dataclass(frozen=True)
class Blocked:
    """A reason the server's pod will not become Ready without a change by someone.

    Attributes:
        reason: The cluster's CamelCase reason, e.g. ``FailedCreate``, ``ErrImagePull``.
        message: One line in the cluster's words, naming the object it is about.
        limit: The refusal is a ResourceQuota or LimitRange limit (a conflict, exit 4).
        logs: The container's last log lines, for a container that exited.
        container: ``(pod, container)`` names of a container that exited, whose
            logs a caller may read when its termination message is empty.
    """

    reason: str
    message: str
    limit: bool = False
    logs: tuple[str, ...] = ()
    container: tuple[str, str] | None = None

    def describe(self) -> str:
        """``reason: message`` and the log lines beneath, for messages."""
        lines = [f"{self.reason}: {self.message}", *(f"  | {line}" for line in self.logs)]
        return "\n".join(lines)


def blocked(
    deployment: Json | None,
    replica_sets: Iterable[Json],
    pods: Iterable[Json],
    events: Iterable[Json],
    *,
    autoscaler: bool = False,
    stale: Collection[str] = (),
) -> Blocked | None:
    """The first final reason the cluster gives for the server not being Ready, if any.

    Args:
        deployment: The server's Deployment, or ``None`` if it does not exist yet.
        replica_sets: Its ReplicaSets.
        pods: Its pods; those being deleted are ignored.
        events: Events about any of these objects that are new since the wait
            began (older ones may be about a problem already resolved).
        autoscaler: Whether a cluster autoscaler may add a node, so that an
            unschedulable pod may still be scheduled.
        stale: Keys (:func:`replica_failures`) of ``ReplicaFailure`` conditions
            to ignore: those already there when the wait began.

    Returns:
        The reason, or ``None`` while the server may still become Ready.
    """
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    events = list(events)
    found = _failed_create([deployment] if deployment else [], replica_sets, events, stale)
    for pod in live:
        found = found or _container_problem(pod)
    for pod in live:
        found = found or _unschedulable(pod, events, autoscaler)
    return found or _past_deadline(deployment)


def _failed_create(
    deployments: list[Json],
    replica_sets: Iterable[Json],
    events: list[Json],
    stale: Collection[str],
) -> Blocked | None:
    for owner in [*replica_sets, *deployments]:
        for condition in _replica_failures(owner):
            if _failure_key(owner, condition) not in stale:
                return _refusal(condition.get("reason") or "FailedCreate", owner, condition)
    for event in events:
        if event.get("reason") == "FailedCreate":
            return _refusal("FailedCreate", None, event)
    return None


def _refusal(reason: str, owner: Json | None, fact: Json) -> Blocked:
    message = _one_line(fact.get("message"))
    if owner is not None:
        message = f"{owner.get('kind', 'ReplicaSet')} {name_of(owner)}: {message}"
    elif involved := fact.get("involvedObject"):
        message = f"{involved.get('kind', '')} {involved.get('name', '')}: {message}"
    limit = any(word in message for word in LIMIT_WORDS)
    return Blocked(reason, message, limit=limit)


def _container_problem(pod: Json) -> Blocked | None:
    status = pod.get("status") or {}
    inits = status.get("initContainerStatuses") or []
    for container in [*inits, *(status.get("containerStatuses") or [])]:
        state, last = container.get("state") or {}, container.get("lastState") or {}
        waiting = state.get("waiting") or {}
        if container in inits and (state.get("terminated") or {}).get("exitCode") == 0:
            continue  # an init container that did its job
        where = f"pod {name_of(pod)} container {container.get('name', '')}"
        if waiting.get("reason") in (*IMAGE_ERRORS, *START_ERRORS):
            detail = _one_line(waiting.get("message")) or container.get("image", "")
            return Blocked(waiting["reason"], f"{where}: {detail}")
        if state.get("terminated") or waiting.get("reason") == "CrashLoopBackOff":
            ended = state.get("terminated") or last.get("terminated") or {}
            return _exited((name_of(pod), container.get("name", "")), waiting, ended, container)
    return None


def _exited(names: tuple[str, str], waiting: Json, ended: Json, container: Json) -> Blocked:
    where = f"pod {names[0]} container {names[1]}"
    restarts = int(container.get("restartCount") or 0)
    code = ended.get("exitCode")
    said = f"exited with code {code}" if code is not None else "exited"
    if ended.get("reason"):
        said += f" ({ended['reason']})"
    if restarts:
        said += f", restarted {restarts} time(s)"
    text = str(ended.get("message") or "").strip()
    logs = tuple(text.splitlines()[-LOG_LINES:]) if text else ()
    reason = waiting.get("reason") or ended.get("reason") or "Error"
    return Blocked(reason, f"{where} {said}", logs=logs, container=names)


LOG_LINES = 10
"""Last log lines of an exited container shown with its reason."""


def _unschedulable(pod: Json, events: list[Json], autoscaler: bool) -> Blocked | None:
    for condition in _conditions(pod):
        if condition.get("type") != "PodScheduled" or condition.get("reason") != "Unschedulable":
            continue
        if condition.get("status") == "True":
            return None
        scaling = any(
            e.get("reason") in SCALE_UP_EVENTS
            and (e.get("involvedObject") or {}).get("name") == name_of(pod)
            for e in events
        )
        passing = any(words in str(condition.get("message")) for words in PASSING_UNSCHEDULABLE)
        if autoscaler or scaling or passing:
            return None
        message = f"pod {name_of(pod)}: {_one_line(condition.get('message'))}"
        return Blocked("Unschedulable", message)
    return None


def _past_deadline(deployment: Json | None) -> Blocked | None:
    for condition in _conditions(deployment or {}):
        if condition.get("type") == "Progressing" and condition.get("status") == "False":
            message = (
                f"Deployment {name_of(deployment or {})}: {_one_line(condition.get('message'))}"
            )
            return Blocked(condition.get("reason") or "ProgressDeadlineExceeded", message)
    return None


NO_CONTROLLER = "NoControllerActed"
"""Reason of :func:`unacted` for a Deployment or ReplicaSet no controller has observed."""

NO_SCHEDULER = "NoSchedulerActed"
"""Reason of :func:`unacted` for a pod no scheduler has considered."""


def unacted(
    deployment: Json | None, replica_sets: Iterable[Json], pods: Iterable[Json]
) -> Blocked | None:
    """The first of the server's objects no controller has acted on yet, if any.

    A controller records each change it saw in ``status.observedGeneration``
    (the Deployment and ReplicaSet controllers of kube-controller-manager);
    the scheduler adds a ``PodScheduled`` condition to each pod it considers.
    Both act within moments: a caller that sees this last (e.g. 30 s) can
    say which part of the control plane is not working.

    Returns:
        ``NoControllerActed`` (a Deployment or ReplicaSet whose
        ``status.observedGeneration`` < ``metadata.generation``) or
        ``NoSchedulerActed`` (a live pod without a node or a ``PodScheduled``
        condition); ``None`` otherwise.
    """
    for owner in [*([deployment] if deployment else []), *replica_sets]:
        generation = int((owner.get("metadata") or {}).get("generation") or 0)
        observed = int((owner.get("status") or {}).get("observedGeneration") or 0)
        if observed < generation:
            message = (
                f"{owner.get('kind', 'Deployment')} {name_of(owner)}: no controller acted on it "
                f"(status.observedGeneration {observed} < metadata.generation {generation}); "
                "is the cluster's kube-controller-manager running?"
            )
            return Blocked(NO_CONTROLLER, message)
    for pod in pods:
        placed = (pod.get("spec") or {}).get("nodeName") or any(
            c.get("type") == "PodScheduled" for c in _conditions(pod)
        )
        if not placed and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            message = (
                f"pod {name_of(pod)}: no scheduler acted on it (no PodScheduled condition); "
                "is the cluster's kube-scheduler running?"
            )
            return Blocked(NO_SCHEDULER, message)
    return None


def replica_failures(deployment: Json | None, replica_sets: Iterable[Json]) -> set[str]:
    """Keys (owner uid and ``lastTransitionTime``) of the ``ReplicaFailure`` conditions now True."""
    owners = [*replica_sets, *([deployment] if deployment else [])]
    return {_failure_key(o, c) for o in owners for c in _replica_failures(o)}


def _replica_failures(owner: Json) -> list[Json]:
    return [
        c
        for c in _conditions(owner)
        if c.get("type") == "ReplicaFailure" and c.get("status") == "True"
    ]


def _failure_key(owner: Json, condition: Json) -> str:
    return f"{_uid(owner)}@{condition.get('lastTransitionTime')}"


def new_events(events: Iterable[Json], seen: Mapping[str, int]) -> list[Json]:
    """The Events not in ``seen`` (uid → count) or counted again since.

    Comparing counts, not timestamps, keeps the test free of clock skew
    between this machine and the API server.
    """
    return [e for e in events if _count(e) > seen.get(_uid(e), 0)]


def event_counts(events: Iterable[Json]) -> dict[str, int]:
    """Mapping of Event uid → how many times it was observed (``count``/``series``)."""
    return {_uid(e): _count(e) for e in events}


def _uid(event: Json) -> str:
    meta = event.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name"))


def _count(event: Json) -> int:
    series = event.get("series") or {}
    return int(series.get("count") or event.get("count") or 1)


def _conditions(obj: Json) -> list[Json]:
    return list((obj.get("status") or {}).get("conditions") or [])


def name_of(obj: Json) -> str:
    """``metadata.name`` of a Kubernetes object as plain JSON (``""`` if absent)."""
    return str((obj.get("metadata") or {}).get("name", ""))


def _one_line(text: object) -> str:
    return " ".join(str(text or "").split())
