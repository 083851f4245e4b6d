#!/usr/bin/env python3
"""The house rules, checked on a source tree (as curl checks its rules with a script in CI).

    check_rules.py --root DIR [--lib MODULE=libdw_MODULE.a ...]

Rules (docs/README.md, "House rules checked by ctest", says the same for people):
  deps        a module includes only its own headers and those of the modules its dependency
              arrows allow; the arrows are read from docs/README.md (`core ← store ← query`,
              `core + store ← exporters`), so the document and the check cannot drift apart.
              tests/ and bench/ may include anything.
  int-header  a `*_int.h` header is included only from its own folder, tests/ and bench/ (the
              benchmarks measure private pieces, as the unit tests test them).
  prefix      every symbol a module's static library exports (`nm` on the built archive) carries
              one of that module's prefixes, from the prefix table in docs/README.md. An entry
              ending in '_' is a prefix; any other entry is one whole name. Names starting with
              "__" are the compiler's (sanitizer instrumentation) and are not checked.
  comment     every prototype in a public header (a module's .h that is not *_int.h) has a
              comment above it. Prototypes written one after another with no blank line share
              the comment above the first ("registry_counter / registry_gauge").

Each violation is printed as FILE:LINE: rule: detail; the exit status is 1 when there is any,
2 when the tree or the document cannot be read as described, 0 otherwise.
"""

import argparse
import os
import re
import subprocess
import sys

ARROW = "\u2190"  # ←


class Problem(Exception):
    """The document or the arguments are not what the check needs (exit status 2)."""


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


# ---- docs/README.md ----

def parse_arrows(readme_text):
    """Every `a + b ← c ← d` span in the document: a dict module -> modules it may include
    (transitively, itself included)."""
    direct = {}
    for span in re.findall(r"`([^`]*" + ARROW + r"[^`]*)`", readme_text):
        stages = [[m.strip().rstrip("/") for m in stage.split("+")]
                  for stage in span.split(ARROW)]
        if any(not re.fullmatch(r"[a-z][a-z0-9_]*", m) for st in stages for m in st):
            raise Problem("docs/README.md: cannot read the dependency arrow `%s`" % span)
        for i, stage in enumerate(stages):
            for m in stage:
                direct.setdefault(m, set())
            if i > 0:
                for m in stage:
                    direct[m].update(stages[i - 1])
    if not direct:
        raise Problem("docs/README.md: no dependency arrows (`core ← collector`) found")
    allowed = {}
    for m in direct:
        seen, todo = {m}, [m]
        while todo:
            for d in direct[todo.pop()]:
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        allowed[m] = seen
    return allowed


def parse_prefixes(readme_text):
    """The table whose header row is | module | prefixes |: module -> list of entries."""
    table = {}
    in_table = False
    for line in readme_text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        if [c.lower() for c in cells[:2]] == ["module", "prefixes"]:
            in_table = True
            continue
        if in_table and not set(cells[0]) <= set("-: "):
            table[cells[0].strip("`")] = re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[1])
    if not table:
        raise Problem("docs/README.md: no prefix table (a table with | module | prefixes |)")
    return table


# ---- the tree ----

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def source_files(root, folder):
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def check_includes(root, allowed, report):
    """Rules deps and int-header over every module folder, tests/ and bench/."""
    count = 0
    folders = sorted(allowed) + [f for f in ("tests", "bench")
                                 if os.path.isdir(os.path.join(root, f))]
    for folder in folders:
        if not os.path.isdir(os.path.join(root, folder)):
            continue
        free = folder in ("tests", "bench")
        for rel in source_files(root, folder):
            for lineno, line in enumerate(read(os.path.join(root, rel)).splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                count += 1
                target = m.group(1)
                parts = target.split("/")
                if len(parts) < 2:
                    continue  # a header of the including file's own folder
                owner = parts[0]
                if (not free and owner in allowed and owner not in allowed[folder]):
                    report(rel, lineno, "deps",
                           "%s includes %s: module %s may include only %s (docs/README.md)"
                           % (folder, target, folder, ", ".join(sorted(allowed[folder]))))
                if parts[-1].endswith("_int.h") and not free:
                    own = os.path.dirname(rel)
                    if os.path.dirname(target) != own:
                        report(rel, lineno, "int-header",
                               "%s is private to %s/ (and tests/, bench/)"
                               % (target, os.path.dirname(target)))
    return count


def nm_symbols(lib):
    """(name, file, line) of every global symbol defined in the archive 'lib'."""
    try:
        out = subprocess.run(["nm", "-l", "-g", "--defined-only", lib], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise Problem("cannot run nm on %s: %s" % (lib, e))
    member = lib
    syms = []
    for line in out.splitlines():
        if line.endswith(":") and " " not in line:
            member = "%s(%s)" % (lib, line[:-1])
            continue
        fields = line.split(None, 3)
        if len(fields) < 3 or len(fields[1]) != 1:
            continue
        where = fields[3] if len(fields) > 3 else ""
        m = re.match(r"(.*):(\d+)$", where.strip())
        syms.append((fields[2], m.group(1) if m else member, int(m.group(2)) if m else 0))
    return syms


def check_prefixes(root, libs, table, report):
    count = 0
    for module, lib in libs:
        if module not in table:
            report("docs/README.md", 0, "prefix",
                   "module %s has a library but no row in the prefix table" % module)
            continue
        entries = table[module]
        for name, path, line in nm_symbols(lib):
            # Names starting with "__" are the implementation's (C11 7.1.3): what the compiler
            # adds, such as ASan's __odr_asan_gen_* beside each global; never written by us.
            if name.startswith("__"):
                continue
            count += 1
            if any(name.startswith(e) if e.endswith("_") else name == e for e in entries):
                continue
            if os.path.isabs(path) and path.startswith(os.path.abspath(root) + os.sep):
                path = os.path.relpath(path, root)
            report(path, line, "prefix",
                   "%s exports %s, which carries none of %s's prefixes (%s)"
                   % (os.path.basename(lib), name, module, " ".join(entries)))
    return count


# ---- prototypes in public headers ----

def blank_comments(text):
    """'text' with comments, string literals and preprocessor lines replaced by blanks (line
    breaks kept, so offsets and line numbers stay), and the set of lines on which a comment
    ends."""
    out = list(text)
    comment_end_lines = set()
    i, n, line = 0, len(text), 1
    at_line_start = True
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            at_line_start = True
            i += 1
            continue
        if at_line_start and c == "#":
            # A preprocessor line, with its backslash continuations.
            while i < n and not (text[i] == "\n" and text[i - 1] != "\\"):
                if text[i] == "\n":
                    line += 1
                else:
                    out[i] = " "
                i += 1
            continue
        if not c.isspace():
            at_line_start = False
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if text[k] == "\n":
                    line += 1
                else:
                    out[k] = " "
            comment_end_lines.add(line)
            i = j
            continue
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
            comment_end_lines.add(line)
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            for k in range(i, min(j + 1, n)):
                out[k] = " "
            i = j + 1
            continue
        i += 1
    return "".join(out), comment_end_lines


PROTO = re.compile(r"^[^(]*?\b([A-Za-z_]\w*)\s*\(")


def prototypes(text):
    """(line, name) of every top-level function prototype in a header's text."""
    code, _ = blank_comments(text)
    found = []
    depth = 0
    start = None
    for i, c in enumerate(code):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                start = None
        elif depth == 0 and c == ";":
            if start is not None:
                stmt = code[start:i]
                m = PROTO.match(stmt)
                if (m and not re.match(r"\s*typedef\b", stmt) and "{" not in stmt
                        and m.group(1) not in ("__attribute__",)):
                    found.append((code.count("\n", 0, start) + 1, m.group(1)))
            start = None
        elif depth == 0 and start is None and not c.isspace():
            start = i
    return found


def check_comments(root, modules, report):
    count = 0
    for module in modules:
        folder = os.path.join(root, module)
        if not os.path.isdir(folder):
            continue
        for rel in source_files(root, module):
            if not rel.endswith(".h") or rel.endswith("_int.h"):
                continue
            text = read(os.path.join(root, rel))
            lines = text.splitlines()
            code, comment_ends = blank_comments(text)
            code_lines = code.splitlines()
            for line, name in prototypes(text):
                count += 1
                # Walk up: past the lines of the prototypes just above (a group), to a comment.
                k = line - 1
                ok = False
                while k >= 1:
                    raw = lines[k - 1].strip()
                    if k in comment_ends and code_lines[k - 1].strip() == "":
                        ok = True
                        break
                    if raw == "" or raw.startswith("}") or raw.endswith("{"):
                        break
                    k -= 1
                if not ok:
                    report(rel, line, "comment",
                           "prototype of %s has no comment above it (what, ownership, "
                           "errors, thread)" % name)
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="the source tree")
    ap.add_argument("--lib", action="append", default=[], metavar="MODULE=ARCHIVE",
                    help="a module's built static library, for the prefix rule")
    args = ap.parse_args()

    violations = []
    counts = {"includes": 0, "symbols": 0, "prototypes": 0}

    def report(path, line, rule, detail):
        violations.append("%s:%d: %s: %s" % (path, line, rule, detail))

    try:
        readme = read(os.path.join(args.root, "docs", "README.md"))
        allowed = parse_arrows(readme)
        table = parse_prefixes(readme)
        libs = []
        for spec in args.lib:
            module, sep, lib = spec.partition("=")
            if not sep or not os.path.isfile(lib):
                raise Problem("--lib %s: expected MODULE=ARCHIVE of an existing file" % spec)
            libs.append((module, lib))
        counts["includes"] = check_includes(args.root, allowed, report)
        counts["symbols"] = check_prefixes(args.root, libs, table, report)
        counts["prototypes"] = check_comments(args.root, sorted(allowed), report)
    except (Problem, OSError) as e:
        print("check_rules: %s" % e, file=sys.stderr)
        return 2

    for v in violations:
        print(v)
    modules = ", ".join(sorted(allowed))
    # The counts show the check looked at something: a parser that stopped matching would
    # otherwise pass in silence.
    print("check_rules: %d violation(s) in %s; checked %d includes, %d symbols of %d "
          "librar%s, %d prototypes"
          % (len(violations), modules, counts["includes"], counts["symbols"], len(libs),
             "y" if len(libs) == 1 else "ies", counts["prototypes"]), file=sys.stderr)
    if not counts["includes"] or not counts["prototypes"] or (libs and not counts["symbols"]):
        print("check_rules: found nothing to check; the tree or the parsing is wrong",
              file=sys.stderr)
        return 2
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
