"""Throughput benchmark (README "Performance"): autorevoke `score` against the limit
(`benches/inflate_limit.rs`: libdeflate, the library autorevoke links, inflating every object
on every core and finding its lines and TABs with memchr), the gunzip command
(libdeflate-gunzip, one process per core, for reference), and DuckDB and chDB running the same
scoring SQL, on one `synth` data set, in alternation. Prints medians, peak memory and ratios,
and fails when the answers differ.

    python3 benches/throughput.py BINARY DATA_DIR [--limit LIMIT_BINARY] [--double DATA_DIR_2X]
                                  [--rounds N] [--duckdb-python PY] [--chdb-python PY]

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


# The same query in ClickHouse's dialect, for chDB. TabSeparatedRaw reads TABs and newlines
# only, like DuckDB's quote = '' and escape = '' (TabSeparated would unescape backslashes);
# the setting input_format_tsv_skip_first_lines drops the two #Version and #Fields lines of
# each file, and missing trailing columns become empty as DuckDB's null_padding does.
# DuckDB's median interpolates, as quantileExactInclusive(0.5) does (ClickHouse's median is
# approximate). `[.]` is `\.` without ClickHouse's string-literal escaping.
CHDB_SQL = r"""
WITH logs AS (
    SELECT
        toDateTimeOrNull(c00 || ' ' || c01, 'UTC') AS ts,
        c04 AS request_ip,
        c07 AS uri,
        toInt32OrNull(c08) AS status,
        toUInt64OrNull(c03) AS bytes,
        c09 AS referrer,
        c10 AS user_agent,
        extract(c07, '^/([A-Za-z0-9_-]{1,128})[.][^./]+[.][^./]+[.][^/]+/') AS session_id
    FROM file('@GLOB@', 'TabSeparatedRaw', '@COLUMNS@', 'gzip')
),
in_scope AS (
    SELECT * FROM logs
    WHERE status IN (200, 206) AND bytes > 1024
      AND ts >= toDateTime('@FROM@', 'UTC') AND ts <= toDateTime('@TO@', 'UTC')
      AND session_id <> ''
),
sessions AS (
    SELECT session_id,
           uniqExact(request_ip, uri) AS pairs,
           uniqExact(request_ip) AS ips,
           uniqExact(user_agent) AS uas,
           uniqExact(referrer) AS refs,
           toInt64(toUnixTimestamp(max(ts))) - toInt64(toUnixTimestamp(min(ts))) AS duration_s
    FROM in_scope GROUP BY session_id
),
rated AS (
    SELECT *, if(duration_s > 0, pairs / duration_s, NULL) AS rate FROM sessions
),
scored AS (
    SELECT *, rate / quantileExactInclusive(0.5)(rate) OVER () AS ip_rate,
           count() OVER () AS n
    FROM rated
)
SELECT countIf(n >= 3 AND duration_s >= 30
               AND ip_rate + (ips > 1) + (refs > 1) + (uas > 1) > 2.2) AS flagged,
       countIf(n >= 3 AND duration_s >= 30) AS scored
FROM scored
SETTINGS input_format_tsv_skip_first_lines = 2,
         input_format_tsv_allow_variable_number_of_columns = 1,
         max_threads = @THREADS@
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
    ap.add_argument("--limit", help="the benches/inflate_limit.rs executable")
    ap.add_argument("--duckdb-python", default=sys.executable)
    ap.add_argument("--chdb-python", help="a Python with chdb (default: --duckdb-python)")
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
    ch_columns = ", ".join(f"c{i:02} String" for i in range(33))
    ch_sql = (CHDB_SQL.replace("@GLOB@", os.path.join(a.data, "*.gz"))
              .replace("@COLUMNS@", ch_columns).replace("@FROM@", FROM).replace("@TO@", TO)
              .replace("@THREADS@", str(cores)))
    chdb = [a.chdb_python or a.duckdb_python, "-c",
            "import chdb, sys, json; "
            "r = chdb.query(sys.argv[1], 'JSONCompact'); "
            "print(json.dumps(json.loads(r.bytes())['data'][0]))", ch_sql]

    runs = {"autorevoke": [], "viewers": [], "ceiling": [], "duckdb": [], "chdb": []}
    plan = [("autorevoke", ours), ("viewers", [*ours, "--rules", "viewers"]),
            ("ceiling", ceiling), ("duckdb", duck), ("chdb", chdb)]
    if a.limit:
        runs["limit"] = []
        plan.insert(0, ("limit", [a.limit, a.data]))
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
            elif name in ("duckdb", "chdb"):
                answers[name] = tuple(json.loads(out.strip().splitlines()[-1]))
            elif name == "limit":
                answers[name] = json.loads(out)
            print(f"  {name:<10} {wall:7.2f} s  {rss:7.0f} MiB", file=sys.stderr)

    med = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    peak = {k: max(r for _, r in v) for k, v in runs.items()}
    print(f"data: {len(files)} files, {compressed / 1e6:.0f} MB gzipped, "
          f"{answers['autorevoke'][2]:,} rows; {cores} cores; {a.rounds} rounds, medians")
    print(f"answers: autorevoke flagged {answers['autorevoke'][0]} of {answers['autorevoke'][1]} "
          f"scored; duckdb flagged {answers['duckdb'][0]} of {answers['duckdb'][1]}; "
          f"chdb flagged {answers['chdb'][0]} of {answers['chdb'][1]}")
    if a.limit:
        lim = answers["limit"]
        print(f"limit: {lim['objects']} objects, {lim['inflated_bytes'] / 1e9:.2f} GB inflated, "
              f"{lim['lines']:,} lines, {lim['tabs']:,} TABs, {lim['threads']} threads")
    print("| run | wall (median) | peak RSS |")
    print("| --- | ---: | ---: |")
    labels = [("ceiling", f"libdeflate-gunzip x{cores} to /dev/null"),
              ("autorevoke", "autorevoke score (10-min lookback)"),
              ("viewers", "autorevoke score --rules viewers"),
              ("duckdb", "DuckDB, same SQL, read_csv gzip"),
              ("chdb", "chDB, same SQL, file() TabSeparatedRaw gzip")]
    if a.limit:
        labels.insert(0, ("limit", "the limit: libdeflate + memchr lines and TABs, all cores"))
    if a.double:
        d = answers["double"]
        labels.append(("double", f"autorevoke score, twice the viewers ({d[2]:,} rows)"))
    for k, label in labels:
        print(f"| {label} | {med[k]:.2f} s | {peak[k]:.0f} MiB |")
    if a.limit:
        print(f"autorevoke / limit   = {med['autorevoke'] / med['limit']:.2f} (target <= 1.4)")
    print(f"autorevoke / ceiling = {med['autorevoke'] / med['ceiling']:.2f} (target <= 1.5)")
    print(f"autorevoke / duckdb  = {med['autorevoke'] / med['duckdb']:.2f} (target <= 0.33)")
    print(f"autorevoke / chdb    = {med['autorevoke'] / med['chdb']:.2f}")
    print(f"viewers / upstream   = {med['viewers'] / med['autorevoke']:.2f} (target <= 1.3); "
          f"viewers flagged {answers['viewers'][0]} of {answers['viewers'][1]} scored")
    if a.double:
        rows = answers["double"][3] / answers["autorevoke"][3]
        print(f"twice the data: {rows:.2f}x the rows in scope, "
              f"{med['double'] / med['autorevoke']:.2f}x the time (target <= 2.1)")
    upstream = answers["autorevoke"][:2]
    differ = [k for k in ("duckdb", "chdb") if answers[k] != upstream]
    if differ:
        sys.exit(f"answers differ: autorevoke {upstream}, "
                 + ", ".join(f"{k} {answers[k]}" for k in differ))


if __name__ == "__main__":
    main()
