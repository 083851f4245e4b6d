#!/usr/bin/env python3
"""check_rules.py on tests/fixtures/rules: a tree with one planted violation of each rule next
to cases the rules allow. The script must fail and report exactly the planted ones, each as
FILE:LINE: rule: detail.

    test_fixture.py --script check_rules.py --root FIXTURE --lib store=ARCHIVE
"""

import argparse
import re
import subprocess
import sys

PLANTED = {
    ("core/core.c", 4, "deps"),          # core includes collector/coll.h
    ("collector/coll.c", 4, "int-header"),  # collector includes core/core_int.h
    ("store/st.c", 14, "prefix"),        # leaked_helper has none of store's prefixes
    ("core/core.h", 15, "comment"),      # core_bare has no comment above it
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--lib", action="append", default=[])
    args = ap.parse_args()

    cmd = [sys.executable, args.script, "--root", args.root]
    for lib in args.lib:
        cmd += ["--lib", lib]
    run = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(run.stdout)
    sys.stdout.write(run.stderr)

    reported = set()
    for line in run.stdout.splitlines():
        m = re.match(r"([^:]+):(\d+): ([a-z-]+): (.+)$", line)
        if not m:
            print("FAIL: a line not of the form FILE:LINE: rule: detail: %r" % line)
            return 1
        reported.add((m.group(1), int(m.group(2)), m.group(3)))
    ok = True
    if run.returncode != 1:
        print("FAIL: exit status %d, want 1 (violations found)" % run.returncode)
        ok = False
    for v in sorted(PLANTED - reported):
        print("FAIL: planted violation not reported: %s:%d: %s" % v)
        ok = False
    for v in sorted(reported - PLANTED):
        print("FAIL: reported where the rules allow it: %s:%d: %s" % v)
        ok = False
    if ok:
        print("ok: the %d planted violations, and only them" % len(PLANTED))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
