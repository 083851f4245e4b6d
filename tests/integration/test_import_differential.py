"""`deploywatch import` against promtool on a table of small edge cases (issue 7).

Every OpenMetrics case is imported by `deploywatch import --format openmetrics` + `dump` and by
`promtool tsdb create-blocks-from openmetrics` + `promtool tsdb dump`, and one of three things must
hold, as its row says:

  SAME         promtool accepts the file; deploywatch exits 0 and the dumps are equal.
  REFUSED      promtool refuses the file; deploywatch reports FILE:LINE for the given line and
               exits 65, and stores exactly what promtool stores from the file repaired (that line
               dropped unless the row keeps it, and `# EOF` added when missing): nothing invented.
  DIFFERS      a difference on purpose: deploywatch's exit code, reported line and dump are given
               by the row, promtool is checked to really do otherwise, and the reason must be
               listed in docs/import.md under the row's key.

Text-format cases have no reference tool (promtool reads OpenMetrics only): their rows give the
exit code, the reported line and the dump. AUTO rows check the format detection on both kinds of
cut input. The same inputs are in fuzz_import's corpus (tests/fuzz/corpus/import/om_*, t_*, auto_*).
"""
import concurrent.futures
import os
import shutil
import subprocess

from dwtest import args, check, fail

a = args()
dw = a.binary
EX_OK, EX_DATAERR = 0, 65
promtool = shutil.which("promtool")
check(promtool is not None,
      "promtool is not installed (scripts/install-deps.sh installs it): this test compares with it")
with open(os.path.join(a.source, "docs", "import.md"), encoding="utf-8") as f:
    import_md = f.read()

E = "# EOF\n"
T = 1700000000            # OpenMetrics timestamps: seconds
TMS = "1700000000000"     # the same instant in milliseconds (the text format, dumps)


def SAME():
    return ("same",)


def REFUSED(line, keep=False):
    return ("refused", line, keep)


def DIFFERS(key, code, line, dump):
    return ("differs", key, code, line, dump)


def TEXT(code, line, dump):
    return ("text", code, line, dump)


def om(body):
    return body.replace("@", str(T))


OM_CASES = [
    # escapes in label values: \\ \" \n defined, a backslash before anything else kept
    ("escape_undefined", 'conn{app="MSC20\\AUCTI-orders"} 5 @\n' + E, SAME()),
    ("escape_defined", 'a{v="q\\"b\\\\n\\n"} 1 @\n' + E, SAME()),
    ("escape_backslash_last", 'a{v="x\\\\"} 1 @\n' + E, SAME()),
    ("escape_tab_literal", 'a{v="x\\ty"} 1 @\n' + E, SAME()),
    ("escape_eats_quote", 'a{v="x\\"} 1 @\nb 1 @\n' + E, REFUSED(1)),
    ("utf8_value", 'a{v="é日本"} 1 @\n' + E, SAME()),
    # escapes in HELP text (not stored, must not disturb the samples)
    ("help_escapes", '# HELP a x\\\\y \\n z \\q\n# TYPE a gauge\na 1 @\n' + E, SAME()),
    # NaN / Inf spellings
    ("nan", "a NaN @\n" + E, SAME()),
    ("inf_plus", "a +Inf @\n" + E, SAME()),
    ("inf_minus", "a -Inf @\n" + E, SAME()),
    ("inf_bare", "a Inf @\n" + E, SAME()),
    ("inf_lower", "a +inf @\n" + E, SAME()),
    ("infinity_word", "a -Infinity @\n" + E, SAME()),
    # exponents and fractions in values and timestamps
    ("value_exponent", "a 1.5e3 @\nb -2E-2 @\n" + E, SAME()),
    ("value_dots", "a .5 @\nb 5. @\n" + E, SAME()),
    ("value_big", "a 1.7976931348623157e308 @\nb 4.9e-324 @\nc 2.2250738585072014e-308 @\n" + E, SAME()),
    ("value_printing", 'a{v="1"} 1600000000 @\na{v="2"} 123456789 @\na{v="3"} 2097152 @\n'
     'a{v="4"} 123456 @\na{v="5"} 0.0001 @\na{v="6"} 0.00001234 @\na{v="7"} 1e21 @\n'
     'a{v="8"} 5e-324 @\na{v="9"} -0 @\n' + E, SAME()),
    ("value_hex", "a 0x10 @\nb 1 @\n" + E, REFUSED(1)),
    ("value_underscore", "a 1_000 @\nb 1 @\n" + E, REFUSED(1)),
    ("ts_fraction_long", "a 1 1700000000.1234567\n" + E, SAME()),
    ("ts_exponent", "a 1 1.7e9\nb 1 17e8\n" + E, SAME()),
    ("ts_submillisecond_half", "a 1 1700000000.0005\n" + E,
     DIFFERS("ms-rounding", EX_OK, None, '{__name__="a"} 1 1700000000001\n')),
    ("ts_negative", "a 1 -1.5\n" + E,
     DIFFERS("negative-timestamps", EX_OK, None, '{__name__="a"} 1 -1500\n')),
    ("ts_missing", "a 1\nb 1 @\n" + E, REFUSED(1)),
    # label sets
    ("label_empty_value", 'a{x="",y="1"} 1 @\n' + E, SAME()),
    ("label_duplicate", 'a{x="1",x="2"} 1 @\nb 1 @\n' + E, REFUSED(1)),
    ("label_trailing_comma", 'a{x="1",} 1 @\n' + E,
     DIFFERS("trailing-comma", EX_OK, None, '{__name__="a", x="1"} 1 ' + TMS + "\n")),
    ("name_colons", "job:rate:sum 1 @\n" + E, SAME()),
    ("name_dot", "a.b 1 @\nc 1 @\n" + E, REFUSED(1)),
    ("label_name_dot", 'a{x.y="1"} 1 @\nc 1 @\n' + E, REFUSED(1)),
    # # EOF: missing, repeated, without its newline, alone
    ("eof_missing", "a 1 @\nb 2 @\n", REFUSED(2, keep=True)),
    ("eof_repeated", "a 1 @\n" + E + E, REFUSED(3)),
    ("eof_without_newline", "a 1 @\n# EOF", SAME()),
    ("eof_only", E, SAME()),
    ("empty_input", "", REFUSED(1, keep=True)),
    # cut-off input (issue 7): never an invented sample
    ("cut_in_timestamp", '# TYPE disk_used gauge\ndisk_used{host="a"} 1 @\n'
     'disk_used{host="b"} 2 170000006', REFUSED(3)),
    ("cut_in_labels", 'a{x="1"} 1 @\nb{x="', REFUSED(2)),
    # blank lines, CRLF, blanks, comments: tolerated on purpose
    ("blank_line", "a 1 @\n\nb 2 @\n" + E,
     DIFFERS("blank-lines", EX_OK, None,
             '{__name__="a"} 1 ' + TMS + '\n{__name__="b"} 2 ' + TMS + "\n")),
    ("blank_after_eof", "a 1 @\n" + E + "\n",
     DIFFERS("blank-lines", EX_OK, None, '{__name__="a"} 1 ' + TMS + "\n")),
    ("crlf", "a 1 @\r\n# EOF\r\n",
     DIFFERS("crlf", EX_OK, None, '{__name__="a"} 1 ' + TMS + "\n")),
    ("double_space", "a  1  @\n" + E,
     DIFFERS("blanks", EX_OK, None, '{__name__="a"} 1 ' + TMS + "\n")),
    ("trailing_space", "a 1 @ \n" + E,
     DIFFERS("blanks", EX_OK, None, '{__name__="a"} 1 ' + TMS + "\n")),
    ("plain_comment", "# just a comment\na 1 @\n" + E,
     DIFFERS("comments", EX_OK, None, '{__name__="a"} 1 ' + TMS + "\n")),
    # metadata lines and types
    ("type_unknown", "# TYPE a unknown\na 1 @\n" + E, SAME()),
    ("type_untyped_is_text_only", "# TYPE a untyped\na 1 @\n" + E, REFUSED(1)),
    ("unit_line", "# TYPE t_celsius gauge\n# UNIT t_celsius celsius\nt_celsius 1 @\n" + E, SAME()),
    ("gaugehistogram", '# TYPE g gaugehistogram\ng_bucket{le="+Inf"} 1 @\ng_gcount 1 @\n'
     "g_gsum 1 @\n" + E, SAME()),
    ("counter_without_total", "# TYPE c counter\nc 1 @\n" + E, SAME()),
    # exemplars and _created lines
    ("exemplar", '# TYPE c counter\nc_total 1 @ # {trace_id="abc"} 0.5 @\n' + E, SAME()),
    # malformed exemplars, and exemplars where OpenMetrics allows none: the line is refused
    ("exemplar_unterminated", '# TYPE c counter\nc_total 1 @ # {trace_id="abc} 1\nd 1 @\n' + E,
     REFUSED(2)),
    ("exemplar_bad_value", '# TYPE c counter\nc_total 1 @ # {t="a"} xyz\nd 1 @\n' + E, REFUSED(2)),
    ("exemplar_no_value", '# TYPE c counter\nc_total 1 @ # {t="a"}\nd 1 @\n' + E, REFUSED(2)),
    ("exemplar_bad_ts", '# TYPE c counter\nc_total 1 @ # {t="a"} 1 abc\nd 1 @\n' + E, REFUSED(2)),
    ("exemplar_no_space", '# TYPE c counter\nc_total 1 @ #{t="a"} 1\nd 1 @\n' + E, REFUSED(2)),
    ("exemplar_on_gauge", '# TYPE g gauge\ng 1 @ # {t="a"} 1\nd 1 @\n' + E, REFUSED(2)),
    ("exemplar_on_count", '# TYPE h histogram\nh_bucket{le="+Inf"} 1 @\nh_count 1 @ # {t="a"} 1\n'
     'h_sum 1 @\n' + E, REFUSED(3)),
    ("exemplar_bucket_empty_labels", '# TYPE h histogram\nh_bucket{le="+Inf"} 1 @ # {} 0.5 @\n'
     'h_count 1 @\nh_sum 1 @\n' + E, SAME()),
    ("created_counter", "# TYPE c counter\nc_total 1 @\nc_created 1699999000 @\n" + E, SAME()),
    # order: a sample at or before its series' last one is dropped by both
    ("out_of_order", "a 2 1700000010\na 1 1700000000\n" + E, SAME()),
    # very long lines
    ("long_line_many_labels", "a{" + ",".join('l%02d="%s"' % (i, "v" * 14) for i in range(31))
     + "} 1 @\n" + E, SAME()),
    ("long_label_value", 'a{v="' + "x" * 100000 + '"} 1 @\nb 1 @\n' + E,
     DIFFERS("store-limits", EX_DATAERR, 1, '{__name__="b"} 1 ' + TMS + "\n")),
    ("line_over_1mib", 'a{v="' + "x" * (1 << 20) + '"} 1 @\nb 1 @\n' + E,
     DIFFERS("store-limits", EX_DATAERR, 1, '{__name__="b"} 1 ' + TMS + "\n")),
    # bytes Prometheus would keep in a label value
    ("nul_in_value", 'a{v="x\x00y"} 1 @\nb 1 @\n' + E,
     DIFFERS("nul-bytes", EX_DATAERR, 1, '{__name__="b"} 1 ' + TMS + "\n")),
    ("invalid_utf8", 'a{v="\udcff"} 1 @\nb 1 @\n' + E, REFUSED(1)),
]

TEXT_CASES = [
    ("t_escape_undefined", 'conn{app="MSC20\\AUCTI-orders"} 5 ' + TMS + "\n",
     TEXT(EX_OK, None, '{__name__="conn", app="MSC20\\\\AUCTI-orders"} 5 ' + TMS + "\n")),
    ("t_escape_defined", 'a{v="q\\"b\\\\n\\n"} 1 ' + TMS + "\n",
     TEXT(EX_OK, None, '{__name__="a", v="q\\"b\\\\n\\n"} 1 ' + TMS + "\n")),
    ("t_escape_tab_literal", 'a{v="x\\ty"} 1 ' + TMS + "\n",
     TEXT(EX_OK, None, '{__name__="a", v="x\\\\ty"} 1 ' + TMS + "\n")),
    ("t_help_escapes", "# HELP a x\\\\y \\n \\q\n# TYPE a gauge\na 1 " + TMS + "\n",
     TEXT(EX_OK, None, '{__name__="a"} 1 ' + TMS + "\n")),
    ("t_nan_inf", "a NaN 1000\na +Inf 2000\na -Inf 3000\na Inf 4000\na nan 5000\n",
     TEXT(EX_OK, None, '{__name__="a"} NaN 1000\n{__name__="a"} +Inf 2000\n'
          '{__name__="a"} -Inf 3000\n{__name__="a"} +Inf 4000\n{__name__="a"} NaN 5000\n')),
    ("t_value_exponent", "a 1.5e3 1000\nb -2E-2 1000\n",
     TEXT(EX_OK, None, '{__name__="a"} 1500 1000\n{__name__="b"} -0.02 1000\n')),
    ("t_ts_fraction", "a 1 1700000000000.5\nb 1 1000\n",
     TEXT(EX_DATAERR, 1, '{__name__="b"} 1 1000\n')),
    ("t_ts_exponent", "a 1 1.7e12\nb 1 1000\n", TEXT(EX_DATAERR, 1, '{__name__="b"} 1 1000\n')),
    ("t_empty_label_value", 'a{x="",y="1"} 1 1000\n',
     TEXT(EX_OK, None, '{__name__="a", y="1"} 1 1000\n')),
    ("t_label_duplicate", 'a{x="1",x="2"} 1 1000\nb 1 1000\n',
     TEXT(EX_DATAERR, 1, '{__name__="b"} 1 1000\n')),
    ("t_trailing_comma", 'a{x="1",} 1 1000\n', TEXT(EX_OK, None, '{__name__="a", x="1"} 1 1000\n')),
    ("t_name_colons_and_dots", "job:rate:sum 1 1000\na.b 1 1000\n",
     TEXT(EX_DATAERR, 2, '{__name__="job:rate:sum"} 1 1000\n')),
    ("t_blank_lines_comments_crlf", "# a comment\n\na 1 1000\r\n\n",
     TEXT(EX_OK, None, '{__name__="a"} 1 1000\n')),
    ("t_untyped", "# TYPE a untyped\na 1 1000\n", TEXT(EX_OK, None, '{__name__="a"} 1 1000\n')),
    ("t_exemplar_not_in_text", '# TYPE c counter\nc_total 1 1000 # {t="x"} 1\nd 1 1000\n',
     TEXT(EX_DATAERR, 2, '{__name__="d"} 1 1000\n')),
    ("t_last_line_without_newline", "a 1 1000\na 2 2000",
     TEXT(EX_DATAERR, 2, '{__name__="a"} 1 1000\n')),
    ("t_last_line_comment_without_newline", "a 1 1000\n# HELP a x",
     TEXT(EX_OK, None, '{__name__="a"} 1 1000\n')),
    ("t_eof_marker_absent_is_fine", "a 1 1000\n", TEXT(EX_OK, None, '{__name__="a"} 1 1000\n')),
]

# AUTO: the format is decided at the first sample, and a cut input is caught either way.
AUTO_CASES = [
    ("auto_om_cut", '# TYPE disk_used gauge\ndisk_used{host="a"} 1 1700000000\n'
     'disk_used{host="b"} 2 170000006',
     TEXT(EX_DATAERR, 3, '{__name__="disk_used", host="a"} 1 ' + TMS + "\n")),
    ("auto_om_no_eof", "a 1 1700000000.5\n",
     TEXT(EX_DATAERR, 1, '{__name__="a"} 1 1700000000500\n')),
    ("auto_text_cut", "a 1 1700000000000\na 2 17000000",
     TEXT(EX_DATAERR, 2, '{__name__="a"} 1 ' + TMS + "\n")),
    ("auto_om_escape", 'conn{app="MSC20\\AUCTI-orders"} 5 1700000000\n' + E,
     TEXT(EX_OK, None, '{__name__="conn", app="MSC20\\\\AUCTI-orders"} 5 ' + TMS + "\n")),
]


def enc(s):
    # Lone surrogates stand for raw bytes (invalid UTF-8 in a case).
    return s.encode("utf-8", "surrogateescape")


def dw_import(name, data, fmt):
    d = os.path.join(a.workdir, name)
    os.makedirs(d)
    cfg = os.path.join(d, "c.yml")
    with open(cfg, "w") as f:
        f.write("storage:\n  path: %s/data\n  retention: 36500d\nsources: []\n" % d)
    path = os.path.join(d, "in.txt")
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run([dw, "import", "-c", cfg, "--format", fmt, path], capture_output=True,
                       timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    need("Sanitizer" not in err and "runtime error" not in err, "%s: import crashed:\n%s"
         % (name, err))
    q = subprocess.run([dw, "dump", "-c", cfg], capture_output=True, timeout=60)
    need(q.returncode == 0, "%s: dump exit %d: %s" % (name, q.returncode, q.stderr))
    return p.returncode, err, path, q.stdout.decode("utf-8", "surrogateescape")


def prom_import(name, data):
    """promtool's backfill + dump: (True, dump) or (False, error text)."""
    d = os.path.join(a.workdir, name + "-prom")
    os.makedirs(d)
    path = os.path.join(d, "in.om")
    with open(path, "wb") as f:
        f.write(data)
    tsdb = os.path.join(d, "tsdb")
    p = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", path, tsdb],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        return False, (p.stdout + p.stderr).decode("utf-8", "replace")
    os.makedirs(os.path.join(tsdb, "wal"), exist_ok=True)  # promtool 2.42's dump opens the WAL
    q = subprocess.run([promtool, "tsdb", "dump", tsdb], capture_output=True, timeout=60)
    need(q.returncode == 0, "%s: promtool tsdb dump: %s" % (name, q.stderr))
    return True, q.stdout.decode("utf-8", "surrogateescape")


def same_data(d1, d2):
    """The dumps byte for byte (lines in the same order): `deploywatch dump` prints values as
    `promtool tsdb dump` does (Go's shortest %g: 1.6e+09, 5e-324), so formatting is compared too."""
    return d1 == d2


def repaired(data, line, keep):
    lines = data.split(b"\n")
    if not keep:
        del lines[line - 1]
    out = b"\n".join(lines)
    if out and not out.endswith(b"\n"):
        out += b"\n"
    if b"# EOF\n" not in out:
        out += b"# EOF\n"
    return out


class CaseFailed(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise CaseFailed(msg)


def expect_line(name, err, path, line):
    need(("%s:%d: " % (path, line)) in err, "%s: want a report for line %d:\n%s"
         % (name, line, err))


def expect_no_line(name, err, path):
    need(path + ":" not in err, "%s: unexpected report:\n%s" % (name, err))


def run_om(name, body, want):
    data = enc(om(body))
    code, err, path, dump = dw_import(name, data, "openmetrics")
    ok, pdump = prom_import(name, data)
    if want[0] == "same":
        need(ok, "%s: promtool refuses: %s" % (name, pdump))
        need(code == EX_OK, "%s: exit %d, want 0:\n%s" % (name, code, err))
        expect_no_line(name, err, path)
        need(same_data(dump, pdump), "%s: dumps differ\ndeploywatch:\n%s\npromtool:\n%s"
             % (name, dump, pdump))
    elif want[0] == "refused":
        _, line, keep = want
        need(not ok, "%s: promtool accepts it now:\n%s" % (name, pdump))
        need(code == EX_DATAERR, "%s: exit %d, want 65:\n%s" % (name, code, err))
        expect_line(name, err, path, line)
        ok2, fixed = prom_import(name + "-repaired", repaired(data, line, keep))
        need(ok2, "%s: promtool refuses the repaired file too: %s" % (name, fixed))
        need(same_data(dump, fixed), "%s: deploywatch stored other samples than promtool from the "
             "repaired file\ndeploywatch:\n%s\npromtool:\n%s" % (name, dump, fixed))
    else:
        _, key, wcode, line, wdump = want
        need("`%s`" % key in import_md, "%s: docs/import.md does not list `%s`" % (name, key))
        need(code == wcode, "%s: exit %d, want %d:\n%s" % (name, code, wcode, err))
        if line:
            expect_line(name, err, path, line)
        else:
            expect_no_line(name, err, path)
        need(dump == wdump, "%s: dump\n%s\nwant:\n%s" % (name, dump, wdump))
        need(ok != (code == EX_OK) or (ok and not same_data(pdump, dump)),
             "%s: promtool now agrees (%s): drop the difference" % (name, pdump))


def run_dw_only(fmt, name, body, want):
    _, wcode, line, wdump = want
    code, err, path, dump = dw_import(name, enc(body), fmt)
    need(code == wcode, "%s: exit %d, want %d:\n%s" % (name, code, wcode, err))
    if line:
        expect_line(name, err, path, line)
    else:
        expect_no_line(name, err, path)
    need(dump == wdump, "%s: dump\n%s\nwant:\n%s" % (name, dump, wdump))


# The cases are independent processes on their own files: a few at a time keeps the test short.
jobs = [(run_om, c) for c in OM_CASES]
jobs += [(run_dw_only, ("text",) + c) for c in TEXT_CASES]
jobs += [(run_dw_only, ("auto",) + c) for c in AUTO_CASES]
names = set()
for _, c in jobs:
    name = c[1] if c[0] in ("text", "auto") else c[0]
    check(name not in names, "two cases named " + name)
    names.add(name)
failures = []
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    futures = [pool.submit(fn, *c) for fn, c in jobs]
    for f in futures:
        try:
            f.result()
        except CaseFailed as e:
            failures.append(str(e))
if failures:
    fail("%d of %d cases failed:\n\n%s" % (len(failures), len(jobs), "\n\n".join(failures)))

n = len(OM_CASES) + len(TEXT_CASES) + len(AUTO_CASES)
if n < 40:
    fail("the table shrank to %d cases" % n)
print("%d OpenMetrics cases against promtool, %d text, %d auto" % (len(OM_CASES),
      len(TEXT_CASES), len(AUTO_CASES)))
