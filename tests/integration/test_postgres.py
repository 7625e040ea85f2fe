"""devctl on Pulumi's PostgreSQL backend: a real Debian PostgreSQL started for the session."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_devctl import devctl


@dataclass(frozen=True)
class Postgres:
    """A running server: its tools, port and superuser password."""

    bin: Path
    port: int
    password: str

    def sql(self, database: str, query: str) -> list[str]:
        out = subprocess.run(
            [self.bin / "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "devservers"]
            + ["-d", database, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", query],
            env={**os.environ, "PGPASSWORD": self.password},
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.splitlines()

    def url(self, database: str, host: str = "127.0.0.1") -> str:
        return (
            f"postgres://devservers:{self.password}@{host}:{self.port}/{database}?sslmode=disable"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_postgres(listen: tuple[str, ...] = ("127.0.0.1",), clients: tuple[str, ...] = ()):
    """Debian's PostgreSQL in a temp dir on a free port, unprivileged, stopped at the end.

    It listens on ``listen`` and admits (password, scram-sha-256) the loopback
    and the ``clients`` networks (CIDR), e.g. the local cluster's pods.
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL server missing: apt-get install postgresql (make system does)")
    bin_dir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="devservers-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    password = uuid.uuid4().hex
    port = _free_port()

    def run(*args: str | Path) -> None:
        subprocess.run([*as_user, *map(str, args)], check=True, capture_output=True, text=True)

    run(bin_dir / "initdb", "-D", root / "data", "-U", "devservers", "-E", "UTF8")
    hba = ["local all all trust", "host all all 127.0.0.1/32 scram-sha-256"]
    hba += [f"host all all {network} scram-sha-256" for network in clients]
    (root / "data" / "pg_hba.conf").write_text("\n".join(hba) + "\n")
    server = Postgres(bin_dir, port, password)
    opts = f"-p {port} -k {root} -c listen_addresses={','.join(listen)} -c fsync=off"
    run(bin_dir / "pg_ctl", "-D", root / "data", "-o", opts, "-l", root / "log", "-w", "start")
    try:
        run(bin_dir / "psql", "-h", root, "-p", str(port), "-U", "devservers", "-d", "postgres",
            "-c", f"ALTER USER devservers PASSWORD '{password}'")  # fmt: skip
        yield server
    finally:
        run(bin_dir / "pg_ctl", "-D", root / "data", "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """Debian's PostgreSQL on the loopback, for the session."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg_env(postgres: Postgres, devctl_env: dict[str, str]) -> dict[str, str]:
    """devctl's environment with a fresh database of the server as its backend."""
    database = f"t_{uuid.uuid4().hex[:10]}"
    postgres.sql("postgres", f"CREATE DATABASE {database}")
    return {**devctl_env, "DEVSERVERS_BACKEND_URL": postgres.url(database), "PG_DB": database}


def state_keys(postgres: Postgres, env: dict[str, str], pattern: str) -> list[str]:
    """Keys of Pulumi's state table matching a LIKE pattern ([] before the table exists)."""
    if postgres.sql(env["PG_DB"], "SELECT to_regclass('pulumi_state') IS NULL") == ["t"]:
        return []
    return postgres.sql(
        env["PG_DB"], f"SELECT key FROM pulumi_state WHERE key LIKE '{pattern}' ORDER BY key"
    )


def test_create_list_delete_on_postgres(
    postgres: Postgres, pg_env: dict[str, str], tmp_path: Path
) -> None:
    created = devctl(pg_env, "create", "box", "--ttl", "1h", "-o", "json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["server"]["status"] == "Running"
    assert state_keys(postgres, pg_env, "%/stacks/devservers/alice.box.json")
    assert not (tmp_path / "data" / "devservers" / "state").exists()

    listed = devctl(pg_env, "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [(s["name"], s["stack"]) for s in json.loads(listed.stdout)] == [("box", "alice.box")]
    described = devctl(pg_env, "describe", "box", "-o", "json")
    assert described.returncode == 0, described.stderr

    deleted = devctl(pg_env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert state_keys(postgres, pg_env, "%/stacks/devservers/alice.box.json") == []
    assert json.loads(devctl(pg_env, "list", "-o", "json").stdout) == []


def test_shared_backend_refuses_a_machine_local_passphrase(pg_env: dict[str, str]) -> None:
    env = {k: v for k, v in pg_env.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}
    created = devctl(env, "create", "box")
    assert created.returncode == 2
    assert "team's" in created.stderr
    assert pg_env["DEVSERVERS_BACKEND_URL"].split("@")[0].split(":")[-1] not in created.stderr


def hold_while_locked(
    process: subprocess.Popen[str], postgres: Postgres, env: dict[str, str]
) -> None:
    """Stops ``process`` (SIGSTOP) at a moment it holds alice.box's lock in the backend.

    Create takes the lock more than once (``stack init``, before the stack's
    checkpoint exists, then the update), and a short hold may end between seeing
    the lock and stopping: the lock and the checkpoint are checked again once
    the process is stopped, and the wait goes on unless both are there.
    """
    deadline = time.monotonic() + 120

    def held() -> bool:
        return bool(
            state_keys(postgres, env, "%/stacks/%alice.box.json")
            and state_keys(postgres, env, "%/locks/%alice.box/%")
        )

    while True:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the create never held the stack's lock"
        if held():
            os.killpg(process.pid, signal.SIGSTOP)
            if held():
                return
            os.killpg(process.pid, signal.SIGCONT)
        time.sleep(0.05)


def test_second_process_on_a_locked_stack_gets_conflict(
    postgres: Postgres, pg_env: dict[str, str], tmp_path: Path
) -> None:
    first = subprocess.Popen(
        ["devctl", "-q", "create", "box", "-o", "json"],
        env=pg_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        hold_while_locked(first, postgres, pg_env)
        try:
            # Another machine: its own local state, so only the backend's lock is shared.
            elsewhere = {**pg_env, "XDG_DATA_HOME": str(tmp_path / "elsewhere")}
            second = devctl(elsewhere, "delete", "box", "--yes")
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        assert second.returncode == 4, second.stderr
        assert "locked by another operation" in second.stderr
        assert "Traceback" not in second.stderr
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.communicate()
    assert first.returncode == 0, err
    assert json.loads(out)["server"]["status"] == "Running"
    assert state_keys(postgres, pg_env, "%/locks/%") == []
    deleted = devctl(pg_env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
