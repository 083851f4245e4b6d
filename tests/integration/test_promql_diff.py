"""The differential test: the same PromQL queries against deploywatch and a real Prometheus 2.42.

promql_dataset.py's OpenMetrics is imported into deploywatch (`deploywatch import`) and backfilled
into Prometheus (`promtool tsdb create-blocks-from openmetrics --max-block-duration=744h`); both
serve it over HTTP on loopback, and every query of promql_queries.txt runs against both. The
answers must agree: the same status and result type, the same label sets, the same timestamps,
values equal within 1e-9 relative (NaN equals NaN, infinities by sign); errors by errorType.
Any difference fails the test with every differing query listed.

--reference-only runs the queries against Prometheus alone (to prove the dataset and the queries
while the engine is being built): every query must answer, and most must return data.
"""
import argparse
import json
import math
import os
import re
import shutil
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promql_dataset  # noqa: E402
from dwtest import (Agent, agent_config, check, fail, free_port, http_get, run,  # noqa: E402
                    start, wait_until, write)

REL_TOL = 1e-9


# ---- comparison ----

def parse_value(s):
    return float(s)  # "NaN", "+Inf", "-Inf" are accepted by float()


def values_equal(a, b):
    x, y = parse_value(a), parse_value(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    if x == y:
        return True
    return abs(x - y) <= REL_TOL * max(abs(x), abs(y))


def point_diff(p, q, where):
    if p[0] != q[0]:
        return "%s: timestamp %r vs %r" % (where, p[0], q[0])
    if not values_equal(p[1], q[1]):
        return "%s at %r: value %s vs %s" % (where, p[0], p[1], q[1])
    return None


def label_key(metric):
    return tuple(sorted(metric.items()))


def series_list(result, rtype):
    """[(labels key, [points])] for a vector or a matrix."""
    if rtype == "vector":
        return [(label_key(s["metric"]), [s["value"]]) for s in result]
    return [(label_key(s["metric"]), s["values"]) for s in result]


def compare(want, got, ordered):
    """None when the two API answers agree, else a one-line description of the first
    difference. 'want' is the reference (Prometheus)."""
    if want.get("status") != got.get("status"):
        return "status %s (%s) vs %s (%s)" % (want.get("status"), want.get("error"),
                                              got.get("status"), got.get("error"))
    if want["status"] != "success":
        if want.get("errorType") != got.get("errorType"):
            return "errorType %s (%s) vs %s (%s)" % (want.get("errorType"), want.get("error"),
                                                     got.get("errorType"), got.get("error"))
        return None
    wd, gd = want["data"], got["data"]
    if wd["resultType"] != gd["resultType"]:
        return "resultType %s vs %s" % (wd["resultType"], gd["resultType"])
    rtype = wd["resultType"]
    if rtype in ("scalar", "string"):
        if rtype == "string":
            return None if wd["result"] == gd["result"] else "string %r vs %r" % (
                wd["result"], gd["result"])
        return point_diff(wd["result"], gd["result"], "scalar")
    ws, gs = series_list(wd["result"], rtype), series_list(gd["result"], rtype)
    if len(ws) != len(gs):
        return "%d series vs %d: %s" % (len(ws), len(gs), label_diff(ws, gs))
    if not ordered:
        ws, gs = sorted(ws), sorted(gs)
        if len(set(k for k, _ in gs)) != len(gs):
            return "duplicate label sets in the answer"
    for (wk, wp), (gk, gp) in zip(ws, gs):
        if wk != gk:
            return "series %s vs %s%s" % (dict(wk), dict(gk), "" if not ordered else
                                         " (in order)")
        if len(wp) != len(gp):
            return "%s: %d points vs %d" % (dict(wk), len(wp), len(gp))
        for p, q in zip(wp, gp):
            d = point_diff(p, q, str(dict(wk)))
            if d:
                return d
    return None


def label_diff(ws, gs):
    a, b = set(k for k, _ in ws), set(k for k, _ in gs)
    return "only in reference: %s; only in deploywatch: %s" % (
        [dict(k) for k in sorted(a - b)][:3], [dict(k) for k in sorted(b - a)][:3])


def self_test():
    """The comparator itself, from a table: pairs that must agree and pairs that must not."""
    def vec(*series):
        return {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": m, "value": [1.5, v]} for m, v in series]}}
    ok = {"status": "success"}
    cases = [
        (vec(({"a": "1"}, "1"), ({"a": "2"}, "2")), vec(({"a": "2"}, "2"), ({"a": "1"}, "1")),
         False, True),
        (vec(({"a": "1"}, "1"), ({"a": "2"}, "2")), vec(({"a": "2"}, "2"), ({"a": "1"}, "1")),
         True, False),
        (vec(({"a": "1"}, "NaN")), vec(({"a": "1"}, "NaN")), False, True),
        (vec(({"a": "1"}, "NaN")), vec(({"a": "1"}, "0")), False, False),
        (vec(({"a": "1"}, "+Inf")), vec(({"a": "1"}, "-Inf")), False, False),
        (vec(({"a": "1"}, "1")), vec(({"a": "1"}, "1.0000000000001")), False, True),
        (vec(({"a": "1"}, "1")), vec(({"a": "1"}, "1.00001")), False, False),
        (vec(({"a": "1"}, "1")), vec(({"a": "2"}, "1")), False, False),
        (vec(({"a": "1"}, "1")), vec(), False, False),
        (vec(({"a": "1"}, "1")), vec(({"a": "1"}, "1"), ({"a": "1"}, "1")), False, False),
        (dict(ok, data={"resultType": "scalar", "result": [1, "2"]}),
         dict(ok, data={"resultType": "vector", "result": []}), False, False),
        (dict(ok, data={"resultType": "scalar", "result": [1, "2"]}),
         dict(ok, data={"resultType": "scalar", "result": [1, "2"]}), False, True),
        (dict(ok, data={"resultType": "scalar", "result": [1, "2"]}),
         dict(ok, data={"resultType": "scalar", "result": [2, "2"]}), False, False),
        ({"status": "error", "errorType": "bad_data"}, {"status": "error", "errorType":
                                                       "execution"}, False, False),
        ({"status": "error", "errorType": "bad_data"}, vec(), False, False),
        (dict(ok, data={"resultType": "matrix", "result": [
            {"metric": {}, "values": [[1, "1"], [2, "2"]]}]}),
         dict(ok, data={"resultType": "matrix", "result": [
             {"metric": {}, "values": [[1, "1"]]}]}), False, False),
    ]
    for i, (w, g, ordered, same) in enumerate(cases):
        d = compare(w, g, ordered)
        check((d is None) == same, "comparator case %d: got %r, want %s" %
              (i, d, "equal" if same else "a difference"))


# ---- queries ----

DUR = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def seconds(d):
    m = DUR.match(d)
    if not m or not d:
        raise ValueError("bad duration %r" % d)
    h, mi, s = (int(x or 0) for x in m.groups())
    return h * 3600 + mi * 60 + s


def load_queries(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            kind, rest = line.split(None, 1)
            t0 = promql_dataset.T0
            if kind == "instant":
                at, expr = rest.split(None, 1)
                params = {"query": expr, "time": str(t0 + seconds(at))}
                out.append((n, "query", params, expr))
            elif kind == "range":
                s, e, step, expr = rest.split(None, 3)
                params = {"query": expr, "start": str(t0 + seconds(s)),
                          "end": str(t0 + seconds(e)), "step": str(seconds(step))}
                out.append((n, "query_range", params, expr))
            else:
                raise ValueError("%s:%d: unknown kind %r" % (path, n, kind))
    return out


def ask(port, endpoint, params):
    url = "http://127.0.0.1:%d/api/v1/%s?%s" % (port, endpoint, urllib.parse.urlencode(params))
    status, _, body = http_get(url, timeout=30)
    try:
        doc = json.loads(body)
    except ValueError:
        fail("%s answered %d with a body that is not JSON: %r" % (url, status, body[:200]))
    doc["_http"] = status
    return doc


def is_ordered(expr):
    return expr.startswith("sort(") or expr.startswith("sort_desc(")


def has_data(doc):
    if doc.get("status") != "success":
        return False
    r = doc["data"]["result"]
    return bool(r) if isinstance(r, list) and doc["data"]["resultType"] in (
        "vector", "matrix") else True


# ---- servers ----

def start_prometheus(workdir, om_file):
    promtool = shutil.which("promtool")
    prometheus = shutil.which("prometheus")
    check(promtool and prometheus, "promtool and prometheus are required "
          "(scripts/install-deps.sh test)")
    tsdb = os.path.join(workdir, "prom-data")
    rc, out, err = run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                        "--max-block-duration=744h", om_file, tsdb], timeout=120)
    check(rc == 0, "promtool create-blocks-from: %s %s" % (out, err))
    port = free_port()
    cfgdir = os.path.join(workdir, "prom")
    os.makedirs(cfgdir)
    cfg = write(os.path.join(cfgdir, "prometheus.yml"), "global:\n  scrape_interval: 1h\n")
    # The data is from 2023: retention must reach back that far or the blocks are deleted.
    start([prometheus, "--config.file=" + cfg, "--storage.tsdb.path=" + tsdb,
           "--storage.tsdb.retention.time=50y", "--web.listen-address=127.0.0.1:%d" % port],
          os.path.join(workdir, "prometheus.log"))

    def ready():
        try:
            st, _, _ = http_get("http://127.0.0.1:%d/-/ready" % port, timeout=2)
        except OSError:
            return False
        return st == 200
    wait_until("Prometheus to be ready", ready, timeout=60, interval=0.2)
    return port


def start_deploywatch(binary, workdir, om_file):
    cfg = agent_config(workdir, extra="", interval="10s")
    # The dataset is from 2023: keep it through retention.
    text = open(cfg).read().replace("storage:\n", "storage:\n  retention: 20y\n", 1)
    write(cfg, text)
    rc, out, err = run([binary, "import", "-c", cfg, om_file], timeout=120)
    check(rc == 0, "deploywatch import: exit %d\n%s%s" % (rc, out, err))
    agent = Agent(binary, cfg, workdir)
    port = agent.wait_listening()

    # The agent listens before its store is open; until then queries answer 503 unavailable.
    def store_open():
        try:
            st, _, _ = http_get("http://127.0.0.1:%d/api/v1/query?query=1" % port, timeout=5)
        except OSError:
            return False
        return st == 200
    wait_until("the agent's store to open", store_open, timeout=60, interval=0.1)
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary")
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--reference-only", action="store_true")
    ap.add_argument("--queries", help="a query file instead of promql_queries.txt")
    ap.add_argument("--data", help="an OpenMetrics file instead of promql_dataset.py's (its "
                    "query offsets are still from promql_dataset.T0)")
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    started = time.monotonic()

    self_test()
    qfile = a.queries or os.path.join(a.source, "tests", "integration", "promql_queries.txt")
    queries = load_queries(qfile)
    check(len(queries) >= 100, "only %d queries in %s" % (len(queries), qfile))

    if a.data:
        om_file = os.path.abspath(a.data)
    else:
        om_file = write(os.path.join(a.workdir, "dataset.om"), promql_dataset.generate())
    prom_port = start_prometheus(a.workdir, om_file)
    dw_port = None
    if not a.reference_only:
        check(a.binary, "--binary is required unless --reference-only")
        dw_port = start_deploywatch(a.binary, a.workdir, om_file)

    diffs, with_data, errors = [], 0, 0
    for n, endpoint, params, expr in queries:
        want = ask(prom_port, endpoint, params)
        if want["status"] == "success":
            with_data += has_data(want)
        else:
            errors += 1
        if dw_port is None:
            continue
        got = ask(dw_port, endpoint, params)
        d = compare(want, got, is_ordered(expr))
        if d is None and want["_http"] != got["_http"]:
            d = "HTTP status %d vs %d" % (want["_http"], got["_http"])
        if d:
            diffs.append("line %d: %s %s\n    %s" % (n, endpoint, expr, d))

    elapsed = time.monotonic() - started
    print("%d queries (%d returned data from Prometheus, %d errors) in %.1fs" %
          (len(queries), with_data, errors, elapsed))
    # The dataset and the queries are only a test if most queries see data.
    check(with_data >= 0.8 * (len(queries) - errors),
          "only %d of %d queries returned data from Prometheus" % (with_data, len(queries)))
    if diffs:
        fail("%d of %d queries differ from Prometheus 2.42:\n%s" %
             (len(diffs), len(queries), "\n".join(diffs)))
    if dw_port is None:
        print("reference only: deploywatch was not compared")


main()
