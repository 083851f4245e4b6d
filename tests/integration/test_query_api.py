"""The Prometheus HTTP API on the real agent: promtool query instant|range|series|labels against
it, Grafana's health check (`1+1` is a scalar), GET and form POST, the envelope and its error
types and status codes (a bad query names its position; over max_points_per_series,
max_samples, the timeout), metadata types, label values, buildinfo, exemplars, 405 and 404;
`deploywatch query` on the same store in its three output formats; and the agent under a burst
of bad, huge and slow queries and wrong passwords: healthy throughout, its ticks on time, its
memory bounded."""
import base64
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dwtest import Agent, agent_config, args, check, fail, http_get, run, wait_until, write  # noqa

a = args()
dw = a.binary
T0 = 1700000000

# ---- a small store: a counter, a gauge, a histogram, a summary, an untyped family ----
lines = ["# TYPE req counter", "# HELP req Requests."]
for i in range(121):
    for code in ("200", "500"):
        lines.append('req_total{code="%s",job="api"} %d %d' % (code, i * (3 if code == "200" else 1),
                                                               T0 + i * 15))
lines += ["# TYPE temp gauge"]
lines += ['temp{room="a"} %s %d' % (v, T0 + i * 15)
          for i, v in enumerate(["21.5", "NaN", "+Inf", "-Inf", "22"])]
lines += ["# TYPE lat histogram"]
for i in range(5):
    lines += ['lat_bucket{le="0.5"} %d %d' % (i, T0 + i * 15),
              'lat_bucket{le="+Inf"} %d %d' % (2 * i, T0 + i * 15),
              "lat_sum %d %d" % (i, T0 + i * 15), "lat_count %d %d" % (2 * i, T0 + i * 15)]
lines += ["# TYPE rpc summary", 'rpc{quantile="0.5"} 1 %d' % T0, "rpc_sum 3 %d" % T0,
          "rpc_count 4 %d" % T0, "# TYPE odd unknown", "odd 7 %d" % T0, "# EOF"]
om = write(os.path.join(a.workdir, "data.om"), "\n".join(lines) + "\n")

HASH = open(os.path.join(a.source, "tests/fixtures/http/bcrypt_s3cret.txt")).read()[:60]
cfg = agent_config(a.workdir, interval="1s", extra="""\
query:
  max_points_per_series: 1000
  max_samples: 20000
  timeout: 2s
  max_request_size: 128KB
  max_concurrent: 2
""")
text = open(cfg).read().replace("storage:\n", "storage:\n  retention: 20y\n", 1)
text = text.replace("web:\n", "web:\n  basic_auth_users:\n    alice: %s\n" % HASH, 1)
write(cfg, text)
rc, out, err = run([dw, "import", "-c", cfg, om])
check(rc == 0, "import: %s %s" % (out, err))

# A 1 MiB RLIMIT_STACK: threads that take the default stack get 1 MiB, too little for the deep
# expressions below; the HTTP workers must have their own (HTTP_THREAD_STACK).
agent = Agent(dw, cfg, a.workdir, preexec_fn=lambda: resource.setrlimit(
    resource.RLIMIT_STACK, (1 << 20, resource.getrlimit(resource.RLIMIT_STACK)[1])))
port = agent.wait_listening()
AUTH = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}
base = "http://127.0.0.1:%d" % port
# The agent listens before its store is open; until then queries answer 503 unavailable.
wait_until("the agent's store to open", lambda: http_get(
    base + "/api/v1/query?query=1", headers=AUTH)[0] == 200, timeout=60, interval=0.1)


def api(path, params=None, post=False, headers=AUTH, timeout=30):
    """(status, JSON document, headers)."""
    data = urllib.parse.urlencode(params or {}, doseq=True)
    url = base + path + ("" if post or not data else "?" + data)
    req = urllib.request.Request(url, data=data.encode() if post else None, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, body, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, body, hdrs = e.code, e.read(), e.headers
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {"_raw": body}
    return status, doc, hdrs


def expect_error(path, params, status, etype, needle, post=False):
    st, doc, _ = api(path, params, post)
    check(st == status and doc.get("status") == "error" and doc.get("errorType") == etype and
          needle in doc.get("error", ""),
          "%s %s: want %d %s containing %r, got %d %s" % (path, params, status, etype, needle,
                                                          st, doc))


# ---- Grafana's health check and buildinfo ----
for post in (False, True):
    st, doc, hdrs = api("/api/v1/query", {"query": "1+1", "time": "1700000000"}, post)
    check(st == 200 and doc == {"status": "success", "data": {"resultType": "scalar",
                                                              "result": [1700000000, "2"]}},
          "1+1 (post=%s): %d %s" % (post, st, doc))
    check(hdrs["Content-Type"].startswith("application/json"), "content type %s" %
          hdrs["Content-Type"])
st, doc, _ = api("/api/v1/status/buildinfo")
check(st == 200 and doc["data"]["version"], "buildinfo: %s" % doc)

# Deep expressions, evaluated on the HTTP workers: a generated `a + b + ...` of 600 operators
# (Prometheus takes it; a cap of 200 levels once refused it), and 990 nested calls, near the
# 1000-level cap, which need more stack than a thread gets by default under the 1 MiB
# RLIMIT_STACK the agent was started with (2 MiB when it is unlimited).
chain = " + ".join("vector(1)" for i in range(601))
st, doc, _ = api("/api/v1/query", {"query": chain, "time": "1700000000"}, post=True)
check(st == 200 and doc["data"]["result"][0]["value"][1] == "601", "a chain of 600 +: %d %s" %
      (st, str(doc)[:300]))
deep = "abs(" * 990 + "vector(-3)" + ")" * 990
st, doc, _ = api("/api/v1/query", {"query": deep, "time": "1700000000"}, post=True)
check(st == 200 and doc["data"]["result"][0]["value"][1] == "3", "990 nested calls: %d %s" %
      (st, str(doc)[:300]))
st, doc, _ = api("/api/v1/query", {"query": "abs(" * 1001 + "vector(1)" + ")" * 1001}, post=True)
check(st == 400 and "nests too deeply" in doc.get("error", ""), "1001 levels: %d %s" %
      (st, str(doc)[:300]))

# ---- values, times, result types ----
st, doc, _ = api("/api/v1/query", {"query": "temp", "time": str(T0 + 15)})
check(doc["data"]["result"][0]["value"] == [T0 + 15, "NaN"], "NaN: %s" % doc)
st, doc, _ = api("/api/v1/query", {"query": "temp", "time": str(T0 + 30) + ".5"})
check(doc["data"]["result"][0]["value"] == [T0 + 30.5, "+Inf"], "+Inf at .5: %s" % doc)
st, doc, _ = api("/api/v1/query", {"query": '"hello"', "time": str(T0)})
check(doc["data"] == {"resultType": "string", "result": [T0, "hello"]}, "string: %s" % doc)
st, doc, _ = api("/api/v1/query", {"query": "req_total[30s]", "time": str(T0 + 30)})
check(doc["data"]["resultType"] == "matrix" and len(doc["data"]["result"]) == 2 and
      len(doc["data"]["result"][0]["values"]) == 3, "range vector: %s" % doc)
st, doc, _ = api("/api/v1/query_range", {"query": 'sum(rate(req_total[1m]))', "start": T0 + 60,
                                         "end": T0 + 120, "step": "15s"}, post=True)
check(st == 200 and doc["data"]["resultType"] == "matrix" and
      [p[0] for p in doc["data"]["result"][0]["values"]] == [T0 + 60 + 15 * k for k in range(5)],
      "query_range: %s" % doc)
check(all(abs(float(p[1]) - 4 / 15.0) < 1e-9 for p in doc["data"]["result"][0]["values"]),
      "rate values: %s" % doc)

# ---- errors ----
expect_error("/api/v1/query", {"query": "sum(rate(req_total[5m])"}, 400, "bad_data",
             'invalid parameter "query": 1:')
expect_error("/api/v1/query", {"query": "foo{"}, 400, "bad_data", "1:5: parse error")
expect_error("/api/v1/query", {"query": "1", "time": "yesterday"}, 400, "bad_data",
             'invalid parameter "time"')
# The texts as Prometheus 2.42's web/api/v1 words them (a new user's trial compared them): the
# range query's parse error has no parameter prefix, its end and step errors have one.
expect_error("/api/v1/query_range", {"query": "sum(x", "start": T0, "end": T0 + 10, "step": 1},
             400, "bad_data", "1:6: parse error")
st, doc, _ = api("/api/v1/query_range", {"query": "sum(x", "start": T0, "end": T0 + 10,
                                         "step": 1})
check(doc.get("error", "").startswith("1:6: parse error"), "range parse error: %s" % doc)
expect_error("/api/v1/query", {"query": " "}, 400, "bad_data",
             'invalid parameter "query": 1:1: parse error: no expression found in input')
expect_error("/api/v1/query_range", {"query": "1", "start": T0, "end": T0 - 1, "step": 1}, 400,
             "bad_data", 'invalid parameter "end": end timestamp must not be before start time')
expect_error("/api/v1/query_range", {"query": "1", "start": T0, "end": T0 + 10, "step": 0}, 400,
             "bad_data", 'invalid parameter "step": zero or negative query resolution step')
expect_error("/api/v1/query_range", {"query": "1", "start": T0, "end": T0 + 100000, "step": 1},
             400, "bad_data", "exceeded maximum resolution of 1,000 points per timeseries")
expect_error("/api/v1/query", {"query": "topk(scalar(vector(NaN)), vector(1))"}, 422,
             "execution", "Scalar value NaN overflows int64")
expect_error("/api/v1/query_range", {"query": "req_total[1m]", "start": T0, "end": T0 + 10,
                                     "step": 1}, 400, "bad_data", "invalid expression type")
expect_error("/api/v1/query", {"query": "count_over_time(req_total[1d:1s])",
                               "time": str(T0 + 1800)}, 422, "execution",
             "query processing would load too many samples into memory")
expect_error("/api/v1/query", {"query": "req_total * on() req_total", "time": str(T0)}, 422,
             "execution", "many-to-many")
# A query out of time: a zero timeout= has expired before it starts (Prometheus answers so too).
expect_error("/api/v1/query", {"query": "1+1", "timeout": "0"}, 503, "timeout",
             "query timed out")
expect_error("/api/v1/query_range", {"query": "req_total", "start": T0, "end": T0 + 60,
                                     "step": 15, "timeout": "0s"}, 503, "timeout",
             "query timed out")
expect_error("/api/v1/query", {"query": "1", "timeout": "soon"}, 400, "bad_data",
             'invalid parameter "timeout"')
expect_error("/api/v1/series", {}, 400, "bad_data", "no match[] parameter provided")
expect_error("/api/v1/series", {"match[]": "req_total{"}, 400, "bad_data", "1:11: parse error")
expect_error("/api/v1/label/1bad/values", {}, 400, "bad_data", 'invalid label name: "1bad"')
st, doc, hdrs = api("/api/v1/metadata", {"x": "1"}, post=True)
check(st == 405 and hdrs["Allow"] == "GET", "metadata POST: %d %s" % (st, dict(hdrs)))
st, doc, _ = api("/api/v1/nothing")
check(st == 404, "unknown API path: %d" % st)

# ---- series, labels, label values, metadata, exemplars ----
st, doc, _ = api("/api/v1/series", {"match[]": ["req_total", '{__name__=~"req.*",code="500"}']},
                 post=True)
check(doc["data"] == [{"__name__": "req_total", "code": "200", "job": "api"},
                      {"__name__": "req_total", "code": "500", "job": "api"}], "series: %s" % doc)
st, doc, _ = api("/api/v1/labels")
for name in ("__name__", "code", "job", "le", "quantile", "room"):
    check(name in doc["data"], "labels lacks %s: %s" % (name, doc))
check(doc["data"] == sorted(doc["data"]), "labels unsorted: %s" % doc)
st, doc, _ = api("/api/v1/labels", {"match[]": "temp"})
check(doc["data"] == ["__name__", "room"], "labels with match[]: %s" % doc)
# Without match[] every stored value counts, the agent's own deploywatch_http_requests_total{code}
# included once a tick has stored it.
st, doc, _ = api("/api/v1/label/code/values")
check({"200", "500"} <= set(doc["data"]) and doc["data"] == sorted(doc["data"]),
      "label values: %s" % doc)
st, doc, _ = api("/api/v1/label/code/values", {"match[]": "req_total"})
check(doc["data"] == ["200", "500"], "label values with match[]: %s" % doc)
st, doc, _ = api("/api/v1/label/__name__/values")
for name in ("lat_bucket", "odd", "req_total", "rpc", "temp"):
    check(name in doc["data"], "__name__ values lack %s: %s" % (name, doc))
st, doc, _ = api("/api/v1/metadata")
md = doc["data"]
check(md.get("req_total") == [{"type": "counter", "help": "", "unit": ""}], "metadata: %s" % md)
check(md.get("temp", [{}])[0].get("type") == "gauge", "metadata temp: %s" % md)
check(md.get("lat", [{}])[0].get("type") == "histogram" and "lat_bucket" not in md,
      "metadata histogram family: %s" % md)
# A summary keeps its type and is one family (its _sum and _count are not families of their
# own); an untyped (OpenMetrics unknown) family is "unknown", as Prometheus names it.
check(md.get("rpc", [{}])[0].get("type") == "summary" and "rpc_sum" not in md and
      "rpc_count" not in md, "metadata summary family: %s" % md)
check(md.get("odd", [{}])[0].get("type") == "unknown", "metadata untyped family: %s" % md)
st, doc, _ = api("/api/v1/metadata", {"metric": "temp"})
check(list(doc["data"]) == ["temp"], "metadata?metric: %s" % doc)
st, doc, _ = api("/api/v1/metadata", {"limit": "2"})
check(len(doc["data"]) == 2, "metadata?limit: %s" % doc)
st, doc, _ = api("/api/v1/query_exemplars", {"query": "req_total", "start": T0, "end": T0 + 60})
check(st == 200 and doc == {"status": "success", "data": []}, "exemplars: %s" % doc)

# ---- promtool query against the agent (it POSTs, as Grafana may) ----
promtool = shutil.which("promtool")
check(promtool, "promtool is required (scripts/install-deps.sh test)")
# promtool has no basic-auth flag in 2.42; its URL carries the credentials.
purl = "http://alice:s3cret@127.0.0.1:%d" % port
rc, out, err = run([promtool, "query", "instant", "--time=%d" % (T0 + 60), purl,
                    'req_total{code="500"}'])
check(rc == 0 and re.search(r'req_total\{code="500", job="api"\} => 4 @\[1700000060\]', out),
      "promtool query instant: %d %s %s" % (rc, out, err))
rc, out, err = run([promtool, "query", "range", "--start=%d" % T0, "--end=%d" % (T0 + 30),
                    "--step=15s", purl, 'req_total{code="200"}'])
check(rc == 0 and "0 @[1700000000]" in out and "6 @[1700000030]" in out,
      "promtool query range: %d %s %s" % (rc, out, err))
# series and labels default to a window around now: the data is from 2023.
win = ["--start=%d" % T0, "--end=%d" % (T0 + 3600)]
rc, out, err = run([promtool, "query", "series", "--match=temp"] + win + [purl])
check(rc == 0 and '{__name__="temp", room="a"}' in out, "promtool query series: %d %s %s" %
      (rc, out, err))
rc, out, err = run([promtool, "query", "labels"] + win + [purl, "code"])
check(rc == 0 and out.split() == ["200", "500"], "promtool query labels: %d %s %s" %
      (rc, out, err))

# ---- deploywatch query on the same store, beside the running agent ----
rc, out, err = run([dw, "query", "-c", cfg, "--at", str(T0 + 60), 'req_total'])
check(rc == 0 and re.search(r'req_total\{code="200", job="api"\}\s+2023-11-14T22:14:20Z\s+12\n',
                            out), "query table: %d %s %s" % (rc, out, err))
rc, out, err = run([dw, "query", "-c", cfg, "--from", str(T0), "--to", str(T0 + 30), "--step",
                    "15s", "--csv", 'req_total{code="500"}'])
check(rc == 0 and out == "timestamp,value,__name__,code,job\n1700000000,0,req_total,500,api\n"
      "1700000015,1,req_total,500,api\n1700000030,2,req_total,500,api\n",
      "query csv: %d %r %s" % (rc, out, err))
# --step takes what the API's step= takes: a plain number of seconds too (as Prometheus's
# parseDuration), the same points as 15s; neither zero nor a word.
for step in ["15", "15.0"]:
    rc, out2, err = run([dw, "query", "-c", cfg, "--from", str(T0), "--to", str(T0 + 30),
                         "--step", step, "--csv", 'req_total{code="500"}'])
    check(rc == 0 and out2 == out, "query --step %s: %d %r %s" % (step, rc, out2, err))
for step in ["0", "-15", "abc", "0.0001"]:
    rc, _, err = run([dw, "query", "-c", cfg, "--from", str(T0), "--to", str(T0 + 30),
                      "--step", step, 'req_total'])
    check(rc == 64 and "--step: '%s' is not a positive duration" % step in err,
          "query --step %s: %d %s" % (step, rc, err))
rc, out, err = run([dw, "query", "-c", cfg, "--json", "--at", str(T0), "1+1"])
check(rc == 0 and json.loads(out) == {"status": "success", "data": {"resultType": "scalar",
                                                                    "result": [T0, "2"]}},
      "query json: %d %s %s" % (rc, out, err))
rc, out, err = run([dw, "query", "-c", cfg, "--csv", "--json", "1"])
check(rc == 64 and "--json and --csv exclude each other" in err, "query --csv --json: %d %s" %
      (rc, err))
rc, out, err = run([dw, "query", "-c", cfg, "sum(x"])
check(rc == 64 and "1:6: parse error" in err, "query bad: %d %s" % (rc, err))
# The deadline inside one long loop: a subquery of 4.9 million 1 s steps over one series (within
# the default max_samples) with a 10 ms query.timeout. It once ran to its end (~0.5 s) and
# answered, as the deadline was read per series and node, not per step.
slow_cfg = write(os.path.join(a.workdir, "slow.yml"), open(cfg).read().replace(
    "  max_samples: 20000\n  timeout: 2s\n", "  timeout: 10ms\n"))
rc, out, err = run([dw, "query", "-c", slow_cfg, "--at", str(T0),
                    "count_over_time(vector(1)[57d:1s])"])
check(rc == 75 and "query timed out" in err, "a 10 ms timeout in a long subquery: %d %s %s" %
      (rc, out[:200], err))
rc, out, err = run([dw, "query", "--help"])
check(rc == 0 and "Usage: deploywatch query EXPR" in out and "--since" in out, "help: " + out)

# ---- a burst of bad, huge and slow queries and wrong passwords ----
def status_of(fn):
    try:
        return fn()
    except Exception as e:  # a refused connection would be a failure; count it
        return repr(e)


def bad():
    return api("/api/v1/query", {"query": "sum(rate(x[5m]"})[0]


def huge():
    # Longer than PromQL's 64 KiB limit on an expression, by form POST: the parser refuses it.
    return api("/api/v1/query", {"query": "x" * 70000}, post=True)[0]


def huge_url():
    # The same by GET: a request line past web's header limit (16 KiB) is answered 414 before
    # any parsing.
    return api("/api/v1/query", {"query": "x" * 70000})[0]


def too_big_body():
    return api("/api/v1/query", {"query": "1+" * 80000 + "1"}, post=True)[0]


def slow():
    return api("/api/v1/query", {"query": "count_over_time(req_total[30d:1ms])",
                                 "time": str(T0 + 1800)})[0]


def wrong_password():
    h = {"Authorization": "Basic " + base64.b64encode(b"alice:guess").decode()}
    return api("/api/v1/query", {"query": "1"}, headers=h)[0]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def ticks():
    st, doc, _ = api("/api/v1/query", {"query": "deploywatch_ticks_total"})
    return doc


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(name):
    _, _, body = http_get(base + "/metrics", headers=AUTH)
    m = re.search(r"^%s (\S+)$" % re.escape(name), body.decode(), re.M)
    return float(m.group(1)) if m else None


wait_until("two ticks", lambda: (metric("deploywatch_ticks_total") or 0) >= 2)
rss0 = rss_kib(agent.proc.pid)
results = {}
lock = threading.Lock()
kinds = {"bad": bad, "huge": huge, "huge_url": huge_url, "too_big_body": too_big_body, "slow": slow,
         "wrong_password": wrong_password}


def worker(kind, n):
    for _ in range(n):
        st = status_of(kinds[kind])
        with lock:
            results.setdefault(kind, []).append(st)


t_start = time.monotonic()
wall0 = time.time()
ticks0 = metric("deploywatch_ticks_total")
cpu0 = cpu_s(agent.proc.pid)
threads = [threading.Thread(target=worker, args=(k, n)) for k, n in
           [("bad", 100), ("huge", 30), ("huge_url", 10), ("too_big_body", 10), ("slow", 6), ("wrong_password", 200),
            ("bad", 100), ("wrong_password", 200)]]
for t in threads:
    t.start()
healthy = []
while any(t.is_alive() for t in threads):
    st, _, _ = http_get(base + "/-/healthy", headers=AUTH, timeout=5)
    healthy.append(st)
    time.sleep(0.2)
for t in threads:
    t.join()
elapsed = time.monotonic() - t_start
wall1 = time.time()
ticks1 = metric("deploywatch_ticks_total")
cpu1 = cpu_s(agent.proc.pid)
rss1 = rss_kib(agent.proc.pid)

check(set(results["bad"]) == {400}, "bad queries: %s" % set(results["bad"]))
check(set(results["huge"]) == {400}, "huge queries: %s" % set(results["huge"]))
check(set(results["huge_url"]) == {414}, "huge URLs: %s" % set(results["huge_url"]))
check(set(results["too_big_body"]) == {413}, "too big bodies: %s" % set(results["too_big_body"]))
check(set(results["slow"]) <= {422, 503}, "slow queries: %s" % set(results["slow"]))
check(set(results["wrong_password"]) == {401}, "wrong passwords: %s" %
      set(results["wrong_password"]))
check(healthy and set(healthy) == {200}, "/-/healthy during the burst: %s" % healthy)
# Ticks every second: the burst must not hold the collector up (one tick of slack at each end).
check(ticks1 - ticks0 >= int(elapsed) - 2, "%d ticks in %.1fs of burst" % (ticks1 - ticks0,
                                                                           elapsed))
# Every grid point of the burst has its stored sample: no tick was late by a whole interval
# (a late tick skips its grid point, so a gap of 2 s would show one).
wait_until("the burst's last tick stored", lambda: run(
    [dw, "dump", "-c", cfg, "--match", "deploywatch_ticks_total", "--from", "%.3f" % wall1])[1])
rc, out, err = run([dw, "dump", "-c", cfg, "--match", "deploywatch_ticks_total",
                    "--from", "%.3f" % wall0, "--to", "%.3f" % wall1])
stamps = [int(l.split()[-1]) for l in out.splitlines()]
check(rc == 0 and len(stamps) >= int(elapsed) - 1, "stored ticks during the burst: %s %s" %
      (out, err))
gaps = [b - a for a, b in zip(stamps, stamps[1:])]
check(all(g == 1000 for g in gaps), "ticks during the burst not every second: gaps %s" % gaps)
# 400 wrong passwords at ~50 ms of bcrypt each would be 20 CPU-seconds; the limiter allows a
# burst of 10 and 2 a second.
bcrypt_budget = (10 + 2 * elapsed) * 0.1
check(cpu1 - cpu0 < bcrypt_budget + elapsed * 0.5,
      "agent used %.1f CPU-s in %.1fs of burst" % (cpu1 - cpu0, elapsed))
# ASan's quarantine holds freed memory back: its builds get a larger bound.
asan = "libasan" in run(["ldd", dw])[1]
rss_bound = (256 if asan else 64) * 1024
check(rss1 - rss0 < rss_bound, "resident memory grew from %d to %d KiB" % (rss0, rss1))
print("burst: %.1fs, %d ticks, %.2f CPU-s, RSS %d -> %d KiB, %d health checks all 200, slow "
      "queries answered %s" %
      (elapsed, ticks1 - ticks0, cpu1 - cpu0, rss0, rss1, len(healthy), sorted(set(results["slow"]))))
# Still answering, and the right password still works (it is cached).
st, doc, _ = api("/api/v1/query", {"query": "1+1"})
check(st == 200, "after the burst: %d %s" % (st, doc))
check(agent.stop() == 0, "agent exit status")
check("Sanitizer" not in agent.text() and "runtime error" not in agent.text(),
      "agent log:\n" + agent.text())
