"""One benchmark run on the local cluster; writes bench/results/latest.{json,md}.

Usage (after ``eval "$(toolchain/env.sh)"``, with devctl on PATH; ``make bench``
does both): ``python bench/run.py [--servers 10] [--list-sizes 50,200]
[--workers 1,2,4] [--jobs 4]``.

Everything runs as user ``bench<run>`` in namespace ``bench-<run>`` with a private
file backend in a temp dir; the namespace is deleted at the end. Each
devctl measurement stands beside a kubectl measurement of the same thing taken
in the same run, interleaved, so that the ratio holds on a busy machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import report
from breakdown import breakdown, run_traced, summarize
from commands import sh, timed
from datapath import data_path
from idle import idle_pass
from podwatch import PodWatch
from proctree import Peak, sampling

RUN = uuid.uuid4().hex[:6]
USER, NAMESPACE = f"bench{RUN}", f"bench-{RUN}"
"""A user and namespace of this run alone: the cluster is shared."""
SERVER_LABEL = "devservers.dev/server"
OWNER_SELECTOR = f"app.kubernetes.io/managed-by=devservers,devservers.dev/owner={USER}"
MIB = 1024 * 1024
RESULTS = Path(__file__).parent / "results"


def summary(values: list[float]) -> dict[str, Any]:
    """Median and p95 (nearest rank) of seconds, with the samples."""
    ordered = sorted(values)
    p95 = ordered[max(0, -(-95 * len(ordered) // 100) - 1)]
    return {
        "n": len(values),
        "median": round(statistics.median(values), 3),
        "p95": round(p95, 3),
        "samples": [round(v, 3) for v in values],
    }


def ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> float:
    """Ratio of medians, ours over theirs."""
    return round(ours["median"] / theirs["median"], 2)


FAKE_FLAVOR = "fake-cpu"
"""A flavor for the steps that only need scale: its pods go to kwok's fake cpu node."""

FLAVORS = f"""
- {{name: cpu-small, default: true, cpu_request: 100m, cpu_limit: "2", memory_request: 256Mi,
   memory_limit: 8Gi, shm_size: 1Gi}}
- {{name: {FAKE_FLAVOR}, cpu_request: "1", cpu_limit: "2", memory_request: 4Gi,
   memory_limit: 8Gi, shm_size: 1Gi, node_selector: {{type: kwok}},
   tolerations: [{{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}}]}}
"""
"""cpu-small with the built-in limits but small requests (its pods run on the real node,
which has 2 CPUs and may hold other servers), and the fake one."""


def devctl_env(work: Path) -> dict[str, str]:
    """Environment of the benchmark's devctl: its user, namespace, key and file backend."""
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "key"))
    (work / "flavors.yaml").write_text(FLAVORS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSERVERS_")}
    env.update(
        DEVSERVERS_USER=USER,
        DEVSERVERS_NAMESPACE=NAMESPACE,
        DEVSERVERS_BACKEND_URL=f"file://{work / 'state'}",
        DEVSERVERS_SSH_PUBLIC_KEY_FILES=str(work / "key.pub"),
        DEVSERVERS_FLAVORS_FILE=str(work / "flavors.yaml"),
        DEVSERVERS_OPERATION_TIMEOUT_SECONDS="300",
        DEVSERVERS_CONFIG=str(work / "none.yaml"),
        XDG_CONFIG_HOME=str(work / "config"),
        PULUMI_CONFIG_PASSPHRASE="bench",
    )
    return env


def startup(env: dict[str, str], runs: int = 10) -> dict[str, Any]:
    """``devctl --help`` beside ``python -c pass`` (same interpreter)."""
    help_ = [timed("devctl", "--help", env=env) for _ in range(runs)]
    bare = [timed(sys.executable, "-c", "pass", env=env) for _ in range(runs)]
    return {"devctl_help": summary(help_), "python_pass": summary(bare)}


def baseline_manifest(env: dict[str, str], server: str) -> str:
    """The Kubernetes objects devctl made for ``server``, ready for ``kubectl apply``."""
    kinds = "deployment,service,secret,configmap"
    found = json.loads(
        sh("kubectl", "get", kinds, "-n", NAMESPACE, "-l", f"{SERVER_LABEL}={server}", "-o", "json")
    )
    for item in found["items"]:
        item.pop("status", None)
        meta = item["metadata"]
        for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
            meta.pop(key, None)
        meta.get("annotations", {}).pop("deployment.kubernetes.io/revision", None)
        for key in ("clusterIP", "clusterIPs"):
            item.get("spec", {}).pop(key, None)
    return json.dumps(found)


def rename(manifest: str, old: str, new: str) -> str:
    """The manifest of ``old`` with every name, label and stack of it pointing at ``new``."""
    for left, right in (('"', '"'), ('"', "-"), (f"{USER}.", '"')):
        manifest = manifest.replace(f"{left}{old}{right}", f"{left}{new}{right}")
    return manifest


def create_delete(env: dict[str, str], servers: int, flavor: str, pods: PodWatch) -> dict[str, Any]:
    """Devctl create→Ready and delete, interleaved with kubectl apply/rollout/delete.

    Each devctl run is traced (:mod:`breakdown`): its CLI runs, API calls and
    engine steps, and for create the seconds from the pod turning Ready to exit.
    """
    created, deleted, kube_up, kube_down, create_rss, delete_rss = [], [], [], [], [], []
    traces: dict[str, list[dict[str, Any]]] = {"create": [], "delete": []}
    manifest = ""
    for i in range(servers):
        name = f"b{i}"
        peak = Peak()
        run = run_traced(["devctl", "-q", "create", name, "--wait", "-f", flavor], env, peak)
        traces["create"].append(breakdown(run, pods.ready_after(name, run.start)))
        created.append(run.seconds)
        create_rss.append(peak)
        manifest = manifest or baseline_manifest(env, name)
        peak = Peak()
        run = run_traced(["devctl", "-q", "delete", name, "--yes"], env, peak)
        traces["delete"].append(breakdown(run))
        deleted.append(run.seconds)
        delete_rss.append(peak)

        objects = rename(manifest, "b0", f"k{i}")
        start = time.monotonic()
        sh("kubectl", "apply", "-f", "-", stdin=objects)
        sh("kubectl", "rollout", "status", f"deployment/k{i}", "-n", NAMESPACE, "--timeout=300s")
        kube_up.append(time.monotonic() - start)
        kube_down.append(timed("kubectl", "delete", "--wait=true", "-f", "-", stdin=objects))
        print(f"  {name}: create {created[-1]:.1f}s delete {deleted[-1]:.1f}s; "
              f"kubectl {kube_up[-1]:.1f}s / {kube_down[-1]:.1f}s", file=sys.stderr)  # fmt: skip
    out = {
        "flavor": flavor,
        "devctl_create": summary(created),
        "kubectl_apply_rollout": summary(kube_up),
        "devctl_delete": summary(deleted),
        "kubectl_delete": summary(kube_down),
        "peak_rss_mib": {
            "create": _rss_summary(create_rss),
            "delete": _rss_summary(delete_rss),
        },
        "breakdown": {op: summarize(runs) for op, runs in traces.items()},
    }
    out["create_ratio"] = ratio(out["devctl_create"], out["kubectl_apply_rollout"])
    out["delete_ratio"] = ratio(out["devctl_delete"], out["kubectl_delete"])
    return out


LIFECYCLE = (
    ("extend", ("extend", "--by", "1h")),
    ("stop", ("stop",)),
    ("start", ("start",)),
    ("repair", ("repair",)),
)
"""The updates of an existing server, in the order each round runs them."""


def lifecycle(env: dict[str, str], rounds: int, flavor: str, pods: PodWatch) -> dict[str, Any]:
    """Extend, stop, start and repair of one server, ``rounds`` times each, traced."""
    name = "lc"
    sh("devctl", "-q", "create", name, "--wait", "-f", flavor, env=env)
    traces: dict[str, list[dict[str, Any]]] = {op: [] for op, _ in LIFECYCLE}
    try:
        for _ in range(rounds):
            for op, args in LIFECYCLE:
                run = run_traced(["devctl", "-q", args[0], name, *args[1:]], env)
                ready = pods.ready_after(name, run.start) if op == "start" else None
                traces[op].append(breakdown(run, ready))
            print("  " + ", ".join(f"{op} {runs[-1]['seconds']:.1f}s"
                                   for op, runs in traces.items()), file=sys.stderr)  # fmt: skip
    finally:
        sh("devctl", "-q", "delete", name, "--yes", env=env)
    return {op: summarize(runs) for op, runs in traces.items()}


def _rss_summary(peaks: list[Peak]) -> dict[str, Any]:
    totals = [p.total / MIB for p in peaks]
    worst = max(peaks, key=lambda p: p.total)
    return {
        "median": round(statistics.median(totals), 1),
        "max": round(max(totals), 1),
        "by_command_at_max": {k: round(v / MIB, 1) for k, v in sorted(worst.by_command.items())},
    }


def where_create_time_goes(env: dict[str, str], flavor: str) -> list[dict[str, Any]]:
    """One create with engine progress on, each progress line stamped with its second."""
    start = time.monotonic()
    proc = subprocess.Popen(
        ["devctl", "--debug", "create", "profiled", "--wait", "-f", flavor],  # the engine's own
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.strip():
            lines.append({"t": round(time.monotonic() - start, 2), "line": line.rstrip()[:160]})
    proc.wait()
    lines.append({"t": round(time.monotonic() - start, 2), "line": f"exit {proc.returncode}"})
    sh("devctl", "-q", "delete", "profiled", "--yes", env=env)
    return lines


def phases(timeline: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds from devctl's start to the milestones of one create's engine output."""
    marks = {
        "engine_update_started": lambda line: line.startswith("Updating ("),
        "deployment_created": lambda line: "apps/v1:Deployment" in line and " created (" in line,
        "service_created": lambda line: "core/v1:Service" in line and " created (" in line,
        "devctl_exit": lambda line: line.startswith("exit "),
    }
    return {
        name: next((x["t"] for x in timeline if test(x["line"].strip())), -1.0)
        for name, test in marks.items()
    }


def labelled_deployments(count: int, offset: int) -> str:
    """``count`` Deployments with DevServer labels and 0 replicas (listing reads labels only)."""
    items = []
    for i in range(offset, offset + count):
        name = f"l{i}"
        selector = {"app.kubernetes.io/name": "devserver", "devservers.dev/owner": USER,
                    SERVER_LABEL: name}  # fmt: skip
        labels = {**selector, "app.kubernetes.io/managed-by": "devservers",
                  "devservers.dev/stack": f"{USER}.{name}",
                  "devservers.dev/flavor": "cpu-small"}  # fmt: skip
        items.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels,
                         "annotations": {"devservers.dev/expiry": "2099-01-01T00:00:00Z"}},
            "spec": {"replicas": 0, "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": selector},
                                  "spec": {"containers": [{"name": "s", "image": "none"}]}}},
        })  # fmt: skip
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def listing(env: dict[str, str], sizes: list[int], runs: int = 5) -> dict[str, Any]:
    """Devctl list -o json beside kubectl get deployments -A -l … at each size."""
    out: dict[str, Any] = {}
    have = 0
    for size in sizes:
        if size > have:
            sh("kubectl", "apply", "--server-side", "-f", "-",
               stdin=labelled_deployments(size - have, have))  # fmt: skip
            have = size
        ours, theirs, ours_all = [], [], []
        for _ in range(runs):  # interleaved: both see the same load
            ours.append(timed("devctl", "list", "-o", "json", env=env))
            theirs.append(
                timed("kubectl", "get", "deployments", "-A", "-l", OWNER_SELECTOR, "-o", "json")
            )
            ours_all.append(timed("devctl", "list", "-A", "-o", "json", env=env))
        listed = json.loads(sh("devctl", "list", "-o", "json", env=env))
        if len(listed) != size:
            raise SystemExit(f"devctl list saw {len(listed)} servers, expected {size}")
        row = {
            "devctl_list": summary(ours),
            "devctl_list_all_users": summary(ours_all),
            "kubectl_get": summary(theirs),
        }
        row["ratio"] = ratio(row["devctl_list"], row["kubectl_get"])
        out[str(size)] = row
    out["breakdown"] = list_in_process(env)  # at the largest size
    sh("kubectl", "delete", "deployments", "-n", NAMESPACE, "-l", OWNER_SELECTOR, "--wait=true")
    return out


LIST_STEPS = ("typer", "kubernetes", "devservers.stacks", "list_call")
_LIST_PROFILE = """
import time
t = [time.perf_counter()]
import typer
t.append(time.perf_counter())
import kubernetes.client
t.append(time.perf_counter())
from devservers.stacks import list_servers, load_settings
t.append(time.perf_counter())
list_servers(load_settings())
t.append(time.perf_counter())
print(*(b - a for a, b in zip(t, t[1:])))
"""


def list_in_process(env: dict[str, str], runs: int = 5) -> dict[str, Any]:
    """Where devctl list's time goes: each import in turn, then the API call itself."""
    samples: list[list[float]] = [[] for _ in LIST_STEPS]
    for _ in range(runs):
        for column, value in zip(
            samples, sh(sys.executable, "-c", _LIST_PROFILE, env=env).split(), strict=True
        ):
            column.append(float(value))
    return {step: summary(column) for step, column in zip(LIST_STEPS, samples, strict=True)}


def parallel(env: dict[str, str], workers: list[int], jobs: int) -> dict[str, Any]:
    """Creates ``jobs`` servers with each worker count; servers per minute and peak RSS."""
    out: dict[str, Any] = {}
    for count in workers:
        names = [f"p{count}x{i}" for i in range(jobs)]
        start = time.monotonic()
        with (
            sampling(os.getpid(), interval=0.2) as peak,
            concurrent.futures.ThreadPoolExecutor(count) as pool,
        ):
            list(pool.map(lambda n: sh("devctl", "-q", "create", n, "-f", FAKE_FLAVOR, env=env),
                          names))  # fmt: skip
        elapsed = time.monotonic() - start
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda n: sh("devctl", "-q", "delete", n, "--yes", env=env), names))
        out[str(count)] = {
            "jobs": jobs,
            "seconds": round(elapsed, 1),
            "servers_per_minute": round(60 * jobs / elapsed, 2),
            "peak_rss_mib_all_workers": round(peak.total / MIB, 1),
        }
        print(f"  {count} workers: {out[str(count)]}", file=sys.stderr)
    return out


REAPER = [sys.executable, "-m", "devservers.reaper", "--once", "-o", "json", "-n", NAMESPACE]


def reaper_pass(env: dict[str, str], size: int, runs: int = 5) -> dict[str, Any]:
    """The reaper at ``size`` servers: a dry-run pass with none expired, then one reaping 10 %.

    The ``size`` servers are labelled Deployments (the scan reads labels and
    annotations only); the expired 10 % are real servers with a one-minute TTL,
    destroyed by one real pass at the default parallel limit.
    """
    sh("kubectl", "apply", "--server-side", "-f", "-", stdin=labelled_deployments(size, 0))
    whole, in_pass = [], []
    for _ in range(runs):
        start = time.monotonic()
        dry = json.loads(sh(*REAPER, "--dry-run", env=env))
        whole.append(time.monotonic() - start)
        in_pass.append(dry["duration_seconds"])
        if dry["servers"] != size or dry["results"]:
            raise SystemExit(f"reaper dry run saw {dry['servers']} servers, acted on some")
    expiring = [f"r{i}" for i in range(max(1, size // 10))]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        made = pool.map(
            lambda n: sh("devctl", "-q", "create", n, "--ttl", "1m", "--no-wait", "-o", "json",
                         "-f", FAKE_FLAVOR, env=env), expiring)  # fmt: skip
        last = max(json.loads(out)["server"]["expiry"] for out in made)
    expiry = datetime.fromisoformat(last.replace("Z", "+00:00"))
    time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 1)
    start = time.monotonic()
    reaped = json.loads(sh(*REAPER, env=env))
    seconds = time.monotonic() - start
    deleted = sum(r["state"] == "deleted" for r in reaped["results"])
    if deleted != len(expiring):
        raise SystemExit(f"reaper deleted {deleted} of {len(expiring)}: {reaped['results']}")
    sh("kubectl", "delete", "deployments", "-n", NAMESPACE, "-l", OWNER_SELECTOR, "--wait=true")
    return {
        "servers": size,
        "dry_run_process": summary(whole),
        "dry_run_pass": summary(in_pass),
        "reaped": deleted,
        "reap_process_seconds": round(seconds, 2),
        "reap_pass_seconds": reaped["duration_seconds"],
    }


def ssh_data_path(env: dict[str, str]) -> dict[str, Any]:
    """One server on the real node: scp/rsync throughput and connect latency (see datapath)."""
    sh("devctl", "-q", "create", "dp", "--wait", env=env)
    try:
        return data_path(env, NAMESPACE, "dp")
    finally:
        sh("devctl", "-q", "delete", "dp", "--yes", env=env)


def compile_bytecode() -> None:
    """Byte-compiles the environment and the sources, as an installed package is.

    Without it, a machine with ``PYTHONDONTWRITEBYTECODE`` set recompiles every
    module on every devctl start (seconds), and the figures would measure that.
    """
    repo = Path(__file__).resolve().parent.parent
    site = next(Path(sys.prefix).glob("lib/python*/site-packages"))
    dirs = [str(site)] + [str(repo / d) for d in ("components", "stacks", "cli", "reaper")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *dirs], check=False)


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
        "python": platform.python_version(),
        "pulumi": sh("pulumi", "version").strip(),
        "kubectl": json.loads(sh("kubectl", "version", "--client", "-o", "json"))["clientVersion"][
            "gitVersion"
        ],
        "note": "nothing else ran on the machine on purpose; see the load average",
    }


def real_node() -> bool:
    """Whether the cluster has a Ready node that runs pods for real (not one of kwok's)."""
    nodes = json.loads(sh("kubectl", "get", "nodes", "-o", "json"))["items"]
    return any(
        (n["metadata"].get("annotations") or {}).get("kwok.x-k8s.io/node") != "fake"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
        for n in nodes
    )


STEPS = (
    "startup",
    "create_delete",
    "lifecycle",
    "create_timeline",
    "ssh_data_path",
    "listing",
    "reaper",
    "idle_pass",
    "parallel_create",
)


def main() -> None:
    """Runs every step, cleans up, writes the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="of extend/stop/start/repair")
    parser.add_argument("--list-sizes", default="50,200")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--jobs", type=int, default=4, help="creates per worker count")
    parser.add_argument("--steps", default=",".join(STEPS), help="a subset, comma-separated")
    parser.add_argument("--out", default="latest", help="results/<OUT>.{json,md}")
    args = parser.parse_args()
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="devservers-bench-"))
    env = devctl_env(work)
    sh("kubectl", "create", "namespace", NAMESPACE)
    real = real_node()
    flavor = "cpu-small" if real else FAKE_FLAVOR
    sizes = [int(n) for n in args.list_sizes.split(",")]
    results: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "make bench  # python bench/run.py " + " ".join(sys.argv[1:]),
        "machine": {**machine(), "real_node": real},
    }
    pods = PodWatch(NAMESPACE, os.environ.get("KUBECONFIG"))
    try:
        steps = {
            "startup": lambda: startup(env),
            "create_delete": lambda: create_delete(env, args.servers, flavor, pods),
            "lifecycle": lambda: lifecycle(env, args.rounds, flavor, pods),
            "create_timeline": lambda: where_create_time_goes(env, flavor),
            "ssh_data_path": lambda: ssh_data_path(env) if real else None,
            "listing": lambda: listing(env, sizes),
            "reaper": lambda: reaper_pass(env, max(sizes)),
            "idle_pass": lambda: idle_pass(REAPER, env, USER, NAMESPACE, max(sizes), summary),
            "parallel_create": lambda: parallel(
                env, [int(n) for n in args.workers.split(",")], args.jobs),
        }  # fmt: skip
        for key in args.steps.split(","):
            print(f"{key}…", file=sys.stderr)
            results[key] = steps[key]()
        if "listing" in results:
            results["listing_breakdown"] = results["listing"].pop("breakdown")
        if "create_timeline" in results:
            results["create_phases"] = phases(results["create_timeline"])
    finally:
        pods.stop()
        sh("kubectl", "delete", "namespace", NAMESPACE, "--wait=false")
        shutil.rmtree(work, ignore_errors=True)
    results["finished"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(report.markdown(results))
    print(report.markdown(results))
    print(report.verdicts(results))


if __name__ == "__main__":
    main()
