"""What ``devctl list`` and ``describe`` show, read from a Deployment's plain JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from devservers.cli.servers import details_view
from devservers.components import labels as lbl
from devservers.components.expiry import REAP_ERROR, REAP_FAILED_AT, REAP_FAILURES
from devservers.components.idleness import IDLE_STOP_AT, WARNED_IDLE
from devservers.stacks import NotFound, Settings
from devservers.stacks.base.results import ServerDetails
from devservers.stacks.kube.activity import Activity
from devservers.stacks.kube.notices import with_notice
from devservers.stacks.listing import _annotations, _server, _with_activity, describe_server

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def deployment(replicas: int | None = 1, ready: int | None = None, **notes: str) -> dict[str, Any]:
    spec = {} if replicas is None else {"replicas": replicas}
    status = {} if ready is None else {"readyReplicas": ready}
    return {
        "metadata": {
            "name": "box",
            "namespace": "dev-alice",
            "creationTimestamp": "2026-11-29T10:00:00Z",
            "labels": {
                lbl.OWNER: "alice",
                lbl.SERVER: "box",
                lbl.STACK: "alice.box",
                lbl.FLAVOR: "gpu-small",
            },
            "annotations": {lbl.EXPIRY: "2026-11-29T12:20:00Z", **notes},
        },
        "spec": spec,
        "status": status,
    }


@pytest.mark.parametrize(
    ("replicas", "ready", "status"),
    [(0, None, "Stopped"), (1, 1, "Running"), (1, None, "Pending"), (None, 1, "Running")],
)
def test_status_follows_replicas_and_readiness(
    replicas: int | None, ready: int | None, status: str
) -> None:
    assert _server(deployment(replicas, ready)).status == status


def test_fields_come_from_labels_and_annotations() -> None:
    server = _server(deployment())
    assert (server.name, server.user, server.namespace, server.stack, server.flavor) == (
        "box",
        "alice",
        "dev-alice",
        "alice.box",
        "gpu-small",
    )
    assert server.expiry == datetime(2026, 11, 29, 12, 20, tzinfo=UTC)
    assert server.created == datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def test_expiring_soon_is_flagged_within_the_warning_window() -> None:
    d = deployment(1, 1)
    server = with_notice(_server(d), _annotations(d), Settings(user="alice"), NOW)
    assert server.expiring_soon
    assert server.notice == "deleted in 20m at expiry; extend it with: devctl extend box --by 2h"


def test_a_reaper_failure_takes_precedence_over_the_expiry_notice() -> None:
    d = deployment(
        1,
        1,
        **{
            REAP_ERROR: "destroy-failed: timeout",
            REAP_FAILURES: "3",
            REAP_FAILED_AT: "2026-11-29T11:59:00Z",
        },
    )
    server = with_notice(_server(d), _annotations(d), Settings(user="alice"), NOW)
    assert server.notice == "destroy-failed: timeout (3 attempt(s), last at 2026-11-29T11:59:00Z)"


class _Cluster:
    """Just what ``describe_server`` reads: one Deployment, no pods, no events."""

    def labelled(self, kind: str, selector: str, namespace: str | None) -> list[dict[str, Any]]:
        return [deployment()]

    def pods(self, namespace: str, selector: str) -> list[Any]:
        return []

    def events(self, namespace: str, name: str) -> list[Any]:
        return []

    def get_json(self, path: str, query: dict[str, str] | None = None) -> tuple[Any, datetime]:
        raise NotFound(path)

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return None  # no platform catalog: the built-in one


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        (
            {"image": "team/torch:2.5", "sshd_image": "localhost/devservers/sshd:9.2p1-2-deb12u10"},
            "sshd:       localhost/devservers/sshd:9.2p1-2-deb12u10",
        ),
        ({"image": "team/torch:2.5"}, "sshd:       the image own /usr/sbin/sshd"),
    ],
)
def test_describe_names_the_image_and_the_sshd_carrier(
    spec: dict[str, str], shown: str, tmp_path
) -> None:
    settings = Settings(user="alice", state_dir=tmp_path, config_dir=tmp_path)
    details = describe_server(settings, "alice", "box", _Cluster(), {"spec": spec})  # type: ignore[arg-type]
    assert (details.image, details.sshd_image) == (spec["image"], spec.get("sshd_image"))
    text = details_view(details)
    assert "Image:      team/torch:2.5" in text
    assert shown in text


def _idle_view(d: dict[str, Any], activity: Activity | None) -> str:
    server = _with_activity(_server(d), d, activity, NOW)
    return details_view(ServerDetails(server, "box-ssh", (), {}, activity_error="x"))


def test_an_unreadable_idle_timeout_is_shown_as_off_with_the_reason_not_a_crash() -> None:
    d = deployment(1, 1, **{lbl.IDLE_TIMEOUT: "soon"})
    text = _idle_view(d, Activity())
    assert "Idle stop:  off" in text
    assert "devservers.dev/idle-timeout='soon' is not a duration; the idle stop is off" in text


def test_a_warned_server_shows_the_stop_its_warning_named() -> None:
    since = "2026-11-29T11:00:00Z"
    d = deployment(
        1,
        1,
        **{lbl.IDLE_TIMEOUT: "30m", WARNED_IDLE: since, IDLE_STOP_AT: "2026-11-29T12:10:00Z"},
    )
    d["status"]["conditions"] = [
        {"type": "Available", "status": "True", "lastTransitionTime": since}
    ]
    text = _idle_view(d, Activity())
    assert "stops at 2026-11-29T12:10:00Z if still idle" in text
    assert "idle: will be stopped at 2026-11-29T12:10:00Z if it stays idle" in text
    # Unwarned, the earliest stop is its timeout after the last activity.
    del d["metadata"]["annotations"][WARNED_IDLE]
    assert "stops at 2026-11-29T11:30:00Z if still idle" in _idle_view(d, Activity())


def _sized(deployment: dict[str, Any]) -> dict[str, Any]:
    """``deployment`` with the pod template of a cpu-small server edited to 3 CPUs by hand."""
    deployment["metadata"]["labels"][lbl.FLAVOR] = "cpu-small"
    deployment["spec"]["template"] = {
        "spec": {
            "containers": [
                {
                    "name": "devserver",
                    "image": "team/torch:2.6",
                    "resources": {
                        "requests": {"cpu": "1", "memory": "4Gi"},
                        "limits": {"cpu": "3", "memory": "8Gi"},
                    },
                    "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                }
            ],
            "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}],
        }
    }
    return deployment


class _SizedCluster(_Cluster):
    def labelled(self, kind: str, selector: str, namespace: str | None) -> list[dict[str, Any]]:
        return [_sized(deployment())] if kind == "deployments" else []


def _describe(tmp_path, catalog: list[dict[str, Any]] | None) -> ServerDetails:
    """``describe`` of a cpu-small server with the given flavors file (``None``: built-in)."""
    import yaml

    from devservers.components.catalog import BUILTIN_FLAVORS

    more = {}
    if catalog is not None:
        (tmp_path / "flavors.yaml").write_text(yaml.safe_dump(catalog))
        more = {"flavors_file": tmp_path / "flavors.yaml"}
    settings = Settings(user="alice", state_dir=tmp_path, config_dir=tmp_path, **more)
    spec = {"image": "team/torch:2.5", "flavor": BUILTIN_FLAVORS[0].model_dump(mode="json")}
    return describe_server(settings, "alice", "box", _SizedCluster(), {"spec": spec})  # type: ignore[arg-type]


def test_describe_shows_the_image_and_sizing_of_the_live_deployment(tmp_path) -> None:
    text = details_view(_describe(tmp_path, None))
    assert "Image:      team/torch:2.6" in text  # not the stack's 2.5
    assert "Requests:   cpu=1, memory=4Gi" in text
    assert "Limits:     cpu=3, memory=8Gi" in text  # not the flavor's 2
    assert "/dev/shm:   1Gi" in text
    assert "Flavor:     cpu-small\n" in text  # the built-in definition is unchanged


def test_describe_names_what_changed_in_the_flavor_and_how_to_apply_it(tmp_path) -> None:
    from devservers.components.catalog import BUILTIN_FLAVORS

    changed = [
        {**f.model_dump(mode="json"), "memory_limit": "16Gi"}
        if f.name == "cpu-small"
        else f.model_dump(mode="json")
        for f in BUILTIN_FLAVORS
    ]
    details = _describe(tmp_path, changed)
    assert [str(c) for c in details.flavor_changes] == ["memory limit 8Gi → 16Gi"]
    assert (
        "Flavor:     cpu-small (changed in the catalog: memory limit 8Gi → 16Gi; "
        "'devctl update box' applies it)" in details_view(details)
    )


def test_describe_says_when_the_flavor_is_no_longer_in_the_catalog(tmp_path) -> None:
    from devservers.components.catalog import BUILTIN_FLAVORS

    others = [{**f.model_dump(mode="json"), "default": True} for f in BUILTIN_FLAVORS[1:2]]
    details = _describe(tmp_path, others)
    assert details.flavor_changes == ()
    assert "Flavor:     cpu-small (no longer in the catalog: " in details_view(details)


@pytest.mark.parametrize(
    ("backend", "recorded", "elsewhere"),
    [
        ("postgres://alice:pw@db/b?sslmode=require", "postgres://db/a", True),
        ("postgres://alice:pw@db/a?sslmode=require", "postgres://db/a", False),  # the reaper's
        ("postgres://alice:pw@db/b", None, False),
    ],
)
def test_list_notices_a_server_another_backend_holds_naming_it(
    backend: str, recorded: str | None, elsewhere: bool
) -> None:
    from devservers.stacks.listing import _with_holder

    notes = {lbl.BACKEND: recorded} if recorded else {}
    found = deployment(**notes)
    settings = Settings(user="alice", backend_url=backend)
    notice = _with_holder(_server(found), found, settings).notice
    assert (notice is not None) == elsewhere
    if elsewhere:
        assert notice == (
            "DevServer 'box' exists in namespace dev-alice but not in this state backend "
            "(postgres://db/b); it belongs to postgres://db/a: point devctl at it with "
            "DEVSERVERS_BACKEND_URL='postgres://db/a' (or backend_url in the config file)"
        )
