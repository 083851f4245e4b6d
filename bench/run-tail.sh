#!/usr/bin/env bash
# make bench, the log tailer: a >= 200 MB Laravel log through deploywatch's whole pipeline
# (reader, multiline assembly, parser, log-time samples, store) against mtail running an
# equivalent program on the same file, and grep -cP of the entry-start pattern; then the live
# figures (append -> /metrics latency, CPU at 1,000 lines/s, memory tailing 50 files).
#   bench/run-tail.sh BUILD_DIR WORK_DIR        TAIL_MB=N for another size
set -euo pipefail

build=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
dw=$(realpath "$build/deploywatch")
mb=${TAIL_MB:-200}
src="$here/../tests/fixtures/logs/laravel.log"
log="$work/tail-laravel.log"

# The dataset: the fixture's real entries (stack traces, JSON-escaped classes, a two-line
# message) repeated, each copy one day later, until it reaches the size.
python3 - "$src" "$log" "$mb" <<'PY'
import re, sys, datetime
src, out, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(src, encoding="utf-8", errors="surrogateescape").read()
stamp = re.compile(r"^\[(\d{4}-\d\d-\d\d)", re.M)
size = 0
day = 0
with open(out, "w", encoding="utf-8", errors="surrogateescape") as f:
    while size < mb * 1_000_000:
        d = (datetime.date(2026, 1, 1) + datetime.timedelta(days=day)).isoformat()
        chunk = stamp.sub("[" + d, text)
        f.write(chunk)
        size += len(chunk.encode("utf-8", "surrogateescape"))
        day += 1
PY
bytes=$(stat -c %s "$log")
mbytes=$(echo "$bytes / 1000000" | bc -l)
cat > "$work/tail.yml" <<YML
storage:
  path: $work/tail-data
  sample_interval: 10s
web:
  listen_address: 127.0.0.1:0
sources:
  - name: app
    path: $work/tail-live/*.log
    format: laravel
system:
  filesystems: [/]
YML

# Each program runs TAIL_RUNS times (default 3) and the least CPU counts: on a shared machine the
# other processes only ever add to a run's CPU (cache misses, preemption), so the minimum is the
# figure that repeats. The same number of runs for all three.
runs=${TAIL_RUNS:-3}
cpu_of() { # [--before SHELL-COMMAND] COMMAND...: print its least user+sys CPU seconds (rusage)
	   # over the runs, and that run's wall seconds; SHELL-COMMAND runs before each run
	local before=:
	if [ "$1" = --before ]; then
		before=$2
		shift 2
	fi
	python3 - "$work/cmd.out" "$work/cmd.err" "$runs" "$before" "$@" <<'PY'
import os, subprocess, sys, time
best = None
for _ in range(int(sys.argv[3])):
    subprocess.run(sys.argv[4], shell=True, check=True)
    t = time.monotonic()
    p = subprocess.Popen(sys.argv[5:], stdout=open(sys.argv[1], "w"), stderr=open(sys.argv[2], "w"))
    _, status, ru = os.wait4(p.pid, 0)
    run = (ru.ru_utime + ru.ru_stime, time.monotonic() - t)
    if best is None or run[0] < best[0]:
        best = run
print("%.4f %.3f" % best)
PY
}

# A fresh store for every replay: a second replay of the same file would count nothing.
read -r dw_cpu dw_wall < <(cpu_of --before "rm -rf '$work/tail-data'" \
	"$dw" replay -c "$work/tail.yml" --source app "$log")
dw_entries=$(grep -o '[0-9]* entries' "$work/cmd.out" | awk '{print $1}')

mkdir -p "$work/mtail-progs"
# The same counting as deploywatch's laravel format: entries by level, exceptions by class.
cat > "$work/mtail-progs/laravel.mtail" <<'MTAIL'
counter laravel_log_entries_total by level
counter laravel_exceptions_total by class
/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \w+\.(?P<level>[A-Z]+): / {
  laravel_log_entries_total[$level]++
}
/\[object\] \((?P<class>[^(]+)\(code: / {
  laravel_exceptions_total[$class]++
}
MTAIL
mt=""
if command -v mtail > /dev/null; then
	read -r mt_cpu mt_wall < <(cpu_of mtail --one_shot --one_shot_format=prometheus \
		--progs "$work/mtail-progs" --logs "$log" --logtostderr)
	mt_entries=$(awk '/^laravel_log_entries_total\{/ {s += $NF} END {print s + 0}' "$work/cmd.out")
	mt=1
fi
read -r gr_cpu gr_wall < <(cpu_of grep -cP '^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \w+\.[A-Z]+: ' "$log")
gr_entries=$(cat "$work/cmd.out")

per_core() { echo "$mbytes / $1" | bc -l; }
printf '%-52s %12s %12s %12s\n' "log pipeline ($(printf '%.0f' "$mbytes") MB laravel.log)" deploywatch mtail "grep -cP"
printf '%-52s %12s %12s %12s\n' "entries counted" "$dw_entries" "${mt_entries:--}" "$gr_entries"
printf '%-52s %12.1f %12s %12.1f\n' "MB/s per core (bytes / user+sys CPU)" "$(per_core "$dw_cpu")" \
	"$([ -n "$mt" ] && printf '%.1f' "$(per_core "$mt_cpu")" || echo -)" "$(per_core "$gr_cpu")"
printf '%-52s %12s\n' "runs each (the least CPU counts)" "$runs"
printf '%-52s %12.1f %12s %12.1f\n' "wall seconds" "$dw_wall" "${mt_wall:--}" "$gr_wall"
[ -n "$mt" ] && printf '%-52s %11.1fx\n' "deploywatch / mtail (MB/s per core)" "$(echo "$mt_cpu / $dw_cpu" | bc -l)"
printf '%-52s %11.2fx\n' "grep / deploywatch CPU (target: within 3x)" "$(echo "$dw_cpu / $gr_cpu" | bc -l)"

python3 "$here/tail_live.py" "$dw" "$work"
