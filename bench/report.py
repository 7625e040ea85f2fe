"""The short Markdown table of one benchmark run, with the goals it is judged against."""

from __future__ import annotations

from typing import Any


def _goal(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "**missed**")


def _s(summary: dict[str, Any]) -> str:
    return f"{summary['median']:.2f} s (p95 {summary['p95']:.2f})"


def markdown(r: dict[str, Any]) -> str:
    """Results as Markdown: one table of figures, one of goals, then the machine."""
    cd, st, m = r["create_delete"], r["startup"], r["machine"]
    rows = [
        ("create→Ready (devctl)", _s(cd["devctl_create"]), f"n={cd['devctl_create']['n']}"),
        ("create→Ready (kubectl apply + rollout status)", _s(cd["kubectl_apply_rollout"]), ""),
        ("create ratio", f"{cd['create_ratio']}×", "goal ≤ 2.5×"),
        ("delete (devctl)", _s(cd["devctl_delete"]), f"n={cd['devctl_delete']['n']}"),
        ("delete (kubectl delete --wait)", _s(cd["kubectl_delete"]), ""),
        ("delete ratio", f"{cd['delete_ratio']}×", ""),
    ]
    ph = r["create_phases"]
    rows.append(
        (
            "one create, seconds from start",
            ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ph.items()),
            "engine output timestamps",
        )
    )
    for size, row in r["listing"].items():
        rows += [
            (f"devctl list -o json, N={size}", _s(row["devctl_list"]), ""),
            (f"devctl list -A -o json, N={size}", _s(row["devctl_list_all_users"]), ""),
            (f"kubectl get deployments -A -l …, N={size}", _s(row["kubectl_get"]), ""),
            (f"list ratio, N={size}", f"{row['ratio']}×", "goal ≤ 1.5× at 200"),
        ]
    lb = r["listing_breakdown"]  # import typer, kubernetes, devservers, then the call
    rows += [(f"  devctl list, in process: {step}", _s(lb[step]), "") for step in lb]
    rp = r["reaper"]
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
    dp = r["ssh_data_path"]
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
    for workers, row in r["parallel_create"].items():
        rows.append(
            (
                f"parallel create, {workers} worker(s)",
                f"{row['servers_per_minute']} servers/min",
                f"{row['jobs']} creates in {row['seconds']} s; "
                f"peak RSS {row['peak_rss_mib_all_workers']} MiB",
            )
        )
    rss = cd["peak_rss_mib"]
    parts = ", ".join(f"{k} {v}" for k, v in rss["create"]["by_command_at_max"].items())
    rows += [
        ("peak RSS, one create", f"{rss['create']['median']} MiB", f"max {rss['create']['max']}"),
        ("  by process (MiB)", parts, ""),
        ("peak RSS, one delete", f"{rss['delete']['median']} MiB", f"max {rss['delete']['max']}"),
        ("devctl --help", _s(st["devctl_help"]), "goal ≤ 0.3 s"),
        ("python -c pass", _s(st["python_pass"]), ""),
    ]
    at_200 = r["listing"].get("200")
    goals = [
        (
            "scp and rsync through devctl ≥ 0.8× kubectl port-forward",
            f"{dp['scp_256mib']['ratio']}× / {dp['rsync_256mib']['ratio']}×",
            _goal(min(dp["scp_256mib"]["ratio"], dp["rsync_256mib"]["ratio"]) >= 0.8),
        ),
        ("create→Ready ≤ 2.5× kubectl", f"{cd['create_ratio']}×", _goal(cd["create_ratio"] <= 2.5)),
        (
            "list at 200 ≤ 1.5× kubectl get",
            f"{at_200['ratio']}×" if at_200 else "not run",
            _goal(at_200["ratio"] <= 1.5 if at_200 else None),
        ),
        (
            f"reaper dry-run at {rp['servers']} ≤ 2 s",
            f"{rp['dry_run_process']['median']:.2f} s",
            _goal(rp["dry_run_process"]["median"] <= 2),
        ),
        (
            "devctl --help ≤ 0.3 s",
            f"{st['devctl_help']['median']:.2f} s",
            _goal(st["devctl_help"]["median"] <= 0.3),
        ),
    ]
    lines = [
        f"# Benchmark {r['started']}",
        "",
        f"Command: `{r['command']}`. Machine: {m['cpus']} CPUs, {m['memory_gib']} GiB, "
        f"load average {m['load_average_1_5_15']} at the start; {m['note']}. "
        f"Pulumi {m['pulumi']}, kubectl {m['kubectl']}, Python {m['python']}. "
        "Medians with p95 in brackets; every devctl figure was taken interleaved with "
        "its kubectl baseline in the same run.",
        "",
        "| measure | value | notes |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "| goal | result | |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in goals],
        "",
    ]
    return "\n".join(lines)
