"""The tailer's live figures, printed beside their targets (bench/run-tail.sh runs it).

  latency   a line appended to an nginx access log -> its counter changed on /metrics (p50, p99)
  cpu       the agent's CPU (utime+stime from /proc) while a writer appends 1,000 lines/s
  memory    resident memory while tailing 50 files that are being written

Usage: tail_live.py DEPLOYWATCH WORK_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

dw, work = sys.argv[1], sys.argv[2]
live = os.path.join(work, "live")
# A fresh directory each run: the agents' stores and logs from an earlier run would be read at
# start-up (records, seeds, the LMDB pages touched count in VmRSS) and grow the memory figure.
shutil.rmtree(live, ignore_errors=True)
os.makedirs(live)
procs = []


def start(name, sources, interval="10s"):
    cfg = os.path.join(live, name + ".yml")
    with open(cfg, "w") as f:
        f.write("storage:\n  path: %s/%s-data\n  sample_interval: %s\nweb:\n"
                "  listen_address: 127.0.0.1:0\nsources:\n%s\nsystem:\n  filesystems: [/]\n"
                % (live, name, interval, sources))
    log = os.path.join(live, name + ".log")
    p = subprocess.Popen([dw, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                         stderr=open(log, "w"))
    procs.append(p)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = re.search(r'listening on [^"]*:(\d+)', open(log).read())
        if m and "started with" in open(log).read():
            return p, int(m.group(1))
        time.sleep(0.05)
    sys.exit("tail bench: the agent did not start:\n" + open(log).read())


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port) as r:
        return r.read().decode()


def counter(text, name):
    return sum(float(v) for v in re.findall(r"^%s(?:\{[^}]*\})? (\S+)$" % name, text, re.M))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wakeups(pid):
    """Voluntary context switches of the agent's main thread (the collector's event loop): each
    is one sleep in poll(), so one wake-up."""
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", f.read()).group(1))


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


NGINX = ('127.0.0.1 - - [%s +0000] "GET /api/x HTTP/1.1" 200 512 "-" "bench" 0.004 0.004\n')


def stamp():
    return time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime())


try:
    # ---- latency ----
    access = os.path.join(live, "access.log")
    open(access, "w").close()
    p, port = start("latency", "  - name: web\n    path: %s\n    format: nginx" % access)
    lat = []
    fd = os.open(access, os.O_WRONLY | os.O_APPEND)
    for i in range(300):
        # Lines 20 ms apart, as a log written now and then (a steady stream is the CPU case).
        time.sleep(0.02)
        before = counter(scrape(port), "http_requests_total")
        t0 = time.perf_counter()
        os.write(fd, (NGINX % stamp()).encode())
        while counter(scrape(port), "http_requests_total") == before:
            pass
        lat.append((time.perf_counter() - t0) * 1000)
    os.close(fd)
    lat.sort()
    p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1]

    # ---- CPU at 1,000 lines/s ----
    fd = os.open(access, os.O_WRONLY | os.O_APPEND)
    secs = int(os.environ.get("TAIL_CPU_SECONDS", "20"))
    c0, w0, s0 = cpu_seconds(p.pid), time.monotonic(), wakeups(p.pid)
    for i in range(secs * 1000):
        os.write(fd, (NGINX % stamp()).encode())
        # One line per millisecond on the wall clock: a steady writer, not bursts.
        delay = w0 + (i + 1) / 1000 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    c1, w1, s1 = cpu_seconds(p.pid), time.monotonic(), wakeups(p.pid)
    os.close(fd)
    cpu_pct = (c1 - c0) / (w1 - w0) * 100
    wake_rate = (s1 - s0) / (w1 - w0)
    # All of the agent's CPU over the collector's wake-ups: an upper bound of one wake-up's cost
    # (it also carries the lines' parsing and the sampling ticks).
    wake_cost = (c1 - c0) / max(s1 - s0, 1) * 1e6
    rate = secs * 1000 / (w1 - w0)
    p.terminate()
    p.wait()

    # ---- memory tailing 50 files ----
    many = os.path.join(live, "many")
    os.makedirs(many, exist_ok=True)
    for i in range(50):
        with open(os.path.join(many, "site%02d.log" % i), "w") as f:
            f.write(NGINX % stamp() * 100)
    p, port = start("memory", "  - name: web\n    path: %s/*.log\n    format: nginx" % many)
    for _ in range(5):
        for i in range(50):
            with open(os.path.join(many, "site%02d.log" % i), "a") as f:
                f.write(NGINX % stamp() * 20)
        time.sleep(0.2)
    deadline = time.monotonic() + 30
    while counter(scrape(port), "http_requests_total") < 50 * 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    files = counter(scrape(port), "deploywatch_tail_files")
    rss = rss_mib(p.pid)
    p.terminate()
    p.wait()

    print("%-52s %12s %12s" % ("live tailing", "measured", "target"))
    print("%-52s %9.2f ms %12s" % ("append -> /metrics latency p50 (300 lines, 20 ms apart)", p50, ""))
    print("%-52s %9.2f ms %12s" % ("append -> /metrics latency p99", p99, "<= 5 ms"))
    print("%-52s %10.2f %% %12s" % ("CPU of one core at %.0f lines/s (%d s)" % (rate, secs),
                                    cpu_pct, "< 1 %"))
    print("%-52s %12.0f" % ("  collector wake-ups per second", wake_rate))
    print("%-52s %9.1f us" % ("  agent CPU per wake-up (all of it / wake-ups)", wake_cost))
    print("%-52s %8.1f MiB %12s" % ("resident memory tailing %d files" % files, rss, "< 8 MiB"))
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
