"""The judge's CPU and memory checks on a live agent whose host sampler reads a fixture /proc tree
(system.proc_path) that this test rewrites as time goes by: low use before the deploy marker, and
after it either CPU over 80 % and memory over 85 % (FAIL naming both checks) or the same low use
(both checks pass). Two agents run side by side so the whole test takes one timeline (~30 s).

Every /proc file is written to a temporary name and renamed over the old one, so the sampler
never reads a half-written file.
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dwtest  # noqa: E402

a = dwtest.args()
check = dwtest.check

NCPU = 4
HZ = 100                 # USER_HZ: /proc/stat counts 1/100 s
MEM_TOTAL_KB = 8 * 1024 * 1024
BASELINE_S = 10
WINDOW_S = 10
# (busy share of each CPU, share of memory used): before the marker, and after it
LOW = (0.10, 0.30)
HIGH = (0.95, 0.93)


def atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class FakeProc(threading.Thread):
    """Keeps proc/stat and proc/meminfo of 'root' current: CPU counters grow with the wall clock
    at the phase's busy share; the phase switches from LOW to 'after' at the marker."""

    def __init__(self, root, marker, after):
        super().__init__(daemon=True)
        self.proc = os.path.join(root, "proc")
        os.makedirs(self.proc)
        # The sample stamped at the marker is read a little after it (the tick runs late on a
        # busy machine): switch 0.8 s after, still inside the warm-up the window leaves out.
        self.marker, self.after = marker + 0.8, after
        self.busy = self.idle = 0.0   # seconds per CPU
        self.last = time.time()
        self.stop = threading.Event()
        self.write()

    def phase(self, t):
        return self.after if t >= self.marker else LOW

    def write(self):
        now = time.time()
        # integrate across the switch so the counters never jump
        while self.last < now:
            step_end = min(now, self.marker if self.last < self.marker else now)
            if step_end <= self.last:
                step_end = now
            busy, _ = self.phase(self.last)
            dt = step_end - self.last
            self.busy += dt * busy
            self.idle += dt * (1 - busy)
            self.last = step_end
        used = self.phase(now)[1]
        user, idle = int(self.busy * HZ), int(self.idle * HZ)
        lines = ["cpu  %d 0 0 %d 0 0 0 0 0 0" % (user * NCPU, idle * NCPU)]
        for i in range(NCPU):
            lines.append("cpu%d %d 0 0 %d 0 0 0 0 0 0" % (i, user, idle))
        lines += ["intr 0", "ctxt 0", "btime 1764547200", "processes 1",
                  "procs_running 1", "procs_blocked 0"]
        atomic_write(os.path.join(self.proc, "stat"), "\n".join(lines) + "\n")
        avail = int(MEM_TOTAL_KB * (1 - used))
        atomic_write(os.path.join(self.proc, "meminfo"),
                     "MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\n"
                     "Buffers:        0 kB\nCached:         0 kB\n" % (MEM_TOTAL_KB, avail, avail))

    def run(self):
        while not self.stop.wait(0.1):
            self.write()


def agent(name, marker, after):
    d = os.path.join(a.workdir, name)
    os.makedirs(d)
    fake = FakeProc(d, marker, after)
    fake.start()
    cfg = dwtest.write(os.path.join(d, "dw.yml"), """\
storage:
  path: %s/data
  sample_interval: 1s
web:
  listen_address: 127.0.0.1:0
sources: []
system:
  proc_path: %s/proc
  sys_path: %s/sys
  rootfs_path: %s
  filesystems: []
""" % (d, d, d, d))
    ag = dwtest.Agent(a.binary, cfg, d, name)
    ag.wait_listening()
    return fake, cfg, ag


# The marker falls on a whole second after a full baseline of samples.
marker = int(time.time()) + BASELINE_S + 3
runs = {name: agent(name, marker, after) for name, after in (("high", HIGH), ("low", LOW))}

for name, (fake, cfg, ag) in runs.items():
    def sampled(ag=ag):
        _, _, body = dwtest.http_get(ag.url("/metrics"))
        return b"node_memory_MemAvailable_bytes" in body and b'node_cpu_seconds_total{cpu="3"' in body
    dwtest.wait_until("the sampler reading the fixture tree (%s)" % name, sampled)

dwtest.wait_until("the marker's time", lambda: time.time() >= marker + 0.5, timeout=60)
for name, (fake, cfg, ag) in runs.items():
    rc, out, err = dwtest.run([a.binary, "mark", "-c", cfg, "release-" + name, "--at", str(marker)])
    check(rc == 0, "mark %s: %s" % (name, err))

# the window closes at marker + WINDOW_S; one more tick so its last sample is stored
dwtest.wait_until("the window's end", lambda: time.time() >= marker + WINDOW_S + 1.5, timeout=60)


def judge(cfg, deploy):
    rc, out, err = dwtest.run([a.binary, "judge", "-c", cfg, "--json", "--deploy", deploy,
                               "--baseline", "%ds" % BASELINE_S, "--window", "%ds" % WINDOW_S])
    check(rc in (0, 1, 2), "judge exited %d: %s" % (rc, err))
    j = json.loads(out)
    return rc, {c["name"]: c for c in j["checks"]}, j


fake, cfg, ag = runs["high"]
rc, checks, j = judge(cfg, "release-high")
check(rc == 1 and j["verdict"] == "FAIL", "high: %d %s" % (rc, j["summary"]))
for name, limit, want in (("cpu_usage", 0.8, HIGH[0]), ("memory_usage", 0.85, HIGH[1])):
    c = checks[name]
    check(c["result"] == "FAIL" and name in j["summary"], "high: %s %s" % (name, c["reason"]))
    check(abs(c["window"] - want) < 0.05, "high: %s window value %r, written %r"
          % (name, c["window"], want))
    check(abs(c["baseline"] - LOW[name == "memory_usage"]) < 0.05,
          "high: %s baseline %r" % (name, c["baseline"]))
    check(c["threshold"] == limit, "high: %s limit %r" % (name, c["threshold"]))

fake, cfg, ag = runs["low"]
rc, checks, j = judge(cfg, "release-low")
check(rc != 1, "low: %d %s" % (rc, j["summary"]))
for name in ("cpu_usage", "memory_usage"):
    c = checks[name]
    check(c["result"] == "PASS", "low: %s %s" % (name, c["reason"]))
    check(abs(c["window"] - c["baseline"]) < 0.05, "low: %s %r vs %r"
          % (name, c["window"], c["baseline"]))
# nothing else was collected on this fake host: no traffic, so never a silent PASS either
check(rc == 2 and "traffic" in j["summary"], "low: %d %s" % (rc, j["summary"]))

for name, (fake, cfg, ag) in runs.items():
    fake.stop.set()
    check(ag.stop() == 0, "%s: the agent's exit" % name)
print("ok")
