"""Deploy scenarios as log files, built from the corpus shapes (../shared/corpus/): an nginx access
log in the `timed` format and a Laravel log whose exceptions carry real stack traces under
/var/www/cyh/releases/<timestamp>/ (the directory every Laravel deploy changes).

Deterministic (a seeded generator), so the tests and examples/ see the same files.

    python3 judge_logs.py OUTDIR SCENARIO   writes OUTDIR/nginx-access.log, OUTDIR/laravel.log and
                                            OUTDIR/marker (the deploy time, Unix seconds)
Scenarios: clean, bad (a new QueryException at a new in-app location, 5xx x2.5), idle (no
traffic), sparse (no error in the baseline, one stray after), sparse_burst (none before, a burst
after).
"""
import datetime
import random
import sys

# The deploy is at START + 40 minutes; logs cover 40 minutes before and 35 after.
START = datetime.datetime(2026, 11, 27, 16, 0, 0, tzinfo=datetime.timezone.utc)
MARKER = START + datetime.timedelta(minutes=40)
END = MARKER + datetime.timedelta(minutes=35)
OLD_RELEASE = "/var/www/cyh/releases/20261120093000"
NEW_RELEASE = "/var/www/cyh/releases/20261127164000"

PATHS = ["/", "/orders", "/orders/17", "/quotes", "/login", "/api/stock", "/reports/daily"]


def nginx_line(t, path, status, secs):
    ts = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
    up = "-" if status == 502 else "%.3f" % secs
    return ('10.0.0.%d - - [%s] "GET %s HTTP/1.1" %d %d "-" "Mozilla/5.0" %.3f %s\n'
            % (t.second % 200 + 2, ts, path, status, 512 if status == 200 else 157, secs, up))


def query_exception(t, release, controller, line, sql, code="42S02",
                    msg="Base table or view not found: 1146 Table 'cyh.quotes' doesn't exist"):
    ts = t.strftime("%Y-%m-%d %H:%M:%S")
    fw = release + "/vendor/laravel/framework/src/Illuminate/Database"
    return (
        "[%s] production.ERROR: SQLSTATE[%s]: %s (SQL: %s) "
        "{\"exception\":\"[object] (Illuminate\\\\Database\\\\QueryException(code: %s): "
        "SQLSTATE[%s]: %s (SQL: %s) at %s/Connection.php:712)\n"
        "[stacktrace]\n"
        "#0 %s/Connection.php(672): Illuminate\\\\Database\\\\Connection->runQueryCallback()\n"
        "#1 %s/Connection.php(376): Illuminate\\\\Database\\\\Connection->run()\n"
        "#2 %s/app/Http/Controllers/%s.php(%d): Illuminate\\\\Database\\\\Connection->select()\n"
        "#3 %s/vendor/laravel/framework/src/Illuminate/Routing/Controller.php(54): "
        "App\\\\Http\\\\Controllers\\\\%s->index()\n"
        "#4 {main}\n"
        "\"} \n"
        % (ts, code, msg, sql, code, code, msg, sql, fw, fw, fw, release, controller, line,
           release, controller))


def info(t, text):
    return "[%s] production.INFO: %s {\"user\":%d} \n" % (t.strftime("%Y-%m-%d %H:%M:%S"), text,
                                                          t.minute)


def scenario(name, marker=MARKER, end=None):
    """Lines of (nginx, laravel) for a scenario, in time order; the deploy at 'marker', logs from
    40 minutes before it to 35 minutes after (or to 'end')."""
    START = marker - datetime.timedelta(minutes=40)
    END = end or marker + datetime.timedelta(minutes=35)
    MARKER = marker
    rnd = random.Random(11)
    nginx, laravel = [], []
    idle = name == "idle"
    t = START
    step = datetime.timedelta(seconds=1)
    while t < END:
        after = t >= MARKER
        release = NEW_RELEASE if after else OLD_RELEASE
        # about one request a second; an idle host serves nothing
        if not idle and rnd.random() < 1.0:
            bad_rate = 0.02
            if name == "bad" and after:
                bad_rate = 0.05
            if name.startswith("sparse"):
                bad_rate = 0.0
            r = rnd.random()
            status = 200
            if r < bad_rate:
                status = rnd.choice([500, 502, 503])
            elif r < bad_rate + 0.03:
                status = 404
            secs = rnd.uniform(0.01, 0.25)
            if name == "bad" and after:
                secs = rnd.uniform(0.02, 0.4)
            nginx.append(nginx_line(t, rnd.choice(PATHS), status, secs))
        if not idle and t.second == 0 and t.minute % 2 == 0:
            laravel.append(info(t, "Order placed"))
        # the known exception of the old code, thrown on both sides of the deploy (from the new
        # release directory after it): the same fingerprint
        if not idle and not name.startswith("sparse") and t.second == 30 and t.minute % 5 == 0:
            laravel.append(query_exception(t, release, "OrderController", 43,
                                           "select * from `orders` where `id` = 17"))
        # the bad release: a new query at a new in-app location, every minute after the warm-up
        if name == "bad" and after and t >= MARKER + datetime.timedelta(minutes=2) \
                and t.second == 15:
            laravel.append(query_exception(t, release, "QuoteController", 88,
                                           "select * from `quotes` where `status` = active"))
        # sparse_burst: a zero baseline, then a burst of errors: must not pass
        if name == "sparse_burst" and after and t.second == 45 and t.minute % 3 == 0:
            laravel.append(query_exception(t, release, "QuoteController", 88,
                                           "select * from `quotes` where `status` = active"))
        # sparse: one error before the baseline, none in it, one stray error after the deploy
        if name == "sparse" and (t == MARKER - datetime.timedelta(minutes=38) or
                                 t == MARKER + datetime.timedelta(minutes=12)):
            laravel.append(query_exception(t, release, "OrderController", 43,
                                           "select * from `orders` where `id` = 17"))
        t += step
    return nginx, laravel


def write(outdir, name, marker=MARKER, end=None):
    import os
    os.makedirs(outdir, exist_ok=True)
    nginx, laravel = scenario(name, marker, end)
    with open(os.path.join(outdir, "nginx-access.log"), "w") as f:
        f.writelines(nginx)
    with open(os.path.join(outdir, "laravel.log"), "w") as f:
        f.writelines(laravel)
    with open(os.path.join(outdir, "marker"), "w") as f:
        f.write("%d\n" % int(marker.timestamp()))
    return int(marker.timestamp())


SCENARIOS = ("clean", "bad", "idle", "sparse", "sparse_burst")

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        sys.exit("usage: judge_logs.py OUTDIR clean|bad|idle|sparse|sparse_burst")
    write(sys.argv[1], sys.argv[2])
