"""Incremental-run benchmark (README "Performance"): the cost of one 5-minute scheduled run
on a 2-hour folder, reading everything the window needs (full) or with `--state` kept by the
previous run (incremental, only the newest 5 minutes' files new). Prints medians, peak memory,
what each read and whether the answers agree.

    python3 benches/incremental.py BINARY DATA_DIR [--rounds N]

Run through `benches/incremental`, which builds the binary and makes the data set. Not part of
the test suite.
"""

import argparse
import glob
import gzip
import json
import os
import shutil
import statistics
import sys

from throughput import measure

END = "2026-01-15T20:00:00Z"
BEFORE = "2026-01-15T19:55:00Z"
START_S = 1768500000  # 2026-01-15T18:00:00Z
SLOT_S = 300


def slice_into_deliveries(synth_dir, logs_dir):
    """Rewrites hourly synth files as CloudFront-like deliveries: each source file's rows
    split into 5-minute files (`<dist>.<yyyy-mm-dd-hh>.s<slot>e<file>.gz`)."""
    os.makedirs(logs_dir)
    for e, path in enumerate(sorted(glob.glob(os.path.join(synth_dir, "*.gz")))):
        header, slots = [], {}
        with gzip.open(path, "rt") as f:
            for line in f:
                if line.startswith("#"):
                    header.append(line)
                    continue
                hh, mm = int(line[11:13]), int(line[14:16])
                slot = min(((hh - 18) * 3600 + mm * 60) // SLOT_S, 23)
                slots.setdefault(slot, []).append(line)
        for slot, rows in slots.items():
            hour = 18 + slot // 12
            name = f"E2BENCH0EXAMPLE.2026-01-15-{hour:02d}.s{slot:02d}e{e}.gz"
            with gzip.open(os.path.join(logs_dir, name), "wt", compresslevel=6) as out:
                out.writelines(header + rows)


def score(binary, logs, now, state=None):
    cmd = [binary, "-q", "score", logs, "--now", now, "--lookback", "10", "--format", "json"]
    if state:
        cmd += ["--state", state]
    return measure(cmd)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("data")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    logs, synth = os.path.join(a.data, "logs"), os.path.join(a.data, "synth")
    if not os.path.isdir(logs):
        slice_into_deliveries(synth, logs)
    # The state the previous run (19:55, before the last 5 minutes arrived) leaves behind.
    prepared = os.path.join(a.data, "state-1955")
    newest = sorted(glob.glob(os.path.join(logs, "*.s23e*.gz")))
    if not os.path.isdir(prepared):
        held = os.path.join(a.data, "held")
        os.makedirs(held, exist_ok=True)
        for f in newest:
            shutil.move(f, held)
        score(a.binary, logs, BEFORE, prepared)
        for f in sorted(glob.glob(os.path.join(held, "*.gz"))):
            shutil.move(f, logs)
    files = glob.glob(os.path.join(logs, "*.gz"))
    size = sum(os.path.getsize(f) for f in files)
    full, inc = [], []
    answers = set()
    for _ in range(a.rounds):
        wall, rss, out = score(a.binary, logs, END)
        full.append((wall, rss))
        report_full = json.loads(out)
        state = os.path.join(a.data, "state-round")
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(prepared, state)
        wall, rss, out = score(a.binary, logs, END, state)
        inc.append((wall, rss))
        report_inc = json.loads(out)
        answers.add(json.dumps(report_full["sessions"]) == json.dumps(report_inc["sessions"]))
    if answers != {True}:
        sys.exit("the incremental run's sessions differ from the full run's")
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    fs, ist = report_full["stats"], report_inc["stats"]
    print(f"data: {len(files)} files, {size / 1e6:.0f} MB gzipped, 2 hours in 5-minute "
          f"deliveries; {os.cpu_count()} cores; {a.rounds} rounds, medians")
    print(f"answers agree: {report_full['flagged']} flagged of {report_full['sessions_scored']} "
          f"scored, same sessions and scores")
    print("| 5-minute run at 20:00 (10-min lookback) | wall | peak RSS | objects from logs "
          "| bytes fetched |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| full read | {med(full, 0):.2f} s | {med(full, 1):.0f} MiB | "
          f"{fs['objects_read']} of {fs['objects_read']} | {fs['bytes_read'] / 1e6:.1f} MB |")
    print(f"| --state (previous run's) | {med(inc, 0):.2f} s | {med(inc, 1):.0f} MiB | "
          f"{ist['objects_read'] - ist.get('objects_from_state', 0)} of {ist['objects_read']} | "
          f"{ist['bytes_read'] / 1e6:.1f} MB |")
    print(f"incremental / full = {med(inc, 0) / med(full, 0):.2f}; state: "
          f"{sum(os.path.getsize(f) for f in glob.glob(os.path.join(prepared, '**', '*.parquet'), recursive=True)) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
