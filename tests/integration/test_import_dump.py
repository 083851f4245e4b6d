"""`deploywatch import` and `deploywatch dump` on the real binary: text format and OpenMetrics
files round-trip exactly (and OpenMetrics agrees with promtool's own create-blocks + dump),
malformed lines are reported as FILE:LINE and skipped with exit 65, a second import of the same
file is refused as out of order and changes nothing, --match / --from / --to select, a missing
store exits 66, gzip and standard input work, and an import runs beside a live agent."""
import gzip
import os
import shutil
import subprocess
import time

from dwtest import Agent, agent_config, args, check, run, wait_until, write

a = args()
dw = a.binary
EX_DATAERR, EX_USAGE, EX_NOINPUT = 65, 64, 66


def config(name):
    return write(os.path.join(a.workdir, name + ".yml"),
                 "storage:\n  path: %s/%s-data\nsources: []\n" % (a.workdir, name))


def dw_run(cmd, code, stdin_data=None):
    p = subprocess.run([dw] + cmd, input=stdin_data, capture_output=True, text=True, timeout=120)
    check(p.returncode == code, "%s: exit %d, want %d\nstdout: %s\nstderr: %s"
          % (cmd, p.returncode, code, p.stdout, p.stderr))
    check("Sanitizer" not in p.stderr and "runtime error" not in p.stderr,
          "%s crashed:\n%s" % (cmd, p.stderr))
    return p.stdout, p.stderr


def expect_in(needle, text, what):
    check(needle in text, "%r not in %s:\n%s" % (needle, what, text))


# ---- help ----
for cmd in ["import", "dump"]:
    out, _ = dw_run([cmd, "--help"], 0)
    expect_in("Usage: deploywatch " + cmd, out, "help")
    expect_in("-c, --config FILE", out, "help")
    dw_run([cmd, "--bogus"], EX_USAGE)
dw_run(["import"], EX_USAGE)
dw_run(["import", "--format", "csv", "x"], EX_USAGE)

# ---- text format: import, dump, compare exactly ----
TEXT = """\
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1700000000000
http_requests_total{method="post",code="200"} 1030 1700000015000
http_requests_total{method="post",code="400"} 3 1700000000000
# TYPE node_load1 gauge
node_load1 0.42 1700000000000
node_load1 NaN 1700000015000
node_load1 +Inf 1700000030000
node_load1 -Inf 1700000045000
escaped{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb"} -0.5 1700000000000
# TYPE lat histogram
lat_bucket{le="0.1"} 1 1700000000000
lat_bucket{le="+Inf"} 2 1700000000000
lat_sum 0.25 1700000000000
lat_count 2 1700000000000
"""
TEXT_DUMP = """\
{__name__="escaped", nl="a\\nb", path="C:\\\\dir", quote="say \\"hi\\""} -0.5 1700000000000
{__name__="http_requests_total", code="200", method="post"} 1027 1700000000000
{__name__="http_requests_total", code="200", method="post"} 1030 1700000015000
{__name__="http_requests_total", code="400", method="post"} 3 1700000000000
{__name__="lat_bucket", le="+Inf"} 2 1700000000000
{__name__="lat_bucket", le="0.1"} 1 1700000000000
{__name__="lat_count"} 2 1700000000000
{__name__="lat_sum"} 0.25 1700000000000
{__name__="node_load1"} 0.42 1700000000000
{__name__="node_load1"} NaN 1700000015000
{__name__="node_load1"} +Inf 1700000030000
{__name__="node_load1"} -Inf 1700000045000
"""
cfg = config("text")
text_file = write(os.path.join(a.workdir, "in.prom"), TEXT)
_, err = dw_run(["import", "-c", cfg, text_file], 0)
expect_in("imported 12 samples into 8 series from %s (0 refused out of order)" % text_file, err,
          "import stderr")
out, _ = dw_run(["dump", "-c", cfg], 0)
check(out == TEXT_DUMP, "text dump:\n%s\nwant:\n%s" % (out, TEXT_DUMP))

# The samples are from 2023, older than the default retention (30d): imported, with a warning
# that the next retention step deletes them.
expect_in("%s: 12 samples older than the retention (30d) will be deleted by the next retention "
          "step; raise storage.retention to keep them" % text_file, err, "import stderr")

# Importing the same file again: every sample refused as out of order, data unchanged; the
# summary says nothing new was stored (and warns of no sample it did not write).
_, err = dw_run(["import", "-c", cfg, text_file], 0)
expect_in("nothing new in %s: 12 samples already stored (each at or before its series' last "
          "stored timestamp), in 8 series" % text_file, err, "re-import stderr")
check("imported 0 samples" not in err and "retention" not in err, "re-import stderr:\n" + err)
out, _ = dw_run(["dump", "-c", cfg], 0)
check(out == TEXT_DUMP, "dump after re-import changed:\n%s" % out)

# ---- dump selection ----
out, _ = dw_run(["dump", "-c", cfg, "--match", "node_load1"], 0)
check(out == "".join(l + "\n" for l in TEXT_DUMP.splitlines() if "node_load1" in l), out)
# Several --match are a union, each series once, in label order.
out, _ = dw_run(["dump", "-c", cfg, "--match", 'http_requests_total{code="400"}',
                 "--match", '{__name__=~"lat_.*",le="+Inf"}', "--match", '{code=~"4.."}'], 0)
check(out == '{__name__="http_requests_total", code="400", method="post"} 3 1700000000000\n'
             '{__name__="lat_bucket", le="+Inf"} 2 1700000000000\n', "union:\n" + out)
# --from / --to are inclusive, in Unix seconds or RFC 3339.
want = ('{__name__="node_load1"} NaN 1700000015000\n'
        '{__name__="node_load1"} +Inf 1700000030000\n')
out, _ = dw_run(["dump", "-c", cfg, "-m", "node_load1", "--from", "1700000015",
                 "--to", "2023-11-14T22:13:50Z"], 0)
check(out == want, "from/to:\n" + out)
out, _ = dw_run(["dump", "-c", cfg, "-m", "node_load1", "--from", "2023-11-14T23:13:35+01:00",
                 "--to", "1700000030.000"], 0)
check(out == want, "from/to RFC 3339 with offset:\n" + out)
out, _ = dw_run(["dump", "-c", cfg, "--from", "1800000000"], 0)
check(out == "", "nothing after the data:\n" + out)
# Bad arguments: the selector's error names its position, as Prometheus does.
_, err = dw_run(["dump", "-c", cfg, "--match", 'foo{a="b"'], EX_USAGE)
expect_in("1:10: parse error: unexpected end of input inside braces", err, "dump stderr")
_, err = dw_run(["dump", "-c", cfg, "--match", '{a=""}'], EX_USAGE)
expect_in("vector selector must contain at least one non-empty matcher", err, "dump stderr")
_, err = dw_run(["dump", "-c", cfg, "--from", "yesterday"], EX_USAGE)
expect_in("--from: 'yesterday' is not a time", err, "dump stderr")
dw_run(["dump", "-c", cfg, "--from", "1700000030", "--to", "1700000000"], EX_USAGE)

# A missing store: exit 66 with the path; nothing is created.
missing = config("missing")
_, err = dw_run(["dump", "-c", missing], EX_NOINPUT)
expect_in("%s/missing-data" % a.workdir, err, "dump stderr")
check(not os.path.exists("%s/missing-data" % a.workdir), "dump created the store")

# ---- OpenMetrics, compared with promtool's own backfill and dump ----
OM = """\
# HELP req Requests.
# TYPE req counter
req_total{code="200",method="get"} 10 1700000000
req_total{code="200",method="get"} 11 1700000015.5
req_total{code="500",method="get"} 1 1700000000.001
# TYPE temp_celsius gauge
# UNIT temp_celsius celsius
temp_celsius{room="a\\"b\\\\c"} 21.5 1700000000
temp_celsius{room="a\\"b\\\\c"} NaN 1700000030
temp_celsius{room="a\\"b\\\\c"} -0.125 1700000045
# TYPE lat histogram
lat_bucket{le="0.5"} 3 1700000000
lat_bucket{le="+Inf"} 5 1700000000
lat_sum 2.25 1700000000
lat_count 5 1700000000
# EOF
"""
OM_DUMP = """\
{__name__="lat_bucket", le="+Inf"} 5 1700000000000
{__name__="lat_bucket", le="0.5"} 3 1700000000000
{__name__="lat_count"} 5 1700000000000
{__name__="lat_sum"} 2.25 1700000000000
{__name__="req_total", code="200", method="get"} 10 1700000000000
{__name__="req_total", code="200", method="get"} 11 1700000015500
{__name__="req_total", code="500", method="get"} 1 1700000000001
{__name__="temp_celsius", room="a\\"b\\\\c"} 21.5 1700000000000
{__name__="temp_celsius", room="a\\"b\\\\c"} NaN 1700000030000
{__name__="temp_celsius", room="a\\"b\\\\c"} -0.125 1700000045000
"""
cfg = config("om")
om_file = write(os.path.join(a.workdir, "in.om"), OM)
_, err = dw_run(["import", "-c", cfg, om_file], 0)
expect_in("imported 10 samples into 7 series", err, "om import stderr")
out, _ = dw_run(["dump", "-c", cfg], 0)
check(out == OM_DUMP, "OpenMetrics dump:\n%s\nwant:\n%s" % (out, OM_DUMP))
# An explicit --format gives the same.
cfg2 = config("om2")
dw_run(["import", "-c", cfg2, "--format", "openmetrics", om_file], 0)
out, _ = dw_run(["dump", "-c", cfg2], 0)
check(out == OM_DUMP, "--format openmetrics dump:\n" + out)

promtool = shutil.which("promtool")
if promtool:
    tsdb = os.path.join(a.workdir, "promtool-tsdb")
    rc, pout, perr = run([promtool, "tsdb", "create-blocks-from", "openmetrics", om_file, tsdb])
    check(rc == 0, "promtool create-blocks-from: %s %s" % (pout, perr))
    os.makedirs(os.path.join(tsdb, "wal"), exist_ok=True)  # promtool 2.42's dump opens the WAL
    rc, pout, perr = run([promtool, "tsdb", "dump", tsdb])
    check(rc == 0, "promtool tsdb dump: " + perr)
    check(pout == out, "promtool dump differs:\npromtool:\n%s\ndeploywatch:\n%s" % (pout, out))
else:
    print("promtool not found: skipping the comparison with promtool tsdb dump")

# ---- malformed lines: FILE:LINE, skipped, the rest imported, exit 65 ----
cfg = config("bad")
bad_file = write(os.path.join(a.workdir, "bad.prom"), """\
good 1 1700000000000
no_timestamp 1
good 2 1700000001000
bad{a="1",a="2"} 1 1700000000000
x{a=unquoted} 1 1700000000000
good 3 1700000002000
""")
_, err = dw_run(["import", "-c", cfg, bad_file], EX_DATAERR)
for line in ["%s:2: sample has no timestamp; import needs a timestamp on every sample" % bad_file,
             '%s:4: duplicate label name "a"' % bad_file,
             '%s:5: expected a quoted value for label "a"' % bad_file,
             "%s: 3 malformed lines skipped" % bad_file,
             "imported 3 samples into 1 series from %s" % bad_file]:
    expect_in(line, err, "malformed import stderr")
check(":1:" not in err and ":3:" not in err and ":6:" not in err, "good lines reported:\n" + err)
out, _ = dw_run(["dump", "-c", cfg], 0)
check(out == '{__name__="good"} 1 1700000000000\n{__name__="good"} 2 1700000001000\n'
             '{__name__="good"} 3 1700000002000\n', "malformed dump:\n" + out)

# At most 100 malformed lines are shown, then a count.
many = write(os.path.join(a.workdir, "many.prom"),
             "".join("m%d 1\n" % i for i in range(150)) + "ok 1 1700000000000\n")
_, err = dw_run(["import", "-c", cfg, many], EX_DATAERR)
check(err.count("sample has no timestamp") == 100, "shown: %d" % err.count("sample has no timestamp"))
expect_in("%s:100: sample has no timestamp" % many, err, "stderr")
expect_in("%s: 50 more malformed lines not shown" % many, err, "stderr")
expect_in("%s: 150 malformed lines skipped" % many, err, "stderr")

# A missing input file.
_, err = dw_run(["import", "-c", cfg, os.path.join(a.workdir, "nope.prom")], EX_NOINPUT)
expect_in("nope.prom", err, "stderr")

# ---- gzip and standard input ----
cfg = config("gz")
gz_file = os.path.join(a.workdir, "in.prom.gz")
with gzip.open(gz_file, "wt") as f:
    f.write(TEXT)
_, err = dw_run(["import", "-c", cfg, gz_file], 0)
expect_in("imported 12 samples into 8 series", err, "gz import")
out, _ = dw_run(["dump", "-c", cfg], 0)
check(out == TEXT_DUMP, "gz dump:\n" + out)
# A gzip stream cut short: the complete lines before the cut are imported, exit 65.
cfg = config("cut")
big = "".join("cut %d %d\n" % (i, 1700000000000 + i * 1000) for i in range(20000))
whole = gzip.compress(big.encode(), mtime=0)
cut_file = os.path.join(a.workdir, "cut.prom.gz")
with open(cut_file, "wb") as f:
    f.write(whole[:len(whole) // 2])
_, err = dw_run(["import", "-c", cfg, cut_file], EX_DATAERR)
expect_in("unexpected end of file after line", err, "cut gzip stderr")
out, _ = dw_run(["dump", "-c", cfg], 0)
lines = out.splitlines()
check(0 < len(lines) < 20000, "cut gzip imported %d samples" % len(lines))
check(lines == ['{__name__="cut"} %d %d' % (i, 1700000000000 + i * 1000) for i in range(len(lines))],
      "cut gzip: the imported samples are not the file's first lines")
# A directory is not an input.
_, err = dw_run(["import", "-c", cfg, a.workdir], EX_NOINPUT)
expect_in("Is a directory", err, "stderr")

cfg = config("stdin")
_, err = dw_run(["import", "-c", cfg, "-"], 0, stdin_data=TEXT)
expect_in("imported 12 samples into 8 series from <stdin>", err, "stdin import")
out, _ = dw_run(["dump", "-c", cfg], 0)
check(out == TEXT_DUMP, "stdin dump:\n" + out)

# ---- issue 7's two inputs ----
# A file cut inside its last timestamp (no newline, no # EOF): the cut line is reported, nothing
# invented; the complete line before it is imported.
cfg = config("issue7-cut")
cut_file = write(os.path.join(a.workdir, "cut.om"), '# TYPE disk_used gauge\n'
                 'disk_used{host="a"} 1 1700000000\ndisk_used{host="b"} 2 170000006')
_, err = dw_run(["import", "-c", cfg, "--format", "openmetrics", cut_file], EX_DATAERR)
expect_in("%s:3: truncated input: it ends inside this line, without a newline and without "
          "# EOF; the line is not imported" % cut_file, err, "cut import stderr")
expect_in("%s: input ended inside its last line (truncated?); every complete line was imported, "
          "the cut one was not" % cut_file, err, "cut import stderr")
check("malformed" not in err, "the cut end counted as a malformed line:\n" + err)
expect_in("imported 1 sample into 1 series", err, "cut import stderr")
out, _ = dw_run(["dump", "-c", cfg], 0)
check(out == '{__name__="disk_used", host="a"} 1 1700000000000\n', "cut dump:\n" + out)
# The same with auto-detection.
cfg = config("issue7-cut-auto")
_, err = dw_run(["import", "-c", cfg, cut_file], EX_DATAERR)
expect_in("%s:3: truncated input" % cut_file, err, "cut auto import stderr")
out, _ = dw_run(["dump", "-c", cfg], 0)
check("170000006" not in out and out.count("\n") == 1, "cut auto dump:\n" + out)
# Complete lines and no # EOF: every line is imported, exit 65, and the summary says the input
# ended early, not that a line was skipped.
cfg = config("no-eof")
noeof_file = write(os.path.join(a.workdir, "noeof.om"), "a 1 1700000000\nb 2 1700000001\n")
_, err = dw_run(["import", "-c", cfg, "--format", "openmetrics", noeof_file], EX_DATAERR)
expect_in('%s:2: truncated input: OpenMetrics ends with "# EOF"' % noeof_file, err, "no-eof stderr")
expect_in("%s: input ended without # EOF (truncated?); every complete line was imported"
          % noeof_file, err, "no-eof stderr")
check("malformed" not in err and "skipped" not in err, "no-eof stderr:\n" + err)
expect_in("imported 2 samples into 2 series", err, "no-eof stderr")
out, _ = dw_run(["dump", "-c", cfg], 0)
check(out == '{__name__="a"} 1 1700000000000\n{__name__="b"} 2 1700000001000\n',
      "no-eof dump:\n" + out)
# A malformed line besides: counted as one, the end said apart.
bad_noeof = write(os.path.join(a.workdir, "badnoeof.om"), "c 1 1700000000\nc x 1700000001\n")
_, err = dw_run(["import", "-c", cfg, "--format", "openmetrics", bad_noeof], EX_DATAERR)
expect_in("%s: 1 malformed lines skipped" % bad_noeof, err, "no-eof stderr")
expect_in("%s: input ended without # EOF" % bad_noeof, err, "no-eof stderr")

# ---- retention: samples older than storage.retention are imported with a warning ----
cfg = write(os.path.join(a.workdir, "ret.yml"),
            "storage:\n  path: %s/ret-data\n  retention: 5d\nsources: []\n" % a.workdir)
now_ms = int(time.time()) * 1000
ret_file = write(os.path.join(a.workdir, "ret.prom"), "".join(
    "r{i=\"%d\"} 1 %d\n" % (i, now_ms - d * 86400000) for i, d in enumerate([30, 10, 6, 1, 0])))
_, err = dw_run(["import", "-c", cfg, ret_file], 0)
expect_in("imported 5 samples into 5 series", err, "retention stderr")
expect_in("%s: 3 samples older than the retention (5d) will be deleted by the next retention "
          "step; raise storage.retention to keep them" % ret_file, err, "retention stderr")
# Recent samples only: no warning.
recent = write(os.path.join(a.workdir, "recent.prom"), "r{i=\"4\"} 2 %d\n" % (now_ms + 1000))
_, err = dw_run(["import", "-c", cfg, recent], 0)
check("retention" not in err, "a warning for recent samples:\n" + err)

# ---- messages echo control bytes as \xNN ----
ctl_file = write(os.path.join(a.workdir, "ctl.prom"), "v 1\r 1700000000000\n"
                 "w 1 17000\x1b[31m00\n")
_, err = dw_run(["import", "-c", cfg, "--format", "text", ctl_file], EX_DATAERR)
expect_in('%s:1: invalid sample value "1\\x0d"' % ctl_file, err, "control bytes")
expect_in('%s:2: invalid timestamp "17000\\x1b[31m00"' % ctl_file, err, "control bytes")
check("\r" not in err and "\x1b" not in err, "a raw control byte:\n%r" % err)

# An undefined escape in a label value is kept, backslash and all, as promtool keeps it.
cfg = config("issue7-esc")
esc_file = write(os.path.join(a.workdir, "esc.om"),
                 'conn{app="MSC20\\AUCTI-orders"} 5 1700000000\n# EOF\n')
_, err = dw_run(["import", "-c", cfg, esc_file], 0)
expect_in("imported 1 sample into 1 series", err, "escape import stderr")
out, _ = dw_run(["dump", "-c", cfg], 0)
check(out == '{__name__="conn", app="MSC20\\\\AUCTI-orders"} 5 1700000000000\n',
      "escape dump:\n" + out)

# ---- beside a running agent: both write through LMDB's lock, dump reads meanwhile ----
agent_cfg = agent_config(a.workdir, interval="1s")
# The imported samples are from 2023: a long retention keeps the agent's retention step, which
# runs every tick, from deleting them between the import and the dump.
with open(agent_cfg) as f:
    text = f.read()
write(agent_cfg, text.replace("  sample_interval:", "  retention: 36500d\n  sample_interval:", 1))
agent = Agent(dw, agent_cfg, a.workdir)
agent.wait_listening()
wait_until("the agent to store its first samples",
           lambda: os.path.exists(os.path.join(a.workdir, "data", "data.mdb")) and
           run([dw, "dump", "-c", agent_cfg, "--match", '{__name__=~"deploywatch_.*"}'])[1] != "")
# Metric names of our own (the agent samples node_load1 itself), same order as TEXT's.
names = ["http_requests_total", "node_load1", "escaped", "lat_"]


def prefixed(text):
    for n in names:
        text = text.replace(n, "bf_" + n)
    return text


bf_file = write(os.path.join(a.workdir, "bf.prom"), prefixed(TEXT))
_, err = dw_run(["import", "-c", agent_cfg, bf_file], 0)
expect_in("imported 12 samples into 8 series", err, "import beside the agent")
out, _ = dw_run(["dump", "-c", agent_cfg, "--match", '{__name__=~"bf_.*"}'], 0)
check(out == prefixed(TEXT_DUMP), "dump beside the agent:\n" + out)
check(agent.proc.poll() is None, "the agent died:\n" + agent.text())
check(agent.stop() == 0, "agent exit code:\n" + agent.text())

print("integration_import_dump: ok")
