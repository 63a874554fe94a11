"""Cluster benchmark (README "Running on Ballista"): one `score` of a synthetic set on the
local engine, on a standalone Ballista (scheduler and executor in the process) and on a
scheduler with two executor processes, all on this machine's loopback. Prints medians and
checks the answers are byte-identical.

    python3 benches/cluster.py BINARY DATA_DIR [--rounds N] [--slots N]

Run through `benches/cluster`, which builds the binary and makes the data set. Not part of the
test suite.
"""

import argparse
import glob
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from throughput import measure

NOW = "2026-01-15T20:00:00Z"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(binary, work, executors, slots):
    """Starts a scheduler and `executors` executors; returns (url, processes)."""
    port = free_port()
    procs = []
    log = open(os.path.join(work, "cluster.log"), "w")
    procs.append(subprocess.Popen([binary, "scheduler", "--bind", f"127.0.0.1:{port}"],
                                  stdout=log, stderr=log))
    for i in range(executors):
        wd = os.path.join(work, f"executor-{i}")
        os.makedirs(wd, exist_ok=True)
        procs.append(subprocess.Popen(
            [binary, "executor", "--scheduler", f"127.0.0.1:{port}",
             "--bind", f"127.0.0.1:{free_port()}", "--grpc-port", str(free_port()),
             "--slots", str(slots), "--work-dir", wd], stdout=log, stderr=log))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/executors") as r:
                if len(json.load(r)) == executors:
                    return f"df://127.0.0.1:{port}", procs
        except OSError:
            pass
        time.sleep(0.2)
    stop(procs)
    sys.exit("the cluster did not start (see cluster.log)")


def peak_rss_mib(pid):
    """The peak resident memory of a running process (Linux), in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("data")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--slots", type=int, default=2, help="task slots per executor")
    a = p.parse_args()
    synth = os.path.join(a.data, "synth")
    files = glob.glob(os.path.join(synth, "*.gz"))
    size = sum(os.path.getsize(f) for f in files)
    url, procs = start_cluster(a.binary, a.data, 2, a.slots)
    try:
        base = [a.binary, "-q", "score", synth, "--now", NOW, "--all", "--format", "csv"]
        runs = {"local": [], "standalone": [], "2 executors": []}
        answers = {}
        for _ in range(a.rounds):
            for name, extra in [("local", []), ("standalone", ["--cluster", "standalone"]),
                                ("2 executors", ["--cluster", url])]:
                wall, rss, out = measure(base + extra)
                runs[name].append((wall, rss))
                answers.setdefault(name, set()).add(out)
        executors_rss = [peak_rss_mib(p.pid) for p in procs[1:]]
    finally:
        stop(procs)
    if len({frozenset(v) for v in answers.values()}) != 1 or any(len(v) != 1 for v in answers.values()):
        sys.exit("the answers differ")
    rows = len(next(iter(answers["local"])).splitlines()) - 1
    print(f"data: {len(files)} files, {size / 1e6:.0f} MB gzipped; {os.cpu_count()} cores; "
          f"{a.rounds} rounds, medians; executors with {a.slots} slots each, on this machine")
    print(f"answers: byte-identical CSV, {rows} sessions")
    print("| where | wall | peak RSS of the client |")
    print("| --- | ---: | ---: |")
    for name, xs in runs.items():
        print(f"| {name} | {statistics.median(x[0] for x in xs):.2f} s | "
              f"{statistics.median(x[1] for x in xs):.0f} MiB |")
    print("executors' peak RSS over all rounds: "
          + ", ".join(f"{r:.0f} MiB" for r in executors_rss))


if __name__ == "__main__":
    main()
