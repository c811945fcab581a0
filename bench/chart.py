"""Draws bench/results/results.json as a PNG: the project against the crhelper peer, one panel per figure."""

import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(source, target):
    results = json.load(open(source))
    ours, peer, ours_plain, peer_plain = results["subjects"][:4]
    panels = [
        ("init, Lambda-like env (ms, median)", statistics.median(ours_plain["init_ms"]), statistics.median(peer_plain["init_ms"])),
        ("first event CPU (ms, median)", statistics.median(ours["first_cpu_ms"]), statistics.median(peer["first_cpu_ms"])),
        ("warm event wall (ms, median)", ours["warm_wall_median_ms"], peer["warm_wall_median_ms"]),
        ("warm event CPU (ms, mean)", ours["warm_cpu_ms"], peer["warm_cpu_ms"]),
        ("peak memory after warm run (MiB)", ours["warm_rss_kib"] / 1024, peer["warm_rss_kib"] / 1024),
        ("load: 600 resources, 20% throttled (s)", ours["load_seconds"], peer["load_seconds"]),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    # A figure a run did not measure (the peer's warm CPU time with too few warm events) leaves its panel empty.
    panels = [(title, a, b) for title, a, b in panels if a is not None and b is not None]
    for ax, (title, a, b) in zip(axes.flat, panels):
        bars = ax.bar(["cfn-sagemaker-autoscaling", "Python + crhelper"], [a, b], color=["#d9480f", "#1c7ed6"])
        ax.set_title(title, fontsize=10)
        ax.bar_label(bars, labels=[f"{a:.3g}", f"{b:.3g}"], fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_ylim(0, max(a, b) * 1.2)
    fig.suptitle(f"make bench: {results['runs']} cold starts, {results['warm']} warm events (lower is better)")
    fig.tight_layout()
    fig.savefig(target, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
