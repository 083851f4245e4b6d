"""Rotation torture: every line exactly once.

(a) A writer appends Laravel entries at a high rate while the log is rotated many times: by
    rename+create (laravel.log -> laravel.log.N, a new laravel.log), by copytruncate (copied to
    laravel.log.N, truncated in place, with the agent behind: what it had not read yet is read
    from the copy), by delete and recreate, and by switching to a new daily file
    (laravel-2026-12-0N.log, which the glob laravel*.log matches). At the end the agent's
    counters per level equal what the writer wrote — on /metrics and, after SIGTERM, in the store.
(b) The same writer with the agent killed by SIGKILL at random moments and restarted, again and
    again, with every rotation kind mixed, while it runs and while it is down (rename+create,
    copytruncate, daily files; delete and recreate only while it runs and once the store holds
    every line of the file: a file deleted before anyone counted it is lost by definition, which
    test_tail_input checks is counted in deploywatch_tail_lost_files_total). After the last
    restart the stored and live counts equal what was written: nothing lost, nothing doubled, and
    no loss reported.

The one wait before a copytruncate: the agent has opened the file (counted one of its lines). A
file created, written, copied and truncated before the agent ever opened it has its lines in a
copy that no followed path ever named (docs/README.md, "Rotation rule").

Set DW_TAIL_SEED to replay a run; DW_TAIL_SCALE (default 1) scales the number of rotations and
the SIGKILL phase's duration (about 35 s plain and 45 s under ASan at 1, so ctest leaves it).
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
SCALE = float(os.environ.get("DW_TAIL_SCALE", "1"))


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
        self.file_first_seq = 0   # the first entry written to the current file
        self.fresh = True         # nothing written to the current file yet
        self.before_truncate = None
        self.before_delete = None

    def burst(self, n):
        if self.fresh:
            self.file_first_seq = self.seq
            self.fresh = False
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
            if self.before_truncate and not self.fresh:
                self.before_truncate()
            # logrotate's copytruncate: copy, then truncate in place (nothing is written
            # between the two here: a line written there is lost for any reader).
            shutil.copyfile(self.current, "%s.%d" % (self.current, self.serial))
            os.truncate(self.current, 0)
        elif kind == "delete":
            # Deleting lines nobody counted loses them for anyone: the hook waits until they
            # are counted (live) or stored (SIGKILL phase).
            if self.before_delete:
                self.before_delete()
            os.unlink(self.current)
        else:
            self.day += 1
            self.current = os.path.join(self.dir, "laravel-2026-12-%02d.log" % self.day)
        self.fresh = True
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


def total(counts):
    return sum(counts.values()) if counts else -1


def wait_opened(agent, w):
    """The agent counted an entry of the current file, so it has it open: the copy of a file
    it follows is found however far behind it is."""
    if not wait_quiet(lambda: total(live_counts(agent)) > w.file_first_seq, 60):
        fail("the agent did not open %s: /metrics has %s, written %s\n%s" %
             (w.current, live_counts(agent), w.written, agent.text()[-4000:]))


def agent_state(agent):
    """What a failure report needs of a running (or dead) agent: its counts, the store's and
    tailer's self-metrics, its exit status."""
    status = agent.proc.poll()
    if status is not None:
        return "the agent exited with %s" % status
    try:
        return "/metrics has %s; %s" % (live_counts(agent), {m: metric(agent, m) for m in (
            "deploywatch_store_commits_total", "deploywatch_store_commit_errors_total",
            "deploywatch_store_out_of_order_samples_total", "deploywatch_store_pending_samples",
            "deploywatch_tail_lost_files_total", "deploywatch_tail_late_events_total")})
    except OSError as e:
        return "/metrics unreachable: %s" % e


def wait_stored(a, cfg, w, agent):
    """The store holds every entry written (dump reads it beside the running agent)."""
    if not wait_quiet(lambda: stored_counts(a, cfg) == w.written, 60):
        fail("the store did not catch up: %s, written %s; %s; files %s\n%s" %
             (stored_counts(a, cfg), w.written, agent_state(agent), sorted(os.listdir(w.dir)),
              agent.text()[-6000:]))


def n_read_from_copy(work):
    """How often an agent read what it had not from a rotated copy (a counted path)."""
    n = 0
    for name in os.listdir(work):
        if name.startswith("agent") and name.endswith(".log"):
            with open(os.path.join(work, name), errors="replace") as f:
                text = f.read()
            n += len(re.findall(r'from its copy|while stopped: reading it from', text))
    return n


def only_logfmt(agent, what):
    """Everything the agent wrote to stderr is logfmt. libinotifytools printed its own line
    ("Failed to remove watch on PATH: Unknown error -1") at shutdown for every deleted file whose
    watch the kernel had dropped already."""
    bad = [l for l in agent.text().splitlines() if l and not l.startswith("ts=")]
    check(not bad, "%s: the agent wrote lines that are not logfmt:\n%s" % (what, "\n".join(bad[:5])))


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

    w.before_truncate = lambda: wait_opened(agent, w)

    def caught_up_or_fail():
        if not wait_quiet(lambda: caught_up(agent, w), 60):
            fail("the agent did not read %s before it was deleted: /metrics has %s, "
                 "written %s\n%s" % (w.current, live_counts(agent), w.written,
                                     agent.text()[-4000:]))
    w.before_delete = caught_up_or_fail
    rounds = max(10, int(60 * SCALE))
    for i in range(rounds):
        for _ in range(rng.randint(1, 6)):
            w.burst(rng.randint(20, 200))
        w.rotate()
    w.burst(100)
    wait_counts(agent, w, "every entry counted once after %d rotations %s" % (rounds, w.rotations))
    check(metric(agent, "deploywatch_tail_rotations_total") >= 1, "no rotation was seen")
    check(metric(agent, "deploywatch_tail_truncations_total") >= 1, "no truncation was seen")
    check(metric(agent, "deploywatch_tail_lost_files_total") == 0, "a loss was reported")
    check(agent.stop() == 0, "agent exit status")
    only_logfmt(agent, "live")
    stored = stored_counts(a, cfg)
    check(stored == w.written, "stored counts %s != written %s" % (stored, w.written))
    print("live: %d entries, rotations %s: counted exactly (%d truncated file(s) read to their "
          "end from the copy)" % (w.seq, w.rotations, n_read_from_copy(work)))


def phase_sigkill(a, rng):
    work = os.path.join(a.workdir, "kill")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    w = Writer(logdir, rng)
    w.burst(50)
    kills = 0
    agent = Agent(a.binary, cfg, work, name="agent0")
    agent.wait_listening()
    agent.wait_log(r'msg="deploywatch \S+ started')
    # The store's first commit: before it the agent has no record at all, and a file rotated
    # away then is indistinguishable from one older than the agent (left to replay).
    wait_stored(a, cfg, w, agent)
    w.before_truncate = lambda: wait_opened(agent, w)
    w.before_delete = lambda: wait_stored(a, cfg, w, agent)
    deadline = time.monotonic() + 25 * SCALE
    while time.monotonic() < deadline:
        kill_at = time.monotonic() + rng.uniform(0.3, 2.5)
        while time.monotonic() < kill_at:
            w.burst(rng.randint(10, 100))
            if rng.random() < 0.15:
                # Deletes are rarer: each waits for a commit.
                w.rotate(["rename", "copytruncate", "daily"] * 3 + ["delete"])
            time.sleep(rng.uniform(0, 0.02))
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait()
        kills += 1
        # Written and rotated while the agent is down (the copy of a file it never opened is
        # read from its start after the restart: it was made after the last commit).
        w.before_truncate = None
        for _ in range(rng.randint(0, 3)):
            w.burst(rng.randint(10, 100))
            if rng.random() < 0.3:
                w.rotate(["rename", "copytruncate", "daily"])
        agent = Agent(a.binary, cfg, work, name="agent%d" % kills)
        w.before_truncate = lambda: wait_opened(agent, w)
        agent.wait_listening()
    w.burst(100)
    wait_counts(agent, w, "every entry counted once after %d SIGKILLs and rotations %s" %
                (kills, w.rotations))
    # A file deleted after its lines were stored and before the killed agent noticed counts as
    # possibly lost after the restart (how much was written after the last commit is unknown).
    lost = metric(agent, "deploywatch_tail_lost_files_total")
    check(agent.stop() == 0, "agent exit status")
    stored = stored_counts(a, cfg)
    check(stored == w.written, "stored counts %s != written %s" % (stored, w.written))
    print("sigkill: %d entries, %d kills, rotations %s: counted exactly (%d file(s) reported "
          "possibly lost, %d rotated away while the agent was down and read from their copy)" %
          (w.seq, kills, w.rotations, lost, n_read_from_copy(work)))


def main():
    a = args()
    seed = int(os.environ.get("DW_TAIL_SEED", random.randrange(1 << 30)))
    print("DW_TAIL_SEED=%d" % seed)
    rng = random.Random(seed)
    phase_live(a, rng)
    phase_sigkill(a, rng)


if __name__ == "__main__":
    main()
