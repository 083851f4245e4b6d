"""Shared helpers for deploywatch's integration tests: the real binary, real files, real sockets.

Every wait is a poll with a deadline; nothing sleeps and hopes. Each test gets its own work
directory (cleaned at start) and every process it starts is killed at exit.
"""
import argparse
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

_children = []


def _kill_children():
    for p in _children:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_kill_children)


def args():
    """--binary, --source, --workdir as given by ctest; the workdir is emptied."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    return a


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_until(what, fn, timeout=30.0, interval=0.05):
    """Poll fn() until it returns a truthy value; fail with 'what' at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    """A port the kernel just gave out on 127.0.0.1 (for programs that cannot report theirs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def agent_config(workdir, extra="", listen="127.0.0.1:0", interval="1s"):
    """A config for a test agent: its own store, an ephemeral port, no log sources."""
    return write(os.path.join(workdir, "deploywatch.yml"), """\
storage:
  path: %s/data
  sample_interval: %s
web:
  listen_address: %s
sources: []
system:
  filesystems: [/]
  tcp_ports: [3306]
  processes: [deploywatch]
%s""" % (workdir, interval, listen, extra))


class Agent:
    """`deploywatch run -c CONFIG` with stderr captured to a file; learns its port from the log."""

    def __init__(self, binary, config, workdir, name="agent", preexec_fn=None):
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "run", "-c", config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, preexec_fn=preexec_fn)
        _children.append(self.proc)
        self.port = None

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_listening(self, timeout=30):
        def find():
            if self.proc.poll() is not None:
                fail("agent exited with %d before listening:\n%s" % (self.proc.returncode, self.text()))
            m = re.search(r'msg="listening on [^"]*:(\d+)', self.text())
            return m and int(m.group(1))
        self.port = wait_until("the agent to listen", find, timeout)
        return self.port

    def wait_log(self, pattern, timeout=30):
        return wait_until("log matching %r in:\n%s" % (pattern, self.text()),
                          lambda: re.search(pattern, self.text()), timeout)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            fail("agent did not exit within %ds of SIGTERM:\n%s" % (timeout, self.text()))


def http_get(url, headers=None, timeout=10):
    """(status, headers, body bytes); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def run(cmd, timeout=60, **kw):
    """Run a command to completion: (returncode, stdout, stderr) as text."""
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr


def start(cmd, log_path, **kw):
    """Start a helper process (Prometheus, node_exporter) that is killed at exit."""
    log = open(log_path, "w")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **kw)
    _children.append(p)
    return p


class Prometheus:
    """A real Prometheus (the Debian package) on a free loopback port, scraping every second
    with the given scrape_configs (YAML list items, indented by two spaces)."""

    def __init__(self, workdir, scrape_configs):
        binary = shutil.which("prometheus")
        check(binary, "prometheus is required (scripts/install-deps.sh test)")
        self.port = free_port()
        d = os.path.join(workdir, "prometheus")
        os.makedirs(d)
        write(os.path.join(d, "prometheus.yml"), "global:\n  scrape_interval: 1s\n"
              "  evaluation_interval: 1s\nscrape_configs:\n" + scrape_configs)
        start([binary, "--config.file=" + os.path.join(d, "prometheus.yml"),
               "--storage.tsdb.path=" + os.path.join(d, "data"),
               "--web.listen-address=127.0.0.1:%d" % self.port],
              os.path.join(workdir, "prometheus.log"))

    def query(self, q):
        """The result list of an instant query, or None while Prometheus is not answering."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": q}))
        try:
            status, _, body = http_get(url, timeout=5)
        except OSError:
            return None
        return json.loads(body)["data"]["result"] if status == 200 else None

    def wait_up(self, job, value="1", timeout=90):
        """Wait until up{job=...} has 'value' ("1" scraped, "0" failing)."""
        def check_up():
            r = self.query('up{job="%s"}' % job)
            return r and r[0]["value"][1] == value
        wait_until("Prometheus job %s to have up == %s" % (job, value), check_up, timeout, 0.5)
