"""Crash safety of the store: SIGKILL at random moments never loses a committed sample, never
tears one, and never resets a counter.

(a) The agent, sampling every second, is killed with SIGKILL after seeded random delays and
    restarted, again and again. Each time it starts and serves, `deploywatch dump` shows every
    series with strictly increasing timestamps and sane values, everything the previous dump
    showed is still there as a prefix of each series, appends resume after a restart, and the
    counters the agent counts itself (deploywatch_ticks_total ...) never go down.
(b) `deploywatch import` of a generated dataset is killed with SIGKILL at random moments many
    times: after each kill every series in the store is exactly a prefix of its input samples.
    Running the import once more completes it and the store then equals the input exactly.

The store helpers below (dump parsing and checks) are shared with test_store_concurrency.py and
test_store_faults.py. Set DW_CRASH_SEED to replay a run.
"""
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dwtest import (Agent, args, check, fail, http_get, run, wait_until,  # noqa: E402
                    write, _children)

_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
# A whole label set: pairs separated by "," or ", ", nothing else between the braces.
_LABEL_SET = re.compile(r'\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                        r'(?:, ?(?=[a-zA-Z_])|(?=\})))*\}')

_ESCAPE = re.compile(r'\\(.)')

# Counters the agent increments itself (series_add): seeded from the store at start, so they
# must continue across any restart. process_cpu_seconds_total is the process's own and resets.
SELF_COUNTERS = ("deploywatch_ticks_total", "deploywatch_tick_cpu_seconds_total",
                 "deploywatch_store_commits_total", "deploywatch_store_samples_appended_total")


def _unescape(v):
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse_labels(text, cache):
    """'{__name__="up", a="x"}' (dump) or 'up{a="x"}' (input) -> sorted tuple of pairs,
    __name__ first. Memoised in 'cache' (most lines repeat the previous series)."""
    key = cache.get(text)
    if key is not None:
        return key
    name = None
    body = text
    if not text.startswith("{"):
        brace = text.find("{")
        name = text if brace < 0 else text[:brace]
        body = "" if brace < 0 else text[brace:]
    if body and not _LABEL_SET.fullmatch(body):
        raise ValueError("bad label set %r" % text)
    pairs = [(n, _unescape(v)) for n, v in _LABEL.findall(body)]
    if name is not None:
        pairs.append(("__name__", name))
    ordered = sorted(pairs, key=lambda p: (p[0] != "__name__", p[0]))
    if name is None and pairs != ordered:
        raise ValueError("labels not sorted with __name__ first in %r" % text)
    key = tuple(ordered)
    if not key or key[0][0] != "__name__":
        raise ValueError("no metric name in %r" % text)
    cache[text] = key
    return key


def parse_value(s):
    v = float(s)  # "NaN", "+Inf", "-Inf" and every decimal form; raises on anything else
    return v


def parse_dump(text, what="dump"):
    """Every line of `deploywatch dump` -> {labels tuple: [(t_ms, value), ...]} in output order.
    Fails the test on a line that does not parse."""
    out = {}
    cache = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        try:
            labels, value, ts = line.rsplit(" ", 2)
            key = parse_labels(labels, cache)
            sample = (int(ts), parse_value(value))
        except ValueError as e:
            fail("%s line %d does not parse (%s): %r" % (what, n, e, line))
        out.setdefault(key, []).append(sample)
    return out


def read_openmetrics(path):
    """The dataset written by dw_gen_dataset -> {labels tuple: [(t_ms, value), ...]}."""
    out = {}
    cache = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            labels, value, ts = line.rstrip("\n").rsplit(" ", 2)
            key = parse_labels(labels, cache)
            out.setdefault(key, []).append((int(round(float(ts) * 1000)), float(value)))
    return out


def series_name(key):
    return "{" + ", ".join('%s="%s"' % p for p in key) + "}"


def same_value(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def same_samples(a, b):
    return len(a) == len(b) and all(x[0] == y[0] and same_value(x[1], y[1]) for x, y in zip(a, b))


def dump(binary, config, extra=(), timeout=60):
    """Run `deploywatch dump -c CONFIG`; (parsed dump, seconds it took)."""
    t0 = time.monotonic()
    rc, out, err = run([binary, "dump", "-c", config] + list(extra), timeout=timeout)
    took = time.monotonic() - t0
    check(rc == 0, "dump exited %d:\n%s" % (rc, err))
    return parse_dump(out), took


def check_increasing(d, what):
    """Every series' timestamps strictly increase."""
    for key, samples in d.items():
        for (t0, _), (t1, _) in zip(samples, samples[1:]):
            if t1 <= t0:
                fail("%s: %s: timestamp %d follows %d" % (what, series_name(key), t1, t0))


def check_prefix(old, new, what):
    """Everything 'old' showed is still in 'new', as the start of each series."""
    for key, samples in old.items():
        got = new.get(key, [])
        if not same_samples(got[:len(samples)], samples):
            lost = [s for s in samples if s not in got]
            fail("%s: %s: %d samples before, %d now; first lost or changed: %r" %
                 (what, series_name(key), len(samples), len(got), lost[:3]))


def check_counters_continue(d, what):
    """The agent's own counters never go down, restarts included."""
    for key, samples in d.items():
        if key[0][1] not in SELF_COUNTERS:
            continue
        for (t0, v0), (t1, v1) in zip(samples, samples[1:]):
            if math.isnan(v0) or math.isnan(v1):
                continue
            if v1 < v0:
                fail("%s: %s went down from %r at %d to %r at %d" %
                     (what, series_name(key), v0, t0, v1, t1))


def by_name(d, name):
    return [s for k, s in d.items() if k[0][1] == name]


def last_ts(d):
    return max((s[-1][0] for s in d.values() if s), default=0)


def metric_value(port, name, timeout=10):
    """The value of an unlabelled sample on /metrics, or None."""
    status, _, body = http_get("http://127.0.0.1:%d/metrics" % port, timeout=timeout)
    if status != 200:
        return None
    for line in body.decode().splitlines():
        parts = line.split(" ")
        if parts[0] == name and len(parts) >= 2:
            return float(parts[1])
    return None


def store_config(workdir, name="deploywatch.yml", interval="1s", retention="3650d", store="data"):
    """An agent/CLI config for store tests: own store, ephemeral port, no log sources. The long
    retention keeps imported data from 2023 away from the agent's retention steps."""
    return write(os.path.join(workdir, name), """\
storage:
  path: %s/%s
  retention: %s
  sample_interval: %s
web:
  listen_address: 127.0.0.1:0
sources: []
system:
  filesystems: [/]
  tcp_ports: [3306]
  processes: [deploywatch]
""" % (workdir, store, retention, interval))


def gen_dataset(source_binary, out, days=1, interval=30, extra=()):
    """dw_gen_dataset from the same build as the binary under test."""
    gen = os.path.join(os.path.dirname(source_binary), "bench", "dw_gen_dataset")
    check(os.access(gen, os.X_OK), "no %s: build the bench targets" % gen)
    rc, _, err = run([gen, "--days", str(days), "--interval", str(interval), "--out", out]
                     + list(extra), timeout=120)
    check(rc == 0, "dw_gen_dataset exited %d: %s" % (rc, err))
    return out


def check_import_prefix(d, expected, what):
    """Every series in the store is exactly a prefix of its input samples."""
    for key, samples in d.items():
        want = expected.get(key)
        if want is None:
            fail("%s: a series that is not in the input: %s" % (what, series_name(key)))
        if len(samples) > len(want):
            fail("%s: %s has %d samples, more than the input's %d" %
                 (what, series_name(key), len(samples), len(want)))
        if not same_samples(samples, want[:len(samples)]):
            for i, (got, exp) in enumerate(zip(samples, want)):
                if got[0] != exp[0] or not same_value(got[1], exp[1]):
                    break
            fail("%s: %s is not a prefix of its input: sample %d is %r, input has %r" %
                 (what, series_name(key), i, samples[i], want[i] if i < len(want) else None))


def check_equal(d, expected, what):
    check_import_prefix(d, expected, what)
    for key, want in expected.items():
        got = d.get(key, [])
        if len(got) != len(want):
            fail("%s: %s has %d samples, the input %d" % (what, series_name(key), len(got),
                                                          len(want)))


def _crash_agent(a, rng):
    cfg = store_config(a.workdir)
    iterations = int(os.environ.get("DW_CRASH_AGENT_ITERATIONS", "30"))
    prev = {}
    resumed = 0
    t_begin = time.time() * 1000
    for i in range(iterations):
        agent = Agent(a.binary, cfg, a.workdir, name="agent-%02d" % i)
        agent.wait_listening()
        status, _, _ = http_get(agent.url("/metrics"))
        check(status == 200, "iteration %d: /metrics answered %d" % (i, status))
        # The deliberate random kill delay: anywhere from right after start-up to two ticks.
        time.sleep(rng.uniform(0.0, 2.2))
        check(agent.proc.poll() is None,
              "iteration %d: the agent exited by itself:\n%s" % (i, agent.text()))
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait(10)
        check("level=error" not in agent.text(),
              "iteration %d: the agent logged an error:\n%s" % (i, agent.text()))
        d, _ = dump(a.binary, cfg)
        what = "after kill %d" % i
        check_increasing(d, what)
        check_prefix(prev, d, what)
        check_counters_continue(d, what)
        for key, samples in d.items():
            for t, _ in samples:
                if not t_begin - 2000 <= t <= time.time() * 1000 + 2000:
                    fail("%s: %s: timestamp %d outside the test's run" %
                         (what, series_name(key), t))
        if last_ts(d) > last_ts(prev):
            resumed += 1
        prev = d
    check(by_name(prev, "deploywatch_ticks_total"), "no deploywatch_ticks_total in the store")

    # Appends resume: a last start must add samples after everything stored so far.
    agent = Agent(a.binary, cfg, a.workdir, name="agent-final")
    agent.wait_listening()
    before = last_ts(prev)
    ticks_before = by_name(prev, "deploywatch_ticks_total")[0][-1][1]
    wait_until("new samples after the last restart",
               lambda: last_ts(dump(a.binary, cfg)[0]) > before + 1000, timeout=20, interval=0.3)
    rc = agent.stop()
    check(rc == 0, "final agent exit status %d:\n%s" % (rc, agent.text()))
    d, _ = dump(a.binary, cfg)
    check_increasing(d, "final")
    check_prefix(prev, d, "final")
    check_counters_continue(d, "final")
    ticks_after = by_name(d, "deploywatch_ticks_total")[0][-1][1]
    check(ticks_after > ticks_before, "ticks_total %r after restart, %r before" %
          (ticks_after, ticks_before))
    print("crash (agent): %d kills, %d restarts appended before their kill, ticks_total %d" %
          (iterations, resumed, ticks_after))


def import_summary(err):
    """(samples written, samples refused as out of order) from import's summary line: "imported
    N samples ... (K refused out of order)", or "nothing new in FILE: K samples already stored"
    when every sample was refused."""
    m = re.search(r"imported (\d+) samples? .*\((\d+) refused out of order\)", err)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.search(r"nothing new in .*: (\d+) samples? already stored", err)
    check(m, "no import summary in:\n" + err)
    return 0, int(m.group(1))


def _crash_import(a, rng):
    cfg = store_config(a.workdir, name="import.yml", store="imported")
    ref_cfg = store_config(a.workdir, name="ref.yml", store="ref")
    days = int(os.environ.get("DW_CRASH_IMPORT_DAYS", "1"))
    data = gen_dataset(a.binary, os.path.join(a.workdir, "import.om"), days=days, interval=20)
    expected = read_openmetrics(data)
    total = sum(len(s) for s in expected.values())

    # A clean import first: how long one takes (to spread the kills over it), and the baseline.
    t0 = time.monotonic()
    rc, out, err = run([a.binary, "import", "-c", ref_cfg, data], timeout=120)
    full = time.monotonic() - t0
    check(rc == 0, "clean import exited %d:\n%s%s" % (rc, out, err))
    check_equal(dump(a.binary, ref_cfg)[0], expected, "clean import")
    # The same file again: every sample refused, nothing changed; how long skipping takes.
    t0 = time.monotonic()
    rc, out, err = run([a.binary, "import", "-c", ref_cfg, data], timeout=120)
    skip = time.monotonic() - t0
    check(rc == 0, "repeated import exited %d:\n%s%s" % (rc, out, err))
    check(import_summary(err) == (0, total), "repeated import: %s" % err)
    check_equal(dump(a.binary, ref_cfg)[0], expected, "repeated import")

    kills = int(os.environ.get("DW_CRASH_IMPORT_KILLS", "12"))
    landed, restarts, stored = 0, 0, 0
    est = min(full, skip)
    prev = {}
    for i in range(kills + 8):
        # After the random kills, go on only until the store is partly imported.
        if i >= kills and 0 < stored < total:
            break
        log = open(os.path.join(a.workdir, "import-%02d.log" % i), "w")
        p = subprocess.Popen([a.binary, "import", "-c", cfg, data], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log)
        _children.append(p)
        # Each run re-reads the file from the start, refusing what is committed, then writes the
        # rest; it commits the last batch only at the end of the file, so a kill before then
        # leaves something for the next run. The extra runs aim at the middle of a run.
        delay = rng.uniform(0.0, 0.9 * est) if i < kills else rng.uniform(0.3, 0.6) * est
        time.sleep(delay)
        if p.poll() is None:
            landed += 1
            p.send_signal(signal.SIGKILL)
        else:
            est = min(est, delay)  # the machine got faster than the calibration said
        rc = p.wait(120)
        check(rc in (0, -signal.SIGKILL), "import %d exited %d" % (i, rc))
        d, _ = dump(a.binary, cfg)
        check_import_prefix(d, expected, "after import kill %d" % i)
        check_prefix(prev, d, "after import kill %d" % i)
        stored = sum(len(x) for x in d.values())
        prev = d
        if stored == total:
            # This run finished: start again from an empty store so there is something to resume.
            shutil.rmtree(os.path.join(a.workdir, "imported"))
            prev, stored = {}, 0
            restarts += 1
    check(landed >= kills // 2, "only %d of %d kills hit a running import" % (landed, kills))
    check(0 < stored < total, "%d of %d samples stored after the kills: nothing left to resume" %
          (stored, total))

    rc, out, err = run([a.binary, "import", "-c", cfg, data], timeout=120)
    check(rc == 0, "the completing import exited %d:\n%s%s" % (rc, out, err))
    # Exactly the committed samples are refused as out of order, exactly the rest appended.
    check(import_summary(err) == (total - stored, stored),
          "the completing import (written, refused) %r; expected %r:\n%s" %
          (import_summary(err), (total - stored, stored), err))
    check_equal(dump(a.binary, cfg)[0], expected, "after the completing import")
    print("crash (import): %d samples, clean import %.2fs (repeated: %.2fs), %d kills mid-import, "
          "%d runs finished first, %d samples stored before the completing run" %
          (total, full, skip, landed, restarts, stored))


def main():
    a = args()
    seed = int(os.environ.get("DW_CRASH_SEED", "20261127"))
    print("crash: seed %d (DW_CRASH_SEED to replay)" % seed)
    rng = random.Random(seed)
    _crash_agent(a, rng)
    _crash_import(a, rng)
    print("integration_crash: ok")


if __name__ == "__main__":
    main()
