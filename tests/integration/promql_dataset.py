"""The differential test's dataset: deterministic OpenMetrics that exercises PromQL's edge cases.

Six hours at a 15 s interval from T0, one family per edge case:
  dt_requests_total   counters with resets (to 0 and to a smaller non-zero value)
  dt_temp             gauges with NaN, +Inf and -Inf samples and negative values
  dt_gappy            a gauge and a counter with a gap of 20 minutes (longer than the lookback)
  dt_latency_seconds  a histogram (buckets, _sum, _count) on two instances, with a reset
  dt_rpc_seconds      a summary (quantile label), dt_untyped an unknown-type family
  dt_many             200 series at a 60 s interval (many series, topk, count_values)
  dt_left / dt_right  label sets that match one-to-one, many-to-one and many-to-many in joins
  dt_late             a series that starts late and one that ends early (absent, empty results)
No stale markers: OpenMetrics has no way to write one (NaN is an ordinary NaN), so neither
`promtool tsdb create-blocks-from` nor `deploywatch import` can carry them.

Values are generated from integers so every text form reads back to the same double in both
importers (repr() is Python's shortest round-trip form, as Prometheus formats).
"""
import math

T0 = 1700000000          # 2023-11-14T22:13:20Z
STEP = 15
POINTS = 6 * 3600 // STEP  # 1440: six hours
END = T0 + (POINTS - 1) * STEP


def fmt(v):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


class Writer:
    def __init__(self):
        self.lines = []

    def family(self, name, typ, help_text):
        self.lines.append("# TYPE %s %s" % (name, typ))
        self.lines.append("# HELP %s %s" % (name, help_text))

    def series(self, name, labels, points):
        lab = ",".join('%s="%s"' % (k, v) for k, v in labels)
        head = "%s{%s}" % (name, lab) if lab else name
        for t, v in points:
            self.lines.append("%s %s %d" % (head, fmt(v), t))

    def text(self):
        return "\n".join(self.lines) + "\n# EOF\n"


def counter_points(seed, rate, resets, skip=()):
    """A counter that grows by a deterministic amount per step and resets at the given steps
    (to 0, or to a small value: Prometheus adds the previous value either way)."""
    out, v = [], float(seed)
    for i in range(POINTS):
        if i in resets:
            v = float(resets[i])
        else:
            v += rate * (1 + (i * 7 + seed) % 5)
        if i not in skip:
            out.append((T0 + i * STEP, v))
    return out


def generate():
    w = Writer()

    w.family("dt_requests", "counter", "Requests with resets.")
    for inst_i, inst in enumerate(["a", "b", "c"]):
        for code_i, code in enumerate(["200", "500"]):
            resets = {}
            if inst == "a":
                resets = {400: 0, 900: 3}
            elif inst == "b" and code == "500":
                resets = {701: 0}
            w.series("dt_requests_total", [("code", code), ("instance", inst), ("job", "api")],
                     counter_points(inst_i * 10 + code_i, 1.0 + inst_i + 4 * code_i, resets))

    w.family("dt_temp", "gauge", "Gauges with NaN and infinities.")
    for s_i, sensor in enumerate(["x", "y", "z"]):
        pts = []
        for i in range(POINTS):
            v = (i % 97) / 4.0 - 12 + s_i * 3
            if sensor == "x" and i in (300, 301, 302):
                v = float("nan")
            if sensor == "y" and i in (500, 720):
                v = float("inf")
            if sensor == "y" and i == 900:
                v = float("-inf")
            pts.append((T0 + i * STEP, v))
        w.series("dt_temp", [("instance", "a"), ("sensor", sensor)], pts)

    w.family("dt_gappy", "gauge", "A gauge with a 20-minute gap.")
    gap = set(range(600, 680))  # 80 steps = 20 minutes
    w.series("dt_gappy", [("instance", "a")],
             [(T0 + i * STEP, float(i % 13)) for i in range(POINTS) if i not in gap])
    w.family("dt_gappy_events", "counter", "A counter with the same gap.")
    w.series("dt_gappy_events_total", [("instance", "a")], counter_points(5, 2.0, {}, gap))

    w.family("dt_latency_seconds", "histogram", "A histogram.")
    bounds = ["0.05", "0.1", "0.25", "0.5", "1.0", "+Inf"]
    for inst_i, inst in enumerate(["a", "b"]):
        cum = [0.0] * len(bounds)
        total = 0.0
        series = {b: [] for b in bounds}
        sums, counts = [], []
        for i in range(POINTS):
            if inst == "b" and i == 800:
                cum = [0.0] * len(bounds)
                total = 0.0
            add = [(i * (3 + j) + inst_i) % (4 + j) for j in range(len(bounds))]
            running = 0.0
            for j in range(len(bounds)):
                running += add[j]
                cum[j] += running
            total += sum(add[j] * (0.03 + 0.1 * j) for j in range(len(bounds)))
            t = T0 + i * STEP
            for j, b in enumerate(bounds):
                series[b].append((t, cum[j]))
            sums.append((t, round(total, 6)))
            counts.append((t, cum[-1]))
        for b in bounds:
            w.series("dt_latency_seconds_bucket", [("instance", inst), ("le", b)], series[b])
        w.series("dt_latency_seconds_sum", [("instance", inst)], sums)
        w.series("dt_latency_seconds_count", [("instance", inst)], counts)

    w.family("dt_rpc_seconds", "summary", "A summary.")
    for q_i, q in enumerate(["0.5", "0.9", "0.99"]):
        w.series("dt_rpc_seconds", [("quantile", q)],
                 [(T0 + i * STEP, 0.01 * (q_i + 1) + (i % 11) / 1000.0) for i in range(POINTS)])
    w.series("dt_rpc_seconds_sum", [], [(T0 + i * STEP, i * 0.5) for i in range(POINTS)])
    w.series("dt_rpc_seconds_count", [], [(T0 + i * STEP, float(i * 10)) for i in range(POINTS)])

    w.family("dt_untyped", "unknown", "An untyped family.")
    w.series("dt_untyped", [("kind", "u")], [(T0 + i * STEP, float(i % 17)) for i in range(POINTS)])

    w.family("dt_many", "gauge", "Many series.")
    for sid in range(200):
        w.series("dt_many", [("group", "g%d" % (sid % 7)), ("id", "%03d" % sid)],
                 [(T0 + i * 60, float((sid * 31 + i * 17) % 101)) for i in range(POINTS // 4)])

    # Joins: dt_left has two series per instance (job a / b), dt_right one per instance plus a
    # duplicate for instance "c" (two versions): on(instance) is one-to-one for a/b on the right,
    # many-to-one from the left, and many-to-many for "c".
    w.family("dt_left", "gauge", "Left side of joins.")
    for inst_i, inst in enumerate(["a", "b", "c"]):
        for job in ["a", "b"]:
            w.series("dt_left", [("instance", inst), ("job", job)],
                     [(T0 + i * STEP, float(inst_i * 10 + (i % 5) + (job == "b")))
                      for i in range(POINTS)])
    w.family("dt_right", "gauge", "Right side of joins.")
    for inst_i, (inst, version) in enumerate([("a", "1.0"), ("b", "1.1"), ("c", "2.0"),
                                              ("c", "2.1")]):
        w.series("dt_right", [("instance", inst), ("version", version)],
                 [(T0 + i * STEP, float(inst_i + 1)) for i in range(POINTS)])

    w.family("dt_late", "gauge", "Series that start late or end early.")
    w.series("dt_late", [("phase", "starts")],
             [(T0 + i * STEP, float(i)) for i in range(POINTS) if i >= 720])
    w.series("dt_late", [("phase", "ends")],
             [(T0 + i * STEP, float(i)) for i in range(POINTS) if i < 240])
    return w.text()


if __name__ == "__main__":
    import sys
    sys.stdout.write(generate())
