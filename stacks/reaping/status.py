"""The in-cluster reaper as an admin sees it: its CronJob, its last run and that run's report.

Three reads with the admin's credentials: the CronJob
(``<platform_namespace>/devservers-reaper``), the Jobs of that namespace
(the latest one the CronJob owns) and the log of that Job's pod, whose last
JSON line is the pass report (``python -m devservers.reaper --once -o json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from devservers.components.durations import parse_instant
from devservers.components.naming import REAPER_NAME
from devservers.stacks.base.errors import NotFound
from devservers.stacks.base.settings import Settings
from devservers.stacks.kube.cluster import connect

LOG_LINES = 20
"""Lines of the last run's log read for its report (the report is the last JSON line)."""


@dataclass(frozen=True)
class ReaperStatus:
    """The reaper's CronJob and its latest run (instants UTC, from the API server).

    Attributes:
        namespace: The platform's namespace holding the CronJob.
        schedule: Its cron schedule (UTC).
        suspended: ``spec.suspend``.
        last_schedule: When a run was last scheduled; ``None`` before the first.
        last_success: When a run last completed successfully.
        active: Runs in progress.
        last_job: The latest run's Job, and its state ``last_state``:
            ``Running``, ``Complete`` or ``Failed`` (with the reason Kubernetes
            gives, e.g. ``DeadlineExceeded``).
        last_pass: The latest run's report (as ``devctl reaper run -o json``
            prints it), if its log has one.
        last_log: The last line of that log when it holds no report (e.g. the
            error a failed pass printed).
    """

    namespace: str
    schedule: str
    suspended: bool
    last_schedule: datetime | None
    last_success: datetime | None
    active: int
    last_job: str | None = None
    last_state: str | None = None
    last_pass: dict[str, Any] | None = None
    last_log: str | None = None


def reaper_status(settings: Settings) -> ReaperStatus:
    """The in-cluster reaper of the platform in ``settings.platform_namespace``.

    Raises:
        NotFound: The platform has no reaper CronJob (``devservers:reaper``
            is not enabled).
        Forbidden: These credentials may not read it (an admin's may).
        ClusterUnavailable: The API server cannot be reached.
    """
    cluster, namespace = connect(settings), settings.platform_namespace
    path = f"/apis/batch/v1/namespaces/{namespace}/cronjobs/{REAPER_NAME}"
    try:
        cronjob, _ = cluster.get_json(path)
    except NotFound:
        raise NotFound(
            f"no reaper CronJob {namespace}/{REAPER_NAME}",
            hint="enable it in the platform: devservers:reaper enabled: true, then pulumi up",
        ) from None
    spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
    found = ReaperStatus(
        namespace=namespace,
        schedule=spec.get("schedule", ""),
        suspended=bool(spec.get("suspend")),
        last_schedule=_instant(status.get("lastScheduleTime")),
        last_success=_instant(status.get("lastSuccessfulTime")),
        active=len(status.get("active") or []),
    )
    jobs, _ = cluster.get_json(f"/apis/batch/v1/namespaces/{namespace}/jobs")
    job = _latest_run(jobs.get("items") or [], cronjob["metadata"]["uid"])
    if job is None:
        return found
    name = job["metadata"]["name"]
    pods = cluster.labelled("pods", f"batch.kubernetes.io/job-name={name}", namespace)
    lines = []
    if pods:
        pod = max(pods, key=lambda p: p["metadata"]["creationTimestamp"])
        lines = cluster.container_log(namespace, pod["metadata"]["name"], "reaper", LOG_LINES)
    report = _last_report(lines)
    return replace(
        found,
        last_job=name,
        last_state=_state(job),
        last_pass=report,
        last_log=None if report is not None or not lines else lines[-1],
    )


def _latest_run(jobs: list[dict[str, Any]], owner_uid: str) -> dict[str, Any] | None:
    owned = [
        j
        for j in jobs
        if any(o.get("uid") == owner_uid for o in j["metadata"].get("ownerReferences") or [])
    ]
    return max(owned, key=lambda j: j["metadata"]["creationTimestamp"], default=None)


def _state(job: dict[str, Any]) -> str:
    """``Complete``, ``Failed (reason)`` or ``Running``, from the Job's conditions."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "Complete"
        if condition.get("type") == "Failed":
            return f"Failed ({condition.get('reason') or 'unknown'})"
    return "Running"


def _last_report(lines: list[str]) -> dict[str, Any] | None:
    for line in reversed(lines):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "results" in data:
            return data
    return None


def _instant(text: str | None) -> datetime | None:
    return parse_instant(text) if text else None
