"""The agent when the store cannot be written: a file-size limit (RLIMIT_FSIZE, as `ulimit -f`
sets it) below the store file's size makes every commit fail with EFBIG. The agent keeps running
and serving /metrics, counts deploywatch_store_commit_errors_total{reason="file_too_large"},
keeps the samples pending (deploywatch_store_pending_samples grows), and logs what failed. Once
the limit is lifted (prlimit on the running process) the pending samples are committed: no tick
is lost, and deploywatch_ticks_total in the store has one sample per tick with no gap.

As root, chmod does not deny writes, so the size limit stands in for a read-only directory; the
unit tests in tests/unit/test_store.c cover map-full and read-only opens.
"""
import os
import re
import resource
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dwtest import Agent, args, check, fail, http_get, wait_until, _children  # noqa: E402
from test_crash import (by_name, check_counters_continue, check_increasing,  # noqa: E402
                        dump, store_config)

# Below this offset LMDB's two meta pages sit; every data page lies above it.
FSIZE_LIMIT = 8192


class LimitedAgent:
    """`deploywatch run` under RLIMIT_FSIZE. Its log goes to a pipe: a log file would be subject
    to the same limit."""

    def __init__(self, binary, config, limit):
        def preexec():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        self.proc = subprocess.Popen([binary, "run", "-c", config], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=preexec)
        _children.append(self.proc)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.port = None

    def _read(self):
        for raw in self.proc.stdout:
            with self.lock:
                self.lines.append(raw.decode(errors="replace"))

    def text(self):
        with self.lock:
            return "".join(self.lines)

    def wait_listening(self):
        def find():
            if self.proc.poll() is not None:
                fail("agent exited with %d:\n%s" % (self.proc.returncode, self.text()))
            m = re.search(r'msg="listening on [^"]*:(\d+)', self.text())
            return m and int(m.group(1))
        self.port = wait_until("the limited agent to listen", find)
        return self.port


def scrape(port):
    """{sample text before the value: float} of /metrics; fails unless it answers 200."""
    status, _, body = http_get("http://127.0.0.1:%d/metrics" % port)
    check(status == 200, "/metrics answered %d while commits fail" % status)
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def ticks_of(d):
    """The samples of deploywatch_ticks_total in a parsed dump (empty if it has none)."""
    found = by_name(d, "deploywatch_ticks_total")
    return found[0] if found else []


def main():
    a = args()
    cfg = store_config(a.workdir)

    # A store with some data, written normally.
    agent = Agent(a.binary, cfg, a.workdir)
    agent.wait_listening()
    wait_until("two ticks in the store",
               lambda: len(ticks_of(dump(a.binary, cfg)[0])) >= 2, timeout=20, interval=0.3)
    check(agent.stop() == 0, "first agent did not stop cleanly")
    size = os.path.getsize(os.path.join(a.workdir, "data", "data.mdb"))
    check(size > FSIZE_LIMIT, "data.mdb is only %d bytes" % size)
    before, _ = dump(a.binary, cfg)
    ticks_before = ticks_of(before)

    # The same store under a file-size limit: every commit fails.
    la = LimitedAgent(a.binary, cfg, FSIZE_LIMIT)
    port = la.wait_listening()
    errors = 'deploywatch_store_commit_errors_total{reason="file_too_large"}'
    m = wait_until("three failed commits on /metrics",
                   lambda: (lambda s: s if s.get(errors, 0) >= 3 else None)(scrape(port)),
                   timeout=30, interval=0.2)
    pending1 = m["deploywatch_store_pending_samples"]
    check(pending1 > 0, "no pending samples after %d failed commits" % m[errors])
    m2 = wait_until("pending samples to grow",
                    lambda: (lambda s: s if s["deploywatch_store_pending_samples"] > pending1
                             else None)(scrape(port)), timeout=15, interval=0.2)
    check(m2[errors] > m[errors],
          "commit errors did not rise: %r then %r" % (m[errors], m2[errors]))
    check(la.proc.poll() is None, "the agent died under the size limit:\n" + la.text())
    check(re.search(r'cannot write samples[^"]*file too large', la.text(), re.I),
          "no log line says what failed:\n" + la.text())
    # Nothing reached the store meanwhile, and what was there is intact.
    during, _ = dump(a.binary, cfg)
    check(ticks_of(during) == ticks_before,
          "ticks_total changed in the store while every commit failed")

    # Lift the limit: the pending ticks are committed with the next one.
    resource.prlimit(la.proc.pid, resource.RLIMIT_FSIZE,
                     (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    m3 = wait_until("pending samples to be committed",
                    lambda: (lambda s: s if s["deploywatch_store_pending_samples"] == 0 and
                             s["deploywatch_store_commits_total"] >
                             m2["deploywatch_store_commits_total"] else None)(scrape(port)),
                    timeout=20, interval=0.2)
    la.proc.send_signal(signal.SIGTERM)
    check(la.proc.wait(15) == 0, "the agent did not stop cleanly:\n" + la.text())
    la.reader.join(5)

    after, _ = dump(a.binary, cfg)
    check_increasing(after, "after the limit was lifted")
    check_counters_continue(after, "after the limit was lifted")
    ticks = ticks_of(after)
    check(ticks[:len(ticks_before)] == ticks_before, "ticks stored before the limit changed")
    # One stored sample per tick from the restart on: the failed ticks were kept, not dropped.
    # (A first tick in the same interval as the previous run's shutdown tick is refused as out
    # of order, so the count may skip there; the last one is the shutdown tick, which repeats the
    # count of the tick before it.)
    values = [v for _, v in ticks[len(ticks_before):]]
    check(values and values[0] > ticks_before[-1][1],
          "ticks_total did not continue from %r: %r" % (ticks_before[-1][1], values[:3]))
    for x, y in zip(values, values[1:-1]):
        if y != x + 1:
            fail("a tick is missing from the store: %r then %r (all: %r)" % (x, y, values))
    check(len(values) >= m3[errors] + 1, "%d ticks stored after %d failed commits" %
          (len(values), m3[errors]))
    print("store faults: %d commits failed with EFBIG, pending grew to %d samples, all %d ticks "
          "stored after the limit was lifted" %
          (m3[errors], m2["deploywatch_store_pending_samples"], len(values)))
    print("integration_store_faults: ok")


if __name__ == "__main__":
    main()
