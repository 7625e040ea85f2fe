"""Backend URLs and the secrets provider chosen for each kind of backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devservers.stacks import Settings, SpecError, load_settings
from devservers.stacks.engine.backends import backend_kind, is_shared, redact, secrets_env

PG = "postgres://team:s3cret@db.example:5432/pulumi?sslmode=disable"
S3 = "s3://state?endpoint=minio.example:9000&s3ForcePathStyle=true&disableSSL=true"


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("DEVSERVERS_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("DEVSERVERS_USER", "alice")
    for var in ("DEVSERVERS_BACKEND_URL", "DEVSERVERS_SECRETS_PROVIDER"):
        monkeypatch.delenv(var, raising=False)
    for var in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("file:///tmp/state", "file"),
        (PG, "postgres"),
        ("postgresql://u@h/db", "postgres"),
        (S3, "s3"),
        ("gs://bucket", "gs"),
        ("azblob://container", "azblob"),
    ],
)
def test_backend_kinds(url: str, kind: str) -> None:
    assert backend_kind(url) == kind
    assert is_shared(url) is (kind != "file")


def test_unknown_backend_is_rejected_without_the_password() -> None:
    with pytest.raises(SpecError) as err:
        backend_kind("mysql://u:hunter2@h/db")
    assert "hunter2" not in err.value.message
    assert "postgres://" in err.value.message


def test_redact_hides_only_the_password() -> None:
    assert redact(PG) == "postgres://team:***@db.example:5432/pulumi?sslmode=disable"
    assert redact(S3) == S3


def test_backend_url_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"backend_url: {S3}\n")
    assert load_settings(config).backend == S3
    monkeypatch.setenv("DEVSERVERS_BACKEND_URL", PG)
    assert load_settings(config).backend == PG


def test_file_backend_gets_a_local_passphrase_once(tmp_path: Path) -> None:
    settings = load_settings()
    first = secrets_env(settings)
    path = Path(first["PULUMI_CONFIG_PASSPHRASE_FILE"])
    assert path.stat().st_mode & 0o777 == 0o600
    assert secrets_env(settings) == first


@pytest.mark.parametrize("url", [PG, S3])
def test_shared_backend_needs_the_team_passphrase(url: str, tmp_path: Path) -> None:
    settings = load_settings(backend_url=url)
    with pytest.raises(SpecError) as err:
        secrets_env(settings)
    assert "s3cret" not in err.value.message
    assert "PULUMI_CONFIG_PASSPHRASE" in (err.value.hint or "")
    assert not (tmp_path / "config" / "devctl" / "passphrase").exists()


def test_shared_backend_uses_the_passphrase_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "/run/secrets/team")
    settings = load_settings(backend_url=PG)
    assert secrets_env(settings) == {"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secrets/team"}


def test_kms_provider_needs_no_passphrase() -> None:
    settings = load_settings(backend_url=PG, secrets_provider="awskms://alias/devservers")
    assert secrets_env(settings) == {}


def test_bad_secrets_provider_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="secrets_provider 'rot13'"):
        load_settings(secrets_provider="rot13")


@pytest.mark.parametrize(
    ("environ", "kube_config", "expected"),
    [
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, False, True),  # a pod, nothing else
        ({}, False, False),  # not a pod
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBECONFIG": "/k"}, False, False),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, True, False),  # ~/.kube/config wins
    ],
)
def test_the_pods_service_account_is_used_only_without_any_kubeconfig(
    tmp_path, monkeypatch, environ: dict[str, str], kube_config: bool, expected: bool
) -> None:
    from devservers.stacks.base import settings as module

    token = tmp_path / "token"
    token.write_text("t")
    monkeypatch.setattr(module, "SERVICE_ACCOUNT_TOKEN", token)
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in ("KUBERNETES_SERVICE_HOST", "KUBECONFIG"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    if kube_config:
        (tmp_path / ".kube").mkdir()
        (tmp_path / ".kube" / "config").write_text("{}")
    assert Settings(user="reaper").in_cluster is expected


def test_the_service_account_kubeconfig_names_the_api_server_and_the_mounted_token(
    tmp_path, monkeypatch
) -> None:
    from kubernetes import config

    from devservers.stacks.kube.incluster import SERVICE_ACCOUNT, write_service_account_kubeconfig

    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "192.0.2.2")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    path = write_service_account_kubeconfig(tmp_path / "state" / "service-account.kubeconfig")
    loaded = yaml.safe_load(path.read_text())
    assert loaded["clusters"][0]["cluster"]["server"] == "https://192.0.2.2:6443"
    assert loaded["users"][0]["user"] == {"tokenFile": str(SERVICE_ACCOUNT / "token")}
    assert config.list_kube_config_contexts(str(path))[1]["name"] == "in-cluster"
