#!/usr/bin/env bash
# The log parsers' throughput beside grep -cP for the entry-start pattern, on a Laravel log of at
# least 200 MB built from the corpus shapes (tests/fixtures/logs/laravel.log repeated).
#   bench/run-logparse.sh BUILD_DIR [MB]
set -euo pipefail
build=${1:-build-bench}
mb=${2:-200}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/deploywatch-logparse.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$here/../tests/fixtures/logs/laravel.log"
while [ "$(stat -c %s "$work/laravel.log" 2>/dev/null || echo 0)" -lt $((mb * 1000000)) ]; do
	cat "$src" >> "$work/laravel.log"
done
size=$(stat -c %s "$work/laravel.log")
"$build/bench/dw_logparse_bench" "$work/laravel.log" laravel /var/www/cyh | tee "$work/dw.txt"
cat "$work/laravel.log" > /dev/null # both runs read from the page cache
start=$(date +%s.%N)
entries=$(LC_ALL=C grep -cP '^\[\d{4}-\d\d-\d\d' "$work/laravel.log")
end=$(date +%s.%N)
grep_mbs=$(echo "$size $start $end" | awk '{printf "%.1f", $1 / 1e6 / ($3 - $2)}')
dw_mbs=$(awk '{for (i = 1; i < NF; i++) if ($(i+1) == "MB/s") print $i}' "$work/dw.txt")
echo "grep -cP '^\\[\\d{4}-\\d\\d-\\d\\d': $entries entries, $grep_mbs MB/s (wall, one core)"
echo "$dw_mbs $grep_mbs" | awk '{printf "parser / grep: %.2fx (target: within 3x, i.e. >= 0.33x)\n", $1 / $2}'
