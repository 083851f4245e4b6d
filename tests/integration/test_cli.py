"""The command line and configuration errors: every bad input gets a clear message and a
non-zero exit, never a crash."""
import os
import re
import socket
import subprocess

from dwtest import Agent, agent_config, args, check, run, write

a = args()
dw = a.binary
EX_USAGE, EX_CONFIG, EX_UNAVAILABLE = 64, 78, 69


def expect(cmd, code, *needles, stream="stderr"):
    rc, out, err = run([dw] + cmd)
    text = err if stream == "stderr" else out
    check(rc == code, "%s: exit %d, want %d\nstdout: %s\nstderr: %s" % (cmd, rc, code, out, err))
    for n in needles:
        check(n in text, "%s: %r not in %s:\n%s" % (cmd, n, stream, text))
    # A crash would show as a signal (negative code) or a sanitizer report.
    check("Sanitizer" not in err and "runtime error" not in err, "%s crashed:\n%s" % (cmd, err))
    return out, err


# --version, --help, unknown commands and options.
expect(["--version"], 0, "deploywatch ", stream="stdout")
expect(["--help"], 0, "Commands:", "run", "check-config", stream="stdout")
expect([], EX_USAGE, "Usage: deploywatch COMMAND")
expect(["rnu"], EX_USAGE, "unknown command 'rnu'", "did you mean 'run'?")
expect(["frobnicate"], EX_USAGE, "unknown command 'frobnicate'", "deploywatch --help")
for cmd in ["run", "check-config"]:
    expect([cmd, "--help"], 0, "Usage: deploywatch " + cmd, "-c, --config FILE", stream="stdout")
    expect([cmd, "--bogus"], EX_USAGE, "unknown option '--bogus'", "deploywatch %s --help" % cmd)
    expect([cmd, "-c"], EX_USAGE, "needs a value")

# The embedded default configuration is valid and says what it would watch.
out, _ = expect(["check-config"], 0, "<embedded default>", "laravel (laravel)",
                "/var/www/*/storage/logs/laravel*.log", "127.0.0.1:9466", stream="stdout")

# A valid file.
good = agent_config(a.workdir)
expect(["check-config", "-c", good], 0, good, stream="stdout")

# Malformed YAML: the file, line and column of the problem.
bad = write(os.path.join(a.workdir, "malformed.yml"), "storage:\n  path: [unclosed\nweb: {}\n")
expect(["check-config", "-c", bad], EX_CONFIG, bad + ":")
expect(["run", "-c", bad], EX_CONFIG, bad + ":")

# An unknown key (a typo must never silently disable a check) names the key and its line.
typo = write(os.path.join(a.workdir, "typo.yml"), "storage:\n  retnetion: 7d\n")
expect(["check-config", "-c", typo], EX_CONFIG, typo + ":2:", "retnetion")

# A wrong type and a bad value name the key path and the expected form.
wrong = write(os.path.join(a.workdir, "wrong.yml"), "system:\n  tcp_ports: mysql\n")
expect(["check-config", "-c", wrong], EX_CONFIG, wrong + ":2:", "system.tcp_ports")
dur = write(os.path.join(a.workdir, "duration.yml"), "storage:\n  retention: thirty days\n")
expect(["check-config", "-c", dur], EX_CONFIG, dur + ":2:", "storage.retention", "duration")

# Unreadable: missing file, a directory.
missing = os.path.join(a.workdir, "nope.yml")
expect(["check-config", "-c", missing], EX_CONFIG, missing, "cannot read")
expect(["run", "-c", a.workdir], EX_CONFIG, a.workdir, "cannot read")

# A bad rule regex is caught before the agent runs, with its position.
regex = write(os.path.join(a.workdir, "regex.yml"), """\
sources:
  - name: laravel
    path: /tmp/none.log
    format: laravel
rules:
  - name: x_total
    source: laravel
    regex: 'Payment (?<gw>\\w+'
""")
expect(["check-config", "-c", regex], EX_CONFIG,
       regex + ":8:12: rules[0].regex: PCRE2 refuses the pattern: missing closing parenthesis "
       "at offset 17")

# A missing TLS file: a clear message, for check-config and for run.
tls = agent_config(a.workdir, extra="")
tls = write(os.path.join(a.workdir, "tls.yml"), open(tls).read().replace(
    "web:\n", "web:\n  tls_cert_file: %s/missing.crt\n  tls_key_file: %s/missing.key\n" % (a.workdir, a.workdir)))
expect(["check-config", "-c", tls], EX_CONFIG, "missing.crt")
expect(["run", "-c", tls], EX_CONFIG, "missing.crt")

# A key that does not match the certificate: check-config catches it as run would.
fixtures = os.path.join(a.source, "tests", "fixtures", "http")
mismatch = write(os.path.join(a.workdir, "mismatch.yml"), open(agent_config(a.workdir)).read().replace(
    "web:\n", "web:\n  tls_cert_file: %s/cert.pem\n  tls_key_file: %s/other_key.pem\n" % (fixtures, fixtures)))
expect(["check-config", "-c", mismatch], EX_CONFIG, "other_key.pem", "cannot use them")
expect(["run", "-c", mismatch], EX_CONFIG, "other_key.pem", "cannot use them")

# Port in use: hold a listening socket, point the agent at it.
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    busy = agent_config(a.workdir, listen="127.0.0.1:%d" % port)
    expect(["run", "-c", busy], EX_UNAVAILABLE, "127.0.0.1:%d" % port, "in use")

print("integration_cli: ok")

# check-config builds the parsers the agent runs: a histogram rule's value group must exist, and
# a source's timezone must be a zone file.
hist = write(os.path.join(a.workdir, "hist.yml"), """\
sources:
  - name: laravel
    path: /tmp/none.log
    format: laravel
rules:
  - name: quote_ms
    source: laravel
    type: histogram
    value: ms
    regex: 'took (?<millis>\\d+)'
""")
expect(["check-config", "-c", hist], EX_CONFIG,
       hist + ":9:12: rules[0].value: expected the name of a group of the regex, got \"ms\": the "
       "regex has no group named ms")
tz = write(os.path.join(a.workdir, "tz.yml"), """\
sources:
  - name: laravel
    path: /tmp/none.log
    format: laravel
    timezone: Mars/Olympus_Mons
""")
expect(["check-config", "-c", tz], EX_CONFIG,
       tz + ":5:15: sources[0].timezone: expected UTC or a time zone with a zone file, got "
       "\"Mars/Olympus_Mons\": cannot read ")

# What is found wrong only when the parsers are built (a zone without its file, a pattern PCRE2
# refuses; a new user's trial configs c2, c3 and c4) reads as a parse error does,
# "FILE:LINE:COL: KEY: message", from check-config and from run alike; run refuses to start
# (before, it started and followed no log at all). Lines and columns counted by hand.
late_head = """\
storage:
  path: %s/data-late
web:
  listen_address: 127.0.0.1:0
sources:
  - name: w
    path: /x.log
""" % a.workdir
late = [
    ("late_tz.yml", "    format: nginx\n    timezone: Europe/Atlantis\n",
     ":9:15: sources[0].timezone: expected UTC or a time zone with a zone file, got "
     "\"Europe/Atlantis\": cannot read "),
    ("late_source_re.yml", "    format: regex\n    regex: \"(?<lvl>\\\\w+\"\n",
     ":9:12: sources[0].regex: PCRE2 refuses the pattern: missing closing parenthesis at "
     "offset 10\n"),
    ("late_rule_re.yml",
     "    format: nginx\nrules:\n  - name: x_total\n    source: w\n    regex: \"a(?<v>[0-9]+\"\n",
     ":12:12: rules[0].regex: PCRE2 refuses the pattern: missing closing parenthesis at "
     "offset 12\n"),
    # A metric another part of the agent holds with another shape: run's start-up refused it
    # and followed no log, while check-config (a scratch registry per source) said OK.
    ("clash_sampler.yml",
     "    format: nginx\nrules:\n  - name: node_load1\n    source: w\n    regex: \"a\"\n",
     ":10:11: rules[0].name: expected a metric name not yet taken, got \"node_load1\": it is "
     "already registered with another type or other labels\n"),
    ("clash_format.yml",
     "    format: nginx\nrules:\n  - name: http_requests_total\n    source: w\n"
     "    regex: \"(?<verb>GET)\"\n",
     ":10:11: rules[0].name: expected a metric name not yet taken, got \"http_requests_total\": "
     "it is already registered with another type or other labels\n"),
    ("reserved.yml",
     "    format: nginx\nrules:\n  - name: deploywatch_orders_total\n    source: w\n"
     "    regex: \"a\"\n",
     ":10:11: rules[0].name: expected a metric name outside deploywatch_ (the agent's own "
     "metrics), got \"deploywatch_orders_total\"\n"),
]
for name, tail, want in late:
    path = write(os.path.join(a.workdir, name), late_head + tail)
    for cmd in ["check-config", "run"]:
        try:
            rc, out, err = run([dw, cmd, "-c", path], timeout=20)
        except subprocess.TimeoutExpired:
            check(False, "%s %s: still running after 20 s, want exit %d" % (cmd, name, EX_CONFIG))
        check(rc == EX_CONFIG, "%s %s: exit %d, want %d\nstderr: %s" % (cmd, name, rc, EX_CONFIG,
                                                                        err))
        check(err.startswith("deploywatch: " + path + want),
              "%s %s: stderr does not start with %r:\n%s" % (cmd, name, path + want, err))
        check(not os.path.exists(os.path.join(a.workdir, "data-late")),
              "%s %s: a store was created for a configuration that is refused" % (cmd, name))

# errors: options, and an empty catalog in a store created by import.
expect(["errors", "--help"], 0, "Usage: deploywatch errors", "--since", stream="stdout")
expect(["errors", "--deploy", "bad\x01name"], EX_USAGE, "not a deploy name")
expect(["errors", "--deploy", "v1", "--since", "1h"], EX_USAGE, "give one")
expect(["errors", "--since", "soon"], EX_USAGE, "--since")
os.makedirs(os.path.join(a.workdir, "errors"), exist_ok=True)
ecfg = agent_config(os.path.join(a.workdir, "errors"))
metrics = write(os.path.join(a.workdir, "errors", "m.prom"), "up 1 1795800000000\n")
rc, out, err = run([dw, "import", "-c", ecfg, metrics])
check(rc == 0, "import for errors: %d %s" % (rc, err))
expect(["errors", "-c", ecfg], 0, "FINGERPRINT", "no exceptions seen in the last 1d", stream="stdout")
expect(["errors", "-c", ecfg, "--json"], 0, '{"status":"success","data":[]}', stream="stdout")
expect(["errors", "-c", ecfg, "--sample", "zz"], EX_USAGE, "not a fingerprint")
expect(["errors", "-c", ecfg, "--sample", "0" * 32], 66, "no fingerprint")
# --deploy NAME: what the deploy brought (first seen at or after the marker).
expect(["errors", "-c", ecfg, "--deploy", "v1"], 66, "no deploy marker v1")
rc, out, err = run([dw, "mark", "-c", ecfg, "v1", "--at", "1795790000"])
check(rc == 0, "mark: %d %s" % (rc, err))
expect(["errors", "-c", ecfg, "--deploy", "v1"], 0, "FINGERPRINT", "no exceptions first seen since deploy v1",
       stream="stdout")
expect(["errors", "-c", ecfg, "--deploy", "v1", "--new", "--json"], 0,
       '{"status":"success","data":[]}', stream="stdout")

# The command line as documented: every command `deploywatch --help` lists has a row in README's
# command table, and the long options of the row are exactly those of the command's --help;
# every option --help lists is one the command accepts.
readme = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md"),
              encoding="utf-8").read()
rows = {}
for line in readme.splitlines():
    m = re.match(r"\| `([a-z-]+)[ `]", line)
    if m:  # the first cell, whose escaped pipes (\|) are no cell borders
        rows[m.group(1)] = set(re.findall(r"--[a-z][a-z-]*", re.split(r"(?<!\\)\|", line)[1]))
out, _ = expect(["--help"], 0, stream="stdout")
commands = re.findall(r"^  ([a-z][a-z-]+)  ", out.split("Commands:")[1].split("Options:")[0],
                      re.M)
check(len(commands) >= 9, "commands in --help: %s" % commands)
check(set(commands) == set(rows), "--help lists %s, README's table %s" % (sorted(commands),
                                                                         sorted(rows)))
missing_store = write(os.path.join(a.workdir, "nostore.yml"),
                      "storage:\n  path: %s/nostore\nsources: []\n" % a.workdir)
for cmd in commands:
    help_text, _ = expect([cmd, "--help"], 0, "Usage: deploywatch " + cmd, stream="stdout")
    opts = set(re.findall(r"^ +(?:-[a-zA-Z], )?(--[a-z][a-z-]*)", help_text, re.M))
    opts -= {"--help", "--config"}
    check(opts == rows[cmd], "%s: --help has %s, README's row %s" % (cmd, sorted(opts),
                                                                    sorted(rows[cmd])))
    for opt in opts:
        # getopt reads the option first (and a value, if it takes one); an option the command
        # does not know is the only way to see "unknown option" naming it.
        rc, o, e = run([dw, cmd, "-c", missing_store, opt, "--zz-not-an-option"])
        check("unknown option '%s'" % opt not in e, "%s: %s is refused:\n%s" % (cmd, opt, e))
check(not os.path.exists(os.path.join(a.workdir, "nostore")), "an option created a store")

# Control bytes a query carries (raw, or as PromQL's \x escapes) are shown as \xNN in its
# errors, never written to the terminal as they are.
for query, code, shown in [
        ('count_values("a\x01b", up)', EX_USAGE, 'parse error: invalid label name "a\\x01b"'),
        ('label_join(up, "a\x1b[31m", ",", "c")', 65,
         "invalid destination label name in label_join(): a\\x1b[31m"),
        ('label_join(up, "a", ",", "c\x7f")', 65,
         "invalid source label name in label_join(): c\\x7f"),
        ('label_replace(up, "a\x01", "", "job", "")', 65,
         "invalid destination label name in label_replace(): a\\x01"),
        ('label_replace(up, "a", "", "job", "\x01(")', 65,
         "invalid regular expression in label_replace(): \\x01("),
        ("rate(\x01)", EX_USAGE, "unexpected character: '\\x01'")]:
    _, err = expect(["query", "-c", ecfg, "--at", "1795800000", query], code, shown)
    check(not any(c in err for c in "\x01\x1b\x7f"), "a raw control byte in:\n%r" % err)
