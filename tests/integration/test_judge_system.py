"""The judge's CPU and memory checks on a live agent whose host sampler reads a fixture /proc tree
(system.proc_path) that this test rewrites as time goes by: low use before the deploy marker, and
after it either CPU over 80 % and memory over 85 % (FAIL naming both checks) or the same low use
(both checks pass). Two agents run side by side so the whole test takes one timeline (~30 s).

Every /proc file is written to a temporary name and renamed over the old one, so the sampler
never reads a half-written file. The marker is put where the stored samples change, not where
the clock says they should: a sample is stamped on the grid but read when its tick runs, which
on a busy host can be most of a second later.
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
    at the phase's busy share; the phase switches from LOW to 'after' at 'switch' (seconds)."""

    def __init__(self, root, switch, after):
        super().__init__(daemon=True)
        self.proc = os.path.join(root, "proc")
        os.makedirs(self.proc)
        self.switch, self.after = switch, after
        self.busy = self.idle = 0.0   # seconds per CPU
        self.last = time.time()
        self.stop = threading.Event()
        self.write()

    def phase(self, t):
        return self.after if t >= self.switch else LOW

    def write(self):
        now = time.time()
        # integrate across the switch so the counters never jump
        while self.last < now:
            step_end = min(now, self.switch if self.last < self.switch else now)
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


def agent(name, switch, after):
    d = os.path.join(a.workdir, name)
    os.makedirs(d)
    fake = FakeProc(d, switch, after)
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


# The use changes half-way between two grid points after a full baseline of samples.
switch = int(time.time()) + BASELINE_S + 3.5
runs = {name: agent(name, switch, after) for name, after in (("high", HIGH), ("low", LOW))}

for name, (fake, cfg, ag) in runs.items():
    def sampled(ag=ag):
        _, _, body = dwtest.http_get(ag.url("/metrics"))
        return b"node_memory_MemAvailable_bytes" in body and b'node_cpu_seconds_total{cpu="3"' in body
    dwtest.wait_until("the sampler reading the fixture tree (%s)" % name, sampled)


def mem_samples(cfg):
    """The stored node_memory_MemAvailable_bytes samples: [(value, ms)]."""
    rc, out, err = dwtest.run([a.binary, "dump", "-c", cfg, "--match",
                               "node_memory_MemAvailable_bytes"])
    check(rc == 0, "dump: %d %s" % (rc, err))
    return [(float(v), int(t)) for v, t in
            (line.rsplit(" ", 2)[1:] for line in out.splitlines() if line.strip())]


def is_low(v):
    return v > MEM_TOTAL_KB * 1024 * (1 - (LOW[1] + HIGH[1]) / 2)


# The marker is the last sample read before the switch: the high agent's last low memory sample
# before its first high one. Every sample up to it was read before the switch, every one after
# it after: a tick that runs late moves the marker, never a high sample into the baseline (a
# marker on the clock's second, with the switch 0.8 s after it, took the high memory of a sample
# read 0.85 s late into the baseline's average).
seen = []


def switched():
    seen[:] = mem_samples(runs["high"][1])
    return any(not is_low(v) for v, _ in seen)


try:
    dwtest.wait_until("a high memory sample stored", switched, timeout=60, interval=0.2)
except SystemExit:
    dwtest.fail("no high memory sample stored after the switch: %r" % seen[-5:])
first_high = next(i for i, (v, _) in enumerate(seen) if not is_low(v))
check(first_high > 0 and all(is_low(v) for v, _ in seen[:first_high]),
      "memory samples around the switch: %r" % seen[max(0, first_high - 3):first_high + 3])
check(all(not is_low(v) for v, _ in seen[first_high:]),
      "a low memory sample after a high one: %r" % seen[first_high - 1:])
marker = seen[first_high - 1][1] // 1000
check(seen[first_high - 1][1] == marker * 1000 and marker < switch,
      "the last sample before the switch at %.1f s is stamped %d ms" % (switch,
                                                                      seen[first_high - 1][1]))
for name, (fake, cfg, ag) in runs.items():
    rc, out, err = dwtest.run([a.binary, "mark", "-c", cfg, "release-" + name, "--at", str(marker)])
    check(rc == 0, "mark %s: %s" % (name, err))


# the window closes at marker + WINDOW_S: wait until both stores have its last sample
def window_stored(cfg):
    got = mem_samples(cfg)
    return got and got[-1][1] >= (marker + WINDOW_S) * 1000


for name, (fake, cfg, ag) in runs.items():
    try:
        dwtest.wait_until("the window's last sample stored (%s)" % name,
                          lambda cfg=cfg: window_stored(cfg), timeout=60, interval=0.2)
    except SystemExit:
        dwtest.fail("%s: the last samples stored: %r, the window ends at %d s"
                    % (name, mem_samples(cfg)[-3:], marker + WINDOW_S))


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
