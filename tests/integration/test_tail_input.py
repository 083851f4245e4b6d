"""The tailer against bad input, log time and replay, with the real binary.

Bad input, each a self-metric and a log line while tailing goes on (a good entry written after
it is counted): a binary file (NUL bytes, invalid UTF-8), a 50 MiB line, a log of only
continuation lines, an unreadable file (the agent runs as an unprivileged user; the file is
made readable later, as after logrotate's chmod), a file deleted while it is being read.
Log time: entries written while the agent was stopped are stored at their log time. Replay:
yesterday's file (plain and .gz) lands at yesterday's times in `dump`, and the same file
replayed again, or a file the agent already counted, is not counted twice; a file written and
deleted while the agent was stopped is a counted, logged loss. A replay into a store that holds
later samples of its series is refused whole (exit 65, nothing stored, not marked counted); a file
too large for one transaction is checked, then written in parts; consecutive files continue.
Rotated copies: logrotate's compress without delaycompress (the copy gzipped at once) and a plain
copy, found while the agent was stopped and while it was frozen (SIGSTOP) behind the writer.
Two files with the same first line keep their own content records. `errors --deploy NAME`.
"""
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dwtest import (Agent, _children, args, check, fail, http_get, run,  # noqa: E402
                    wait_until, write)

NOBODY = 65534


def config(work, logdir, extra="", glob="*.log", check="300ms", interval="1s"):
    return write(os.path.join(work, "deploywatch.yml"), """\
storage:
  path: %s/data
  sample_interval: %s
web:
  listen_address: 127.0.0.1:0
sources:
  - name: app
    path: %s/%s
    format: laravel
system:
  filesystems: [/]
tail:
  idle_timeout: 100ms
  check_interval: %s
  max_line_size: 64KB
%s""" % (work, interval, logdir, glob, check, extra))


class NobodyAgent(Agent):
    """The agent as an unprivileged user, so file permissions apply."""

    def __init__(self, binary, cfg, work):
        self.log_path = os.path.join(work, "agent.log")
        self.log = open(self.log_path, "w")
        cmd = [binary, "run", "-c", cfg]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log)
        _children.append(self.proc)
        self.port = None


def metrics(agent):
    _, _, body = http_get(agent.url("/metrics"))
    return body.decode()


def value(agent, name, **labels):
    total = 0.0
    found = False
    for m in re.finditer(r'^%s(\{[^}]*\})? (\S+)$' % re.escape(name), metrics(agent), re.M):
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
            found = True
    return total if found else None


def entry(level, msg, ts="2026-12-01 10:00:00"):
    return "[%s] production.%s: %s\n" % (ts, level, msg)


def append(path, text, mode="a"):
    with open(path, mode) as f:
        f.write(text)


def wait_value(agent, what, name, want, timeout=60, **labels):
    wait_until("%s (%s%s == %s)" % (what, name, labels, want),
               lambda: value(agent, name, **labels) == want, timeout=timeout)


def bad_input(a):
    work = os.path.join(a.workdir, "bad")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    for d in (work, logdir):
        os.chown(d, NOBODY, NOBODY)
    good = os.path.join(logdir, "good.log")
    append(good, entry("INFO", "start"))
    locked = os.path.join(logdir, "locked.log")
    append(locked, entry("ERROR", "behind a chmod"))
    os.chmod(locked, 0)
    agent = NobodyAgent(a.binary, cfg, work)
    agent.wait_listening()
    agent.wait_log(r'msg="deploywatch \S+ started')
    wait_value(agent, "the first entry", "laravel_log_entries_total", 1, level="info")

    # Unreadable: logged, counted, retried; followed once readable.
    if os.geteuid() == 0:
        agent.wait_log(r'cannot open [^"]*locked.log: Permission denied')
        # The count reaches /metrics when the read pass that logged it ends (and /metrics is
        # rendered at most every 100 ms): wait for it, not the instant after the log line.
        wait_until("the open error counted (deploywatch_tail_errors_total >= 1)",
                   lambda: (value(agent, "deploywatch_tail_errors_total") or 0) >= 1, timeout=10)
    os.chmod(locked, 0o644)
    wait_value(agent, "the unlocked file", "laravel_log_entries_total", 1, level="error")

    # Binary: NUL bytes and invalid UTF-8 are repaired, never a crash; tailing goes on.
    binary = os.path.join(logdir, "binary.log")
    with open(binary, "wb") as f:
        f.write(bytes(range(256)) * 64 + b"\n\x00\x00\xff\xfe\n")
        f.write(entry("WARNING", "after binary \xff").encode("latin-1"))
    wait_value(agent, "the entry after the binary bytes", "laravel_log_entries_total", 1,
               level="warning")
    check(value(agent, "deploywatch_tail_repaired_lines_total", path=binary) >= 1,
          "binary lines not counted as repaired")
    agent.wait_log(r'binary.log: \d+ line\(s\) with NUL bytes or invalid UTF-8, repaired')
    check(value(agent, "deploywatch_tail_unmatched_entries_total") >= 1, "no unmatched entry")
    # The exposition stays valid UTF-8 whatever the input was.
    metrics(agent).encode("utf-8")

    # A 50 MiB line: cut at max_line_size, counted, and the next entry counted.
    long = os.path.join(logdir, "long.log")
    with open(long, "w") as f:
        f.write(entry("DEBUG", "before"))
        chunk = "x" * (1 << 20)
        f.write("[2026-12-01 10:00:00] production.NOTICE: ")
        for _ in range(50):
            f.write(chunk)
        f.write("\n")
        f.write(entry("DEBUG", "after"))
    wait_value(agent, "the entries around a 50 MiB line", "laravel_log_entries_total", 2,
               level="debug")
    wait_value(agent, "the 50 MiB line", "laravel_log_entries_total", 1, level="notice")
    check(value(agent, "deploywatch_tail_long_lines_total", path=long) == 1, "long line not counted")
    agent.wait_log(r'long.log: 1 line\(s\) longer than 65536 bytes, cut there; tailing goes on')

    # Only continuation lines: unmatched entries, logged, counted; tailing goes on.
    cont = os.path.join(logdir, "cont.log")
    before = value(agent, "deploywatch_tail_unmatched_entries_total")
    append(cont, "".join("#%d /var/www/app/x.php(%d): f()\n" % (i, i) for i in range(50)))
    append(cont, entry("CRITICAL", "after continuation lines"))
    wait_value(agent, "the entry after continuation lines", "laravel_log_entries_total", 1,
               level="critical")
    check(value(agent, "deploywatch_tail_unmatched_entries_total") > before,
          "continuation lines without an entry were not counted as unmatched")
    check(re.search(r'matches no pattern of format laravel', agent.text()),
          "no log line for unmatched entries")

    # Deleted while read: 40 MB is read in 4 MiB steps; the file goes mid-way, the agent holds
    # it open and counts every entry.
    big = os.path.join(logdir, "big.log")
    n = 400000
    with open(big, "w") as f:
        for i in range(n):
            f.write(entry("ALERT", "bulk entry %d with some padding to make it long" % i))
    wait_until("the agent to start reading big.log",
               lambda: (value(agent, "deploywatch_tail_bytes_total", path=big) or 0) > 0, 30, 0.001)
    os.unlink(big)
    wait_value(agent, "every entry of a file deleted while read", "laravel_log_entries_total", n,
               level="alert")
    agent.wait_log(r'big.log is gone; reading it to its end')
    append(good, entry("INFO", "still tailing"))
    wait_value(agent, "tailing after everything", "laravel_log_entries_total", 2, level="info")
    check(agent.stop() == 0, "agent exit status")
    print("bad input: each counted and logged; tailing went on")


def dump(a, cfg, sel):
    rc, out, err = run([a.binary, "dump", "-c", cfg, "-m", sel])
    check(rc == 0, "dump failed: %s" % err)
    res = []
    for line in out.splitlines():
        m = re.match(r'(\{.*\}) (\S+) (\d+)$', line)
        if m:
            res.append((m.group(1), float(m.group(2)), int(m.group(3))))
    return res


def log_time_and_replay(a):
    work = os.path.join(a.workdir, "time")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    day = 24 * 3600
    now = int(time.time())
    yesterday = now - day

    def ts(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))

    # Replay of yesterday's rotated file, compressed: at yesterday's times.
    old = os.path.join(work, "laravel.log.1")
    text = "".join(entry("ERROR", "replayed %d" % i, ts(yesterday + 60 * i)) for i in range(10))
    write(old, text)
    with open(old, "rb") as src, gzip.open(old + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app", old + ".gz"])
    check(rc == 0, "replay failed (%d): %s %s" % (rc, out, err))
    check("10 entries" in out, "replay summary: %r" % out)
    samples = dump(a, cfg, 'laravel_log_entries_total{level="error"}')
    # The series starts with a zero one grid step before its first event (so increase()
    # counts that event), then one sample per entry at its log time.
    check(len(samples) == 11, "expected a zero and 10 samples at log time, got %s" % samples)
    check(samples[0][1] == 0 and samples[0][2] == yesterday * 1000 - 1000,
          "the zero before the first event: %s" % (samples[0],))
    for i, (_, v, t) in enumerate(samples[1:]):
        g = ((yesterday + 60 * i) * 1000 + 999) // 1000 * 1000
        check(v == i + 1 and t == g, "sample %d: %s, want %d at %d" % (i, samples[i], i + 1, g))
    # The same content again, plain this time: already counted.
    rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app", old])
    check(rc == 0 and "0 entries" in out and "already counted" in out,
          "second replay: %r %r" % (out, err))
    check(len(dump(a, cfg, 'laravel_log_entries_total{level="error"}')) == 11,
          "a second replay changed the store")

    # The agent: entries written while it was stopped are stored at their log time.
    live = os.path.join(logdir, "laravel.log")
    write(live, entry("WARNING", "first", ts(now - 7200)))
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "the first live entry", "laravel_log_entries_total", 1, level="warning")
    check(agent.stop() == 0, "agent exit status")
    stopped_at = int(time.time())
    append(live, entry("WARNING", "while down", ts(stopped_at - 3600)))
    agent = Agent(a.binary, cfg, work, name="agent2")
    agent.wait_listening()
    wait_value(agent, "the entry written while stopped", "laravel_log_entries_total", 2,
               level="warning")
    check(agent.stop() == 0, "agent exit status")
    samples = dump(a, cfg, 'laravel_log_entries_total{level="warning"}')
    at = [t for _, v, t in samples if v == 1]
    check(at and at[0] == (now - 7200) * 1000, "first entry not at its log time: %s" % samples[:3])
    # The one written while stopped is late for the series (it has samples since): it counts at
    # the first sample after the restart, and the late counter says so.
    check(samples[-1][1] == 2, "last stored value %s" % (samples[-1],))
    # A replay of the file the agent follows counts nothing new.
    rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app", live])
    check(rc == 0 and "0 entries" in out, "replay of a followed file: %r %r" % (out, err))

    # Written and then deleted while the agent was stopped, no copy anywhere: lost for anyone,
    # and said so — a log line and deploywatch_tail_lost_files_total, never silence.
    append(live, entry("WARNING", "lost with its file", ts(now - 60)))
    os.unlink(live)
    write(live, entry("WARNING", "in the new file", ts(now - 30)))
    agent = Agent(a.binary, cfg, work, name="agent3")
    agent.wait_listening()
    wait_value(agent, "the entry of the new file", "laravel_log_entries_total", 3, level="warning")
    check(value(agent, "deploywatch_tail_lost_files_total", path=live) == 1,
          "the deleted file's loss is not counted: %s" % value(agent, "deploywatch_tail_lost_files_total"))
    agent.wait_log(r'laravel.log was replaced or deleted while the agent was stopped and no '
                   r'rotated copy')
    check(agent.stop() == 0, "agent exit status")
    print("log time and replay: at log time, counted once")


def replay_into_written_store(a):
    """A replay whose entries are older than what the store holds for their series (the agent
    has written the store since) is refused whole: exit 65 and a message saying how many events,
    why and what to do; no sample and no catalog record stored, the file not marked as counted.
    The same file into a fresh store is counted in full."""
    work = os.path.join(a.workdir, "refused")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    now = int(time.time())
    yesterday = now - 24 * 3600

    def ts(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))

    # The agent writes the store: its level series (all eight) and one exception class.
    write(os.path.join(logdir, "laravel.log"),
          entry("WARNING", "live", ts(now - 30)) +
          exception("App\\Live", "live bug", ts(now - 20), "app/Live.php"))
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "the live exception", "laravel_exceptions_total", 1,
               **{"class": "App\\\\Live"})
    check(agent.stop() == 0, "agent exit status")

    # Yesterday's file: errors, the class the agent saw, and one it never saw (a series the
    # store does not hold yet, which alone would have been taken): 7 entries, 9 events (each
    # entry's level, and two classes), 3 series of which the store holds 2.
    old = os.path.join(work, "yesterday.log")
    text = "".join(entry("ERROR", "old %d" % i, ts(yesterday + 60 * i)) for i in range(5))
    text += exception("App\\Live", "live bug", ts(yesterday + 400), "app/Live.php")
    text += exception("App\\OnlyOld", "old bug", ts(yesterday + 500), "app/Old.php")
    write(old, text)

    def state(c):
        rc1, d, e1 = run([a.binary, "dump", "-c", c])
        rc2, e, e2 = run([a.binary, "errors", "-c", c, "--since", "3d", "--json"])
        check(rc1 == 0 and rc2 == 0, "dump/errors: %r %r" % (e1, e2))
        return d, e

    before = state(cfg)
    check("App" in before[1] and "OnlyOld" not in before[1], "the catalog: %r" % before[1])
    for attempt in ("first", "second"):
        rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app", old])
        check(rc == 65, "%s replay into a written store: exit %d, want 65: %r %r"
              % (attempt, rc, out, err))
        check("refused, nothing stored" in out and "7 entries" in out and "9 events" in out,
              "%s replay summary: %r" % (attempt, out))
        check("refused, nothing stored (all 9 events of its 7 entries)" in err and
              "2 of the 3 series they write already hold samples" in err and "since %s" % time.strftime(
                  "%Y-%m-%dT", time.gmtime(now)) in err and "another storage.path" in err and
              "not marked as counted" in err, "%s refusal message: %r" % (attempt, err))
        # Nothing of it stored: no sample, no catalog change, no content record (the second
        # attempt is refused again, not skipped as counted).
        check(state(cfg) == before, "%s refused replay changed the store" % attempt)

    # Into a fresh store (another storage.path): counted in full, at yesterday's times.
    fresh = os.path.join(a.workdir, "refused-fresh")
    os.makedirs(fresh)
    cfg2 = config(fresh, logdir)
    rc, out, err = run([a.binary, "replay", "-c", cfg2, "--source", "app", old])
    check(rc == 0 and "7 entries" in out and "9 events" in out and "samples stored" in out,
          "replay into a fresh store: %d %r %r" % (rc, out, err))
    samples = dump(a, cfg2, 'laravel_log_entries_total{level="error"}')
    check(samples and samples[-1][1] == 7 and samples[-1][2] <= (yesterday + 600) * 1000,
          "the errors at yesterday's times: %s" % samples)
    rc, out, err = run([a.binary, "errors", "-c", cfg2, "--since", "3d"])
    check("OnlyOld" in out and "Live" in out, "the fresh store's catalog:\n%s" % out)
    print("replay into a written store: refused whole, exit 65; a fresh store counts it")


def replay_in_parts(a):
    """A file too large for one transaction (more distinct fingerprints than one commit takes)
    is checked to its end, then read again and written in parts: counted in full, each
    exception in the catalog once. An older one of the same shape into that store is refused
    whole by the check, before any part is written."""
    work = os.path.join(a.workdir, "parts")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    now = int(time.time())

    def ts(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))

    def bugs(path, start, n):
        # A distinct in-app frame each: n fingerprints (the catalog's pending cap is 10,000;
        # replay commits before half of it).
        return write(path, "".join(exception("App\\Bug", "bug %d" % i, ts(start + 5 * i),
                                             "app/F%d.php" % i) for i in range(n)))

    def fingerprints(c):
        rc, out, err = run([a.binary, "errors", "-c", c, "--since", "4d"])
        check(rc == 0, "errors: %r" % err)
        return len(re.findall(r"^[0-9a-f]{32}\b", out, re.M))

    n = 6000
    big = bugs(os.path.join(work, "big.log"), now - 2 * 24 * 3600, n)
    rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app", big], timeout=120)
    check(rc == 0 and "%d entries" % n in out and "%d events" % (2 * n) in out,
          "replay in parts: %d %r %r" % (rc, out, err))
    samples = dump(a, cfg, 'laravel_log_entries_total{level="error"}')
    check(samples and samples[-1][1] == n and len(samples) == n + 1,
          "every entry at its log time: %d samples, last %s" % (len(samples), samples[-1:]))
    check(fingerprints(cfg) == n, "the catalog holds %d fingerprints, want %d"
          % (fingerprints(cfg), n))
    rc, d_before, _ = run([a.binary, "dump", "-c", cfg])
    older = bugs(os.path.join(work, "older.log"), now - 3 * 24 * 3600, n)
    rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app", older], timeout=120)
    check(rc == 65 and "refused, nothing stored" in out and "2 of the 2 series they write" in err,
          "an older large file: %d %r %r" % (rc, out, err))
    rc, d_after, _ = run([a.binary, "dump", "-c", cfg])
    check(d_after == d_before and fingerprints(cfg) == n, "a refused large file stored a part")
    print("replay in parts: %d entries counted once; an older one refused whole" % n)


def replay_consecutive_files(a):
    """Two consecutive nginx files, replayed one after the other into one store: the second
    starts less than a grid step after the first ends. Its duration histogram starts again at 0
    (histograms are not seeded from the store); the zero before its first event would land on
    the first file's last sample and be refused, so it is left out, and the file is stored."""
    work = os.path.join(a.workdir, "consecutive")
    os.makedirs(work)
    cfg = write(os.path.join(work, "deploywatch.yml"), """\
storage:
  path: %s/data
  sample_interval: 10s
web:
  listen_address: 127.0.0.1:0
sources:
  - name: web
    path: %s/live/*.log
    format: nginx
system:
  filesystems: [/]
""" % (work, work))
    base = int(time.time()) - 24 * 3600
    base -= base % 10

    def line(t):
        return ('127.0.0.1 - - [%s +0000] "GET / HTTP/1.1" 200 3 "-" "curl/7.88.1" 0.012 -\n'
                % time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime(t)))
    first = write(os.path.join(work, "access.log.2"), "".join(line(base + i) for i in range(60)))
    second = write(os.path.join(work, "access.log.1"),
                   "".join(line(base + 61 + i) for i in range(59)))
    for f, n in ((first, 60), (second, 59)):
        rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "web", f])
        check(rc == 0 and "%d entries" % n in out, "replay %s: %d %r %r" % (f, rc, out, err))
    samples = dump(a, cfg, 'http_requests_total{code="200"}')
    check(samples and samples[-1][1] == 119 and samples[-1][2] == (base + 120) * 1000,
          "both files counted: %s" % samples[-3:])
    print("consecutive files: both stored, the counter continued")


def exception(cls, msg, ts, frame):
    return ('[%s] production.ERROR: %s {"exception":"[object] (%s(code: 0): %s at '
            '/var/www/app/%s:12)\n[stacktrace]\n#0 /var/www/app/%s(12): run()\n#1 {main}\n"}\n'
            % (ts, msg, cls.replace("\\", "\\\\"), msg, frame, frame))


def errors_since_deploy(a):
    """deploywatch errors --deploy NAME: the fingerprints first seen at or after the marker."""
    work = os.path.join(a.workdir, "deploy")
    os.makedirs(os.path.join(work, "logs"))
    cfg = config(work, os.path.join(work, "logs"))
    now = int(time.time())

    def ts(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
    old = write(os.path.join(work, "old.log"),
                exception("App\\OldBug", "old bug", ts(now - 7200), "app/Old.php") +
                exception("App\\Both", "both", ts(now - 7000), "app/Both.php"))
    new = write(os.path.join(work, "new.log"),
                exception("App\\Both", "both", ts(now - 600), "app/Both.php") +
                exception("App\\NewBug", "new bug", ts(now - 500), "app/New.php"))
    for f in (old, new):
        rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app", f])
        check(rc == 0 and "2 entries" in out, "replay %s: %r %r" % (f, out, err))
    rc, out, err = run([a.binary, "errors", "-c", cfg, "--deploy", "v2"])
    check(rc == 66 and "no deploy marker v2" in err, "errors --deploy without a marker: %d %r"
          % (rc, err))
    rc, out, err = run([a.binary, "mark", "-c", cfg, "v2", "--at", str(now - 3600)])
    check(rc == 0, "mark: %r" % err)
    rc, out, err = run([a.binary, "errors", "-c", cfg, "--deploy", "v2"])
    check(rc == 0, "errors --deploy: %d %r" % (rc, err))
    # App\Both was first seen before the deploy: not the deploy's; App\OldBug is older still.
    check("App\\NewBug" in out and "App\\Both" not in out and "App\\OldBug" not in out,
          "errors --deploy v2 lists only the new bug:\n%s" % out)
    rc, out, err = run([a.binary, "errors", "-c", cfg, "--deploy", "v2", "--json"])
    check(rc == 0 and out.count('"fingerprint"') == 1 and "NewBug" in out,
          "errors --deploy --json: %r" % out)
    rc, out, err = run([a.binary, "errors", "-c", cfg, "--since", "3h"])
    check(all(c in out for c in ("NewBug", "OldBug", "Both")), "errors --since 3h:\n%s" % out)
    rc, out, err = run([a.binary, "mark", "-c", cfg, "v3", "--at", str(now)])
    rc, out, err = run([a.binary, "errors", "-c", cfg, "--deploy", "v3"])
    check(rc == 0 and "no exceptions first seen since deploy v3" in out, "v3: %r" % out)
    # The agent started on that store: the exception classes counted before (quiet since) are on
    # /metrics at their stored values and stored from its first ticks, not absent until the
    # class is thrown again.
    started_ms = int(time.time()) * 1000
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "a quiet exception class after a start", "laravel_exceptions_total", 2,
               **{"class": "App\\\\Both"})
    wait_until("the quiet class stored after the start",
               lambda: any(t > started_ms and v == 2 for _, v, t in
                           dump(a, cfg, 'laravel_exceptions_total{class="App\\\\Both"}')),
               timeout=30)
    check(agent.stop() == 0, "agent exit status")
    print("errors --deploy: only what the deploy brought")


def same_first_line(a):
    """Two files of one source whose first lines are byte-identical (a boot banner) keep
    separate content records: a replay of either counts nothing twice, and both rotated away
    while the agent is stopped (renamed, nothing created in their place) go on from their own
    offsets."""
    work = os.path.join(a.workdir, "twins")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    first = entry("INFO", "application booted")
    x, y = os.path.join(logdir, "shop.log"), os.path.join(logdir, "blog.log")
    write(x, first + "".join(entry("ERROR", "shop %d" % i) for i in range(3)))
    write(y, first + "".join(entry("ERROR", "blog %d with a longer text" % i) for i in range(8)))
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "both files", "laravel_log_entries_total", 11, level="error")
    check(agent.stop() == 0, "agent exit status")
    for f in (x, y):
        rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app", f])
        check(rc == 0 and "0 entries" in out, "replay of %s, counted by the agent: %r %r"
              % (f, out, err))
    # While stopped: more lines, then each renamed away and not recreated.
    append(x, entry("ERROR", "shop late"))
    append(y, "".join(entry("ERROR", "blog late %d" % i) for i in range(2)))
    os.rename(x, x + ".1")
    os.rename(y, y + ".1")
    agent = Agent(a.binary, cfg, work, name="agent2")
    agent.wait_listening()
    wait_value(agent, "the lines written while stopped", "laravel_log_entries_total", 14,
               level="error")
    check(agent.stop() == 0, "agent exit status")
    samples = dump(a, cfg, 'laravel_log_entries_total{level="error"}')
    check(samples and samples[-1][1] == 14, "stored %s, want 14" % (samples[-1:],))
    samples = dump(a, cfg, 'laravel_log_entries_total{level="info"}')
    check(samples and samples[-1][1] == 2, "stored info %s, want 2" % (samples[-1:],))
    print("two files with the same first line: each counted once")


def neighbours_after_kill(a):
    """Two sources in one directory (laravel.log and worker.log) and a file nobody follows:
    after a SIGKILL, the restart's search for files rotated away while it was down reads none
    of them for the other source (it once read each neighbour from 0, doubling the counts)."""
    work = os.path.join(a.workdir, "neighbours")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = write(os.path.join(work, "deploywatch.yml"), """\
storage:
  path: %s/data
  sample_interval: 1s
web:
  listen_address: 127.0.0.1:0
sources:
  - name: web
    path: %s/laravel.log
    format: laravel
  - name: worker
    path: %s/worker.log
    format: laravel
system:
  filesystems: [/]
tail:
  idle_timeout: 100ms
""" % (work, logdir, logdir))
    web, worker = os.path.join(logdir, "laravel.log"), os.path.join(logdir, "worker.log")
    write(web, "".join(entry("INFO", "web %d" % i) for i in range(5)))
    write(worker, "".join(entry("INFO", "worker %d" % i) for i in range(5)))
    write(os.path.join(logdir, "other.log"), entry("INFO", "nobody follows this"))
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "both sources", "laravel_log_entries_total", 10, level="info")
    sel = 'laravel_log_entries_total{level="info"}'
    wait_until("the counts committed",
               lambda: sum(s[1] for s in dump(a, cfg, sel)[-2:]) >= 10 and
               len({s[0] for s in dump(a, cfg, sel)}) == 1, timeout=60)
    agent.proc.kill()
    agent.proc.wait()
    # Touched while down, as a busy host would: the ctimes fall after the last commit.
    append(web, entry("INFO", "web while down"))
    append(worker, entry("INFO", "worker while down"))
    append(os.path.join(logdir, "other.log"), entry("INFO", "still nobody's"))
    agent = Agent(a.binary, cfg, work, name="agent2")
    agent.wait_listening()
    wait_value(agent, "the two lines written while down", "laravel_log_entries_total", 12,
               level="info")
    append(web, entry("ERROR", "after the restart"))
    wait_value(agent, "a line after the restart", "laravel_log_entries_total", 1, level="error")
    check(value(agent, "laravel_log_entries_total", level="info") == 12,
          "info entries %s after the restart, want 12" %
          value(agent, "laravel_log_entries_total", level="info"))
    check("rotated while stopped" not in agent.text(),
          "a neighbour was read as a rotated file:\n" + agent.text())
    check(agent.stop() == 0, "agent exit status")
    samples = dump(a, cfg, sel)
    check(samples and samples[-1][1] == 12, "stored %s, want 12" % (samples[-1:],))
    print("neighbours after a SIGKILL: none read for the other source")


def releases(work, names):
    """A Deployer-style layout under 'work': releases/NAME/storage/logs for each name, and a
    `current` symlink to the first release. Returns ({name: its logs directory}, current)."""
    logs = {}
    for r in names:
        logs[r] = os.path.join(work, "releases", r, "storage", "logs")
        os.makedirs(logs[r])
    current = os.path.join(work, "current")
    os.symlink(os.path.join(work, "releases", names[0]), current)
    return logs, current


def release_swap(a):
    """A `current` symlink re-pointed to a new release whose storage is its own (no shared
    storage/): the old release's log is read to its end, lines its last workers still write
    during the swap included, and the new release's is followed from 0 — its daily files too,
    through a directory the agent first watched under the old target. The check interval is
    long (30 s), so only inotify can see them in time: the directory holding the symlink is
    watched, and a watched directory path that names another directory is watched again."""
    work = os.path.join(a.workdir, "swap")
    logs, current = releases(work, ("20261201100000", "20261201120000"))
    cfg = config(work, os.path.join(current, "storage", "logs"), glob="laravel*.log", check="30s")
    old = os.path.join(logs["20261201100000"], "laravel.log")
    new = os.path.join(logs["20261201120000"], "laravel.log")
    write(old, "".join(entry("INFO", "old release %d" % i) for i in range(3)))
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "the old release's log", "laravel_log_entries_total", 3, level="info")
    write(new, "".join(entry("WARNING", "new release %d" % i) for i in range(4)))
    tmp = current + ".tmp"
    os.symlink(os.path.join(work, "releases", "20261201120000"), tmp)
    os.rename(tmp, current)
    append(old, entry("INFO", "a last worker of the old release"))
    append(new, entry("WARNING", "new release after the swap"))
    # Well before the 30 s check: seen through inotify.
    wait_value(agent, "the new release's log", "laravel_log_entries_total", 5, timeout=10,
               level="warning")
    wait_value(agent, "the old release's last line", "laravel_log_entries_total", 4, timeout=10,
               level="info")
    daily = os.path.join(logs["20261201120000"], "laravel-2026-12-02.log")
    write(daily, entry("ERROR", "a daily file of the new release"))
    wait_value(agent, "a new file in the new release's directory", "laravel_log_entries_total",
               1, timeout=10, level="error")
    agent.wait_log(r"storage/logs names another directory now")
    # Killed, then lines for the running release and another swap while it is down: the file
    # `current` led to at the last commit is read on from there after the restart.
    sel = 'laravel_log_entries_total{level="warning"}'
    wait_until("the swap committed", lambda: (dump(a, cfg, sel) or [(0, 0)])[-1][1] == 5,
               timeout=30)
    agent.proc.kill()
    agent.proc.wait()
    append(new, entry("WARNING", "written while the agent was down"))
    third = os.path.join(work, "releases", "20261201140000", "storage", "logs")
    os.makedirs(third)
    write(os.path.join(third, "laravel.log"), entry("WARNING", "the third release"))
    os.symlink(os.path.join(work, "releases", "20261201140000"), tmp)
    os.rename(tmp, current)
    agent = Agent(a.binary, cfg, work, name="agent2")
    agent.wait_listening()
    wait_value(agent, "the line written to the old release while down, and the new release's",
               "laravel_log_entries_total", 7, level="warning")
    agent.wait_log(r"leads to another file now \(a symlink on its path was re-pointed while "
                   r"stopped\)")
    check(not value(agent, "deploywatch_tail_lost_files_total"), "a loss was reported")
    check(agent.stop() == 0, "agent exit status")
    print("release swap: old log read to its end, the new release's files followed, also "
          "across a swap while stopped")


def copytruncate_then_swap_while_down(a):
    """A copytruncate of the running release's laravel.log after a commit, more lines, SIGKILL
    before the next commit, and `current` re-pointed to a new release while the agent is down.
    The lines not yet committed sit in the old release's laravel.log.1 (the copy) and in the
    truncated laravel.log: the restart must find the copy beside the file the path led to at the
    last commit (the old release's directory, not where `current` leads now), read both, and
    follow the new release's file from 0 — every line counted once, no loss reported. The
    interval is long (20 s) so the kill lands between two commits."""
    work = os.path.join(a.workdir, "ctswap")
    logs, current = releases(work, ("r1", "r2"))
    cfg = config(work, os.path.join(current, "storage", "logs"), glob="laravel*.log",
                 interval="20s")
    old = os.path.join(logs["r1"], "laravel.log")
    sel = 'laravel_log_entries_total{level="error"}'
    n = [0]

    def more(path, k, tag):
        append(path, "".join(entry("ERROR", "%s %d" % (tag, n[0] + i)) for i in range(k)))
        n[0] += k

    more(old, 10, "committed")
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_until("the first lines committed",
               lambda: (dump(a, cfg, sel) or [(0, 0, 0)])[-1][1] == 10, timeout=60, interval=0.2)
    # Just after a commit: the next is ~20 s away.
    more(old, 10, "before the copytruncate")
    wait_value(agent, "the lines before the copytruncate", "laravel_log_entries_total", n[0],
               level="error")
    shutil.copyfile(old, old + ".1")
    os.truncate(old, 0)
    more(old, 5, "after the copytruncate")
    wait_value(agent, "the lines after the copytruncate", "laravel_log_entries_total", n[0],
               level="error")
    agent.proc.kill()
    agent.proc.wait()
    stored = (dump(a, cfg, sel) or [(0, 0, 0)])[-1][1]
    tmp = current + ".tmp"
    os.symlink(os.path.join(work, "releases", "r2"), tmp)
    os.rename(tmp, current)
    more(os.path.join(logs["r2"], "laravel.log"), 3, "the new release")
    agent = Agent(a.binary, cfg, work, name="agent2")
    agent.wait_listening()
    wait_value(agent, "every line once after the restart", "laravel_log_entries_total", n[0],
               level="error")
    time.sleep(1)  # a second look: nothing read twice after the first answer
    check(value(agent, "laravel_log_entries_total", level="error") == n[0],
          "counted %s, want %d" % (value(agent, "laravel_log_entries_total", level="error"),
                                   n[0]))
    check(not value(agent, "deploywatch_tail_lost_files_total"), "a loss was reported")
    check(agent.stop() == 0, "agent exit status")
    print("copytruncate then a swap while stopped: %d entries once (%d stored at the kill)" %
          (n[0], stored))


def gone_while_stopped(a):
    """Laravel's daily files while the agent is down: yesterday's file written to and deleted
    (lost for anyone: counted and logged, never silent), and another renamed out of the glob
    (its new lines read from there)."""
    work = os.path.join(a.workdir, "gone")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir, glob="laravel-*.log")
    first = os.path.join(logdir, "laravel-2026-12-01.log")
    other = os.path.join(logdir, "laravel-2026-12-02.log")
    write(first, "".join(entry("INFO", "first %d" % i) for i in range(10)))
    write(other, "".join(entry("INFO", "other %d" % i) for i in range(2)))
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "both files", "laravel_log_entries_total", 12, level="info")
    sel = 'laravel_log_entries_total{level="info"}'
    wait_until("both committed", lambda: (dump(a, cfg, sel) or [(0, 0)])[-1][1] == 12,
               timeout=30)
    agent.proc.kill()
    agent.proc.wait()
    append(first, "".join(entry("INFO", "lost with its file %d" % i) for i in range(5)))
    os.unlink(first)
    append(other, "".join(entry("INFO", "other while down %d" % i) for i in range(4)))
    os.rename(other, os.path.join(logdir, "archived-2026-12-02.txt"))
    write(os.path.join(logdir, "laravel-2026-12-03.log"), entry("INFO", "a new day"))
    agent = Agent(a.binary, cfg, work, name="agent2")
    agent.wait_listening()
    wait_value(agent, "the renamed file's new lines and the new day", "laravel_log_entries_total",
               17, level="info")
    check(value(agent, "deploywatch_tail_lost_files_total", path=first) == 1,
          "the deleted daily file's loss is not counted: %s" %
          value(agent, "deploywatch_tail_lost_files_total"))
    agent.wait_log(r"laravel-2026-12-01.log was deleted while the agent was stopped")
    agent.wait_log(r"archived-2026-12-02.txt was rotated while stopped and not fully counted; "
                   r"reading it from [1-9]")
    check(agent.stop() == 0, "agent exit status")
    # Counted once: a restart does not report the loss again.
    agent = Agent(a.binary, cfg, work, name="agent3")
    agent.wait_listening()
    agent.wait_log(r'msg="deploywatch \S+ started')
    check(value(agent, "laravel_log_entries_total", level="info") == 17, "counts changed")
    check(value(agent, "deploywatch_tail_lost_files_total", path=first) == 1,
          "the loss is gone from /metrics after a restart: %s" %
          value(agent, "deploywatch_tail_lost_files_total"))
    check("was deleted while the agent was stopped" not in agent.text(),
          "the loss was reported again:\n" + agent.text())
    check(agent.stop() == 0, "agent exit status")
    print("gone while stopped: the deleted daily file counted as lost, the renamed one read on")


def replay_then_agent(a):
    """The README's advice: replay old files into the store before the agent first runs. The
    agent's glob matches the replayed file too; it must start after what the replay counted
    (its content record), not from 0 (counted twice before)."""
    work = os.path.join(a.workdir, "replayfirst")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    old = os.path.join(logdir, "laravel-2026-11-30.log")
    write(old, "".join(entry("WARNING", "replayed %d" % i, "2026-11-30 09:%02d:00" % i)
                       for i in range(5)))
    rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app", old])
    check(rc == 0 and "5 entries" in out, "replay: %r %r" % (out, err))
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    agent.wait_log(r"laravel-2026-11-30.log: its first \d+ bytes were counted already")
    append(old, entry("WARNING", "after the replay"))
    wait_value(agent, "the line after the replay", "laravel_log_entries_total", 6,
               level="warning")
    check(agent.stop() == 0, "agent exit status")
    samples = dump(a, cfg, 'laravel_log_entries_total{level="warning"}')
    check(samples and samples[-1][1] == 6, "stored %s, want 6" % (samples[-1:],))
    print("replay, then the agent: the replayed file counted once")


def gzip_away(path):
    with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)


def copies_closed_before_commit(a):
    """Two copytruncates in a row (logrotate's delaycompress: laravel.log.1 made again), each copy
    read to its end and closed (5 s of drain grace) before the next commit, then SIGKILL: the
    restart finds laravel.log.1 changed since its last commit and must know, from the copy's
    content record, that every line of it is counted. The record was once written only while
    the copy was still open, so with commits further apart than the grace (10 s, the default
    interval) it went missing and the copy was read again from 0."""
    work = os.path.join(a.workdir, "closed")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir, interval="10s")
    log = os.path.join(logdir, "laravel.log")
    n = [0]

    def more(k, tag):
        append(log, "".join(entry("ERROR", "%s %d" % (tag, n[0] + i)) for i in range(k)))
        n[0] += k

    def copytruncate():
        if os.path.exists(log + ".1"):
            gzip_away(log + ".1")
            os.rename(log + ".1.gz", log + ".2.gz")
        shutil.copyfile(log, log + ".1")
        os.truncate(log, 0)

    more(10, "first")
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "the first entries", "laravel_log_entries_total", n[0], level="error")
    copytruncate()
    more(5, "second file")
    wait_value(agent, "the second file", "laravel_log_entries_total", n[0], level="error")
    copytruncate()
    more(3, "third file")
    wait_value(agent, "the third file", "laravel_log_entries_total", n[0], level="error")
    sel = 'laravel_log_entries_total{level="error"}'
    # The drained copies are closed 5 s after their truncation; then a commit.
    time.sleep(6)
    closed_ms = time.time() * 1000
    wait_until("a commit after the copies were closed",
               lambda: (dump(a, cfg, sel) or [(0, 0, 0)])[-1][2] > closed_ms, timeout=30)
    agent.proc.kill()
    agent.proc.wait()
    agent = Agent(a.binary, cfg, work, name="agent2")
    agent.wait_listening()
    agent.wait_log(r'msg="deploywatch \S+ started')
    more(1, "after the restart")
    wait_value(agent, "a line after the restart", "laravel_log_entries_total", n[0], level="error")
    check("laravel.log.1 was rotated while stopped and not fully counted" not in agent.text(),
          "the closed copy was read again:\n" + agent.text())
    check(agent.stop() == 0, "agent exit status")
    samples = dump(a, cfg, sel)
    check(samples and samples[-1][1] == n[0], "stored %s, want %d" % (samples[-1:], n[0]))
    print("copies closed before a commit: %d entries, each counted once" % n[0])


def one_log(a, name):
    """A phase's directory, its configuration (the default one above) and its laravel.log."""
    work = os.path.join(a.workdir, name)
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    return work, config(work, logdir), os.path.join(logdir, "laravel.log")


def copytruncate_to_the_same_size(a):
    """copytruncate, then the writer's next lines fill the file to exactly the offset the agent
    had read to, all before the agent looks again (held with SIGSTOP here; a busy host or the
    agent's read coalescing in real life). The size alone shows nothing: no growth, no shrink,
    nothing to read. The lines written before the copy (in laravel.log.1 only) and the new
    ones went uncounted until the next write, and were lost if the file was rotated again first
    (a rare failure of the rotation torture test in CI)."""
    work, cfg, log = one_log(a, "samesize")
    # Fixed-width messages: the rewrite is as long as what the agent had read.
    append(log, "".join(entry("ERROR", "before the copy %02d" % i) for i in range(10)))
    read_to = os.path.getsize(log)
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "the first entries", "laravel_log_entries_total", 10, level="error")
    agent.proc.send_signal(signal.SIGSTOP)
    try:
        append(log, "".join(entry("WARNING", "unread, then copied %02d" % i) for i in range(4)))
        shutil.copyfile(log, log + ".1")
        os.truncate(log, 0)
        append(log, "".join(entry("INFO", "written after it %02d" % i) for i in range(10)))
        check(os.path.getsize(log) == read_to, "the rewrite is %d bytes, want %d" %
              (os.path.getsize(log), read_to))
    finally:
        agent.proc.send_signal(signal.SIGCONT)
    wait_value(agent, "the copy's unread lines", "laravel_log_entries_total", 4,
               level="warning", timeout=15)
    wait_value(agent, "the rewritten file's lines", "laravel_log_entries_total", 10,
               level="info", timeout=15)
    agent.wait_log(r"laravel.log: reading the rest of the truncated file from its copy")
    check(value(agent, "deploywatch_tail_lost_files_total") in (None, 0.0), "a loss was reported")
    check(agent.stop() == 0, "agent exit status")
    print("copytruncate rewritten to the same size while the agent was not looking: the copy's "
          "rest and the new lines counted")


def copy_over_the_previous_copy(a):
    """copytruncate by hand, `cp laravel.log laravel.log.1`, twice within the 5 s the agent keeps
    reading a rotated copy for late writers: the second cp writes over the first copy in place
    (same inode), with lines the followed file has already counted. The copy was read on from
    where it had been read to, counting them again (a new user's walk-through: 55 lines counted
    as 100)."""
    work, cfg, log = one_log(a, "copyover")
    append(log, "".join(entry("ERROR", "first file %d" % i) for i in range(5)))
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "the first lines", "laravel_log_entries_total", 5, level="error")
    # The application writes right after the truncate, before the agent looks: the agent reads
    # the rest of the old file from the copy, and keeps the copy open for late writers.
    agent.proc.send_signal(signal.SIGSTOP)
    try:
        shutil.copyfile(log, log + ".1")
        os.truncate(log, 0)
        append(log, "".join(entry("WARNING", "second file %d" % i) for i in range(7)))
    finally:
        agent.proc.send_signal(signal.SIGCONT)
    wait_value(agent, "the second file", "laravel_log_entries_total", 7, level="warning",
               timeout=15)
    append(log, "".join(entry("INFO", "second file, later %d" % i) for i in range(6)))
    wait_value(agent, "the later lines", "laravel_log_entries_total", 6, level="info", timeout=15)
    # The next copytruncate, while the first copy is still being read: cp onto it.
    shutil.copyfile(log, log + ".1")
    os.truncate(log, 0)
    wait_until("the second truncation seen", lambda: len(re.findall(
        r"laravel.log: reading the rest of the truncated file from its copy",
        agent.text())) >= 2, timeout=15)
    time.sleep(1.5)  # ten of the copy's reads (every 100 ms while it is open)
    got = {lv: value(agent, "laravel_log_entries_total", level=lv)
           for lv in ("error", "warning", "info")}
    check(got == {"error": 5, "warning": 7, "info": 6}, "counted %s, want 5/7/6" % got)
    check(not value(agent, "deploywatch_tail_unmatched_entries_total"),
          "a copy was read from the middle of a line")
    agent.wait_log(r"being read to its end was written over in place")
    check(agent.stop() == 0, "agent exit status")
    print("cp onto the copy still being read: its new lines not counted again")


def compressed_copies(a):
    """logrotate's compress without delaycompress: the copy (copytruncate) or the renamed file
    is gzipped at once and the plain one removed. What the agent had not read is read through
    zlib from the .gz: while it was stopped (both kinds) and while it was running but stopped
    by SIGSTOP (copytruncate: the truncated file is found with bytes never seen)."""
    work = os.path.join(a.workdir, "gz")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    cfg = config(work, logdir)
    log = os.path.join(logdir, "laravel.log")
    n = [0]

    def more(k, tag):
        text = "".join(entry("ERROR", "%s %d padding padding padding" % (tag, n[0] + i))
                       for i in range(k))
        n[0] += k
        append(log, text)

    def copytruncate_gz(i):
        """logrotate copytruncate + compress: laravel.log.I.gz, the file truncated."""
        shutil.copyfile(log, log + ".%d" % i)
        os.truncate(log, 0)
        gzip_away(log + ".%d" % i)

    def rename_gz(i):
        """logrotate rename (create) + compress: laravel.log.I.gz, the name free."""
        os.rename(log, log + ".%d" % i)
        gzip_away(log + ".%d" % i)

    more(50, "first")
    agent = Agent(a.binary, cfg, work)
    agent.wait_listening()
    wait_value(agent, "the first entries", "laravel_log_entries_total", n[0], level="error")
    check(agent.stop() == 0, "agent exit status")
    # Stopped: copytruncate + compress, then new lines in the truncated file.
    more(40, "unread before copytruncate")
    copytruncate_gz(1)
    more(5, "after copytruncate")
    agent = Agent(a.binary, cfg, work, name="agent2")
    agent.wait_listening()
    wait_value(agent, "the lines only the .gz copy holds", "laravel_log_entries_total", n[0],
               level="error")
    agent.wait_log(r'rotated and compressed to \S+laravel.log.1.gz while stopped')
    # Running but frozen: more lines it never saw, copytruncate + compress, fewer new lines.
    os.kill(agent.proc.pid, signal.SIGSTOP)
    more(60, "unseen")
    copytruncate_gz(2)
    more(2, "after the second copytruncate")
    os.kill(agent.proc.pid, signal.SIGCONT)
    wait_value(agent, "the lines the frozen agent never saw", "laravel_log_entries_total", n[0],
               level="error")
    agent.wait_log(r'from its compressed copy \S+laravel.log.2.gz')
    # The same with the plain copy kept beside it (delaycompress, logrotate's usual setup).
    os.kill(agent.proc.pid, signal.SIGSTOP)
    more(70, "unseen, plain copy")
    shutil.copyfile(log, log + ".4")
    os.truncate(log, 0)
    more(1, "after the third copytruncate")
    os.kill(agent.proc.pid, signal.SIGCONT)
    wait_value(agent, "the lines the frozen agent never saw, from the plain copy",
               "laravel_log_entries_total", n[0], level="error")
    agent.wait_log(r'reading the rest of the truncated file from its copy \S+laravel.log.4')
    check(agent.stop() == 0, "agent exit status")
    # Stopped: rename + compress, a new file.
    more(30, "unread before rename")
    rename_gz(3)
    more(3, "in the new file")
    agent = Agent(a.binary, cfg, work, name="agent3")
    agent.wait_listening()
    wait_value(agent, "the lines of the renamed and compressed file", "laravel_log_entries_total",
               n[0], level="error")
    check(not value(agent, "deploywatch_tail_lost_files_total"), "a loss was reported")
    check(agent.stop() == 0, "agent exit status")
    # Stopped: rename + compress twice. The middle content lives only in a .gz no record names.
    more(6, "before two compressed rotations")
    rename_gz(5)
    more(4, "only in the middle .gz")
    rename_gz(6)
    more(2, "after two compressed rotations")
    agent = Agent(a.binary, cfg, work, name="agent4")
    agent.wait_listening()
    wait_value(agent, "the lines of both compressed files", "laravel_log_entries_total", n[0],
               level="error")
    agent.wait_log(r'laravel.log.6.gz was rotated and compressed while stopped and not fully '
                   r'counted; reading it from 0')
    check(agent.stop() == 0, "agent exit status")
    samples = dump(a, cfg, 'laravel_log_entries_total{level="error"}')
    check(samples and samples[-1][1] == n[0], "stored %s, want %d" % (samples[-1:], n[0]))
    # The .gz copies replayed: all counted already.
    for name in ("1.gz", "2.gz", "3.gz", "4", "5.gz", "6.gz"):
        rc, out, err = run([a.binary, "replay", "-c", cfg, "--source", "app",
                            "%s.%s" % (log, name)])
        check(rc == 0 and " 0 entries" in " " + out, "replay of .%s: %r %r" % (name, out, err))
    print("compressed copies: %d entries, each counted once" % n[0])


def main():
    a = args()
    copytruncate_to_the_same_size(a)
    copy_over_the_previous_copy(a)
    compressed_copies(a)
    copies_closed_before_commit(a)
    same_first_line(a)
    neighbours_after_kill(a)
    release_swap(a)
    copytruncate_then_swap_while_down(a)
    gone_while_stopped(a)
    replay_then_agent(a)
    errors_since_deploy(a)
    bad_input(a)
    log_time_and_replay(a)
    replay_into_written_store(a)
    replay_in_parts(a)
    replay_consecutive_files(a)


if __name__ == "__main__":
    main()
