#!/usr/bin/env python3
"""An independent implementation of the upstream scoring rules (the reference solution's).

Used by the test suite to check autorevoke's SQL scoring session for session. Written from the
spec alone, in plain Python, sharing no code with the engine.

usage: score_reference.py FROM TO THRESHOLD MIN_SESSIONS MIN_DURATION W_RATE W_IP W_REFERER W_UA PATH...
FROM/TO are epoch seconds (inclusive). Prints, as CSV, every scored session:
session_id,score,ip_rate,ip_penalty,referer_penalty,ua_penalty,pairs,distinct_ips,
distinct_user_agents,distinct_referers,first_seen,last_seen,flagged
and on the last line `#p50,<p50>,<sessions_in_window>`.
"""
import calendar
import gzip
import os
import re
import sys
import time

DEFAULT_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end"
).split()
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                for n in sorted(names):
                    yield os.path.join(root, n)
        else:
            yield p


def lines(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)  # handles several members
    return data.decode("ascii").split("\n")


def session_of(uri):
    parts = uri.split("/")
    if len(parts) < 2:
        return None
    token = parts[1].split(".")
    if len(token) != 4 or not SESSION_ID.match(token[0]):
        return None
    return token[0]


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    if n % 2 == 1:
        return v[n // 2]
    return (v[n // 2 - 1] + v[n // 2]) / 2


def main(argv):
    frm, to = int(argv[0]), int(argv[1])
    threshold = float(argv[2])
    min_sessions, min_duration = int(argv[3]), int(argv[4])
    w_rate, w_ip, w_ref, w_ua = (float(x) for x in argv[5:9])
    sessions = {}
    for path in files(argv[9:]):
        fields = DEFAULT_FIELDS
        for line in lines(path):
            if line.endswith("\r"):
                line = line[:-1]
            if not line:
                continue
            if line.startswith("#"):
                if line.startswith("#Fields:"):
                    fields = line[len("#Fields:"):].split()
                continue
            values = line.split("\t")
            while len(values) > len(fields) and values[-1] == "":
                values.pop()
            row = dict(zip(fields, values))
            if row["sc-status"] not in ("200", "206"):
                continue
            if int(row["sc-bytes"]) <= 1024:
                continue
            t = calendar.timegm(time.strptime(row["date"] + " " + row["time"], "%Y-%m-%d %H:%M:%S"))
            if not (frm <= t <= to):
                continue
            sid = session_of(row["cs-uri-stem"])
            if sid is None:
                continue
            s = sessions.setdefault(sid, {"pairs": set(), "ips": set(), "uas": set(), "refs": set(), "first": t, "last": t})
            s["pairs"].add((row["c-ip"], row["cs-uri-stem"]))
            s["ips"].add(row["c-ip"])
            s["uas"].add(row["cs(User-Agent)"])
            s["refs"].add(row["cs(Referer)"])
            s["first"] = min(s["first"], t)
            s["last"] = max(s["last"], t)
    rates = {}
    for sid, s in sessions.items():
        d = s["last"] - s["first"]
        if d > 0:
            rates[sid] = len(s["pairs"]) / d
    p50 = median(list(rates.values()))
    out = []
    if len(sessions) >= min_sessions:
        for sid, s in sessions.items():
            d = s["last"] - s["first"]
            if d <= 0 or d < min_duration:
                continue
            ip_rate = w_rate * rates[sid] / p50
            ip_pen = w_ip if len(s["ips"]) > 1 else 0.0
            ref_pen = w_ref if len(s["refs"]) > 1 else 0.0
            ua_pen = w_ua if len(s["uas"]) > 1 else 0.0
            score = ip_rate + ip_pen + ref_pen + ua_pen
            out.append((sid, score, ip_rate, ip_pen, ref_pen, ua_pen, len(s["pairs"]), len(s["ips"]),
                        len(s["uas"]), len(s["refs"]), s["first"], s["last"], score > threshold))
    out.sort(key=lambda r: (-r[1], r[0]))
    for r in out:
        print(",".join(repr(x) if isinstance(x, float) else str(x) for x in r))
    print("#p50,%r,%d" % (p50, len(sessions)))


if __name__ == "__main__":
    main(sys.argv[1:])
