#!/usr/bin/env python3
"""Alternating runs of shipmate_slack_bench, summarised as medians and ranges.

    bench/slack_series.py --runs 8 --in-flight 1,8,32 [--commands N] [--syscalls]
                          BUILD [BUILD ...]

Each BUILD is a `shipmate` binary. Round r runs every in-flight level against every build in
turn, in reverse order every other round (A, B, B, A, A, B, ...), so a drift of the shared host
and a run's effect on the next hit all of them alike. The medians of
bot CPU per command are the figure to compare on a busy machine; throughput moves with the
host. With --syscalls one extra run per build and level counts system calls under strace
(load-independent; that run's times are not used).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_bench(bench, build, in_flight, commands, warmup, extra=()):
    """One run of the bench (`extra`: more of its options); its JSON line, or exit saying why."""
    args = [bench, "--shipmate", build, "--in-flight", str(in_flight), "--commands",
            str(commands), "--warmup", str(warmup)] + list(extra)
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        sys.stderr.write(out)
        raise SystemExit(f"{' '.join(args)} failed")
    result = json.loads(lines[-1])
    if not result.get("clean"):
        sys.stderr.write(out)
        raise SystemExit(f"{' '.join(args)} was not clean")
    return result


def in_turn(builds, round_number):
    """The builds in this round's order: the first goes first in even rounds, last in odd ones.

    A run's neighbour moves its numbers (caches, the disk's write-back, the load a previous run
    left), so a fixed order would favour one build in every round."""
    return list(builds) if round_number % 2 == 0 else list(reversed(builds))


def spread(values, digits):
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="+")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--in-flight", default="1,8,32")
    parser.add_argument("--commands", type=int, default=0,
                        help="per run; default 10000 at 1 in flight, 30000 otherwise")
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--syscalls", action="store_true")
    parser.add_argument("--bench", default=os.path.join(HERE, "..", "build-release", "bench",
                                                        "shipmate_slack_bench"))
    options = parser.parse_args()
    levels = [int(level) for level in options.in_flight.split(",")]
    results = {(build, level): [] for build in options.builds for level in levels}
    counts = {}
    for round_number in range(options.runs):
        for level in levels:
            commands = options.commands or (10000 if level == 1 else 30000)
            for build in in_turn(options.builds, round_number):
                result = run_bench(options.bench, build, level, commands, options.warmup)
                results[(build, level)].append(result)
                print(f"round {round_number + 1} {level:>2} in flight {build}: "
                      f"{result['commands_per_s']:.0f}/s, "
                      f"{result['shipmate_cpu_us_per_command']:.1f} us/command, "
                      f"ack p99 {result['ack_ms']['p99']:.2f} ms, "
                      f"reply p99 {result['reply_ms']['p99']:.2f} ms", flush=True)
    if options.syscalls:
        for level in levels:
            for build in options.builds:
                result = run_bench(options.bench, build, level, 5000, options.warmup, ["--syscalls"])
                counts[(build, level)] = result
    print()
    print("| build | in flight | commands/s | bot CPU µs/command | ack p99 ms | reply p99 ms "
          "| peak RSS MB | system calls/command |")
    print("|---|---|---|---|---|---|---|---|")
    for level in levels:
        for build in options.builds:
            runs = results[(build, level)]
            calls = counts.get((build, level))
            calls_text = (f"{calls['syscalls_per_command']:.1f}" if calls else "")
            print(f"| {build} | {level} "
                  f"| {spread([r['commands_per_s'] for r in runs], 0)} "
                  f"| {spread([r['shipmate_cpu_us_per_command'] for r in runs], 0)} "
                  f"| {spread([r['ack_ms']['p99'] for r in runs], 2)} "
                  f"| {spread([r['reply_ms']['p99'] for r in runs], 2)} "
                  f"| {statistics.median(r['shipmate_peak_rss_kb'] for r in runs) / 1024:.1f} "
                  f"| {calls_text} |")
    for (build, level), calls in counts.items():
        detail = ", ".join(f"{name} {each:.2f}" for name, each in calls["syscalls"].items()
                           if each >= 0.05)
        print(f"system calls, {level} in flight, {build}: "
              f"{calls['syscalls_per_command']:.2f} ({detail})")


if __name__ == "__main__":
    main()
