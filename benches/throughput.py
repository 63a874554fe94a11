"""Throughput benchmark (README "Performance"): autorevoke `score` against the gunzip ceiling
(libdeflate-gunzip, one process per core) and DuckDB running the same scoring SQL, on one
`synth` data set, in alternation. Prints medians, peak memory and ratios.

    python3 benches/throughput.py BINARY DATA_DIR [--double DATA_DIR_2X] [--rounds N]
                                  [--duckdb-python PY]

Run through `benches/throughput`, which builds the binary, installs the tools and makes the
data set. Not part of the test suite.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

NOW = "2026-01-15T20:00:00Z"
FROM = "2026-01-15 19:50:00"
TO = "2026-01-15 20:00:00"

# SCORING.md's upstream profile in DuckDB's dialect, over the same gzipped files. The session
# id rule is SCORING.md's: the first path segment has four dot-separated parts and the first is
# 1 to 128 characters of [A-Za-z0-9_-].
DUCKDB_SQL = r"""
WITH logs AS (
    SELECT
        CAST(column00 || ' ' || column01 AS TIMESTAMP) AS ts,
        column04 AS request_ip,
        column07 AS uri,
        TRY_CAST(column08 AS INTEGER) AS status,
        TRY_CAST(column03 AS UBIGINT) AS bytes,
        column09 AS referrer,
        column10 AS user_agent,
        regexp_extract(column07, '^/([A-Za-z0-9_-]{1,128})\.[^./]+\.[^./]+\.[^/]+/', 1) AS session_id
    FROM read_csv('@GLOB@', compression = 'gzip', delim = '\t', header = false, skip = 2,
                  quote = '', escape = '', all_varchar = true, auto_detect = false,
                  columns = @COLUMNS@, null_padding = true, ignore_errors = true)
),
in_scope AS (
    SELECT * FROM logs
    WHERE status IN (200, 206) AND bytes > 1024
      AND ts >= TIMESTAMP '@FROM@' AND ts <= TIMESTAMP '@TO@' AND session_id <> ''
),
sessions AS (
    SELECT session_id,
           count(DISTINCT request_ip || chr(9) || uri) AS pairs,
           count(DISTINCT request_ip) AS ips,
           count(DISTINCT user_agent) AS uas,
           count(DISTINCT referrer) AS refs,
           epoch(max(ts)) - epoch(min(ts)) AS duration_s
    FROM in_scope GROUP BY session_id
),
rated AS (
    SELECT *, CASE WHEN duration_s > 0 THEN pairs / duration_s END AS rate FROM sessions
),
scored AS (
    SELECT *, rate / median(rate) OVER () AS ip_rate, count(*) OVER () AS n FROM rated
)
SELECT count(*) FILTER (WHERE n >= 3 AND duration_s >= 30
       AND ip_rate + (ips > 1)::INT + (refs > 1)::INT + (uas > 1)::INT > 2.2) AS flagged,
       count(*) FILTER (WHERE n >= 3 AND duration_s >= 30) AS scored
FROM scored
"""


def measure(cmd, **kw):
    """Runs cmd; returns (wall seconds, peak RSS in MiB of it and its children, stdout)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, **kw)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed ({status}): {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024, out.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("data")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--double", help="the same traffic model with twice the viewers (scaling)")
    ap.add_argument("--duckdb-python", default=sys.executable)
    ap.add_argument("--extra", nargs="*", default=[], help="more flags for autorevoke score")
    a = ap.parse_args()

    files = sorted(glob.glob(os.path.join(a.data, "*.gz")))
    cores = os.cpu_count() or 1
    compressed = sum(os.path.getsize(f) for f in files)
    halves = [files[i::cores] for i in range(cores)]
    # One libdeflate-gunzip per core, each inflating its share of the files to /dev/null.
    ceiling = ["sh", "-c", " & ".join(
        "libdeflate-gunzip -c " + " ".join(part) + " > /dev/null" for part in halves if part
    ) + " & wait"]
    ours = [a.binary, "-q", "score", a.data, "--now", NOW, "--lookback", "10",
            "--format", "json", *a.extra]
    columns = "{" + ", ".join(f"'column{i:02}': 'VARCHAR'" for i in range(33)) + "}"
    sql = (DUCKDB_SQL.replace("@GLOB@", os.path.join(a.data, "*.gz"))
           .replace("@COLUMNS@", columns).replace("@FROM@", FROM).replace("@TO@", TO))
    duck = [a.duckdb_python, "-c",
            "import duckdb, sys, json; "
            f"duckdb.execute('SET threads TO {cores}'); "
            "duckdb.execute('SET enable_progress_bar = false'); "
            "r = duckdb.sql(sys.argv[1]).fetchone(); print(json.dumps(r))", sql]

    runs = {"autorevoke": [], "viewers": [], "ceiling": [], "duckdb": []}
    plan = [("ceiling", ceiling), ("autorevoke", ours),
            ("viewers", [*ours, "--rules", "viewers"]), ("duckdb", duck)]
    if a.double:
        runs["double"] = []
        plan.append(("double", [a.binary, "-q", "score", a.double, "--now", NOW,
                                "--lookback", "10", "--format", "json", *a.extra]))
    answers = {}
    for _ in range(a.rounds):
        for name, cmd in plan:
            wall, rss, out = measure(cmd)
            runs[name].append((wall, rss))
            if name in ("autorevoke", "viewers", "double"):
                r = json.loads(out)
                answers[name] = (r["flagged"], r["sessions_scored"], r["stats"]["rows_read"],
                                 r["stats"]["rows_in_scope"])
            elif name == "duckdb":
                answers[name] = tuple(json.loads(out.strip().splitlines()[-1]))
            print(f"  {name:<10} {wall:7.2f} s  {rss:7.0f} MiB", file=sys.stderr)

    med = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    peak = {k: max(r for _, r in v) for k, v in runs.items()}
    print(f"data: {len(files)} files, {compressed / 1e6:.0f} MB gzipped, "
          f"{answers['autorevoke'][2]:,} rows; {cores} cores; {a.rounds} rounds, medians")
    print(f"answers: autorevoke flagged {answers['autorevoke'][0]} of {answers['autorevoke'][1]} "
          f"scored; duckdb flagged {answers['duckdb'][0]} of {answers['duckdb'][1]}")
    print("| run | wall (median) | peak RSS |")
    print("| --- | ---: | ---: |")
    labels = [("ceiling", f"libdeflate-gunzip x{cores} to /dev/null"),
              ("autorevoke", "autorevoke score (10-min lookback)"),
              ("viewers", "autorevoke score --rules viewers"),
              ("duckdb", "DuckDB, same SQL, read_csv gzip")]
    if a.double:
        d = answers["double"]
        labels.append(("double", f"autorevoke score, twice the viewers ({d[2]:,} rows)"))
    for k, label in labels:
        print(f"| {label} | {med[k]:.2f} s | {peak[k]:.0f} MiB |")
    print(f"autorevoke / ceiling = {med['autorevoke'] / med['ceiling']:.2f} (target <= 1.5)")
    print(f"autorevoke / duckdb  = {med['autorevoke'] / med['duckdb']:.2f} (target <= 0.33)")
    print(f"viewers / upstream   = {med['viewers'] / med['autorevoke']:.2f} (target <= 1.3); "
          f"viewers flagged {answers['viewers'][0]} of {answers['viewers'][1]} scored")
    if a.double:
        rows = answers["double"][3] / answers["autorevoke"][3]
        print(f"twice the data: {rows:.2f}x the rows in scope, "
              f"{med['double'] / med['autorevoke']:.2f}x the time (target <= 2.1)")


if __name__ == "__main__":
    main()
