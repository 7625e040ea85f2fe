"""The bad-input corpus: every invalid value is refused with exit 2 and one line naming it.

Each case runs the real ``devctl`` through CliRunner against a kubeconfig that
points nowhere, so reaching the cluster (exit 5) would mean validation let
the value through. Nothing may be written to the state directory.
Cases already covered by ``test_cli.py`` are not repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devservers.cli.main import app

FLAVOR = "cpu_request: '1', cpu_limit: '1', memory_request: 1Gi, memory_limit: 1Gi"


@dataclass(frozen=True)
class Case:
    """One invalid input: the command line, the environment and files it needs."""

    args: tuple[str, ...]
    named: str
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str | bytes] = field(default_factory=dict)


def create(*extra: str, **kw) -> Case:
    named = kw.pop("named")
    return Case(("create", "box", *extra), named, **kw)


def flavors(text: str, named: str) -> Case:
    return create(
        named=named,
        env={"DEVSERVERS_FLAVORS_FILE": "{home}/flavors.yaml"},
        files={"flavors.yaml": text},
    )


def config(text: str | bytes, named: str, args: tuple[str, ...] = ("list",)) -> Case:
    return Case(args, named, env={"DEVSERVERS_CONFIG": "{home}/c.yaml"}, files={"c.yaml": text})


def kubeconfig(text: str | bytes | None, named: str) -> Case:
    files = {} if text is None else {"kc": text}
    return Case(("list",), named, env={"KUBECONFIG": "{home}/kc"}, files=files)


def backend(url: str) -> Case:
    return Case(("list",), url, env={"DEVSERVERS_BACKEND_URL": url})


CORPUS: dict[str, Case] = {
    # names
    "name-empty": Case(("create", ""), "empty"),
    "name-underscore": Case(("create", "box_1"), "box_1"),
    "name-dot": Case(("create", "box.x"), "box.x"),
    "name-leading-dash": Case(("create", "--", "-box"), "-box"),
    "name-space": Case(("create", "bo x"), "bo x"),
    "name-unicode": Case(("create", "bóx"), "bóx"),
    "name-delete-upper": Case(("delete", "Box", "--yes"), "Box"),
    "name-describe-upper": Case(("describe", "BOX"), "BOX"),
    "user-too-long": Case(("--user", "u" * 31, "list"), "u" * 31),
    "namespace-bad": create(named="Dev_NS", env={"DEVSERVERS_NAMESPACE": "Dev_NS"}),
    # volumes
    "volume-empty-claim": create("-v", ":/data", named="''"),
    "volume-empty-path": create("-v", "data:", named="''"),
    "volume-root": create("-v", "data:/", named="'/'"),
    "volume-extra-field": create("-v", "data:/x:ro:z", named="data:/x:ro:z"),
    "volume-dotdot": create("-v", "data:/x/../etc", named="/x/../etc"),
    "volume-claim-too-long": create("-v", "c" * 254 + ":/x", named="c" * 254),
    # mount paths that would hide what the server runs on (the pod would never be Ready)
    "volume-hides-sshd": create("-v", "data:/usr/sbin", named="'/usr/sbin'"),
    "volume-hides-keys": create("-v", "data:/home/dev/.ssh:ro", named="'/home/dev/.ssh'"),
    "volume-hides-proc": create("-v", "data:/proc", named="'/proc'"),
    "volume-hides-run-alias": create("-v", "data:/var/run/devserver", named="/var/run"),
    # keys
    "key-empty-file": create(
        "--ssh-public-key-file", "{home}/k.pub", named="k.pub", files={"k.pub": ""}
    ),
    "key-garbage": create(
        "--ssh-public-key-file", "{home}/k.pub", named="hello", files={"k.pub": "hello world\n"}
    ),
    "key-bad-base64": create(
        "--ssh-public-key-file",
        "{home}/k.pub",
        named="k.pub",
        files={"k.pub": "ssh-ed25519 AAAA%%%% me\n"},
    ),
    "key-truncated": create(
        "--ssh-public-key-file",
        "{home}/k.pub",
        named="k.pub",
        files={"k.pub": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI me\n"},
    ),
    "key-directory": create("--ssh-public-key-file", "{home}", named="Is a directory"),
    "key-binary": create(
        "--ssh-public-key-file", "{home}/k.pub", named="k.pub", files={"k.pub": b"\xff\xfe\x00\x01"}
    ),
    # images
    "image-space": create("--image", "bad image!", named="bad image!"),
    "image-upper-case-path": create("--image", "Ubuntu", named="Ubuntu"),
    "image-empty-tag": create("--image", "ubuntu:", named="ubuntu:"),
    "image-name-too-long": create("--image", "a" * 300, named="a" * 300),
    "config-image-bad": config("image: 'x y'\n", "x y", args=("create", "box")),
    # durations
    "ttl-negative": create("--ttl", "-1h", named="-1h"),
    "ttl-fraction": create("--ttl", "1.5h", named="1.5h"),
    "ttl-unit-only": create("--ttl", "h", named="'h'"),
    "ttl-empty": create("--ttl", "", named="''"),
    "ttl-with-space": create("--ttl", "4 h", named="4 h"),
    "ttl-years": create("--ttl", "1y", named="1y"),
    "ttl-under-a-minute": create("--ttl", "59s", named="59s"),
    "ttl-unit-twice": create("--ttl", "1h1h", named="1h1h"),
    "ttl-units-out-of-order": create("--ttl", "30m1h", named="30m1h"),
    "ttl-overflow": create("--ttl", "9" * 20 + "d", named="9" * 20 + "d"),
    "ttl-a-second-over-the-maximum": create("--ttl", "7d1s", named="ttl 7d1s exceeds"),
    "config-default-ttl": config("default_ttl: forever\n", "forever"),
    "config-max-ttl-zero": config("max_ttl: 0h\n", "0h"),
    "config-default-ttl-past-max": config("default_ttl: 8d\n", "8d"),
    "config-namespace-invalid": config("namespace: Dev_Box\n", "Dev_Box"),
    "env-namespace-invalid": Case(("list",), "Dev_Box", env={"DEVSERVERS_NAMESPACE": "Dev_Box"}),
    # flavors
    "flavor-upper-case": create("--flavor", "CPU-SMALL", named="CPU-SMALL"),
    "flavor-empty": create("--flavor", "", named="''"),
    "flavor-default-unknown": create(named="nope", env={"DEVSERVERS_DEFAULT_FLAVOR": "nope"}),
    "flavors-file-missing": create(
        named="nope.yaml", env={"DEVSERVERS_FLAVORS_FILE": "{home}/nope.yaml"}
    ),
    "flavors-file-not-yaml": flavors("- name: [\n", "line 2"),
    "flavors-file-empty-list": flavors("[]\n", "empty"),
    "flavors-file-not-utf8": create(
        named="not UTF-8",
        env={"DEVSERVERS_FLAVORS_FILE": "{home}/flavors.yaml"},
        files={"flavors.yaml": b"- name: caf\xe9\n"},
    ),
    "flavors-negative-gpus": flavors(f"- {{name: x, {FLAVOR}, gpus: -1, default: true}}\n", "-1"),
    "flavors-too-many-gpus": flavors(f"- {{name: x, {FLAVOR}, gpus: 17, default: true}}\n", "17"),
    "flavors-bad-quantity": flavors(
        "- {name: x, cpu_request: lots, cpu_limit: '1', memory_request: 1Gi, "
        "memory_limit: 1Gi, default: true}\n",
        "lots",
    ),
    "flavors-bad-name": flavors(f"- {{name: X_1, {FLAVOR}, default: true}}\n", "X_1"),
    "flavors-bad-node-selector": flavors(
        f"- {{name: x, {FLAVOR}, default: true, node_selector: {{'bad key!': v}}}}\n", "bad key!"
    ),
    # config files
    "config-flag-missing": Case(("--config", "{home}/none.yaml", "list"), "none.yaml"),
    "config-is-directory": Case(("list",), "Is a directory", env={"DEVSERVERS_CONFIG": "{home}"}),
    "config-not-yaml": config("user: [\n", "line 2"),
    "config-a-list": config("- a\n- b\n", "mapping"),
    "config-not-utf8": config(b"user: \xff\xfe\n", "not UTF-8"),
    "config-flag-not-utf8": Case(
        ("--config", "{home}/c.yaml", "list"), "c.yaml", files={"c.yaml": b"\xff\xfe\x00"}
    ),
    "config-timeout-too-low": config("operation_timeout_seconds: 5\n", "5"),
    "config-timeout-text": config("operation_timeout_seconds: soon\n", "soon"),
    "config-image-empty": config("image: ''\n", "image", args=("create", "box")),
    "config-keys-not-a-list": config("ssh_public_key_files: 12\n", "ssh_public_key_files"),
    # kubeconfig and context
    "kubeconfig-missing": kubeconfig(None, "kc: no such file"),
    "kubeconfig-garbage": kubeconfig("::: not yaml [", "kc"),
    "kubeconfig-empty": kubeconfig("", "kc"),
    "kubeconfig-not-yaml": kubeconfig("a: b: c\n", "kc: not readable YAML"),
    "kubeconfig-tab": kubeconfig("\tclusters: []\n", "kc: not readable YAML"),
    "kubeconfig-not-utf8": kubeconfig(b"\xff\xfe\x00\x01", "kc: not readable YAML"),
    "kubeconfig-bad-base64": kubeconfig(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9', "
        "certificate-authority-data: 'abcde'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n",
        "kc",
    ),
    "kubeconfig-not-one": kubeconfig("root:x:0:0:root:/root:/bin/bash\n", "kc: not a kubeconfig"),
    "kubeconfig-no-contexts": kubeconfig(
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n", "kc"
    ),
    "kubeconfig-flag-missing": Case(("--kubeconfig", "{home}/nokc", "list"), "nokc: no such file"),
    # backend URLs
    "backend-service": backend("https://api.pulumi.com"),
    "backend-file-relative": backend("file://relative/dir"),
    "backend-file-empty": backend("file://"),
    "backend-postgres-no-host": backend("postgres://"),
    "backend-s3-no-bucket": backend("s3://"),
}


def _expand(text: str, home: Path) -> str:
    return text.replace("{home}", str(home / "in"))


def _prepare(case: Case, home: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    (home / "in").mkdir()
    for name, content in case.files.items():
        path = home / "in" / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for var, value in case.env.items():
        monkeypatch.setenv(var, _expand(value, home))
    return [_expand(arg, home) for arg in case.args]


def assert_refused(result, named: str, home: Path) -> None:
    """Exit 2, nothing on stdout, one error line naming the value, no state written."""
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert named in errors[0]
    assert [p for p in (home / "data").rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("case", CORPUS.values(), ids=CORPUS.keys())
def test_bad_input_is_refused(home: Path, monkeypatch: pytest.MonkeyPatch, case: Case) -> None:
    args = _prepare(case, home, monkeypatch)
    assert_refused(CliRunner().invoke(app, args), case.named, home)


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40


HINT_SOURCES = {
    "file": (config("namespace: Bad_NS\n", "Bad_NS"), "c.yaml"),
    "environment": (
        Case(("list",), "Bad_NS", env={"DEVSERVERS_NAMESPACE": "Bad_NS"}),
        "environment variable DEVSERVERS_NAMESPACE",
    ),
    "command-line": (Case(("--user", "Bad_User", "list"), "Bad_User"), "command line"),
    # Checked against another key (no config file exists): both sources are named.
    "environment-against-default": (
        Case(("list",), "default_ttl 30d", env={"DEVSERVERS_DEFAULT_TTL": "30d"}),
        "default_ttl (the environment variable DEVSERVERS_DEFAULT_TTL) and max_ttl (the default)",
    ),
}


@pytest.mark.parametrize(("case", "source"), HINT_SOURCES.values(), ids=HINT_SOURCES.keys())
def test_hint_names_where_the_bad_value_came_from(
    home: Path, monkeypatch: pytest.MonkeyPatch, case: Case, source: str
) -> None:
    result = CliRunner().invoke(app, _prepare(case, home, monkeypatch))
    assert_refused(result, case.named, home)
    hints = [line for line in result.stderr.splitlines() if line.startswith("hint: ")]
    assert len(hints) == 1 and source in hints[0], result.stderr


def test_unwritable_file_backend_is_refused_before_the_engine(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devservers.stacks import SpecError, load_settings
    from devservers.stacks.engine.workspace import workspace_options

    blocker = home / "blocker"
    blocker.write_text("a file, not a directory")
    settings = load_settings(backend_url=f"file://{blocker}/state")
    with pytest.raises(SpecError, match="blocker"):
        workspace_options(settings)


@pytest.mark.parametrize("key", ["volume-empty-path", "ttl-negative", "key-garbage"])
def test_create_refuses_bad_input_before_reading_the_cluster(
    home: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    from devservers.stacks import ClusterUnavailable
    from devservers.stacks.kube.cluster import Cluster

    def unreachable(self: Cluster, namespace: str, name: str) -> None:
        raise ClusterUnavailable("cannot reach the API server")

    monkeypatch.setattr(Cluster, "config_map", unreachable)
    case = CORPUS[key]
    args = _prepare(case, home, monkeypatch)
    assert_refused(CliRunner().invoke(app, args), case.named, home)
