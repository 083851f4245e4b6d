"""Readers and a second writer beside the running agent.

1. While the agent appends every second, `deploywatch dump` runs in a loop: every dump finishes
   quickly, every output parses with strictly increasing timestamps per series and holds
   everything the previous one did, and the agent's ticks keep coming (deploywatch_ticks_total
   on /metrics never stalls): LMDB readers do not block the writer, nor it them.
2. `deploywatch import` of a generated dataset beside the running agent: the import completes,
   the agent keeps ticking and storing through it, and afterwards both the imported data (equal
   to the input) and the agent's own data (everything stored before, and new samples after) are
   intact.
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dwtest import Agent, args, check, fail, wait_until, _children  # noqa: E402
from test_crash import (check_equal, check_increasing, check_prefix,  # noqa: E402
                        check_counters_continue, dump, gen_dataset, last_ts, metric_value,
                        read_openmetrics, store_config)

DUMP_SECONDS = 8.0     # how long the dump loop runs
DUMP_BOUND = 5.0       # a dump of this small store that takes longer than this was blocked
TICK_GAP_BOUND = 3.5   # with a 1 s interval, a longer pause in ticks means the agent stalled
# The agent's own series: the imported dataset labels every series with instance="app-1".
AGENT_ONLY = '{__name__=~".+", instance=""}'


class TickWatch:
    """Polls deploywatch_ticks_total on /metrics in a thread; records when it increased."""

    def __init__(self, port):
        self.port = port
        self.increases = []
        self.last = None
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_flag.is_set():
            v = metric_value(self.port, "deploywatch_ticks_total", timeout=5)
            now = time.monotonic()
            if v is not None and (self.last is None or v > self.last):
                self.increases.append(now)
                self.last = v
            self.stop_flag.wait(0.1)

    def check_between(self, t0, t1, what):
        """Ticks increased at least every TICK_GAP_BOUND seconds over [t0, t1]."""
        points = [t0] + [t for t in self.increases if t0 < t < t1] + [t1]
        gap = max(b - a for a, b in zip(points, points[1:]))
        if gap > TICK_GAP_BOUND:
            fail("%s: no tick for %.1fs (ticks at %r)" % (what, gap,
                                                       [round(t - t0, 1) for t in points]))
        return len(points) - 2

    def stop(self):
        self.stop_flag.set()
        self.thread.join(10)


def main():
    a = args()
    cfg = store_config(a.workdir)
    agent = Agent(a.binary, cfg, a.workdir)
    port = agent.wait_listening()
    # The agent listens before it opens (and, the first time, creates) its store.
    agent.wait_log(r"storing samples in ")
    wait_until("two ticks in the store",
               lambda: len(dump(a.binary, cfg)[0].get((("__name__", "deploywatch_ticks_total"),),
                                                      [])) >= 2, timeout=20, interval=0.3)
    ticks = TickWatch(port)

    # 1. A loop of dumps while the agent writes.
    prev, _ = dump(a.binary, cfg)
    t0 = time.monotonic()
    dumps, slowest = 0, 0.0
    while time.monotonic() - t0 < DUMP_SECONDS:
        d, took = dump(a.binary, cfg)
        dumps += 1
        slowest = max(slowest, took)
        check(took < DUMP_BOUND, "dump %d took %.1fs" % (dumps, took))
        what = "dump %d beside the agent" % dumps
        check_increasing(d, what)
        check_prefix(prev, d, what)
        check_counters_continue(d, what)
        prev = d
    t1 = time.monotonic()
    n = ticks.check_between(t0, t1, "during the dump loop")
    check(last_ts(prev) > 0, "the store is empty")
    print("concurrency: %d dumps in %.1fs (slowest %.2fs), %d ticks meanwhile" %
          (dumps, t1 - t0, slowest, n))

    # 2. An import beside the agent: large enough to take a few seconds.
    data = gen_dataset(a.binary, os.path.join(a.workdir, "import.om"), days=2, interval=10)
    expected = read_openmetrics(data)
    before, _ = dump(a.binary, cfg)
    log = open(os.path.join(a.workdir, "import.log"), "w")
    t0 = time.monotonic()
    t0_ms = time.time() * 1000
    p = subprocess.Popen([a.binary, "import", "-c", cfg, data], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log)
    _children.append(p)
    # The agent's own series stay consistent while the import writes (dumps of just those).
    while p.poll() is None and time.monotonic() - t0 < 120:
        d, took = dump(a.binary, cfg, ["--match", AGENT_ONLY])
        check(took < DUMP_BOUND, "dump during import took %.1fs" % took)
        check_increasing(d, "dump during import")
        check_prefix(before, d, "dump during import")
    rc = p.wait(120)
    t1 = time.monotonic()
    t1_ms = time.time() * 1000
    check(rc == 0, "import beside the agent exited %d:\n%s" %
          (rc, open(os.path.join(a.workdir, "import.log")).read()))
    n = ticks.check_between(t0, t1, "during the import")
    # The agent stores on after the import: two more ticks reach the store.
    after_import = last_ts(dump(a.binary, cfg, ["--match", AGENT_ONLY])[0])
    wait_until("agent samples after the import",
               lambda: last_ts(dump(a.binary, cfg, ["--match", AGENT_ONLY])[0]) >=
               after_import + 2000, timeout=20, interval=0.3)
    ticks.stop()
    check(agent.proc.poll() is None, "the agent exited:\n" + agent.text())
    check("level=error" not in agent.text(), "the agent logged an error:\n" + agent.text())

    d, _ = dump(a.binary, cfg)
    imported = {k: s for k, s in d.items() if k in expected}
    own = {k: s for k, s in d.items() if k not in expected}
    check_equal(imported, expected, "imported data beside the agent")
    check_increasing(own, "agent data after the import")
    check_prefix(before, own, "agent data after the import")
    check_counters_continue(own, "agent data after the import")
    # Both made progress at once: the ticks of the import's span are in the store, one each.
    stored = [v for t, v in own[(("__name__", "deploywatch_ticks_total"),)]
              if t0_ms <= t <= t1_ms]
    check(len(stored) >= int(t1 - t0) - 1,
          "%d ticks stored during a %.1fs import" % (len(stored), t1 - t0))
    for x, y in zip(stored, stored[1:]):
        check(y == x + 1, "a tick is missing from the store during the import: %r then %r" % (x, y))
    rc = agent.stop()
    check(rc == 0, "agent exit status %d" % rc)
    print("concurrency: import of %d samples in %.1fs beside the agent, %d ticks meanwhile, "
          "%d of them stored" % (sum(len(s) for s in expected.values()), t1 - t0, n, len(stored)))
    print("integration_store_concurrency: ok")


if __name__ == "__main__":
    main()
