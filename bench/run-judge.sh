#!/usr/bin/env bash
# A judgement over a 1-hour window (and a 1-hour baseline) on a day of agent-shaped data
# (dw_gen_dataset: 194 series at 10 s), the built-in checks of the deploy plan. Anchor: under
# 50 ms on this machine (issue 11).
#   bench/run-judge.sh BUILD_DIR [WORK_DIR]   (JUDGE_RUNS=N: runs, default 11)
set -euo pipefail
build=${1:-build-bench}
runs=${JUDGE_RUNS:-11}
dw=$(realpath "$build/deploywatch")
work=$(mktemp -d /tmp/deploywatch-judge.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=1795737600 # 2026-11-27T00:00:00Z
cat > "$work/dw.yml" <<YML
storage:
  path: $work/data
  retention: 3650d
judge:
  baseline: 1h
  window: 1h
YML
"$build/bench/dw_gen_dataset" --days 1 --start $start --out "$work/day.om"
"$dw" import -c "$work/dw.yml" "$work/day.om" > /dev/null
"$dw" mark -c "$work/dw.yml" bench-release --at $((start + 12 * 3600)) > /dev/null
at=$((start + 14 * 3600))
: > "$work/times"
for _ in $(seq "$runs"); do
	t0=$(date +%s%N)
	rc=0
	"$dw" judge -c "$work/dw.yml" --at $at --json > "$work/out.json" || rc=$?
	t1=$(date +%s%N)
	[ $rc -le 2 ] || { echo "judge failed with $rc" >&2; exit 1; }
	inner=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["elapsed_ms"])' "$work/out.json")
	echo "$inner $(( (t1 - t0) / 1000 ))" >> "$work/times"
done
verdict=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["verdict"], len(j["checks"]), "checks")' "$work/out.json")
python3 - "$work/times" "$verdict" "$runs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
inner = statistics.median(float(r[0]) for r in rows)
wall = statistics.median(float(r[1]) / 1000 for r in rows)
print("judge, 1h baseline + 1h window, 194 series at 10s (%s): median %.1f ms judging, "
      "%.1f ms for the whole process (%s runs; anchor: < 50 ms)" % (sys.argv[2], inner, wall,
                                                                   sys.argv[3]))
PY
