#!/usr/bin/env python3
"""Check the expected results of tests/promql/*.test against the real Prometheus.

Each `eval` / `eval_ordered` case whose expectations promtool can express (instant vectors of
finite values; a range case becomes one instant case per step) is turned into a
`promtool test rules` unit test with the same input series, and promtool must agree exactly.
So the tables' expected values are Prometheus 2.42's, not our engine's.

Left out, because promtool's rule tests cannot say them: scalars and strings, range vectors,
NaN and infinite values, expected errors, cases run under a `limit`, `@ start()` / `@ end()`
(which an instant query resolves to its own time), and negative offsets (promtool's rule tests
load samples only up to the evaluation time, so the future a negative offset reads is empty).

Usage: promtool_check.py [--promtool PATH] FILE.test...
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(text):
    """A duration (1h30m, 100ms) or plain seconds."""
    if re.fullmatch(r"[0-9.]+", text):
        return float(text)
    total, pos = 0.0, 0
    for m in re.finditer(r"([0-9]+)(ms|[smhdwy])", text):
        if m.start() != pos:
            raise ValueError(text)
        total += int(m.group(1)) * UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(text)
    return total


def split_line(text):
    m = re.match(r"(\S*\{(?:[^}\"']|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*')*\}|\S+)\s*(.*)$",
                 text.strip())
    return m.group(1), m.group(2)


def cases(path):
    """(series, interval, expr, time, [(labels, value)]) for every checkable case."""
    lines = open(path, encoding="utf-8").read().split("\n")
    series, out, limited, i = [], [], False, 0

    def block(j):
        rows = []
        while j < len(lines) and lines[j][:1] in (" ", "\t"):
            if lines[j].strip() and not lines[j].strip().startswith("#"):
                rows.append(lines[j].strip())
            j += 1
        return rows, j

    while i < len(lines):
        line = lines[i]
        if line.startswith("load "):
            interval = line[5:].strip()
            rows, i = block(i + 1)
            series += [(split_line(r)[0], split_line(r)[1], interval) for r in rows]
            continue
        if line == "clear":
            series = []
        elif line.startswith("limit "):
            limited = not line.rstrip().endswith(" 0")
        m_inst = re.match(r"(eval|eval_ordered) instant at (\S+) (.*)$", line)
        m_range = re.match(r"(eval|eval_ordered) range from (\S+) to (\S+) step (\S+) (.*)$", line)
        if not (m_inst or m_range):
            i += 1
            continue
        rows, i = block(i + 1)
        expr = (m_inst or m_range).groups()[-1]
        if limited or "start()" in expr or "end()" in expr or re.search(r"offset\s*-", expr):
            continue
        parsed = [split_line(r) for r in rows]
        if any(lab in ("scalar", "string", "error", "type") or "@" in vals
               for lab, vals in parsed):
            continue
        if m_inst:
            steps = [(seconds(m_inst.group(2)), 0)]
        else:
            a, b, st = (seconds(m_range.group(k)) for k in (2, 3, 4))
            steps = [(a + k * st, k) for k in range(int((b - a) // st) + 1)]
        for t, k in steps:
            exp = []
            for lab, vals in parsed:
                v = vals.split()
                if m_inst:
                    exp.append((lab, v[0]))
                elif k < len(v) and v[k] != "_":
                    exp.append((lab, v[k]))
            if any(v in ("NaN", "Inf", "+Inf", "-Inf") for _, v in exp):
                continue
            out.append((list(series), expr, t, exp, path, i))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--promtool", default="promtool")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    total, failed = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.files:
            tests = []
            for series, expr, t, exp, _, _ in cases(path):
                interval = series[0][2] if series else "1m"
                if any(s[2] != interval for s in series):
                    continue
                tests.append({
                    "interval": interval,
                    "input_series": [{"series": s, "values": v} for s, v, _ in series],
                    "promql_expr_test": [{
                        "expr": expr,
                        "eval_time": "%dms" % round(t * 1000),
                        "exp_samples": [{"labels": lab, "value": float(v)} for lab, v in exp],
                    }],
                })
            if not tests:
                continue
            # One promtool run per file: it reports every failing case with its expression.
            fn = os.path.join(tmp, "cases.yml")
            with open(fn, "w", encoding="utf-8") as f:
                json.dump({"rule_files": [], "evaluation_interval": "1m", "tests": tests}, f)
            total += len(tests)
            r = subprocess.run([args.promtool, "test", "rules", fn], capture_output=True,
                               text=True, check=False)
            if r.returncode != 0:
                out = r.stdout + r.stderr
                failed += max(1, out.count("expr:"))
                print("%s:\n%s" % (path, out.strip()))
    print("%d cases checked against promtool, %d differ" % (total, failed))
    if total < 100:
        print("too few cases checked: the table parser is broken")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
