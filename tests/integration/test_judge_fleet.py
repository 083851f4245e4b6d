"""Fleet mode: a real Prometheus (HTTPS, basic auth) scrapes two agents on loopback every second
while each agent tails its own nginx and Laravel logs, written live here; deploys are marked on
both agents, and `deploywatch judge --prometheus URL` must say PASS for a clean fleet and FAIL,
naming the check, when one agent's 5xx rises. A wrong password, a missing CA and a failing query
are clear failures, never a pass. Last, the same judgement through an agent's own /api/v1 and on
its local store must give the same numbers: the remote backend folds as the local one does.

Short periods (--baseline 10s --window 10s, warm-up a tenth of it) keep the test under a minute.
"""
import base64
import datetime
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dwtest  # noqa: E402
import judge_logs  # noqa: E402

a = dwtest.args()
check = dwtest.check
fixtures = os.path.join(os.path.abspath(a.source), "tests", "fixtures", "http")
cert, key = os.path.join(fixtures, "cert.pem"), os.path.join(fixtures, "key.pem")
bcrypt = open(os.path.join(fixtures, "bcrypt_s3cret.txt")).read().strip()
PERIOD = 10  # seconds of baseline and of window
password_file = dwtest.write(os.path.join(a.workdir, "password"), "s3cret\n")
wrong_file = dwtest.write(os.path.join(a.workdir, "wrong"), "not-it\n")

# ---- two agents, each following its own logs; no /proc (CPU and memory would follow the other
# work on this machine, not the deploy: those checks are SKIP, "not collected here") ----
empty_proc = os.path.join(a.workdir, "no-proc")
os.makedirs(empty_proc)
agents, logs = [], []
for i in (1, 2):
    d = os.path.join(a.workdir, "host%d" % i)
    os.makedirs(d)
    nginx = dwtest.write(os.path.join(d, "nginx-access.log"), "")
    laravel = dwtest.write(os.path.join(d, "laravel.log"), "")
    cfg = dwtest.write(os.path.join(d, "dw.yml"), """\
storage:
  path: %s/data
  sample_interval: 1s
web:
  listen_address: 127.0.0.1:0
sources:
  - name: nginx
    path: %s
    format: nginx
  - name: laravel
    path: %s
    format: laravel
    app_root: /var/www/cyh
system:
  proc_path: %s
  sys_path: %s
""" % (d, nginx, laravel, empty_proc, empty_proc))
    ag = dwtest.Agent(a.binary, cfg, d, name="agent%d" % i)
    agents.append((ag, cfg, d))
    logs.append((nginx, laravel))
for ag, _, _ in agents:
    ag.wait_listening()

# ---- Prometheus behind TLS and basic auth (its --web.config.file), scraping both ----
port = dwtest.free_port()
pd = os.path.join(a.workdir, "prometheus")
os.makedirs(pd)
dwtest.write(os.path.join(pd, "web.yml"), """\
tls_server_config:
  cert_file: %s
  key_file: %s
basic_auth_users:
  alice: '%s'
""" % (cert, key, bcrypt))
dwtest.write(os.path.join(pd, "prometheus.yml"), """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: deploywatch
    static_configs:
      - targets: ['127.0.0.1:%d', '127.0.0.1:%d']
""" % (agents[0][0].port, agents[1][0].port))
prom_bin = dwtest.shutil.which("prometheus")
check(prom_bin, "prometheus is required (scripts/install-deps.sh test)")
dwtest.start([prom_bin, "--config.file=" + os.path.join(pd, "prometheus.yml"),
              "--web.config.file=" + os.path.join(pd, "web.yml"),
              "--storage.tsdb.path=" + os.path.join(pd, "data"),
              "--web.listen-address=127.0.0.1:%d" % port], os.path.join(a.workdir, "prometheus.log"))
URL = "https://localhost:%d" % port
tls = ssl.create_default_context(cafile=cert)
auth = "Basic " + base64.b64encode(b"alice:s3cret").decode()


def prom_query(q):
    req = urllib.request.Request(URL + "/api/v1/query?" + urllib.parse.urlencode({"query": q}),
                                 headers={"Authorization": auth})
    try:
        with urllib.request.urlopen(req, context=tls, timeout=5) as r:
            return json.loads(r.read())["data"]["result"]
    except OSError:
        return None


dwtest.wait_until("Prometheus scraping both agents",
                  lambda: (prom_query('sum(up{job="deploywatch"})') or [{"value": [0, "0"]}])[0]
                  ["value"][1] == "2", timeout=60, interval=0.2)

# ---- live traffic: 20 requests a second per host; 1 in 25 a 5xx, host 2 1 in 3 once 'bad' ----
state = {"bad": False, "stop": False, "n": 0}


def traffic():
    files = [(open(n, "a"), open(l, "a")) for n, l in logs]
    last_info = 0
    while not state["stop"]:
        now = datetime.datetime.now(datetime.timezone.utc)
        state["n"] += 1
        n = state["n"]
        for i, (nf, lf) in enumerate(files):
            bad = state["bad"] and i == 1
            status = 500 if (n % 3 == 0 if bad else n % 25 == 0) else 200
            nf.write(judge_logs.nginx_line(now, "/orders", status, 0.05))
            nf.flush()
            if int(time.time()) != last_info:
                lf.write(judge_logs.info(now, "Order placed"))
                lf.flush()
        last_info = int(time.time())
        time.sleep(0.05)


writer = threading.Thread(target=traffic, daemon=True)
writer.start()


def mark(name):
    """POST /api/v1/deploys on each host, as the deploy script does on each; the marker time."""
    at = []
    for ag, _, _ in agents:
        req = urllib.request.Request(ag.url("/api/v1/deploys"), method="POST",
                                     data=("name=" + name).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            at.append(json.loads(r.read())["data"]["at"])
    return at


def judge(*extra, env=None):
    e = dict(os.environ)
    e.pop("DEPLOYWATCH_PROMETHEUS_PASSWORD", None)
    e.update(env or {})
    return dwtest.run([a.binary, "judge", "--baseline", "%ds" % PERIOD, "--window",
                       "%ds" % PERIOD] + list(extra), env=e, timeout=60)


def fleet(*extra, **kw):
    return judge("--prometheus", URL, "--prometheus-user", "alice", "--prometheus-ca", cert,
                 *extra, **kw)


def sleep_until(t):
    """The periods are wall-clock time: wait for the clock, polling with a deadline."""
    dwtest.wait_until("the clock to reach %.1f" % t, lambda: time.time() >= t,
                      timeout=PERIOD * 3, interval=0.1)


# a full baseline of traffic, then the clean deploy
sleep_until(time.time() + PERIOD + 1.5)
t_a = time.time()
mark("release-a")
# the window closes PERIOD after the marker; one more scrape (1 s) carries its last counts
sleep_until(t_a + PERIOD + 2)

# the bad deploy: host 2 starts failing one request in three
state["bad"] = True
t_b = time.time()
mark("release-b")

rc, out, err = fleet("--deploy", "release-a", "--prometheus-password-file", password_file,
                     "--json")
check(rc == 0, "clean fleet: exit %d, want 0 (PASS): %s %s" % (rc, out[:1500], err))
j = json.loads(out)
checks = {c["name"]: c for c in j["checks"]}
check(j["verdict"] == "PASS" and j["deploy"] == "release-a", "clean: %s" % j["summary"])
check(checks["http_5xx_ratio"]["result"] == "PASS", "clean: %s" % checks["http_5xx_ratio"])
# both hosts' requests are counted: 2 x 20/s over the window less its warm-up
check(checks["http_5xx_ratio"]["window_exposure"] > 1.4 * 20 * (PERIOD - 1),
      "clean: the fleet's requests %s" % checks["http_5xx_ratio"]["window_exposure"])
check(checks["cpu_usage"]["result"] == "SKIP", "clean: cpu %s" % checks["cpu_usage"])
check(j["new_exceptions_checked"] is False, "fleet mode cannot have checked new exceptions")

# the table, with the password from the environment this time
rc, out, err = fleet("--deploy", "release-a", env={"DEPLOYWATCH_PROMETHEUS_PASSWORD": "s3cret"})
check(rc == 0 and out.startswith("PASS  deploy release-a"), "table: %d %s %s" % (rc, out, err))
check("new exceptions: not checked in fleet mode" in out, "the table says new exceptions "
      "were not checked: %s" % out)

sleep_until(t_b + PERIOD + 2)
# no --deploy: the latest marker the agents export
rc, out, err = fleet("--prometheus-password-file", password_file, "--json")
check(rc == 1, "bad fleet: exit %d, want 1 (FAIL): %s %s" % (rc, out[:1500], err))
j = json.loads(out)
checks = {c["name"]: c for c in j["checks"]}
check(j["deploy"] == "release-b", "the latest marker is release-b: %s" % j["deploy"])
check(abs(j["marker"] - t_b) < 1, "the marker's time %s, marked at %.3f" % (j["marker"], t_b))
check(checks["http_5xx_ratio"]["result"] == "FAIL", "bad: %s" % checks["http_5xx_ratio"])
check("http_5xx_ratio" in j["summary"], "bad: the summary names the check: %s" % j["summary"])
print("a fleet judgement through Prometheus (HTTPS, basic auth): %.1f ms" % j["elapsed_ms"])
check(checks["laravel_errors"]["result"] == "PASS", "bad: laravel_errors %s"
      % checks["laravel_errors"])
# --selector judges some hosts: the healthy one passes, the failing one alone fails
for i, want in ((0, 0), (1, 1)):
    sel = 'instance="127.0.0.1:%d"' % agents[i][0].port
    rc, out, err = fleet("--prometheus-password-file", password_file, "--json", "--selector", sel)
    check(rc == want, "--selector %s: exit %d, want %d: %s %s" % (sel, rc, want, out[:800], err))
    j = json.loads(out)
    check(j["deploy"] == "release-b", "--selector: the marker %s" % j["deploy"])
    ratio = {c["name"]: c for c in j["checks"]}["http_5xx_ratio"]
    check(ratio["window_exposure"] < 1.2 * 20 * PERIOD, "--selector %s counted more than one "
          "host: %s" % (sel, ratio["window_exposure"]))
rc, out, err = fleet("--prometheus-password-file", password_file, "--selector", "instance=")
check(rc == 64 and "--selector" in err, "a bad selector: exit %d %r" % (rc, err))
state["stop"] = True
writer.join()

# ---- failures are clear, and never a pass ----
rc, out, err = fleet("--prometheus-password-file", wrong_file)
check(rc == 74 and "401" in err and "wrong user or password" in err,
      "a wrong password: exit %d %r" % (rc, err))
check("not-it" not in err and "s3cret" not in err, "the password was printed: %r" % err)
rc, out, err = judge("--prometheus", URL, "--prometheus-user", "alice",
                     "--prometheus-password-file", password_file)
check(rc == 74 and "--prometheus-ca" in err, "https without the CA: exit %d %r" % (rc, err))
rc, out, err = judge("--prometheus", URL, "--prometheus-user", "alice", "--prometheus-insecure",
                     "--prometheus-password-file", password_file, "--deploy", "release-b")
check(rc == 1, "--prometheus-insecure: exit %d %s" % (rc, err))
rc, out, err = judge("--prometheus", URL + "/", "--prometheus-ca", cert)
check(rc == 74 and "401" in err, "no credentials: exit %d %r" % (rc, err))
rc, out, err = fleet("--prometheus-password-file", password_file, "--deploy", "nope")
check(rc == 66 and "nope" in err, "an unknown deploy: exit %d %r" % (rc, err))
rc, out, err = judge("--prometheus", "http://user:pw@127.0.0.1:%d" % port)
check(rc == 64 and "pw" not in err, "a password in the URL: exit %d %r" % (rc, err))

# the config's judge.prometheus, and a check whose query Prometheus refuses: ERROR with its
# error type and message, and INCONCLUSIVE (2), never PASS
cfg = dwtest.write(os.path.join(a.workdir, "fleet.yml"), """\
judge:
  min_traffic: 1
  prometheus:
    url: %s
    username: alice
    password_file: %s
    ca_file: %s
    timeout: 10s
  checks:
    - name: typo
      expr: sum(rate(http_requests_total[$range]) > 
      kind: value
      max: 1
    - name: requests
      expr: sum(increase(http_requests_total[$range]))
      kind: value
""" % (URL, password_file, cert))
rc, out, err = judge("-c", cfg, "--deploy", "release-b", "--json")
check(rc == 2, "a failing query: exit %d, want 2: %s %s" % (rc, out[:800], err))
checks = {c["name"]: c for c in json.loads(out)["checks"]}
check(checks["typo"]["result"] == "ERROR" and "query failed: bad_data" in
      checks["typo"]["reason"] and "HTTP 400" in checks["typo"]["reason"],
      "the query error: %s" % checks["typo"])
check(checks["requests"]["result"] == "PASS", "requests: %s" % checks["requests"])

# ---- the same judgement on host 2's store and through host 2's own /api/v1: same numbers ----
ag, cfg1, _ = agents[1]
at = "%.3f" % (t_b + PERIOD + 1)
dep = "%.3f" % t_b
rc, local, err = judge("-c", cfg1, "--deploy", "release-b", "--deploy-at", dep, "--at", at,
                       "--json")
check(rc == 1, "local judge of the failing host: %d %s" % (rc, err))
rc2, remote, err = judge("-c", cfg1, "--deploy", "release-b", "--deploy-at", dep, "--at", at,
                         "--json", "--prometheus", "http://127.0.0.1:%d" % ag.port)
check(rc2 == rc, "local %d, through the agent's API %d: %s" % (rc, rc2, err))
lj, rj = json.loads(local), json.loads(remote)
check(lj["checks"] == rj["checks"], "the checks differ:\n%s\n%s" % (lj["checks"], rj["checks"]))
check(lj["traffic"] == rj["traffic"], "traffic differs: %s %s" % (lj["traffic"], rj["traffic"]))
check(rj["checks"][0]["window"] is not None, "nothing was compared: %s" % rj["checks"][0])

for ag, _, _ in agents:
    check(ag.stop() == 0, "agent exit")
print("integration_judge_fleet: ok")
