"""The agent as Prometheus sees it: `promtool check metrics` finds nothing wrong with /metrics
beyond the camelCase lint it also prints for node_exporter's own names, gzip and OpenMetrics work,
and a real Prometheus scrapes the agent (`up` is 1, host series arrive)."""
import gzip
import os
import re
import shutil
import subprocess

from dwtest import Agent, Prometheus, agent_config, args, check, free_port, http_get, start, wait_until

a = args()
promtool = shutil.which("promtool")
prometheus = shutil.which("prometheus")
node_exporter = shutil.which("prometheus-node-exporter")
check(promtool and prometheus and node_exporter,
      "promtool, prometheus and prometheus-node-exporter are required (scripts/install-deps.sh test)")

agent = Agent(a.binary, agent_config(a.workdir), a.workdir)
agent.wait_listening()


def metrics_after_first_tick():
    # /metrics may be rendered while the first tick is still filling the registry: wait for a
    # body that a completed tick wrote (deploywatch_ticks_total >= 1), not merely for one name.
    status, headers, body = http_get(agent.url("/metrics"))
    m = re.search(rb"^deploywatch_ticks_total ([0-9.e+]+)$", body, re.M)
    return status == 200 and m and float(m.group(1)) >= 1 and (headers, body)


headers, body = wait_until("a completed tick on /metrics", metrics_after_first_tick)
check(headers["Content-Type"].startswith("text/plain; version=0.0.4"),
      "content type %r" % headers["Content-Type"])
text = body.decode()
for name in ["node_memory_MemAvailable_bytes", "node_load1", "node_filesystem_avail_bytes",
             "node_network_receive_bytes_total", "deploywatch_build_info",
             "namedprocess_namegroup_memory_bytes", "node_tcp_established_connections"]:
    check(re.search(r"^" + name + r"[{ ]", text, re.M), "%s missing from /metrics" % name)
check(re.search(r'^node_filesystem_size_bytes\{[^}]*mountpoint="/"', text, re.M),
      "no filesystem series for /")

# gzip when accepted, and it decodes to a valid exposition.
status, h, gz = http_get(agent.url("/metrics"), {"Accept-Encoding": "gzip"})
check(status == 200 and h.get("Content-Encoding") == "gzip", "no gzip: %s" % h)
check(b"node_cpu_seconds_total" in gzip.decompress(gz), "gzip body does not decode")

# OpenMetrics when negotiated.
status, h, om = http_get(agent.url("/metrics"),
                         {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
check(status == 200 and h["Content-Type"].startswith("application/openmetrics-text"),
      "no OpenMetrics: %s" % h.get("Content-Type"))
check(om.rstrip().endswith(b"# EOF"), "OpenMetrics output lacks # EOF")

# Health endpoints.
for path in ["/-/healthy", "/-/ready"]:
    status, _, _ = http_get(agent.url(path))
    check(status == 200, "%s: %d" % (path, status))
status, _, _ = http_get(agent.url("/no/such/path"))
check(status == 404, "unknown path: %d" % status)


def promtool_problems(exposition):
    """promtool check metrics on 'exposition': (exit code, non-empty output lines)."""
    p = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True,
                       timeout=60)
    lines = (p.stdout + p.stderr).decode().splitlines()
    return p.returncode, [l for l in lines if l.strip()]


# node_exporter's own output, for the camelCase lint baseline.
ne_port = free_port()
start([node_exporter, "--web.listen-address=127.0.0.1:%d" % ne_port],
      os.path.join(a.workdir, "node_exporter.log"))


def fetch_ne():
    try:
        status, _, b = http_get("http://127.0.0.1:%d/metrics" % ne_port, timeout=5)
    except OSError:
        return None
    return status == 200 and b


ne = wait_until("node_exporter /metrics", fetch_ne)
_, ne_problems = promtool_problems(ne)
camel = re.compile(r"metric names should be written in 'snake_case' not 'camelCase'")
check(ne_problems, "promtool found nothing at all in node_exporter's output: is the lint running?")

# Every lint promtool prints for our output must be one it prints for node_exporter's output on
# the same metric name (we use node_exporter's names), or the camelCase lint itself.
rc, ours = promtool_problems(body)
other = [l for l in ours if l not in set(ne_problems) and not camel.search(l)]
check(not other, "promtool check metrics found problems node_exporter does not have:\n" + "\n".join(other))
# promtool's linter reads only the text format. The OpenMetrics output is checked by the real
# Prometheus below: 2.42 asks for OpenMetrics first, so `up == 1` means it parsed ours.

# A real Prometheus scrapes the agent.
prom = Prometheus(a.workdir, """\
  - job_name: deploywatch
    static_configs:
      - targets: ['127.0.0.1:%d']
""" % agent.port)
prom.wait_up("deploywatch")
r = wait_until("node_cpu_seconds_total in Prometheus",
               lambda: prom.query('count(node_cpu_seconds_total{job="deploywatch",mode="idle"})'),
               timeout=60, interval=0.5)
ncpu = os.cpu_count()
check(int(r[0]["value"][1]) == ncpu, "Prometheus has %s idle CPU series, the host has %d CPUs"
      % (r[0]["value"][1], ncpu))
r = prom.query('node_memory_MemTotal_bytes{job="deploywatch"}')
memtotal = int(re.search(r"^MemTotal:\s+(\d+) kB", open("/proc/meminfo").read(), re.M).group(1)) * 1024
check(r and float(r[0]["value"][1]) == memtotal, "MemTotal in Prometheus %s, kernel %d" % (r, memtotal))

rc = agent.stop()
check(rc == 0, "agent exit status %d" % rc)
print("integration_scrape: ok")
