"""``devctl reaper status``: the platform's CronJob, its latest run and that run's report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from clirun import run

from devservers.stacks import NotFound
from devservers.stacks.reaping import status

NS = "devservers-system"
CRONJOB = {
    "metadata": {"name": "devservers-reaper", "uid": "cj-uid"},
    "spec": {"schedule": "*/5 * * * *"},
    "status": {
        "lastScheduleTime": "2026-12-02T10:05:00Z",
        "lastSuccessfulTime": "2026-12-02T10:00:30Z",
    },
}
REPORT = {
    "started": "2026-12-02T10:05:02Z",
    "duration_seconds": 3.2,
    "policy": "delete",
    "servers": 2,
    "results": [{"stack": "alice.box", "state": "deleted"}],
}


def job(name: str, created: str, owner: str = "cj-uid", **condition: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "ownerReferences": [{"uid": owner}],
        },
        "status": {"conditions": [{"status": "True", **condition}]} if condition else {},
    }


class _Cluster:
    def __init__(self, jobs: list[dict[str, Any]], log: list[str], cronjob: bool = True) -> None:
        self.jobs, self.log, self.cronjob = jobs, log, cronjob

    def get_json(self, path: str, query: Any = None) -> tuple[Any, datetime]:
        if path.endswith("/cronjobs/devservers-reaper"):
            if not self.cronjob:
                raise NotFound(path)
            return CRONJOB, datetime.now(UTC)
        assert path == f"/apis/batch/v1/namespaces/{NS}/jobs"
        return {"items": self.jobs}, datetime.now(UTC)

    def labelled(self, kind: str, selector: str, namespace: str) -> list[dict[str, Any]]:
        assert (kind, namespace) == ("pods", NS)
        name = selector.split("=", 1)[1]
        return [{"metadata": {"name": f"{name}-pod", "creationTimestamp": "2026-12-02T10:05:01Z"}}]

    def container_log(self, namespace: str, pod: str, container: str, lines: int) -> list[str]:
        assert (pod, container) == ("run-2-pod", "reaper")
        return self.log


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch):
    def use(found: _Cluster) -> None:
        monkeypatch.setattr(status, "connect", lambda settings: found)

    return use


def test_status_shows_the_latest_run_and_its_report(cluster, home) -> None:
    jobs = [
        job("run-1", "2026-12-02T10:00:00Z", type="Complete"),
        job("run-2", "2026-12-02T10:05:00Z", type="Complete"),
        job("other", "2026-12-02T10:06:00Z", owner="someone-else"),
    ]
    cluster(_Cluster(jobs, ["INFO reaper: pass started", json.dumps(REPORT)]))
    code, out, err = run("reaper", "status")
    assert code == 0, err
    assert "Last schedule:  2026-12-02T10:05:00Z" in out
    assert "Last success:   2026-12-02T10:00:30Z" in out
    assert "Last run:       run-2 Complete" in out
    assert "2 server(s) seen: alice.box deleted" in out
    code, out, _ = run("reaper", "status", "-o", "json")
    assert json.loads(out)["last_pass"]["results"] == REPORT["results"]


def test_a_failed_run_shows_its_reason_and_last_log_line(cluster, home) -> None:
    jobs = [job("run-2", "2026-12-02T10:05:00Z", type="Failed", reason="BackoffLimitExceeded")]
    cluster(_Cluster(jobs, ["error: incorrect passphrase for stack alice.box"]))
    code, out, err = run("reaper", "status")
    assert code == 0, err
    assert "run-2 Failed (BackoffLimitExceeded)" in out
    assert "Last log line:  error: incorrect passphrase" in out


def test_no_reaper_cronjob_exits_3_saying_how_to_enable_it(cluster, home) -> None:
    cluster(_Cluster([], [], cronjob=False))
    code, out, err = run("reaper", "status")
    assert code == 3
    assert "no reaper CronJob devservers-system/devservers-reaper" in err
    assert "enabled: true" in err
