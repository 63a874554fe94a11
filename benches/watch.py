"""Real-time detection benchmark (docs/realtime.md "Benchmark"): `autorevoke watch` over a
local Kinesis stream holding a synthetic 10,000-viewer event with planted shares.

    python benches/watch.py BINARY BENCH_DIR --endpoint URL [--speed X] [--shards N]
                            [--minutes M] [--every SECONDS]

BENCH_DIR/synth holds `autorevoke synth` output (W3C logs; the truth file beside it,
BENCH_DIR/synth.truth.csv). Two phases:

1. Sustained rate: the whole event is put into a stream first; `watch --exit-when-caught-up
   --every 1s` reads it and scores the window once. Records/s is records over watch's wall time; CPU is its user+system time over the
   same time (1.0 = one core busy); peak memory is its maximum resident set.
2. Detection latency: `watch` runs while the generator puts the event into a second stream at
   its real rate (`--speed` times it), each record at its event time. For each planted share,
   latency is from the moment the generator put the share's first request to the moment
   watch wrote its revocation (the item's `last_updated`); a share watch never flags is
   counted as missed. Printed as p50 and max, with how many shares the window flagged.

Run through `benches/watch`, which builds the binary, makes the data set and starts moto.
Not part of the test suite. moto keeps every record in memory and its GetRecords walks a
shard from its start, so the stream server, not watch, may bound the rate: the script prints
the generator's put rate beside watch's read rate.
"""

import argparse
import calendar
import csv
import glob
import gzip
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import boto3

# The default real-time log configuration's 45 fields, in record order (src/cloudfront/realtime.rs).
FIELDS = (
    "timestamp c-ip time-to-first-byte sc-status sc-bytes cs-method cs-protocol cs-host "
    "cs-uri-stem cs-bytes x-edge-location x-edge-request-id x-host-header time-taken "
    "cs-protocol-version c-ip-version cs-user-agent cs-referer cs-cookie cs-uri-query "
    "x-edge-response-result-type x-forwarded-for ssl-protocol ssl-cipher x-edge-result-type "
    "fle-encrypted-fields fle-status sc-content-type sc-content-len sc-range-start sc-range-end "
    "c-port x-edge-detailed-result-type c-country cs-accept-encoding cs-accept "
    "cache-behavior-path-pattern cs-headers cs-header-names cs-headers-count "
    "primary-distribution-id primary-distribution-dns-name origin-fbl origin-lbl asn"
).split()
W3C_NAME = {
    "cs-host": "cs(Host)",
    "cs-user-agent": "cs(User-Agent)",
    "cs-referer": "cs(Referer)",
    "cs-cookie": "cs(Cookie)",
}


def records(synth_dir):
    """The event's requests as real-time records: (epoch second, session id, record), by time."""
    out = []
    for path in sorted(glob.glob(os.path.join(synth_dir, "**", "*.gz"), recursive=True)):
        fields = []
        with gzip.open(path, "rt") as f:
            for n, line in enumerate(f):
                line = line.rstrip("\n")
                if line.startswith("#Fields:"):
                    fields = line.split()[1:]
                    continue
                if not line or line.startswith("#"):
                    continue
                row = dict(zip(fields, line.split("\t")))
                ts = calendar.timegm(time.strptime(row["date"] + " " + row["time"], "%Y-%m-%d %H:%M:%S"))
                uri = row.get("cs-uri-stem", "-")
                session = uri.split("/")[1].split(".")[0] if uri.count("/") > 1 else ""
                values = [
                    "%d.%03d" % (ts, n % 1000) if name == "timestamp" else row.get(W3C_NAME.get(name, name), "-")
                    for name in FIELDS
                ]
                out.append((ts, session, "\t".join(values) + "\n"))
    out.sort(key=lambda r: r[0])
    return out


def planted(synth_dir):
    with open(synth_dir.rstrip("/") + ".truth.csv") as f:
        return {r["session_id"] for r in csv.DictReader(f) if r["shared"] == "true"}


def put(kinesis, stream, batch):
    entries = [{"Data": rec.encode(), "PartitionKey": "k%d" % (hash(rec) & 0xFFFFFF)} for rec in batch]
    while entries:
        out = kinesis.put_records(StreamName=stream, Records=entries)
        entries = [e for e, r in zip(entries, out["Records"]) if "ErrorCode" in r]


def make_stream(kinesis, name, shards):
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)


def watch_command(args, stream, table, checkpoint, every, extra):
    return [
        args.binary, "watch", "--stream", stream, "--table", table, "--checkpoint", checkpoint,
        "--every", "%ds" % every, "--lookback", str(args.lookback), "--endpoint-url", args.endpoint,
    ] + extra


def run_watch(cmd, stop_when=None):
    """Runs watch; returns (wall seconds, user+sys seconds, peak RSS in MiB, stderr lines)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    if stop_when is not None:
        stop_when()
        proc.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    reader.join(timeout=5)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("watch failed:\n" + "".join(lines[-20:]))
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, lines


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("bench_dir")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--speed", type=float, default=1.0, help="put the event this many times faster than real time")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--minutes", type=int, default=6)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--lookback", type=int, default=5)
    args = p.parse_args()

    synth = os.path.join(args.bench_dir, "synth")
    recs = records(synth)
    shares = planted(synth)
    print(f"event: {len(recs)} records over {(recs[-1][0] - recs[0][0]) / 60:.1f} min, "
          f"{len(shares)} planted shares", flush=True)
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
    kinesis = session.client("kinesis", endpoint_url=args.endpoint)
    ddb = session.client("dynamodb", endpoint_url=args.endpoint)
    tag = "%d" % time.time()

    # Phase 1: a backlog, read as fast as watch goes.
    stream, table = f"bench-backlog-{tag}", f"bench-backlog-{tag}"
    make_stream(kinesis, stream, args.shards)
    subprocess.run([args.binary, "-q", "init", "--table", table, "--rule-group", table,
                    "--endpoint-url", args.endpoint], check=True, stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    for i in range(0, len(recs), 500):
        put(kinesis, stream, [r[2] for r in recs[i:i + 500]])
    put_rate = len(recs) / (time.monotonic() - t0)
    wall, cpu, rss, _ = run_watch(watch_command(args, stream, table, f"{args.bench_dir}/ckpt-{tag}-1",
                                                1, ["--exit-when-caught-up"]))
    print(f"sustained: {len(recs) / wall:,.0f} records/s read and scored "
          f"({len(recs)} in {wall:.1f} s; the generator put {put_rate:,.0f}/s), "
          f"CPU {cpu / wall:.2f} cores, peak memory {rss:.0f} MiB", flush=True)

    # Phase 2: live, at the event's rate times --speed.
    stream, table = f"bench-live-{tag}", f"bench-live-{tag}"
    make_stream(kinesis, stream, args.shards)
    subprocess.run([args.binary, "-q", "init", "--table", table, "--rule-group", table,
                    "--endpoint-url", args.endpoint], check=True, stdout=subprocess.DEVNULL)
    first_put = {}
    done = threading.Event()

    def generate():
        start_wall, start_event = time.time(), recs[0][0]
        i = 0
        while i < len(recs):
            due = start_event + (time.time() - start_wall) * args.speed
            batch = []
            while i < len(recs) and recs[i][0] <= due and len(batch) < 500:
                ts, sid, rec = recs[i]
                if sid in shares and sid not in first_put:
                    first_put[sid] = time.time()
                batch.append(rec)
                i += 1
            if batch:
                put(kinesis, stream, batch)
            else:
                time.sleep(0.05)
        done.set()

    def until_done():
        generate()
        time.sleep(args.every + 10)

    wall, cpu, rss, lines = run_watch(watch_command(args, stream, table, f"{args.bench_dir}/ckpt-{tag}-2",
                                                    args.every, []),
                                      stop_when=until_done)
    written = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            written[item["session_id"]["S"]] = int(item["last_updated"]["N"])
    latencies = sorted(written[s] - first_put[s] for s in shares if s in written and s in first_put)
    missed = len(shares) - len(latencies)
    ticks = [l for l in lines if l.startswith("autorevoke watch: window ")]
    durations = sorted(float(l.rsplit("tick ", 1)[1].split()[0]) for l in ticks)
    print(f"live at {args.speed:g}x: {len(ticks)} ticks (p50 {statistics.median(durations or [0]):.2f} s, "
          f"max {max(durations or [0]):.2f} s), CPU {cpu / wall:.2f} cores, peak memory {rss:.0f} MiB")
    if latencies:
        print(f"detection latency (first request of a share -> its revocation written): "
              f"p50 {statistics.median(latencies):.0f} s, max {latencies[-1]:.0f} s over "
              f"{len(latencies)} shares ({missed} not flagged)")
    else:
        print(f"no planted share was flagged ({missed} missed)")
    false_positives = sorted(set(written) - shares)
    print(f"false positives: {len(false_positives)}")


if __name__ == "__main__":
    main()
