"""The SSH data path on the real node: devctl's port-forward beside kubectl's.

Both paths reach the same pod's sshd with the same OpenSSH client, config,
key and pinned host keys; only the transport differs: ``devctl ssh-proxy``
(the config's ProxyCommand) or ``kubectl port-forward`` to a local port
(``ProxyCommand none``, ``Hostname 127.0.0.1``). Runs interleave, so both see
the same load.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from commands import sh, timed

MIB = 1024 * 1024


@contextlib.contextmanager
def kubectl_forward(namespace: str, pod: str) -> Iterator[int]:
    """``kubectl port-forward`` of a free local port to the pod's sshd; yields the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen(
        ["kubectl", "port-forward", "-n", namespace, f"pod/{pod}", f"{port}:2222"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 2222"
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def data_path(env: dict[str, str], namespace: str, server: str, runs: int = 3) -> dict[str, Any]:
    """scp/rsync of 256 MiB and connect→first command, through each transport.

    Args:
        env: devctl's environment (its user, backend and key).
        namespace: The server's namespace.
        server: A running DevServer's name.
        runs: Samples per figure (medians reported).

    Returns:
        Mapping of figure → {"devctl": …, "kubectl": …} summaries; throughputs
        in MiB/s, latencies in seconds; plus the ratios devctl/kubectl.
    """
    setup = sh("devctl", "ssh-config", server, "--no-install", "-o", "json", env=env)
    config = json.loads(setup)["config_file"]
    pods = sh("kubectl", "get", "pods", "-n", namespace, "-l", f"devservers.dev/server={server}",
              "-o", "json")  # fmt: skip
    pod = json.loads(pods)["items"][0]["metadata"]["name"]
    host = f"devserver-{server}"
    with tempfile.TemporaryDirectory(prefix="devservers-datapath-") as tmp:
        blob = Path(tmp) / "blob"
        blob.write_bytes(os.urandom(256 * MIB))
        figures: dict[str, Callable[[list[str]], list[str]]] = {
            "scp_256mib": lambda o: ["scp", "-q", "-F", config, *o, str(blob), f"{host}:blob"],
            "rsync_256mib": lambda o: [
                "rsync", "--whole-file", "-e", " ".join(["ssh", "-F", config, *o]),
                str(blob), f"{host}:blob-rsync",
            ],
            "connect_first_command": lambda o: ["ssh", "-F", config, *o, host, "true"],
        }  # fmt: skip
        samples: dict[str, dict[str, list[float]]] = {
            k: {"devctl": [], "kubectl": []} for k in figures
        }
        with kubectl_forward(namespace, pod) as port:
            direct = ["-o", "ProxyCommand=none", "-o", "Hostname=127.0.0.1", "-o", f"Port={port}"]
            for _ in range(runs):
                for name, argv in figures.items():
                    samples[name]["devctl"].append(timed(*argv([]), env=env))
                    samples[name]["kubectl"].append(timed(*argv(direct), env=env))
    out: dict[str, Any] = {}
    for name, by in samples.items():
        if name == "connect_first_command":
            out[name] = {k: round(statistics.median(v), 3) for k, v in by.items()}
            out[name]["ratio"] = round(out[name]["devctl"] / out[name]["kubectl"], 2)
        else:
            rates = {k: [256 / s for s in v] for k, v in by.items()}
            out[name] = {k: round(statistics.median(v), 1) for k, v in rates.items()}
            out[name]["ratio"] = round(out[name]["devctl"] / out[name]["kubectl"], 2)
        out[name]["n"] = runs
    return out
