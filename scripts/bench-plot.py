#!/usr/bin/env python3
"""Draws the benchmark report's plots from docs/benchmarks.json.

Usage: bench-plot.py BENCHMARKS_JSON OUT_DIR
Writes p1-latency.png, p1-vs-n.png, p3-memory.png and p5-lag.png.
"""
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    ("chancery", "delta"): dict(color="#1b6ca8", linestyle="-"),
    ("chancery", "sotw"): dict(color="#1b6ca8", linestyle="--"),
    ("baseline", "delta"): dict(color="#c0392b", linestyle="-"),
    ("baseline", "sotw"): dict(color="#c0392b", linestyle="--"),
}


def clients(scale):
    m = re.match(r"(clients|rate)=(\d+)", scale or "")
    return int(m.group(2)) if m else None


def metric_series(report, phase, name):
    """(server, mode) -> sorted [(n, value)] for one metric across scales."""
    out = {}
    for m in report["metrics"]:
        if m["phase"] == phase and m["name"] == name and "/" not in m.get("server", ""):
            n = clients(m.get("scale"))
            if n is not None:
                out.setdefault((m["server"], m.get("mode", "")), []).append((n, m["value"]))
    return {k: sorted(v) for k, v in out.items()}


def latency_cdf(report, out):
    series = report.get("series", {})
    p1 = [k for k in series if k.startswith("P1/")]
    if not p1:
        return
    largest = max(clients(k.split("/")[3]) for k in p1)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    pct = list(range(101))
    for key in sorted(p1):
        _, server, mode, scale = key.split("/")
        if clients(scale) != largest:
            continue
        ax.plot(series[key], pct, label=f"{server} {mode}", **STYLE.get((server, mode), {}))
    for key in series:
        if key.startswith("floor/"):
            ax.plot(series[key], pct, label="etcd watcher alone (floor)", color="#555555", linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("Put returned → client ACK (ms, log scale)")
    ax.set_ylabel("percentile")
    ax.set_title(f"P1 propagation, {largest} clients")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "p1-latency.png"), dpi=110)
    plt.close(fig)


def propagation_vs_n(report, out):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    drawn = False
    for ax, name, title in ((axes[0], "propagation_p50", "p50"), (axes[1], "propagation_p99", "p99")):
        for (server, mode), pts in sorted(metric_series(report, "P1", name).items()):
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{server} {mode}", **STYLE.get((server, mode), {}))
            drawn = True
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("clients")
        ax.set_title(f"P1 propagation {title}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms (log scale)")
    axes[0].legend()
    fig.tight_layout()
    if drawn:
        fig.savefig(os.path.join(out, "p1-vs-n.png"), dpi=110)
    plt.close(fig)


def memory_vs_n(report, out):
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    drawn = False
    panels = (
        (axes[0], "rss", "replica RSS (MiB)"),
        (axes[1], "rss_per_client", "RSS per idle client (KiB)"),
        (axes[2], "rss_settled_per_client", "settled RSS per idle client (KiB)"),
    )
    for ax, name, label in panels:
        for (server, mode), pts in sorted(metric_series(report, "P3", name).items()):
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{server} {mode}", **STYLE.get((server, mode), {}))
                drawn = True
        ax.set_xscale("log")
        ax.set_xlabel("connected idle clients")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes[1:]:
        ax.axhline(32, color="#2e7d32", linewidth=1, label="target 32 KiB")
        ax.set_ylim(bottom=0)
    axes[0].legend()
    axes[1].legend()
    fig.suptitle("P3 memory")
    fig.tight_layout()
    if drawn:
        fig.savefig(os.path.join(out, "p3-memory.png"), dpi=110)
    plt.close(fig)


def lag_vs_rate(report, out):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = False
    for name, style in (("lag_p50", "-"), ("lag_p99", "--"), ("lag_max", ":")):
        for (server, mode), pts in sorted(metric_series(report, "P5", name).items()):
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", linestyle=style, color="#1b6ca8", label=f"{server} {mode} {name[4:]}")
            drawn = True
    ax.axhline(250, color="#2e7d32", linewidth=1, label="target p99 250 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("endpoint writes per second")
    ax.set_ylabel("lag, Put returned → ACK (ms)")
    ax.set_title("P5 endpoint churn")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    if drawn:
        fig.savefig(os.path.join(out, "p5-lag.png"), dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        report = json.load(f)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name in ("p1-latency.png", "p1-vs-n.png", "p3-memory.png", "p5-lag.png"):
        # a plot this run has no data for must not survive from an earlier run
        if os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
    latency_cdf(report, out)
    propagation_vs_n(report, out)
    memory_vs_n(report, out)
    lag_vs_rate(report, out)


if __name__ == "__main__":
    main()
