"""Rotation torture: every line exactly once.

(a) A writer appends Laravel entries at a high rate while the log is rotated many times: by
    rename+create (laravel.log -> laravel.log.N, a new laravel.log), by copytruncate (copied to
    laravel.log.N, truncated in place), by delete and recreate, and by switching to a new daily
    file (laravel-2026-12-0N.log, which the glob laravel*.log matches). At the end the agent's
    counters per level equal what the writer wrote — on /metrics and, after SIGTERM, in the store.
(b) The same writer with the agent killed by SIGKILL at random moments and restarted, again and
    again; rotations (rename+create, daily files) happen while it is down too. After the last restart the stored and live
    counts equal what was written: nothing lost, nothing doubled.

Set DW_TAIL_SEED to replay a run.
"""
import os
import random
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dwtest import Agent, args, check, fail, http_get, run, wait_until, write  # noqa: E402

LEVELS = ("ERROR", "WARNING", "INFO")


def config(workdir, logdir):
    return write(os.path.join(workdir, "deploywatch.yml"), """\
storage:
  path: %s/data
  sample_interval: 1s
web:
  listen_address: 127.0.0.1:0
sources:
  - name: app
    path: %s/laravel*.log
    format: laravel
system:
  filesystems: [/]
tail:
  idle_timeout: 100ms
  check_interval: 500ms
""" % (workdir, logdir))


class Writer:
    """Appends numbered entries to the current log file, as Monolog does (open, append, close
    per burst), and rotates it the ways logrotate and Laravel's daily channel do."""

    def __init__(self, logdir, rng, deletes=True):
        self.dir = logdir
        self.rng = rng
        self.deletes = deletes
        self.current = os.path.join(logdir, "laravel.log")
        self.written = {lv: 0 for lv in LEVELS}
        self.seq = 0
        self.rotations = {"rename": 0, "copytruncate": 0, "delete": 0, "daily": 0}
        self.serial = 0
        self.day = 1
        self.before_truncate = None

    def burst(self, n):
        lines = []
        for _ in range(n):
            lv = LEVELS[self.seq % 3]
            # Timestamps in the past: the agent counts them, at log time or as late.
            lines.append("[2026-11-30 10:%02d:%02d] production.%s: entry %d of the torture "
                         "test {\"seq\":%d}\n" % ((self.seq // 60) % 60, self.seq % 60, lv,
                                                 self.seq, self.seq))
            self.written[lv] += 1
            self.seq += 1
        fd = os.open(self.current, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, "".join(lines).encode())
        os.close(fd)

    def rotate(self, kinds=None):
        kinds = kinds or (["rename", "copytruncate", "daily"] + (["delete"] if self.deletes else []))
        kind = self.rng.choice(kinds)
        self.serial += 1
        if not os.path.exists(self.current):
            return
        if kind == "rename":
            os.rename(self.current, "%s.%d" % (self.current, self.serial))
        elif kind == "copytruncate":
            if self.before_truncate:
                self.before_truncate()
            shutil.copyfile(self.current, "%s.%d" % (self.current, self.serial))
            os.truncate(self.current, 0)
        elif kind == "delete":
            # The agent must have read it all first: deleting unread lines loses them for anyone.
            return kind
        else:
            self.day += 1
            self.current = os.path.join(self.dir, "laravel-2026-12-%02d.log" % self.day)
        self.rotations[kind] += 1
        return kind


_SAMPLE = re.compile(r'^laravel_log_entries_total\{level="(\w+)"\} (\S+)$', re.M)


def live_counts(agent):
    status, _, body = http_get(agent.url("/metrics"))
    if status != 200:
        return None
    got = {m.group(1): float(m.group(2)) for m in _SAMPLE.finditer(body.decode())}
    return {lv: int(got.get(lv.lower(), 0)) for lv in LEVELS}


def metric(agent, name):
    _, _, body = http_get(agent.url("/metrics"))
    return sum(float(m.group(1)) for m in
               re.finditer(r'^%s(?:\{[^}]*\})? (\S+)$' % re.escape(name), body.decode(), re.M))


def stored_counts(a, cfg):
    rc, out, err = run([a.binary, "dump", "-c", cfg, "-m", "laravel_log_entries_total"])
    check(rc == 0, "dump failed: %s" % err)
    last = {}
    for line in out.splitlines():
        m = re.match(r'\{__name__="laravel_log_entries_total", level="(\w+)"\} (\S+) (\d+)', line)
        if m:
            last[m.group(1)] = float(m.group(2))
    return {lv: int(last.get(lv.lower(), 0)) for lv in LEVELS}


def wait_counts(agent, w, what):
    def done():
        c = live_counts(agent)
        return c == w.written and c
    try:
        wait_until(what, done, timeout=60)
    except SystemExit:
        fail("%s: /metrics has %s, written %s\n%s" % (what, live_counts(agent), w.written,
                                                      agent.text()[-4000:]))


def wait_quiet(fn, timeout):
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def caught_up(agent, w):
    return live_counts(agent) == w.written


def phase_live(a, rng):
    work = os.path.join(a.workdir, "live")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    w = Writer(logdir, rng)
    w.burst(50)
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    # Files rotated away before the agent first opened them are replay's business.
    agent.wait_log(r'msg="deploywatch \S+ started')

    def caught_up_or_fail():
        # copytruncate loses, for any reader, what was not read before the truncation and is
        # in neither the copy (made earlier) nor the file: logrotate(8) says so. The agent reads
        # what it missed from the copy, but only for a file it had opened: wait for that.
        if not wait_quiet(lambda: caught_up(agent, w), 60):
            fail("the agent did not catch up before a copytruncate: /metrics has %s, written "
                 "%s\n%s" % (live_counts(agent), w.written, agent.text()[-4000:]))
    w.before_truncate = caught_up_or_fail
    for i in range(60):
        for _ in range(rng.randint(1, 6)):
            w.burst(rng.randint(20, 200))
        kind = w.rotate()
        if kind == "delete":
            if not wait_quiet(lambda: caught_up(agent, w), 60):
                fail("the agent did not read %s before it was deleted: /metrics has %s, "
                     "written %s\n%s" % (w.current, live_counts(agent), w.written,
                                         agent.text()[-4000:]))
            os.unlink(w.current)
            w.rotations["delete"] += 1
    w.burst(100)
    wait_counts(agent, w, "every entry counted once after %d rotations %s" % (60, w.rotations))
    check(metric(agent, "deploywatch_tail_rotations_total") >= 1, "no rotation was seen")
    check(metric(agent, "deploywatch_tail_truncations_total") >= 1, "no truncation was seen")
    check(agent.stop() == 0, "agent exit status")
    stored = stored_counts(a, cfg)
    check(stored == w.written, "stored counts %s != written %s" % (stored, w.written))
    print("live: %d entries, rotations %s: counted exactly" % (w.seq, w.rotations))


def phase_sigkill(a, rng):
    work = os.path.join(a.workdir, "kill")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    w = Writer(logdir, rng, deletes=False)
    w.burst(50)
    kills = 0
    agent = Agent(a.binary, cfg, work, name="agent0")
    agent.wait_listening()
    agent.wait_log(r'msg="deploywatch \S+ started')
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        kill_at = time.monotonic() + rng.uniform(0.3, 2.5)
        while time.monotonic() < kill_at:
            w.burst(rng.randint(10, 100))
            if rng.random() < 0.15:
                w.rotate(["rename", "daily"])
            time.sleep(rng.uniform(0, 0.02))
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait()
        kills += 1
        # Written and rotated while the agent is down.
        for _ in range(rng.randint(0, 3)):
            w.burst(rng.randint(10, 100))
            if rng.random() < 0.3:
                w.rotate(["rename", "daily"])
        agent = Agent(a.binary, cfg, work, name="agent%d" % kills)
        agent.wait_listening()
    w.burst(100)
    wait_counts(agent, w, "every entry counted once after %d SIGKILLs and rotations %s" %
                (kills, w.rotations))
    check(agent.stop() == 0, "agent exit status")
    stored = stored_counts(a, cfg)
    check(stored == w.written, "stored counts %s != written %s" % (stored, w.written))
    print("sigkill: %d entries, %d kills, rotations %s: counted exactly" %
          (w.seq, kills, w.rotations))


def main():
    a = args()
    seed = int(os.environ.get("DW_TAIL_SEED", random.randrange(1 << 30)))
    print("DW_TAIL_SEED=%d" % seed)
    rng = random.Random(seed)
    phase_live(a, rng)
    phase_sigkill(a, rng)


if __name__ == "__main__":
    main()
