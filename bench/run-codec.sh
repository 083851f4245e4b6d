#!/usr/bin/env bash
# make bench, chunk codec: bytes per sample of deploywatch's chunks against Prometheus's own
# blocks built from the same agent-shaped dataset (dw_gen_dataset, 7 days at 10 s by default).
#   bench/run-codec.sh BUILD_DIR WORK_DIR        CODEC_DAYS=N to shorten
set -euo pipefail

build=$1
work=$2
days=${CODEC_DAYS:-7}
data="$work/codec.om"

"$build/bench/dw_gen_dataset" --days "$days" --out "$data" 2> /dev/null
"$build/bench/dw_chunk_bench" --chunk 120 --chunk 720 "$data" > "$work/codec.txt"
samples=$(awk '/^dataset:/ {print $4}' "$work/codec.txt")
series=$(awk '/^dataset:/ {print $2}' "$work/codec.txt")
dw120=$(awk '$1 == "120" {print $3}' "$work/codec.txt")
dw720=$(awk '$1 == "720" {print $3}' "$work/codec.txt")

prom=""
if command -v promtool > /dev/null; then
	# --max-block-duration keeps promtool to one pass over the file (ANCHORS.md).
	promtool tsdb create-blocks-from openmetrics --max-block-duration=744h "$data" \
		"$work/codec-prom" > /dev/null
	bytes=$(du -sb "$work"/codec-prom/*/chunks | awk '{s += $1} END {print s}')
	prom=$(echo "$bytes / $samples" | bc -l)
fi

printf '%-44s %14s %14s %8s\n' "chunk bytes/sample ($days d, 10 s, $series series)" deploywatch \
	prometheus ratio
if [ -n "$prom" ]; then
	printf '%-44s %14.3f %14.3f %7.1fx\n' "chunks of 120 samples" "$dw120" "$prom" \
		"$(echo "$prom / $dw120" | bc -l)"
	printf '%-44s %14.3f %14.3f %7.1fx\n' "chunks of 720 samples" "$dw720" "$prom" \
		"$(echo "$prom / $dw720" | bc -l)"
else
	printf '%-44s %14.3f %14s\n' "chunks of 120 samples" "$dw120" "(no promtool)"
	printf '%-44s %14.3f %14s\n' "chunks of 720 samples" "$dw720" "(no promtool)"
fi
awk '$1 == "120" {printf "%-44s %14.3g %14.3g\n", "encode / decode samples per second", $5, $6}' \
	"$work/codec.txt"
grep '^head chunk' "$work/codec.txt"
rm -rf "$data" "$work/codec-prom"
