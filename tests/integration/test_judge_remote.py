"""judge --prometheus against a fake Prometheus API on loopback that answers what a real Prometheus would
not: every odd answer (a matrix to an instant query, NaN and Inf values, a value that is not a
number, a non-JSON page, an error status, a response over the cap, a server slower than the
timeout) must become a clear error or the documented fold, never a crash and never a pass.
"""
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dwtest  # noqa: E402

a = dwtest.args()
check = dwtest.check
MARKER = 1796000000  # the deploy, Unix seconds
NOW = MARKER + 600   # the judgement time: the 5-minute window is over


def vector(*values, labels=None):
    return {"resultType": "vector", "result": [
        {"metric": dict(labels or {}, i=str(i)), "value": [NOW, v]} for i, v in enumerate(values)]}


# What each check's expression (found by a word in it) gets for an instant query.
INSTANT = {
    "scalar_ok": {"resultType": "scalar", "result": [NOW, "0.5"]},
    "sum_fold": vector("1", "2", "NaN", "4"),          # a count: 1 + 2 + 4, NaN skipped
    "max_fold": vector("0.25", "NaN", "0.75", "0.5"),  # a value: the maximum
    "inf_value": vector("1", "+Inf"),
    "matrix_result": {"resultType": "matrix", "result": []},
    "garbage_value": vector("twelve"),
    "bad_shape": {"resultType": "vector", "result": [{"metric": {}, "value": "7"}]},
    "bad_time": {"resultType": "vector", "result": [{"metric": {}, "value": [1e300, "1"]}]},
}
pages = {}  # word -> (status, content type, body) sent as is


class Stub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (the size cap, the timeout): what is being tested

    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        q = form["query"][0]
        for word, (status, ctype, body) in pages.items():
            if word in q:
                if word == "slow_server":
                    time.sleep(3)
                return self.reply(status, body, ctype)
        if self.path == "/api/v1/query_range":
            start, step = float(form["start"][0]), float(form["step"][0])
            # aligned points are folded into the sparkline; a point between steps is not
            pts = [[start + k * step, "3"] for k in range(3)] + [[start + step / 2, "100"]]
            data = {"resultType": "matrix", "result": [{"metric": {}, "values": pts}]}
        elif q == "time()":
            data = {"resultType": "scalar", "result": [NOW, str(NOW)]}
        elif "deploywatch_deploy_timestamp_seconds" in q:
            data = vector(str(MARKER), labels={"deploy": "v9"})
        else:
            data = next((v for w, v in INSTANT.items() if w in q), vector("100"))
        return self.reply(200, json.dumps({"status": "success", "data": data}).encode())


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
threading.Thread(target=server.serve_forever, daemon=True).start()
URL = "http://127.0.0.1:%d" % server.server_address[1]

checks = ["scalar_ok", "sum_fold", "max_fold", "inf_value", "matrix_result", "garbage_value",
          "bad_shape", "bad_time", "not_json", "status_503", "huge_body"]
pages["not_json"] = (200, "text/html", b"<html>a login page</html>")
pages["status_503"] = (503, "application/json", json.dumps(
    {"status": "error", "errorType": "unavailable", "error": "too many queries"}).encode())
pages["huge_body"] = (200, "application/json", b" " * (33 << 20))
pages["slow_server"] = (200, "application/json", b"{}")


def config(name, checks):
    return dwtest.write(os.path.join(a.workdir, name), "judge:\n  checks:\n" + "".join(
        "    - name: %s\n      expr: %s(x[$range])\n      kind: %s\n      max: 1\n"
        % (c, c, "count" if c == "sum_fold" else "value") for c in checks))


cfg = config("dw.yml", checks)


def judge(*extra, cfg=cfg):
    return dwtest.run([a.binary, "judge", "-c", cfg, "--prometheus", URL, "--at", str(NOW),
                       "--baseline", "5m", "--window", "5m"] + list(extra), timeout=120)


rc, out, err = judge("--json")
check(rc == 1, "exit %d, want 1 (inf_value fails): %s %s" % (rc, out[:2000], err))
j = json.loads(out)
check(j["deploy"] == "v9" and j["marker"] == MARKER, "the marker: %s %s" % (j["deploy"], j["marker"]))
r = {c["name"]: c for c in j["checks"]}


def result(name, want, reason=""):
    c = r[name]
    check(c["result"] == want and reason in c["reason"],
          "%s: %s %r, want %s %r" % (name, c["result"], c["reason"], want, reason))
    return c


c = result("scalar_ok", "PASS")
check(c["window"] == 0.5, "a scalar is taken as it is: %s" % c["window"])
check(c["series"][:4] == [3, 3, 3, None] and 100 not in c["series"],
      "the sparkline folds aligned points only: %s" % c["series"])
c = result("sum_fold", "FAIL")
check(c["window"] == 7, "a count sums its series, NaN skipped: %s" % c["window"])
c = result("max_fold", "PASS")
check(c["window"] == 0.75, "a value takes the maximum, NaN skipped: %s" % c["window"])
result("inf_value", "FAIL", "inf over the limit of 1")
result("matrix_result", "ERROR", "query failed: expected an instant vector or a scalar, got matrix")
result("garbage_value", "ERROR", "a result that is not Prometheus's")
result("bad_shape", "ERROR", "a result that is not Prometheus's")
result("bad_time", "ERROR", "a result that is not Prometheus's")
result("not_json", "ERROR", "not a Prometheus API response")
result("status_503", "ERROR", "unavailable: too many queries (HTTP 503)")
result("huge_body", "ERROR", "response over 32 MiB")

# a server slower than the timeout
rc, out, err = judge("--json", "--prometheus-timeout", "1s", cfg=config("slow.yml", ["slow_server"]))
check(rc == 2, "a slow server: exit %d, want 2: %s" % (rc, err))
r = {c["name"]: c for c in json.loads(out)["checks"]}
result("slow_server", "ERROR", "imed out")

# the probe: a server that is not a Prometheus API is a runtime error (74), not a verdict
pages.clear()
pages["time()"] = (200, "text/html", b"<html>hello</html>")
rc, out, err = judge()
check(rc == 74 and "not a Prometheus API response" in err, "a web page: %d %r" % (rc, err))
pages["time()"] = (502, "text/plain", b"Bad Gateway\nfrom the proxy")
rc, out, err = judge()
check(rc == 74 and "HTTP 502: Bad Gateway" in err, "a 502: %d %r" % (rc, err))
pages["time()"] = (403, "text/plain", b"Forbidden")
rc, out, err = judge()
check(rc == 74 and "HTTP 403 Forbidden" in err and "--prometheus-user" in err,
      "a 403: %d %r" % (rc, err))
pages.clear()
# a marker nobody exports
pages["deploywatch_deploy_timestamp_seconds"] = (200, "application/json", json.dumps(
    {"status": "success", "data": {"resultType": "vector", "result": []}}).encode())
rc, out, err = judge("--deploy", "v10")
check(rc == 66 and "v10" in err and "--deploy-at" in err, "no marker: %d %r" % (rc, err))
# --deploy-at needs no marker
rc, out, err = judge("--deploy-at", str(MARKER), "--json")
check(rc == 1 and json.loads(out)["marker"] == MARKER, "--deploy-at: %d %s" % (rc, err))

# libcurl is loaded only in fleet mode: the binary must not link it (every process would map it
# and its ~20 libraries), and without it fleet mode says which package to install and exits 69.
rc, out, err = dwtest.run(["readelf", "-d", a.binary])
check(rc == 0 and "libjansson" in out, "readelf -d: %d %s" % (rc, err))
check("libcurl" not in out, "the binary links libcurl: %s" % out)
libs = set()
rc, out, err = dwtest.run(["ldconfig", "-p"])
for line in out.splitlines():
    name, _, path = line.strip().partition(" => ")
    if name.split(" ")[0] in ("libcurl-gnutls.so.4", "libcurl.so.4"):
        libs.add(os.path.realpath(path))
check(libs, "no libcurl in ldconfig -p (scripts/install-deps.sh installs libcurl3-gnutls)")
# a private mount namespace hides them (an empty file over each) from this run only
hide = "".join("mount --bind /dev/null '%s' && " % p for p in sorted(libs))
rc, out, err = dwtest.run(["unshare", "--map-root-user", "--mount", "sh", "-c",
                           hide + 'exec "$@"', "sh", a.binary, "judge", "-c", cfg,
                           "--prometheus", URL, "--at", str(NOW)], timeout=120)
check(rc == 69 and "apt-get install libcurl3-gnutls" in err,
      "no libcurl: exit %d, want 69 naming the package: %r" % (rc, err))
server.shutdown()
print("integration_judge_remote: ok")
