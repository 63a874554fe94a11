"""Re-cuts a `synth` folder into CloudFront-like deliveries for the incremental rows of
benches/throughput: each hourly file's rows split by their time into 2-minute files
(`<dist>.<yyyy-mm-dd-hh of the source file>.d<slot>e<source>.gz`, slot 00 = 19:40 to 19:42,
..., slot 09 = 19:58 to 20:00 and the rows of 20:00:00 itself). The rows, their order within a
file and the hour each file names are the source's, so a full read of the deliveries gives the
same answer as a full read of the source; only the objects differ (ten times as many, each a
tenth of the size). Rows a source file holds late (synth writes some into the next hour's
file) stay in that hour's deliveries.

    python3 benches/deliveries.py SYNTH_DIR OUT_DIR

Writes OUT_DIR/logs/ (made once, through OUT_DIR/logs.partial, by benches/throughput). Not
part of the test suite.
"""

import argparse
import glob
import gzip
import os
import shutil

SLOT_S = 120  # a delivery every 2 minutes
FIRST_S = 19 * 3600 + 40 * 60  # 19:40:00, the first instant of the synth sets' 20 minutes
SLOTS = 10


def slot_of(line):
    """The 2-minute slot of a log line (`YYYY-MM-DD<TAB>HH:MM:SS<TAB>...`)."""
    secs = int(line[11:13]) * 3600 + int(line[14:16]) * 60 + int(line[17:19]) - FIRST_S
    return min(max(secs // SLOT_S, 0), SLOTS - 1)


def cut(synth_dir, logs_dir):
    partial = logs_dir + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    for e, path in enumerate(sorted(glob.glob(os.path.join(synth_dir, "*.gz")))):
        dist, hour = os.path.basename(path).split(".")[:2]
        header, slots = [], {}
        with gzip.open(path, "rb") as f:
            for line in f:
                if line.startswith(b"#"):
                    header.append(line)
                else:
                    slots.setdefault(slot_of(line), []).append(line)
        for slot, rows in sorted(slots.items()):
            name = f"{dist}.{hour}.d{slot:02d}e{e:03d}.gz"
            with gzip.open(os.path.join(partial, name), "wb", compresslevel=6) as out:
                out.writelines(header + rows)
    os.rename(partial, logs_dir)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("synth")
    p.add_argument("out")
    a = p.parse_args()
    logs = os.path.join(a.out, "logs")
    if not os.path.isdir(logs):
        os.makedirs(a.out, exist_ok=True)
        cut(a.synth, logs)


if __name__ == "__main__":
    main()
