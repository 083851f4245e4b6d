#!/usr/bin/env bash
# make bench: deploywatch beside its anchors on this machine, in one run, with ratios.
#   bench/run.sh BUILD_DIR
# Needs the bench packages (scripts/install-deps.sh bench): wrk, prometheus-node-exporter, prometheus,
# victoria-metrics.
set -euo pipefail

build=${1:-build-bench}
dw=$(realpath "$build/deploywatch")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/deploywatch-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL: poll until it answers 200, for at most 30 s
	for _ in $(seq 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "bench: $1 never answered" >&2; exit 1
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
metric() { # URL NAME: the value of an unlabelled sample
	curl -fsS "$1" | awk -v n="$2" '$1 == n {print $2}'
}

wrk_threads=1 wrk_conns=8 wrk_secs=${WRK_SECONDS:-10}
echo "deploywatch bench on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg)"
echo

# ---- /metrics throughput and memory: deploywatch vs node_exporter ----
dw_port=$(free_port)
cat > "$work/dw.yml" <<YML
storage:
  path: $work/data
  sample_interval: 1s
web:
  listen_address: 127.0.0.1:$dw_port
sources: []
system:
  filesystems: [/]
  tcp_ports: [3306]
  processes: [deploywatch, prometheus-node, mysqld, nginx, php-fpm8.2]
YML
"$dw" run -c "$work/dw.yml" 2> "$work/dw.log" &
pids+=($!); dw_pid=$!
ne_port=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port" 2> "$work/ne.log" &
pids+=($!); ne_pid=$!
wait_http "http://127.0.0.1:$dw_port/metrics"
wait_http "http://127.0.0.1:$ne_port/metrics"
# Resident memory after start-up: both have served one scrape and sampled the host.
sleep 2
dw_rss=$(rss_kib "$dw_pid"); ne_rss=$(rss_kib "$ne_pid")
dw_series=$(curl -fsS "http://127.0.0.1:$dw_port/metrics" | grep -vc '^#')
ne_series=$(curl -fsS "http://127.0.0.1:$ne_port/metrics" | grep -vc '^#')

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in USER_HZ ticks
run_wrk() { # URL: "requests/s total-requests" (wrk has the machine to itself with the server)
	wrk -t$wrk_threads -c$wrk_conns -d"${wrk_secs}s" "$1" |
		awk '/requests in/ {n = $1} /^Requests\/sec:/ {r = $2} END {print r, n}'
}
read -r dw_rps dw_reqs < <(run_wrk "http://127.0.0.1:$dw_port/metrics")
ne_cpu0=$(cpu_ticks "$ne_pid")
read -r ne_rps ne_reqs < <(run_wrk "http://127.0.0.1:$ne_port/metrics")
ne_cpu1=$(cpu_ticks "$ne_pid")
dw_rss_after=$(rss_kib "$dw_pid")
# node_exporter samples the host on every scrape: its CPU per scrape is the anchor for our CPU
# per sampling tick (the same /proc reading, plus our store append).
ne_ms_per_scrape=$(echo "($ne_cpu1 - $ne_cpu0) * 1000 / $(getconf CLK_TCK) / $ne_reqs" | bc -l)

# CPU time per sampling tick, from the agent's own counters (collector thread CPU time).
ticks=$(metric "http://127.0.0.1:$dw_port/metrics" deploywatch_ticks_total)
tick_cpu=$(metric "http://127.0.0.1:$dw_port/metrics" deploywatch_tick_cpu_seconds_total)

printf '%-44s %14s %14s %8s\n' "/metrics (wrk -t$wrk_threads -c$wrk_conns -d${wrk_secs}s)" deploywatch node_exporter ratio
printf '%-44s %14.0f %14.0f %7.1fx\n' "requests/s" "$dw_rps" "$ne_rps" "$(echo "$dw_rps / $ne_rps" | bc -l)"
printf '%-44s %14s %14s\n' "samples per scrape" "$dw_series" "$ne_series"
printf '%-44s %11.1f MiB %10.1f MiB %7.1fx\n' "resident memory after start-up" \
	"$(echo "$dw_rss / 1024" | bc -l)" "$(echo "$ne_rss / 1024" | bc -l)" "$(echo "$ne_rss / $dw_rss" | bc -l)"
printf '%-44s %11.1f MiB\n' "deploywatch resident memory after wrk" "$(echo "$dw_rss_after / 1024" | bc -l)"
dw_ms_per_tick=$(echo "$tick_cpu * 1000 / $ticks" | bc -l)
printf '%-44s %11.3f ms %11.3f ms %7.1fx\n' "CPU per tick (incl. store) | per scrape" \
	"$dw_ms_per_tick" "$ne_ms_per_scrape" "$(echo "$ne_ms_per_scrape / $dw_ms_per_tick" | bc -l)"
echo

# ---- /metrics under concurrency (issue 8): requests/s at 1 to 1,000 connections ----
# wrk keeps every connection busy (keep-alive, a new request as soon as the answer is in). Both
# servers answer the excess over their concurrency cap with a quick 503 (deploywatch:
# web.max_requests 40; node_exporter: --web.max-requests 40); "ok/s" counts only 200s. After
# each run a fresh client's /-/healthy is timed: the issue's symptom was a minute of timeouts.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
conc_secs=${CONC_SECONDS:-5}
run_wrk_conc() { # URL CONNECTIONS: "requests/s non-2xx total-requests"
	local t=2
	[ "$2" -lt 2 ] && t=1
	wrk -t$t -c"$2" -d"${conc_secs}s" "$1" |
		awk '/requests in/ {n = $1} /^Requests\/sec:/ {r = $2} /Non-2xx/ {e = $NF}
		     END {print r, e + 0, n}'
}
healthy_ms() { # URL: milliseconds for a fresh client's /-/healthy (or "timeout")
	curl -fsS -m 3 -o /dev/null -w '%{time_total}' "$1" 2>/dev/null |
		awk '{printf "%.0f", $1 * 1000}' || echo timeout
}
printf '%-12s %12s %10s %9s %12s %10s %9s %7s\n' "/metrics" "deploywatch" "503s" "healthy" \
	"node_export." "503s" "healthy" "ratio"
printf '%-12s %12s %10s %9s %12s %10s %9s %7s\n' "(wrk ${conc_secs}s)" "ok/s" "" "after" \
	"ok/s" "" "after" "ok/s"
for c in 1 4 64 256 1000; do
	read -r d_rps d_err d_n < <(run_wrk_conc "http://127.0.0.1:$dw_port/metrics" "$c")
	d_h=$(healthy_ms "http://127.0.0.1:$dw_port/-/healthy")
	read -r n_rps n_err n_n < <(run_wrk_conc "http://127.0.0.1:$ne_port/metrics" "$c")
	n_h=$(healthy_ms "http://127.0.0.1:$ne_port/")
	d_ok=$(echo "$d_rps * ($d_n - $d_err) / $d_n" | bc -l)
	n_ok=$(echo "$n_rps * ($n_n - $n_err) / $n_n" | bc -l)
	printf '%-12s %12.0f %10s %7s ms %12.0f %10s %7s ms %6.1fx\n' "$c conns" "$d_ok" "$d_err" \
		"$d_h" "$n_ok" "$n_err" "$n_h" "$(echo "$d_ok / $n_ok" | bc -l)"
done
printf '%-44s %11.1f MiB\n' "deploywatch resident memory after the runs" \
	"$(echo "$(rss_kib "$dw_pid") / 1024" | bc -l)"
kill "$dw_pid" "$ne_pid"
echo

# ---- further benchmarks (one script per area) ----
for b in "$here"/run-*.sh; do
	[ -e "$b" ] || continue
	bash "$b" "$build" "$work"
	echo
done
