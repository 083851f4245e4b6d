"""The HTTP server keeps answering under connection pressure (issue 8).

On loopback, against the real agent: 1,000 concurrent keep-alive clients scrape /metrics and stay
connected, then 300 sockets send half a request and hold it, then half-closed and abandoned
connections. Throughout, a separate process opens a fresh connection every 100 ms and must get
/-/healthy and /metrics answered 200 within one second. Then: no socket of the agent left in
CLOSE-WAIT, the slow sockets closed by the read deadline, the idle ones closed to make room when
full (counted in the self-metrics, logged once), and resident memory back under 12 MiB.
"""
import multiprocessing
import os
import re
import resource
import selectors
import socket
import time
import urllib.request

from dwtest import Agent, agent_config, args, check, fail, http_get, wait_until

KEEPALIVE_CLIENTS = 1000
SCRAPES_EACH = 2
SLOW_CLIENTS = 300
HALF_CLOSED = 200
READ_TIMEOUT_S = 2
PROBE_LIMIT_S = 1.0
RSS_LIMIT_KIB = 12 * 1024

a = args()
# Under AddressSanitizer the agent runs several times slower and its shadow memory counts as
# resident: there the bound only tells an answer from a hang, and the memory bound is left to
# the plain build, which checks both as the issue states them.
with open(a.binary, "rb") as f:
    SANITIZED = b"__asan_init" in f.read()
if SANITIZED:
    PROBE_LIMIT_S = 10.0
    print("ASan build: fresh clients within %.0f s; resident memory not checked (see the plain "
          "build)" % PROBE_LIMIT_S)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
need = KEEPALIVE_CLIENTS + SLOW_CLIENTS + 3 * HALF_CLOSED + 256
if soft < need:
    check(hard == resource.RLIM_INFINITY or hard >= need,
          "this test needs %d open files; the hard limit is %d" % (need, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

# Short read deadline so the slow sockets are closed within the test; the rest as shipped
# (max_connections 1024, max_requests 40, idle_timeout 20s).
config = agent_config(a.workdir)
with open(config) as f:
    text = f.read()
text = text.replace("web:\n", "web:\n  read_timeout: %ds\n" % READ_TIMEOUT_S, 1)
with open(config, "w") as f:
    f.write(text)
agent = Agent(a.binary, config, a.workdir)
port = agent.wait_listening()
wait_until("/metrics", lambda: http_get(agent.url("/metrics"))[0] == 200)


def probe(port, stop, out):
    """Fresh connections every 100 ms: (path, status or error, seconds) for each failure."""
    failures, count, worst = [], 0, 0.0
    while not stop.is_set():
        for path in ("/-/healthy", "/metrics"):
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                            timeout=PROBE_LIMIT_S) as r:
                    r.read()
                    status = r.status
            except Exception as e:  # noqa: BLE001 - any failure is what we are looking for
                status = repr(e)
            dt = time.monotonic() - t0
            count += 1
            worst = max(worst, dt)
            if status != 200 or dt > PROBE_LIMIT_S:
                failures.append((round(t0 - T0, 2), path, status, round(dt, 3)))
        stop.wait(0.1)
    out.send((count, worst, failures))


def metric(name, labels=""):
    status, _, body = http_get(agent.url("/metrics"))
    check(status == 200, "/metrics answered %d" % status)
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), body.decode(), re.M)
    return float(m.group(1)) if m else None


def close_wait_sockets():
    """The agent's sockets on its port in CLOSE-WAIT (state 08 in /proc/net/tcp)."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "08":
                n += 1
    return n


def rss_kib():
    with open("/proc/%d/status" % agent.proc.pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


T0 = time.monotonic()
phases = []


def phase(name):
    phases.append((round(time.monotonic() - T0, 2), name))


stop = multiprocessing.Event()
parent_end, child_end = multiprocessing.Pipe()
prober = multiprocessing.Process(target=probe, args=(port, stop, child_end), daemon=True)
prober.start()
request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

# ---- 1,000 concurrent keep-alive clients, SCRAPES_EACH scrapes each, left connected ----
phase("keep-alive clients")
sel = selectors.DefaultSelector()
clients = []
for _ in range(KEEPALIVE_CLIENTS):
    # Connected and asked at once, as a scraper does: the 2 s read deadline counts from the
    # connect, and this loop alone takes longer than that to get round 1,000 sockets.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(request)
    s.setblocking(False)
    st = {"sock": s, "buf": b"", "done": 0, "codes": []}
    clients.append(st)
    sel.register(s, selectors.EVENT_READ, st)
deadline = time.monotonic() + 60
pending = KEEPALIVE_CLIENTS
while pending and time.monotonic() < deadline:
    for key, ev in sel.select(timeout=1):
        st = key.data
        s = st["sock"]
        if ev & selectors.EVENT_WRITE:
            s.send(request)  # small: fits the empty send buffer
            sel.modify(s, selectors.EVENT_READ, st)
            continue
        try:
            chunk = s.recv(1 << 16)
        except ConnectionError:
            chunk = b""
        if not chunk:
            st["codes"].append("closed")
            sel.unregister(s)
            pending -= 1
            continue
        st["buf"] += chunk
        head_end = st["buf"].find(b"\r\n\r\n")
        if head_end < 0:
            continue
        head = st["buf"][:head_end].decode("latin-1")
        length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))
        if len(st["buf"]) < head_end + 4 + length:
            continue
        st["codes"].append(int(head.split()[1]))
        st["buf"] = st["buf"][head_end + 4 + length:]
        st["done"] += 1
        if st["done"] == SCRAPES_EACH:
            sel.unregister(s)
            pending -= 1
        else:
            sel.modify(s, selectors.EVENT_WRITE, st)
sel.close()
check(pending == 0, "%d of %d keep-alive clients did not finish their scrapes within 60 s"
      % (pending, KEEPALIVE_CLIENTS))
codes = [c for st in clients for c in st["codes"]]
ok = codes.count(200)
print("keep-alive clients: %d scrapes answered 200, %d answered 503, other: %s"
      % (ok, codes.count(503), sorted(set(c for c in codes if c not in (200, 503)), key=str)))
check(ok + codes.count(503) == len(codes) and ok >= len(codes) * 9 // 10,
      "keep-alive scrapes: %d of %d answered 200; others: %r"
      % (ok, len(codes), [c for c in codes if c != 200][:10]))

# ---- 300 slow-header sockets: half a request, then nothing ----
phase("slow-header sockets")
t_slow = time.monotonic()
slow = []
for _ in range(SLOW_CLIENTS):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    slow.append(s)
# 1,300 connections is past web.max_connections (1024): the idle keep-alive ones made room.
# The slow ones are closed by the read deadline: each sees end-of-file (or a reset).
for s in slow:
    s.settimeout(max(0.1, t_slow + READ_TIMEOUT_S + 5 - time.monotonic()))
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        data = b""
    except socket.timeout:
        fail("a slow-header socket was still open %.1f s after it connected (read_timeout %d s)"
             % (time.monotonic() - t_slow, READ_TIMEOUT_S))
    check(data == b"", "a slow-header socket got %r instead of being closed" % data[:80])
slow_closed_after = time.monotonic() - t_slow
print("slow-header sockets closed %.1f s after they connected" % slow_closed_after)
check(slow_closed_after >= READ_TIMEOUT_S - 0.5,
      "slow sockets closed after %.1f s, before the read deadline" % slow_closed_after)
for s in slow:
    s.close()

# ---- half-closed and abandoned connections ----
phase("half-closed sockets")
half = []
for i in range(HALF_CLOSED):
    # A complete request, then the write side closed: answered, then closed by the server.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    half.append(s)
    # Half a request, then the write side closed: nothing more can come; closed at once.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHo")
    s.shutdown(socket.SHUT_WR)
    half.append(s)
    # Connected and gone: the agent's end must not linger in CLOSE-WAIT.
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
answered = 0
for s in half:
    s.settimeout(5)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        fail("a half-closed connection was still open after 5 s")
    answered += data.startswith(b"HTTP/1.1 200")
    s.close()
check(answered == HALF_CLOSED, "%d of %d half-closed complete requests answered 200"
      % (answered, HALF_CLOSED))
# The keep-alive clients go away without a word, as wrk does at its end.
for st in clients:
    st["sock"].close()
t_closed = time.monotonic()
wait_until("no agent socket in CLOSE-WAIT", lambda: close_wait_sockets() == 0, timeout=2)
print("CLOSE-WAIT sockets gone %.2f s after the clients closed" % (time.monotonic() - t_closed))

phase("end")
stop.set()
count, worst, failures = parent_end.recv()
prober.join(5)
print("fresh-client probes: %d, slowest %.3f s" % (count, worst))
check(count >= 20, "only %d probes ran" % count)
check(not failures, "fresh clients failed during the burst (seconds from start, path, status, "
      "duration): %r; phases: %r; load average %s"
      % (failures[:10], phases, open("/proc/loadavg").read().split()[:3]))

# ---- after the burst ----
def agent_sockets():
    """Count of the agent's sockets on its port by TCP state (hex, as /proc/net/tcp has it)."""
    states = {}
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] != "0A":
                states[fields[3]] = states.get(fields[3], 0) + 1
    return states


wait_until("the open connections to drop (deploywatch_http_connections %s, sockets by state %r)"
           % (metric("deploywatch_http_connections"), agent_sockets()),
           lambda: metric("deploywatch_http_connections") in (0, 1, 2), timeout=10)
full = metric("deploywatch_http_connections_closed_total", '{reason="full"}')
slow_n = metric("deploywatch_http_connections_closed_total", '{reason="read_timeout"}')
print("closed to make room: %s, closed for slowness: %s, refused: %s, answered 503: %s" % (
    full, slow_n, metric("deploywatch_http_connections_refused_total"),
    metric("deploywatch_http_requests_over_limit_total")))
check(full and full >= KEEPALIVE_CLIENTS + SLOW_CLIENTS - 1024,
      "closed_total{reason=full} is %r" % full)
check(slow_n and slow_n >= SLOW_CLIENTS - (full or 0),
      "closed_total{reason=read_timeout} is %r" % slow_n)
check(len(re.findall(r"connection limit reached", agent.text())) == 1,
      "expected one 'connection limit reached' log line:\n" + agent.text()[-2000:])
if not SANITIZED:
    rss = wait_until("resident memory under %d KiB (now %d)" % (RSS_LIMIT_KIB, rss_kib()),
                     lambda: rss_kib() < RSS_LIMIT_KIB and rss_kib(), timeout=10)
    print("resident memory after the burst: %.1f MiB" % (rss / 1024))
check(agent.stop() == 0, "agent exit status")
