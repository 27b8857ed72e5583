#!/usr/bin/env python3
"""The HA benchmark: shipmate_slack_bench on SQLite and PostgreSQL, alternating, as a table.

    bench/ha_series.py [--runs 5] [--in-flight 1,32] [--rate 5000] [--configs sqlite,pg1,pg2]
                       [--kill-runs 3] [--lease 6s] [BUILD ...]

Configurations: `sqlite` (one replica on SQLite, the default store), `pg1` (one replica on a
throwaway PostgreSQL 15, which runs with fsync and synchronous_commit off), `pg2` (two replicas
sharing one); `pg1d` and `pg2d` the same with --durable (fsync and synchronous_commit on). Round r runs every in-flight level,
and at each level every configuration against every BUILD (a `shipmate` binary; default
build-release/shipmate; a relative path is taken from the current directory) in turn, the builds'
order reversed every other round, so a drift of the shared host (or a run's effect on the next)
hits all of them alike. The load average (1 minute) is read before each run and printed with it
and in the table.

--rate N (several: 2500,5000) adds open-loop levels: the bench's --rate, commands sent at N per
second on a fixed schedule and each latency counted from its scheduled time (the warm-up runs
closed-loop at 32 in flight). Given --rate without --in-flight, only the open-loop levels run.
A run that cannot keep up fails the series, saying so.

Then --kill-runs runs of two replicas on PostgreSQL where the first is SIGKILLed half-way through
the window (at 32 in flight): kill to takeover (the survivor logs that it adopted the dead
replica's work), kill until the last command outstanding at the kill was answered, and the
slowest reply of a command sent within 1 s of the kill.
"""
import argparse
import os

import slack_series
from slack_series import in_turn, spread

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = {
    "sqlite": [],
    "pg1": ["--postgres"],
    "pg2": ["--postgres", "--replicas", "2"],
    "pg1d": ["--postgres", "--durable"],
    "pg2d": ["--postgres", "--durable", "--replicas", "2"],
}


def run_bench(bench, build, extra, in_flight, commands, warmup):
    """slack_series' run, with the load average read before it and commits per second."""
    load = os.getloadavg()[0]
    result = slack_series.run_bench(bench, build, in_flight, commands, warmup, extra)
    result["load"] = load
    # SQLite has no commit counter here (the bench reports -1): 0 in the table.
    result["commits_per_s"] = max(result["commits_per_command"], 0) * result["commands_per_s"]
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="*")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--in-flight", default=None,
                        help="closed-loop levels (default 1,32; none when --rate is given)")
    parser.add_argument("--rate", default="",
                        help="open-loop levels, commands per second (e.g. 5000)")
    parser.add_argument("--configs", default="sqlite,pg1,pg2")
    parser.add_argument("--commands", type=int, default=0,
                        help="per run; default 5000 at 1 in flight, 20000 otherwise")
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--kill-runs", type=int, default=3)
    parser.add_argument("--lease", default="6s", help="replica_lease of the kill runs (the bot's default)")
    parser.add_argument("--bench", default=os.path.join(HERE, "..", "build-release", "bench",
                                                        "shipmate_slack_bench"))
    options = parser.parse_args()
    # Absolute: the bench starts each replica in a temporary directory of its own.
    builds = [os.path.abspath(build) for build in options.builds] or [
        os.path.normpath(os.path.join(HERE, "..", "build-release", "shipmate"))]
    bench = os.path.abspath(options.bench)
    in_flight = options.in_flight if options.in_flight is not None else (
        "" if options.rate else "1,32")
    # A level: (label, in flight, extra bench options).
    levels = [(f"{level:>2} in flight", level, []) for level in
              (int(text) for text in in_flight.split(",") if text)]
    levels += [(f"{rate}/s open loop", 32, ["--rate", str(rate)]) for rate in
               (int(text) for text in options.rate.split(",") if text)]
    if not levels:
        raise SystemExit("ha_series: no level to run (--in-flight and --rate are both empty)")
    configs = options.configs.split(",")
    for config in configs:
        if config not in CONFIGS:
            raise SystemExit(f"ha_series: unknown configuration {config} ({', '.join(CONFIGS)})")
    results = {}
    for round_number in range(options.runs):
        for label, level, extra in levels:
            commands = options.commands or (5000 if level == 1 and not extra else 20000)
            for config in configs:
                for build in in_turn(builds, round_number):
                    result = run_bench(bench, build, CONFIGS[config] + extra, level, commands,
                                       options.warmup)
                    results.setdefault((config, build, label), []).append(result)
                    print(f"round {round_number + 1} {label} {config} {build}: "
                          f"{result['commands_per_s']:.0f}/s, ack p50 "
                          f"{result['ack_ms']['p50']:.2f} p99 {result['ack_ms']['p99']:.2f} ms, "
                          f"replicas {result['shipmate_cpu_us_per_command']:.1f} us/command, "
                          f"PostgreSQL {result['postgres_cpu_us_per_command']:.1f} us/command, "
                          f"{result['commits_per_s']:.0f} commits/s, load {result['load']:.2f}"
                          + (f", sequential scans {result['seq_scans']}"
                             if result.get("seq_scans") else ""),
                          flush=True)
    kills = []
    for run in range(options.kill_runs):
        for build in in_turn(builds, run):
            commands = options.commands or 20000
            result = run_bench(bench, build,
                               CONFIGS["pg2"] + ["--kill-after", str(commands // 2), "--lease",
                                                 options.lease], 32, commands, options.warmup)
            kills.append((build, result))
            print(f"kill run {run + 1} {build}: takeover {result['takeover_ms']:.0f} ms, "
                  f"last outstanding answered {result['answered_after_kill_ms']:.0f} ms, "
                  f"slowest reply near the kill {result['slowest_reply_near_kill_ms']:.0f} ms, "
                  f"load {result['load']:.2f}", flush=True)
    print()
    print("| configuration | build | load offered | commands/s | ack p50 ms | ack p99 ms "
          "| replicas CPU µs/command | PostgreSQL CPU µs/command | commits/s | load (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, _, _ in levels:
        for config in configs:
            for build in builds:
                runs = results[(config, build, label)]
                print(f"| {config} | {build} | {label.strip()} "
                      f"| {spread([r['commands_per_s'] for r in runs], 0)} "
                      f"| {spread([r['ack_ms']['p50'] for r in runs], 2)} "
                      f"| {spread([r['ack_ms']['p99'] for r in runs], 2)} "
                      f"| {spread([r['shipmate_cpu_us_per_command'] for r in runs], 0)} "
                      f"| {spread([r['postgres_cpu_us_per_command'] for r in runs], 0)} "
                      f"| {spread([r['commits_per_s'] for r in runs], 0)} "
                      f"| {spread([r['load'] for r in runs], 1)} |")
    for build in builds:
        mine = [r for b, r in kills if b == build]
        if mine:
            print(f"failover ({build}, lease {options.lease}, {len(mine)} runs): kill to takeover "
                  f"{spread([r['takeover_ms'] for r in mine], 0)} ms, last outstanding answered "
                  f"{spread([r['answered_after_kill_ms'] for r in mine], 0)} ms, slowest reply near the "
                  f"kill {spread([r['slowest_reply_near_kill_ms'] for r in mine], 0)} ms, load "
                  f"{spread([r['load'] for r in mine], 1)}")


if __name__ == "__main__":
    main()
