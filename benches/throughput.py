"""Throughput benchmark (README "Performance"): autorevoke `score` against the limit
(`benches/inflate_limit.rs`: libdeflate, the library autorevoke links, inflating every object
on every core and finding its lines and TABs with memchr), the gunzip command
(libdeflate-gunzip, one process per core, for reference), and DuckDB and chDB running the same
scoring SQL, on one `synth` data set, in alternation. Prints medians, peak memory and ratios,
and fails when the answers differ.

With --tenfold, autorevoke on ten times the viewers (scale: time and peak memory against the
base set) and the same run under --memory-limit below what its sessions need (an archive
larger than memory must complete); these take long, so they run in the first --large-rounds
rounds only. With --deliveries, the incremental path: a scheduled run at 20:00 with the state
the 19:58 run left, against a read of only its new objects and a full read (see
benches/deliveries.py and state_run below).

    python3 benches/throughput.py BINARY DATA_DIR [--limit LIMIT_BINARY] [--double DATA_DIR_2X]
                                  [--tenfold DATA_DIR_10X] [--tenfold-memory-limit SIZE]
                                  [--large-rounds N] [--deliveries DIR]
                                  [--rounds N] [--duckdb-python PY] [--chdb-python PY]

Run through `benches/throughput`, which builds the binary, installs the tools and makes the
data sets. Not part of the test suite.
"""

import argparse
import glob
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def attempt(cmd):
    """As measure, for a run that may fail: returns (wall seconds, peak RSS in MiB, stdout or
    None, and when it failed the end of its stderr)."""
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        if os.waitstatus_to_exitcode(status) == 0:
            return wall, usage.ru_maxrss / 1024, out.decode(), None
        err.seek(0)
        lines = err.read().decode(errors="replace").split("\n")
        reason = " ".join(line.strip() for line in lines if line.strip())
        return wall, usage.ru_maxrss / 1024, None, (
            f"exit {os.waitstatus_to_exitcode(status)}: {reason}")


# The incremental rows (--deliveries, made by benches/deliveries.py from the base set: every
# hourly file cut into 2-minute deliveries, so the folder holds the same rows as the base set
# in ten times the objects). A scheduled run every 2 minutes: the 19:58 run read every
# delivery but those of the last slot (d09, 19:58 to 20:00) and left its state; the 20:00 run
# finds the d09 objects new and takes the others from that state. Each round starts from a
# copy of the 19:58 state (made once per binary: a projection is only taken by a build that
# hashes keys the same way), so every round reads the same new objects.
BEFORE = "2026-01-15T19:58:00Z"
NEWEST = "*.d09e*.gz"


def inflated(files):
    """Inflated bytes of single-member gzip files (synth's), from their ISIZE trailers."""
    total = 0
    for path in files:
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            total += int.from_bytes(f.read(4), "little")
    return total


def score_cmd(binary, logs, now=NOW, extra=()):
    return [binary, "-q", "score", logs, "--now", now, "--lookback", "10", "--format", "json",
            *extra]


def prepared_state(binary, deliveries):
    """The state the 19:58 run leaves: made with its newest objects moved aside (the state
    names objects by their path, so the run must see the same folder), kept beside the
    folder, and remade when the binary changes."""
    logs = os.path.join(deliveries, "logs")
    held = os.path.join(deliveries, "held")
    state = os.path.join(deliveries, "state-1958")
    stamp = os.path.join(deliveries, "state-1958.binary-sha256")
    for f in glob.glob(os.path.join(held, "*.gz")):  # an interrupted preparation
        shutil.move(f, logs)
    # In chunks: measure() takes the peak RSS from wait4, which counts this process's own
    # memory at the fork, so this process must stay small.
    sha = hashlib.sha256()
    with open(binary, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    digest = sha.hexdigest()
    if os.path.isdir(state) and os.path.exists(stamp) and open(stamp).read() == digest:
        return state
    shutil.rmtree(state, ignore_errors=True)
    os.makedirs(held, exist_ok=True)
    for f in glob.glob(os.path.join(logs, NEWEST)):
        shutil.move(f, held)
    try:
        measure(score_cmd(binary, logs, BEFORE, ["--state", state]))
    finally:
        for f in glob.glob(os.path.join(held, "*.gz")):
            shutil.move(f, logs)
    with open(stamp, "w") as f:
        f.write(digest)
    return state


def warm_page_cache(paths):
    """Reads files once, untimed, so that a set measured in one round starts from the page
    cache as the sets repeated each round do (the first read of 5.5 GB from disk took a
    third longer than the next)."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


def state_run(binary, deliveries, prepared, extra=()):
    """The 20:00 run on a fresh copy of the 19:58 state (the copy is not timed)."""
    state = os.path.join(deliveries, "state-round")
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(prepared, state)
    try:
        return measure(score_cmd(binary, os.path.join(deliveries, "logs"), NOW,
                                 [*extra, "--state", state]))
    finally:
        shutil.rmtree(state, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("data")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--double", help="the same traffic model with twice the viewers (scaling)")
    ap.add_argument("--limit", help="the benches/inflate_limit.rs executable")
    ap.add_argument("--duckdb-python", default=sys.executable)
    ap.add_argument("--chdb-python", help="a Python with chdb (default: --duckdb-python)")
    ap.add_argument("--tenfold", help="the same traffic model with ten times the viewers")
    ap.add_argument("--tenfold-memory-limit", default="256MiB", metavar="SIZE",
                    help="--memory-limit of the tenfold run that must complete with less "
                         "memory than its sessions take")
    ap.add_argument("--large-rounds", type=int, default=1, metavar="N",
                    help="the tenfold runs are made in the first N rounds only (default 1)")
    ap.add_argument("--deliveries", help="benches/deliveries.py's cut of DATA_DIR (the "
                                         "incremental rows)")
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
    # Scale: ten times the viewers, then the same under a memory limit below what its
    # sessions take (a greedy pool; a query that needs more fails naming its consumers).
    # Long, so only in the first --large-rounds rounds.
    large = set()
    if a.tenfold:
        large = {"tenfold", "tight"}
        runs["tenfold"], runs["tight"] = [], []
        plan.append(("tenfold", score_cmd(a.binary, a.tenfold, extra=a.extra)))
        plan.append(("tight", score_cmd(a.binary, a.tenfold, extra=[
            *a.extra, "--memory-limit", a.tenfold_memory_limit])))
    tight_failure = None
    # Incremental: the full read of the deliveries (for reference; the state run must give
    # its answer), only the 20:00 run's new objects, and the 20:00 run with the 19:58 state.
    if a.deliveries:
        logs = os.path.join(a.deliveries, "logs")
        new = os.path.join(a.deliveries, "new")
        if not os.path.isdir(new):
            os.makedirs(new + ".partial", exist_ok=True)
            for f in glob.glob(os.path.join(logs, NEWEST)):
                link = os.path.join(new + ".partial", os.path.basename(f))
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(f), link)
            os.rename(new + ".partial", new)
        prepared = prepared_state(a.binary, a.deliveries)
        runs["full"], runs["new"], runs["state"] = [], [], []
        plan += [("full", score_cmd(a.binary, logs, extra=a.extra)),
                 ("new", score_cmd(a.binary, new, extra=a.extra)),
                 ("state", lambda: state_run(a.binary, a.deliveries, prepared, a.extra))]
    reports = {}
    answers = {}
    for round_ in range(a.rounds):
        for name, cmd in plan:
            if name in large and round_ >= a.large_rounds:
                continue
            if name == "tenfold":
                warm_page_cache(glob.glob(os.path.join(a.tenfold, "*.gz")))
            if name == "tight":
                wall, rss, out, failed = attempt(cmd)
                tight_failure = tight_failure or failed
            else:
                wall, rss, out = cmd() if callable(cmd) else measure(cmd)
            runs[name].append((wall, rss))
            if out is None:
                pass
            elif name in ("autorevoke", "viewers", "double", "tenfold", "tight", "full", "new",
                          "state"):
                r = json.loads(out)
                answers[name] = (r["flagged"], r["sessions_scored"], r["stats"]["rows_read"],
                                 r["stats"]["rows_in_scope"])
                if name in ("full", "state"):
                    reports[name] = r
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
    if a.tenfold:
        big = glob.glob(os.path.join(a.tenfold, "*.gz"))
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        print(f"tenfold: {len(big)} files, {sum(os.path.getsize(f) for f in big) / 1e9:.1f} GB "
              f"gzipped, {inflated(big) / 1e9:.1f} GB inflated (this machine has "
              f"{ram / 1e9:.1f} GB of memory), {answers['tenfold'][2]:,} rows; its two runs are "
              f"made in the first {min(a.large_rounds, a.rounds)} of the {a.rounds} rounds "
              f"(--large-rounds), after one untimed read of its files")
    if a.deliveries:
        cut = glob.glob(os.path.join(a.deliveries, "logs", "*.gz"))
        fresh = glob.glob(os.path.join(a.deliveries, "logs", NEWEST))
        print(f"deliveries: the data set in {len(cut)} 2-minute objects "
              f"({sum(os.path.getsize(f) for f in cut) / 1e6:.0f} MB gzipped); the 20:00 run's "
              f"{len(fresh)} new ones ({sum(os.path.getsize(f) for f in fresh) / 1e6:.0f} MB) hold "
              f"{answers['new'][2]:,} rows, {answers['new'][2] / answers['full'][2]:.1%}")
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
    if a.tenfold:
        t, n = answers["tenfold"], len(runs["tenfold"])
        once = f"; {n} run" + ("s, median" if n > 1 else "")
        labels.append(("tenfold",
                       f"autorevoke score, ten times the viewers ({t[2]:,} rows{once})"))
        labels.append(("tight", f"the same, --memory-limit {a.tenfold_memory_limit}"
                                f"{' (FAILED)' if tight_failure else ''}{once}"))
    if a.deliveries:
        f = reports["full"]["stats"]
        st = reports["state"]["stats"]
        new_objects = len(glob.glob(os.path.join(a.deliveries, "new", "*.gz")))
        labels += [("full", f"incremental: full read of the {f['objects_read']} 2-minute "
                            f"deliveries ({f['rows_read']:,} rows)"),
                   ("new", f"incremental: only the 20:00 run's {new_objects} new objects "
                           f"({answers['new'][2]:,} rows)"),
                   ("state", f"incremental: the 20:00 run, --state of the 19:58 run "
                             f"({st['objects_read'] - st.get('objects_from_state', 0)} from the "
                             f"logs, {st.get('objects_from_state', 0)} from the state)")]
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
    if a.tenfold:
        rows = answers["tenfold"][3] / answers["autorevoke"][3]
        print(f"ten times the data: {rows:.2f}x the rows in scope, "
              f"{med['tenfold'] / med['autorevoke']:.2f}x the time (target <= 10.5), "
              f"peak RSS {peak['tenfold']:.0f} MiB (target <= 1024); tenfold flagged "
              f"{answers['tenfold'][0]} of {answers['tenfold'][1]} scored")
        if tight_failure:
            print(f"larger than memory: --memory-limit {a.tenfold_memory_limit} on the tenfold "
                  f"set (unlimited it peaks at {peak['tenfold']:.0f} MiB) FAILED after "
                  f"{med['tight']:.2f} s (target: completes): {tight_failure}")
        else:
            same = "same answer" if answers["tight"] == answers["tenfold"] else "ANSWER DIFFERS"
            print(f"larger than memory: --memory-limit {a.tenfold_memory_limit} on the tenfold "
                  f"set (unlimited it peaks at {peak['tenfold']:.0f} MiB) completed in "
                  f"{med['tight']:.2f} s, {peak['tight']:.0f} MiB peak, {same} "
                  f"(target: completes)")
    if a.deliveries:
        print(f"--state / new objects only = {med['state'] / med['new']:.2f} (target <= 1.5): "
              f"state run {med['state']:.2f} s, new objects only {med['new']:.2f} s; "
              f"full read {med['full']:.2f} s (state / full = "
              f"{med['state'] / med['full']:.2f}); state run flagged {answers['state'][0]} "
              f"of {answers['state'][1]} scored, full read {answers['full'][0]} of "
              f"{answers['full'][1]}")
    upstream = answers["autorevoke"][:2]
    differ = [k for k in ("duckdb", "chdb") if answers[k] != upstream]
    if a.deliveries:
        # The deliveries hold the base set's rows: the full read must give its answer, and
        # the state run the full read's, session by session.
        differ += [k for k in ("full", "state") if answers[k] != answers["autorevoke"]]
        if reports["state"]["sessions"] != reports["full"]["sessions"]:
            differ.append("state (sessions)")
    if a.tenfold and not tight_failure and answers["tight"] != answers["tenfold"]:
        differ.append("tight")
    if differ:
        sys.exit(f"answers differ: autorevoke {upstream}, "
                 + ", ".join(f"{k} {answers.get(k.split()[0])}" for k in differ))


if __name__ == "__main__":
    main()
