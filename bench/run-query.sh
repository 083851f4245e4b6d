#!/usr/bin/env bash
# make bench, query: the same PromQL queries against deploywatch, Prometheus and VictoriaMetrics
# on the same 7-day agent-shaped dataset (dw_gen_dataset), over HTTP on loopback, one server at a
# time, each query QUERY_RUNS times after one warm-up run, over one kept-alive connection per
# server (as Grafana and promtool query); prints per query and per server the median latency
# (request sent to answer parsed), the server's CPU time, and the median time to the answer's
# last byte, with the ratios deploywatch / Prometheus and deploywatch / VictoriaMetrics.
#   bench/run-query.sh BUILD_DIR WORK_DIR        QUERY_DAYS=N to shorten, QUERY_RUNS=N
# Needs promtool + prometheus (test packages) and victoria-metrics (bench packages). A missing
# anchor is reported and its column left empty; deploywatch itself is required.
set -euo pipefail

build=$1
work=$2
days=${QUERY_DAYS:-7}
runs=${QUERY_RUNS:-30}
dw=$(realpath "$build/deploywatch")
data="$work/query.om"
rm -rf "$work/query-dw" "$work/query-prom" "$work/query-vm"
pids=()
cleanup_query() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup_query EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL: poll until it answers 200, for at most 120 s
	for _ in $(seq 1200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "bench: $1 never answered" >&2; exit 1
}

start=1700000000
"$build/bench/dw_gen_dataset" --days "$days" --start "$start" --out "$data" 2> /dev/null
samples=$(grep -vc '^#' "$data")
end=$((start + days * 86400 - 10))

# ---- deploywatch: import, then the agent serves the API ----
dw_port=$(free_port)
cat > "$work/query-dw.yml" <<YML
storage:
  path: $work/query-dw
  retention: 3650d
web:
  listen_address: 127.0.0.1:$dw_port
sources: []
query:
  max_samples: 100000000
  timeout: 2m
YML
"$dw" import -c "$work/query-dw.yml" "$data" > "$work/query-dw-import.txt" 2>&1
"$dw" run -c "$work/query-dw.yml" 2> "$work/query-dw.log" &
pids+=($!); dw_pid=$!
wait_http "http://127.0.0.1:$dw_port/-/ready"

# ---- Prometheus: promtool's backfill, then the server ----
prom_url="" prom_pid=0
if command -v promtool > /dev/null && command -v prometheus > /dev/null; then
	promtool tsdb create-blocks-from openmetrics --max-block-duration=744h "$data" \
		"$work/query-prom" > /dev/null
	prom_port=$(free_port)
	printf 'global:\n  scrape_interval: 1h\n' > "$work/query-prom.yml"
	prometheus --config.file="$work/query-prom.yml" --storage.tsdb.path="$work/query-prom" \
		--storage.tsdb.retention.time=50y --query.max-samples=100000000 \
		--web.listen-address="127.0.0.1:$prom_port" 2> "$work/query-prom.log" &
	pids+=($!); prom_pid=$!
	prom_url="http://127.0.0.1:$prom_port"
	wait_http "$prom_url/-/ready"
fi

# ---- VictoriaMetrics: the Prometheus text format with millisecond timestamps ----
vm_url="" vm_pid=0
if command -v victoria-metrics > /dev/null; then
	vm_port=$(free_port)
	victoria-metrics -storageDataPath="$work/query-vm" -retentionPeriod=100y \
		-httpListenAddr="127.0.0.1:$vm_port" -search.maxPointsPerTimeseries=100000 \
		-search.latencyOffset=0s -search.disableCache \
		> "$work/query-vm.log" 2>&1 &
	pids+=($!); vm_pid=$!
	vm_url="http://127.0.0.1:$vm_port"
	wait_http "$vm_url/health"
	awk '!/^#/ { $NF = sprintf("%.0f", $NF * 1000); print }' "$data" |
		curl -fsS --data-binary @- "$vm_url/api/v1/import/prometheus"
	curl -fsS "$vm_url/internal/force_flush" > /dev/null
	# Wait until every sample is searchable (the import is asynchronous).
	for _ in $(seq 600); do
		n=$(curl -fsS "$vm_url/api/v1/query" --data-urlencode \
			"query=sum(count_over_time({__name__!=\"\"}[$((days * 86400 + 3600))s]))" \
			--data-urlencode "time=$((end + 1))" | python3 -c \
			'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
		[ "$n" = "$samples" ] && break
		sleep 0.5
	done
fi

# The client's allocator, the same for every server: glibc maps each large block (an answer's
# bytes, its decoded text) fresh with mmap and unmaps it when freed, so whether a block comes
# back from the heap or costs new page faults depended on the answer's framing, not on the
# server's work: an answer with a Content-Length (one 650 KB read) had its bytes decoded in
# 2-4 ms, a chunked one of the same size in 0.06 ms, and the parse that followed took up to
# twice as long. Large blocks from the heap, never trimmed: page faults once, then reuse.
tunables=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=1073741824
GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}$tunables" \
python3 - "$runs" "$start" "$end" "$days" "http://127.0.0.1:$dw_port" "$prom_url" "$vm_url" \
	"$dw_pid" "$prom_pid" "$vm_pid" <<'PY'
import http.client, json, os, statistics, sys, time, urllib.parse

runs, start, end, days = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
servers = [("deploywatch", sys.argv[5], int(sys.argv[8])), ("prometheus", sys.argv[6], int(sys.argv[9])),
           ("victoriametrics", sys.argv[7], int(sys.argv[10]))]
day = 86400
# (label, endpoint, params): instant queries at the end of the data, range queries over it.
queries = [
    ("rate, 1 series", "query", {"query": 'rate(node_cpu_seconds_total{cpu="0",mode="idle"}[5m])', "time": end}),
    ("sum by rate, instant", "query", {"query": "sum by (mode) (rate(node_cpu_seconds_total[5m]))", "time": end}),
    ("max_over_time %dd, all load" % days, "query", {"query": "max_over_time(node_load1[%dd])" % days, "time": end}),
    ("count_over_time %dd, cpu" % days, "query", {"query": "sum(count_over_time(node_cpu_seconds_total[%dd]))" % days, "time": end}),
    ("increase %dd, histogram" % days, "query", {"query": "sum by (le) (increase(http_request_duration_seconds_bucket[%dd]))" % days, "time": end}),
    ("range 1d/60s sum rate", "query_range", {"query": "sum by (code) (rate(http_requests_total[5m]))", "start": end - day, "end": end, "step": 60}),
    ("range %dd/1h p95 histogram" % days, "query_range", {"query": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", "start": start + 3600, "end": end, "step": 3600}),
    ("range %dd/10m errors increase" % days, "query_range", {"query": 'sum(increase(laravel_log_entries_total{level="error"}[10m]))', "start": start + 600, "end": end, "step": 600}),
    ("range 6h/10s memory avg", "query_range", {"query": "avg_over_time(node_memory_MemAvailable_bytes[1m])", "start": end - 6 * 3600, "end": end, "step": 10}),
]

# The client, the same for every server: one HTTP/1.1 connection per server, opened before
# the warm-up and kept alive across that server's runs, as Grafana and promtool keep theirs
# (a new connection per request added ~0.3 ms of connect and teardown to every query, on every
# server alike). Each request is the same bytes to every server: a form POST with the same
# headers (http.client's Host, Accept-Encoding: identity and Content-Length, and ours below);
# no server is asked for compression. A connection the server closed is reopened, and that
# request timed again from its start.
conns = {}

def request(base, path, body):
    """POST body to base + path on base's kept-alive connection; the answer's bytes. A
    connection the server has closed is dropped (the next request opens a new one) and the
    error raised."""
    c = conns.get(base)
    if c is None:
        u = urllib.parse.urlsplit(base)
        c = conns[base] = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    try:
        c.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        raw = r.read()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        c.close()
        del conns[base]
        raise
    if r.status != 200:
        raise RuntimeError("%s: HTTP %d: %s" % (base, r.status, raw[:200]))
    return raw

def ask(base, endpoint, params):
    """(latency with the answer parsed, time to its last byte, series in the answer).

    Latency: from sending the request on the open connection to the answer parsed by
    json.loads (the client's parse grows with the answer's text: 16-17 digit values cost more
    to read than shorter ones). Time to the last byte: the same without the parse."""
    body = urllib.parse.urlencode(params).encode()
    path = "/api/v1/" + endpoint
    for attempt in range(3):
        t0 = time.perf_counter()
        try:
            raw = request(base, path, body)
            break
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if attempt == 2:
                raise
            # closed by the server between requests: reopen, and time the whole request again
    t_read = time.perf_counter() - t0
    doc = json.loads(raw)
    t = time.perf_counter() - t0
    if doc.get("status") != "success":
        raise RuntimeError("%s: %s" % (base, doc))
    res = doc["data"]["result"]
    return t, t_read, len(res) if isinstance(res, list) else 1

def cpu_s(pid):
    """utime + stime of a server process, all its threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

# Wall time is what a user waits for; server CPU time per query is the work done, which the
# machine's other load does not inflate (VictoriaMetrics spreads one query over both cores).
# The third table leaves out the client's own JSON parse (Python's: ~5 ms for the 650 KB of
# the 1-day 60 s answer), which the first table includes; it depends on the answer's text
# (the same values printed with fewer digits parse faster), not on the server's work.
wall, wire, cpu, nseries = {}, {}, {}, {}
for label, endpoint, params in queries:
    for name, base, pid in servers:
        if not base:
            continue
        try:
            # warm-up: page cache, caches of the server; and the answer's size, which must be
            # the same everywhere or the timings compare different work
            nseries[label, name] = ask(base, endpoint, params)[2]
            c0 = cpu_s(pid)
            times = [ask(base, endpoint, params) for _ in range(runs)]
            cpu[label, name] = (cpu_s(pid) - c0) * 1000 / runs
            wall[label, name] = statistics.median(t[0] for t in times) * 1000
            wire[label, name] = statistics.median(t[1] for t in times) * 1000
        except Exception as e:  # an anchor that cannot answer is reported, not fatal
            print("  %s: %s: %s" % (label, name, e), file=sys.stderr)

def table(title, d):
    print(title)
    print("%-34s %12s %12s %12s %9s %9s" % ("query", "deploywatch", "prometheus", "victoria", "dw/prom", "dw/vm"))
    for label, _, _ in queries:
        cell = lambda n: ("%12.1f" % d[label, n]) if (label, n) in d else "%12s" % "-"
        ratio = lambda n: ("%8.2fx" % (d[label, "deploywatch"] / d[label, n])) \
            if (label, n) in d and (label, "deploywatch") in d and d[label, n] > 0 else "%9s" % "-"
        print("%-34s %s %s %s %s %s" % (label, cell("deploywatch"), cell("prometheus"),
                                        cell("victoriametrics"), ratio("prometheus"), ratio("victoriametrics")))

for label, _, _ in queries:
    sizes = {n: nseries[label, n] for _, _, n in [(0, 0, x[0]) for x in servers] if (label, n) in nseries}
    if len(set(sizes.values())) > 1:
        print("  %s: answers differ in size (series): %s" % (label, sizes), file=sys.stderr)
print("queries on %d days at 10 s (the store bench's dataset), %d runs each after a warm-up" % (days, runs))
table("latency, median, ms (load average %.1f on %d cores)" % (os.getloadavg()[0], os.cpu_count()), wall)
print()
table("server CPU per query, ms (utime + stime over the runs / runs; 10 ms clock ticks)", cpu)
print()
table("time to the answer's last byte, median, ms (the latency without the client's JSON parse)", wire)
PY
