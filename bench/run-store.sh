#!/usr/bin/env bash
# make bench, store: the deterministic agent-shaped dataset (dw_gen_dataset, 7 days at 10 s by
# default) imported into deploywatch's LMDB store and into Prometheus's TSDB side by side; bytes
# per sample of both, then the store's append throughput (the agent's tick pattern) and the
# decode speed of a full scan (dw_store_bench).
#   bench/run-store.sh BUILD_DIR WORK_DIR        STORE_DAYS=N to shorten, STORE_TICKS=N appends
# Needs lmdb-utils (mdb_stat, mdb_copy) and promtool (prometheus) for the side-by-side figures.
set -euo pipefail

build=$1
work=$2
days=${STORE_DAYS:-7}
ticks=${STORE_TICKS:-2000}
dw=$(realpath "$build/deploywatch")
sb="$build/bench/dw_store_bench"
data="$work/store.om"
store="$work/store-data"
rm -rf "$store" "$work/store-prom" "$work/store-append" "$work/store-compact"

"$build/bench/dw_gen_dataset" --days "$days" --out "$data" 2> /dev/null
samples=$(grep -vc '^#' "$data")

# ---- deploywatch: `deploywatch import`, timed ----
cat > "$work/store.yml" <<YML
storage:
  path: $store
  retention: 3650d
sources: []
YML
how="deploywatch import"
t0=$(date +%s.%N)
if "$dw" import --help > /dev/null 2>&1; then
	"$dw" import -c "$work/store.yml" "$data" > "$work/store-import.txt" 2>&1
else
	# Until `deploywatch import` exists, the same file through the same store code, in batches.
	how="dw_store_bench load (no 'deploywatch import' in this build)"
	"$sb" load "$data" "$store" > "$work/store-import.txt"
fi
t1=$(date +%s.%N)
import_s=$(echo "$t1 - $t0" | bc -l)

psize=$(mdb_stat -e "$store" | awk '/Page size:/ {print $3}')
pages=$(mdb_stat -e "$store" | awk '/Number of pages used:/ {print $5}')
free_pages=$(mdb_stat -ef "$store" | awk '/Free pages:/ {print $3}')
used_bytes=$(( (pages - ${free_pages:-0}) * psize ))
mkdir -p "$work/store-compact"
mdb_copy -c "$store" "$work/store-compact"
compact_bytes=$(stat -c %s "$work/store-compact/data.mdb")
"$sb" payload "$store" > "$work/store-payload.txt"

# ---- Prometheus: promtool's backfill of the same file; its chunk files ----
prom=""
if command -v promtool > /dev/null; then
	# --max-block-duration keeps promtool to one pass over the file (ANCHORS.md).
	p0=$(date +%s.%N)
	promtool tsdb create-blocks-from openmetrics --max-block-duration=744h "$data" \
		"$work/store-prom" > /dev/null
	p1=$(date +%s.%N)
	prom_s=$(echo "$p1 - $p0" | bc -l)
	prom_bytes=$(du -cb "$work"/store-prom/*/chunks/* | awk '$2 == "total" {print $1}')
	prom_all=$(du -sb "$work/store-prom" | awk '{print $1}')
	prom=$(echo "$prom_bytes / $samples" | bc -l)
fi

# ---- throughput: the agent's pattern (one commit per tick), and a full decode scan ----
"$sb" append --ticks "$ticks" "$data" "$work/store-append" > "$work/store-append.txt"
"$sb" scan "$store" > "$work/store-scan.txt"
field() { # FILE KEY
	awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$1"
}
scanned=$(field "$work/store-scan.txt" samples)
payload=$(field "$work/store-payload.txt" bytes)
series=$(field "$work/store-scan.txt" series)
if [ "$scanned" != "$samples" ]; then
	echo "bench: the store holds $scanned samples, the dataset $samples" >&2
	exit 1
fi

compact_bps=$(echo "$compact_bytes / $samples" | bc -l)
printf '%-50s %14s %14s %8s\n' "store ($days d, 10 s, $series series, $samples samples)" \
	deploywatch prometheus ratio
if [ -n "$prom" ]; then
	printf '%-50s %14.3f %14.3f %7.2fx\n' "bytes/sample: whole store, compacted | chunks" \
		"$compact_bps" "$prom" "$(echo "$compact_bps / $prom" | bc -l)"
	printf '%-50s %14.3f %14.3f %7.2fx\n' "bytes/sample: used LMDB pages | whole TSDB dir" \
		"$(echo "$used_bytes / $samples" | bc -l)" "$(echo "$prom_all / $samples" | bc -l)" \
		"$(echo "$used_bytes / $prom_all" | bc -l)"
	printf '%-50s %14.3f %14.3f %7.2fx\n' "bytes/sample: chunk payload | chunks" \
		"$(echo "$payload / $samples" | bc -l)" "$prom" "$(echo "$payload / $prom_bytes" | bc -l)"
	printf '%-50s %12.1f s %12.1f s\n' "backfill time (import | promtool)" "$import_s" "$prom_s"
else
	printf '%-50s %14.3f %14s\n' "bytes/sample: whole store, compacted" "$compact_bps" "(no promtool)"
	printf '%-50s %14.3f\n' "bytes/sample: used LMDB pages" "$(echo "$used_bytes / $samples" | bc -l)"
	printf '%-50s %14.3f\n' "bytes/sample: chunk payload" "$(echo "$payload / $samples" | bc -l)"
	printf '%-50s %12.1f s\n' "backfill time (import)" "$import_s"
fi
printf '%-50s %14.0f  (%s)\n' "backfill samples/s" "$(echo "$samples / $import_s" | bc -l)" "$how"
printf '%-50s %14.0f  (%s ms/commit, %.0f samples/CPU-s)\n' \
	"append samples/s, one commit per tick ($ticks ticks)" \
	"$(field "$work/store-append.txt" samples_per_s)" \
	"$(field "$work/store-append.txt" ms_per_commit)" \
	"$(field "$work/store-append.txt" samples_per_cpu_s)"
printf '%-50s %14.3g\n' "full scan decode samples/s" "$(field "$work/store-scan.txt" samples_per_s)"
rm -rf "$data" "$store" "$work/store-prom" "$work/store-append" "$work/store-compact" \
	"$work"/store-*.txt "$work/store.yml"
