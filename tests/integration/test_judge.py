"""deploywatch mark and judge on deploy scenarios built from the corpus shapes (judge_logs.py):
each scenario's nginx and Laravel logs are replayed into a fresh store, the deploy is marked in
the middle, and judge must answer PASS (0), FAIL (1) or INCONCLUSIVE (2) for the right reasons.
"""
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dwtest  # noqa: E402
import judge_logs  # noqa: E402

a = dwtest.args()
check = dwtest.check


def setup(name, marker=judge_logs.MARKER, end=None):
    d = os.path.join(a.workdir, name)
    logs = os.path.join(d, "logs")
    at = judge_logs.write(logs, name.split("-")[0], marker, end)
    cfg = dwtest.write(os.path.join(d, "dw.yml"), """\
storage:
  path: %s/data
  retention: 3650d
sources:
  - name: laravel
    path: %s/laravel.log
    format: laravel
    app_root: /var/www/cyh
  - name: nginx
    path: %s/nginx-access.log
    format: nginx
""" % (d, logs, logs))
    for src, f in (("nginx", "nginx-access.log"), ("laravel", "laravel.log")):
        rc, out, err = dwtest.run([a.binary, "replay", "-c", cfg, "--source", src,
                                   os.path.join(logs, f)])
        check(rc == 0, "replay %s %s: %s" % (name, f, err))
    rc, out, err = dwtest.run([a.binary, "mark", "-c", cfg, "release-2", "--at", str(at),
                               "--note", "v2.0 " + name])
    check(rc == 0 and "marked release-2" in out, "mark: %d %s %s" % (rc, out, err))
    return cfg


def judge(cfg, *extra):
    rc, out, err = dwtest.run([a.binary, "judge", "-c", cfg, "--json"] + list(extra))
    check(rc in (0, 1, 2), "judge exited %d: %s" % (rc, err))
    j = json.loads(out)
    check(j["exit_code"] == rc, "exit code %d but JSON says %d" % (rc, j["exit_code"]))
    return rc, {c["name"]: c for c in j["checks"]}, j


# A clean deploy: the known QueryException goes on, now from the new release directory.
cfg = setup("clean")
rc, checks, j = judge(cfg)
check(rc == 0 and j["verdict"] == "PASS", "clean: %s %s" % (rc, j["summary"]))
check(checks["database_errors"]["result"] == "PASS", "clean: database_errors")
check(checks["http_5xx_ratio"]["window_exposure"] > 1000, "clean: the 5xx ratio's sample size")
check(checks["cpu_usage"]["result"] == "SKIP", "clean: cpu without data is SKIP, not PASS")
rc, out, err = dwtest.run([a.binary, "judge", "-c", cfg])
check(rc == 0 and out.startswith("PASS  deploy release-2"), "the table's verdict line first")
for col in ("BASELINE", "WINDOW", "LIMIT", "http_5xx_ratio", "increase(http_requests_total"):
    check(col in out, "the table shows %s" % col)

# A bad deploy: a new QueryException at a new in-app location, 5xx x2.5.
cfg = setup("bad")
rc, checks, j = judge(cfg)
check(rc == 1 and j["verdict"] == "FAIL", "bad: %s %s" % (rc, j["summary"]))
for name in ("http_5xx_ratio", "database_errors"):
    check(checks[name]["result"] == "FAIL", "bad: %s %s" % (name, checks[name]["reason"]))
    check(name in j["summary"], "bad: the summary names %s" % name)
check(checks["http_5xx_ratio"]["p_value"] < 0.01, "bad: the p-value is reported")
check(checks["http_latency_p95"]["result"] == "PASS", "bad: latency stays under 2 s")

# --on-fail runs once with the verdict in its environment; --dry-run never runs it.
marker_file = os.path.join(a.workdir, "rollback.txt")
cmd = 'echo "$DEPLOYWATCH_VERDICT $DEPLOYWATCH_DEPLOY $DEPLOYWATCH_FAILED" >> %s' % marker_file
rc, out, err = dwtest.run([a.binary, "judge", "-c", cfg, "--on-fail", cmd])
check(rc == 1, "on-fail: exit %d" % rc)
lines = open(marker_file).read().splitlines()
check(len(lines) == 1, "the rollback ran exactly once: %r" % lines)
check(lines[0].startswith("FAIL release-2 ") and "http_5xx_ratio" in lines[0], lines[0])
rc, out, err = dwtest.run([a.binary, "judge", "-c", cfg, "--on-fail", cmd, "--dry-run"])
check(rc == 1 and "would run" in err, "dry-run: %s" % err)
check(len(open(marker_file).read().splitlines()) == 1, "--dry-run ran the command")

# An idle host: no traffic at all is INCONCLUSIVE, never PASS.
cfg = setup("idle")
rc, checks, j = judge(cfg)
check(rc == 2 and j["verdict"] == "INCONCLUSIVE", "idle: %s %s" % (rc, j["summary"]))
check("traffic" in j["summary"], "idle: says why: " + j["summary"])

# A sparse baseline: no error before and one stray after is not a failure...
cfg = setup("sparse")
rc, checks, j = judge(cfg)
check(rc != 1, "sparse: one stray error failed the deploy: %s" % j["summary"])
check(checks["laravel_errors"]["result"] == "PASS", "sparse: laravel_errors")
# ...and a zero baseline does not pass everything: a burst of errors fails.
cfg = setup("sparse_burst")
rc, checks, j = judge(cfg)
check(rc == 1 and checks["laravel_errors"]["result"] == "FAIL",
      "sparse_burst: %s %s" % (rc, checks["laravel_errors"]["reason"]))
check(checks["laravel_errors"]["baseline"] == 0, "sparse_burst: the baseline is zero")

# --wait on a deploy 10 minutes ago whose window is still open: fails early after two
# consecutive failing evaluations instead of waiting for the window's end.
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
cfg = setup("bad-wait", marker=now - datetime.timedelta(minutes=10), end=now)
rc, out, err = dwtest.run([a.binary, "judge", "-c", cfg, "--wait", "--interval", "1s",
                           "--on-fail", cmd], timeout=60)
check(rc == 1, "wait: exit %d %s" % (rc, err))
check(err.count("FAIL so far") == 2, "wait: two evaluations, the second stops: %s" % err)
check(len(open(marker_file).read().splitlines()) == 2, "wait: the rollback ran once more")
# without --wait, an open window that has not failed yet is never PASS
cfg = setup("clean-open", marker=now - datetime.timedelta(minutes=10), end=now)
rc, checks, j = judge(cfg)
check(rc == 2 and not j["window_complete"], "open window: %d %s" % (rc, j["summary"]))

# Markers: list, a bad name, an unknown deploy, no store.
rc, out, err = dwtest.run([a.binary, "mark", "-c", cfg, "--list"])
check(rc == 0 and "release-2  v2.0 clean" in out, "mark --list: %s" % out)
rc, out, err = dwtest.run([a.binary, "mark", "-c", cfg, "bad\x01name"])
check(rc == 64, "a control character in a name: %d" % rc)
rc, out, err = dwtest.run([a.binary, "mark", "-c", cfg, "x", "--at", "yesterday"])
check(rc == 64 and "--at" in err, "a bad --at: %s" % err)
rc, out, err = dwtest.run([a.binary, "judge", "-c", cfg, "--deploy", "nope"])
check(rc == 66 and "nope" in err, "an unknown deploy: %d %s" % (rc, err))
rc, out, err = dwtest.run([a.binary, "judge", "-c", cfg, "--window", "soon"])
check(rc == 64, "a bad --window: %d" % rc)

# The agent: markers and the latest verdict as metrics, GET/POST /api/v1/deploys, GET /api/v1/judge.
bad_dir = os.path.join(a.workdir, "bad")
agent_cfg = dwtest.write(os.path.join(bad_dir, "agent.yml"), """\
storage:
  path: %s/data
  retention: 3650d
  sample_interval: 1s
web:
  listen_address: 127.0.0.1:0
sources: []
""" % bad_dir)
agent = dwtest.Agent(a.binary, agent_cfg, bad_dir)
agent.wait_listening()


def judged():
    st, _, body = dwtest.http_get(agent.url("/api/v1/judge"))
    return st == 200 and json.loads(body)


j = dwtest.wait_until("the agent's judgement", judged)
check(j["data"]["verdict"] == "FAIL" and j["data"]["deploy"] == "release-2", str(j)[:300])


def metrics_have(*want):
    st, _, body = dwtest.http_get(agent.url("/metrics"))
    text = body.decode()
    return st == 200 and all(w in text for w in want) and text


text = dwtest.wait_until("the verdict metrics", lambda: metrics_have(
    'deploywatch_deploy_timestamp_seconds{deploy="release-2"} %d' % judge_logs.MARKER.timestamp(),
    'deploywatch_verdict{deploy="release-2",check="verdict"} 0',
    'deploywatch_verdict{deploy="release-2",check="http_5xx_ratio"} 0'))
st, _, body = dwtest.http_get(agent.url("/api/v1/deploys"))
check(st == 200 and json.loads(body)["data"][0]["name"] == "release-2", body[:200])


# GET /api/v1/judge with parameters judges for the request: the same JSON as judge --json.
def without_timing(j):
    j.pop("elapsed_ms")
    j.pop("cpu_ms")
    j.pop("evaluated_at")
    return j


bad_cfg = os.path.join(bad_dir, "dw.yml")
for q, extra in (("deploy=release-2", []),
                 ("deploy=release-2&baseline=10m&window=20m", ["--baseline", "10m", "--window", "20m"])):
    st, _, body = dwtest.http_get(agent.url("/api/v1/judge?" + q))
    check(st == 200, "GET /api/v1/judge?%s: %d %s" % (q, st, body[:300]))
    api = json.loads(body)
    rc, out, err = dwtest.run([a.binary, "judge", "-c", bad_cfg, "--json", "--deploy", "release-2"]
                              + extra)
    check(api["status"] == "success" and without_timing(api["data"]) == without_timing(json.loads(out)),
          "%s: the API and judge --json differ:\n%s\n%s" % (q, body[:400], out[:400]))
check(api["data"]["baseline_seconds"] == 600 and api["data"]["window_seconds"] == 1200,
      "the parameters applied: %s" % body[:300])
for q, want in (("deploy=nope", 404), ("deploy=release-2&window=soon", 400),
                ("deploy=release-2&baseline=0s", 400), ("at=yesterday", 400)):
    st, _, body = dwtest.http_get(agent.url("/api/v1/judge?" + q))
    check(st == want and json.loads(body)["status"] == "error", "%s: %d %s" % (q, st, body[:200]))
req = dwtest.urllib.request.Request(agent.url("/api/v1/deploys"), method="POST",
                                    data=b"name=release-3&note=hotfix")
with dwtest.urllib.request.urlopen(req, timeout=10) as r:
    check(r.status == 200 and json.loads(r.read())["data"]["name"] == "release-3", "POST")
req = dwtest.urllib.request.Request(agent.url("/api/v1/deploys"), method="POST",
                                    data=b"name=&note=x")
try:
    dwtest.urllib.request.urlopen(req, timeout=10)
    check(False, "an empty deploy name was accepted")
except dwtest.urllib.error.HTTPError as e:
    check(e.code == 400, "an empty deploy name: %d" % e.code)
# A JSON body carries no form fields: the answer says how the marker is sent.
req = dwtest.urllib.request.Request(agent.url("/api/v1/deploys"), method="POST",
                                    data=b'{"name": "release-4"}',
                                    headers={"Content-Type": "application/json"})
try:
    dwtest.urllib.request.urlopen(req, timeout=10)
    check(False, "a JSON body was taken for a marker")
except dwtest.urllib.error.HTTPError as e:
    body = e.read().decode()
    check(e.code == 400 and "form fields" in body, "a JSON body: %d %s" % (e.code, body))
dwtest.wait_until("release-3 exported", lambda: metrics_have(
    'deploywatch_deploy_timestamp_seconds{deploy="release-3"}',
    'deploywatch_verdict{deploy="release-3",check="verdict"} -1'))
check(agent.stop() == 0, "the agent's exit")
print("ok")
