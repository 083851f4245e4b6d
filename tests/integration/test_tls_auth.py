"""The production shape: a real Prometheus scrapes the agent over HTTPS with basic auth, exactly
as its scrape config would on a fleet; a wrong or missing password gets 401."""
import base64
import os
import ssl
import urllib.error
import urllib.request

from dwtest import Agent, Prometheus, agent_config, args, check, write

a = args()
fixtures = os.path.join(a.source, "tests", "fixtures", "http")
cert, key = os.path.join(fixtures, "cert.pem"), os.path.join(fixtures, "key.pem")
bcrypt = open(os.path.join(fixtures, "bcrypt_s3cret.txt")).read().strip()

cfg = agent_config(a.workdir)
write(cfg, open(cfg).read().replace("web:\n", """web:
  tls_cert_file: %s
  tls_key_file: %s
  basic_auth_users:
    prometheus: '%s'
""" % (cert, key, bcrypt)))
agent = Agent(a.binary, cfg, a.workdir)
agent.wait_listening()
base = "https://localhost:%d" % agent.port
tls = ssl.create_default_context(cafile=cert)


def get(path, user=None, password=None):
    req = urllib.request.Request(base + path)
    if user is not None:
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(req, context=tls, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


status, headers, _ = get("/metrics")
check(status == 401, "no credentials: %d" % status)
check(headers.get("WWW-Authenticate", "").startswith("Basic"), "no WWW-Authenticate: %s" % headers)
status, _, _ = get("/metrics", "prometheus", "wrong")
check(status == 401, "wrong password: %d" % status)
status, _, _ = get("/metrics", "nobody", "s3cret")
check(status == 401, "unknown user: %d" % status)
status, _, body = get("/metrics", "prometheus", "s3cret")
check(status == 200 and b"node_cpu_seconds_total" in body, "right password: %d" % status)

# Plain HTTP to the HTTPS port must not be answered with metrics.
try:
    urllib.request.urlopen("http://127.0.0.1:%d/metrics" % agent.port, timeout=5)
    check(False, "plain HTTP was answered on the HTTPS port")
except (urllib.error.URLError, ConnectionError, OSError):
    pass

prom = Prometheus(a.workdir, """\
  - job_name: deploywatch
    scheme: https
    tls_config:
      ca_file: %s
    basic_auth:
      username: prometheus
      password: s3cret
    static_configs:
      - targets: ['localhost:%d']
  - job_name: deploywatch_wrong_password
    scheme: https
    tls_config:
      ca_file: %s
    basic_auth:
      username: prometheus
      password: not-it
    static_configs:
      - targets: ['localhost:%d']
""" % (cert, agent.port, cert, agent.port))
prom.wait_up("deploywatch")
prom.wait_up("deploywatch_wrong_password", value="0", timeout=60)
r = prom.query('count(node_load1{job="deploywatch"})')
check(r and r[0]["value"][1] == "1", "node_load1 did not arrive over HTTPS: %s" % r)
check(agent.stop() == 0, "agent exit status")
print("integration_tls_auth: ok")
