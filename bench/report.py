"""The short Markdown table of one benchmark run, with the goals it is judged against."""

from __future__ import annotations

from typing import Any


def _goal(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "**missed**")


def _s(summary: dict[str, Any]) -> str:
    return f"{summary['median']:.2f} s (p95 {summary['p95']:.2f})"


def _figures(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows of the figures table, for the steps that ran."""
    rows: list[tuple[str, str, str]] = []
    cd = r.get("create_delete")
    if cd:
        rows += [
            ("create→Ready (devctl)", _s(cd["devctl_create"]), f"n={cd['devctl_create']['n']}"),
            ("create→Ready (kubectl apply + rollout status)", _s(cd["kubectl_apply_rollout"]), ""),
            ("create ratio", f"{cd['create_ratio']}×", "goal ≤ 8×"),
            ("delete (devctl)", _s(cd["devctl_delete"]), f"n={cd['devctl_delete']['n']}"),
            ("delete (kubectl delete --wait)", _s(cd["kubectl_delete"]), ""),
            ("delete ratio", f"{cd['delete_ratio']}×", ""),
        ]
    ph = r.get("create_phases")
    if ph:
        rows.append(
            (
                "one create, seconds from start",
                ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ph.items()),
                "engine output timestamps",
            )
        )
    for size, row in (r.get("listing") or {}).items():
        rows += [
            (f"devctl list -o json, N={size}", _s(row["devctl_list"]), ""),
            (f"devctl list -A -o json, N={size}", _s(row["devctl_list_all_users"]), ""),
            (f"kubectl get deployments -A -l …, N={size}", _s(row["kubectl_get"]), ""),
            (f"list ratio, N={size}", f"{row['ratio']}×", "goal ≤ 2× at 200"),
        ]
    lb = r.get("listing_breakdown") or {}  # import typer, kubernetes, devservers, then the call
    rows += [(f"  devctl list, in process: {step}", _s(lb[step]), "") for step in lb]
    rows += _reaper_rows(r) + _data_path_rows(r)
    for workers, row in (r.get("parallel_create") or {}).items():
        rows.append(
            (
                f"parallel create, {workers} worker(s)",
                f"{row['servers_per_minute']} servers/min",
                f"{row['jobs']} creates in {row['seconds']} s; "
                f"peak RSS {row['peak_rss_mib_all_workers']} MiB",
            )
        )
    if cd:
        rss = cd["peak_rss_mib"]
        parts = ", ".join(f"{k} {v}" for k, v in rss["create"]["by_command_at_max"].items())
        for op in ("create", "delete"):
            rows.append(
                (f"peak RSS, one {op}", f"{rss[op]['median']} MiB", f"max {rss[op]['max']}")
            )
        rows.insert(-1, ("  by process (MiB)", parts, ""))
    st = r.get("startup")
    if st:
        rows += [
            ("devctl --help", _s(st["devctl_help"]), "goal ≤ 0.3 s"),
            ("python -c pass", _s(st["python_pass"]), ""),
        ]
    return rows


def _reaper_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    rp = r.get("reaper")
    if rp:
        rows += [
            (
                f"reaper dry-run pass, N={rp['servers']}, none expired",
                _s(rp["dry_run_process"]),
                f"whole process; the pass itself {_s(rp['dry_run_pass'])}; goal ≤ 2 s",
            ),
            (
                f"reaper pass reaping 10 %, N={rp['servers']}",
                f"{rp['reap_process_seconds']} s",
                f"{rp['reaped']} destroyed, pass {rp['reap_pass_seconds']} s",
            ),
        ]
    ip = r.get("idle_pass")
    if ip:
        rows.append(
            (
                f"reaper dry-run pass with idle checks, N={ip['servers']} running",
                _s(ip["with_idle_pass"]),
                f"without: {_s(ip['without_idle_pass'])} ({ip['ratio']}×); whole process "
                f"{_s(ip['with_idle_process'])} vs {_s(ip['without_idle_process'])}",
            )
        )
    return rows


def _data_path_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    dp = r.get("ssh_data_path")
    if not dp:
        return []
    rows = []
    for name, label, unit in (
        ("scp_256mib", "scp of 256 MiB", "MiB/s"),
        ("rsync_256mib", "rsync of 256 MiB", "MiB/s"),
        ("connect_first_command", "ssh connect → first command", "s"),
    ):
        row = dp[name]
        rows.append(
            (
                f"{label}, devctl ssh-proxy / kubectl port-forward",
                f"{row['devctl']} / {row['kubectl']} {unit}",
                f"ratio {row['ratio']}×, median of {row['n']}, same pod on the real node",
            )
        )
    return rows


def operations(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The breakdown of each operation that ran (create, delete, extend, stop, start, repair)."""
    found = dict((r.get("create_delete") or {}).get("breakdown") or {})
    found.update(r.get("lifecycle") or {})
    return found


def _n(value: float | None, unit: str = " s") -> str:
    return "–" if value is None else f"{value:.2f}{unit}"


def _breakdown_rows(r: dict[str, Any]) -> list[str]:
    rows = []
    for op, b in operations(r).items():
        counts = b["cli_by_command"].items()
        runs = ", ".join(f"{what} ×{n}" if n > 1 else what for what, n in counts)
        each = ", ".join(f"{what} {seconds:.2f}" for what, seconds in b["cli_of_median_run"])
        rows.append(
            f"| {op} | {_n(b['seconds'])} | {b['cli_runs']:g}: {runs} | {each} | "
            f"{b['api_calls']:g} ({_n(b['api_seconds'])}) | {_n(b['to_first_step'])} | "
            f"{_n(b['last_step_to_exit'])} | {_n(b['ready_to_exit'])} |"
        )
    return rows


def goals(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each goal with its figure and verdict (``n/a`` when its step did not run)."""
    cd, ops, st = r.get("create_delete"), operations(r), r.get("startup")
    at_200 = (r.get("listing") or {}).get("200")
    dp, rp = r.get("ssh_data_path"), r.get("reaper")

    def median(key: str) -> float | None:
        return cd[key]["median"] if cd else None

    def op(name: str, key: str = "seconds") -> float | None:
        return ops[name][key] if name in ops else None

    def at_most(value: float | None, bound: float, unit: str = " s") -> tuple[str, str]:
        return _n(value, unit), _goal(None if value is None else value <= bound)

    rows = [
        ("create→Ready ≤ 2.0 s", *at_most(median("devctl_create"), 2.0)),
        ("create→Ready ≤ 8× kubectl", *at_most(cd and cd["create_ratio"], 8, "×")),
        ("devctl exits ≤ 0.3 s after the pod is Ready",
         *at_most(op("create", "ready_to_exit"), 0.3)),
        ("delete ≤ 1.5 s", *at_most(median("devctl_delete"), 1.5)),
        ("extend ≤ 1.5 s", *at_most(op("extend"), 1.5)),
        ("stop ≤ 2.0 s", *at_most(op("stop"), 2.0)),
        ("start ≤ 2.0 s", *at_most(op("start"), 2.0)),
        ("list at 200 ≤ 2× kubectl get", *at_most(at_200 and at_200["ratio"], 2, "×")),
        ("devctl --help ≤ 0.3 s", *at_most(st and st["devctl_help"]["median"], 0.3)),
    ]  # fmt: skip
    if rp:
        dry = rp["dry_run_process"]["median"]
        rows.append((f"reaper dry-run at {rp['servers']} ≤ 2 s", *at_most(dry, 2)))
    if dp:
        low = min(dp["scp_256mib"]["ratio"], dp["rsync_256mib"]["ratio"])
        rows.append(
            (
                "scp and rsync through devctl ≥ 0.8× kubectl port-forward",
                f"{dp['scp_256mib']['ratio']}× / {dp['rsync_256mib']['ratio']}×",
                _goal(low >= 0.8),
            )
        )
    return rows


def markdown(r: dict[str, Any]) -> str:
    """Results as Markdown: figures, the per-operation breakdown, the goals, then the machine."""
    m = r["machine"]
    nodes = (
        "pods on the real node"
        if m.get("real_node", True)
        else "no real node: pods on kwok's fake node (Ready without running a process)"
    )
    lines = [
        f"# Benchmark {r['started']}",
        "",
        f"Command: `{r['command']}`. Machine: {m['cpus']} CPUs, {m['memory_gib']} GiB, "
        f"load average {m['load_average_1_5_15']} at the start; {m['note']}; {nodes}. "
        f"Pulumi {m['pulumi']}, kubectl {m['kubectl']}, Python {m['python']}. "
        "Medians with p95 in brackets; every devctl figure was taken interleaved with "
        "its kubectl baseline in the same run.",
        "",
        "| measure | value | notes |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in _figures(r)],
        "",
        "Per operation (medians; the CLI runs are those of the median run, seconds each; "
        "API calls are devctl's own, the provider plugin's not counted):",
        "",
        "| operation | wall | Pulumi CLI runs | each (s) | API calls (s) | start → first step "
        "| last step → exit | pod Ready → exit |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *_breakdown_rows(r),
        "",
        "| goal | result | |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in goals(r)],
        "",
    ]
    return "\n".join(lines)


def verdicts(r: dict[str, Any]) -> str:
    """One line per goal, ``met``/``missed``, for the end of the run's output."""
    return "\n".join(f"goal {name}: {value} {verdict}" for name, value, verdict in goals(r))
