"""Automatic deploy markers (judge.watch_paths): a running agent marks a deploy when a watched
`current` symlink is re-pointed (the name: the new target's last component), when a watched
.git/HEAD moves (the commit's first 12 hex digits: a branch's loose ref, a detached HEAD, a ref
in packed-refs) and when a watched file's first line changes (a REVISION file). What the paths
show when the agent starts is no deploy, and the same deploy shown again is not marked again.
"""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dwtest  # noqa: E402

a = dwtest.args()
check = dwtest.check
d = a.workdir


def atomic_write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def repoint(link, target):
    """As deploy tools do it: a new link renamed over the old one (ln -sfn is not atomic)."""
    if os.path.lexists(link + ".tmp"):
        os.unlink(link + ".tmp")
    os.symlink(target, link + ".tmp")
    os.rename(link + ".tmp", link)


SHA = ["%040x" % (0x1111 * (i + 1) * 0x10000000000000000000000000000001) for i in range(5)]
for r in ("r1", "r2", "r3"):
    os.makedirs(os.path.join(d, "releases", r))
current = os.path.join(d, "current")
repoint(current, os.path.join(d, "releases", "r1"))
git = os.path.join(d, "repo", ".git")
os.makedirs(os.path.join(git, "refs", "heads"))
atomic_write(os.path.join(git, "HEAD"), "ref: refs/heads/main\n")
atomic_write(os.path.join(git, "refs", "heads", "main"), SHA[0] + "\n")
revision = os.path.join(d, "REVISION")
atomic_write(revision, "v1\n")

cfg = dwtest.agent_config(d, extra="""\
judge:
  watch_paths: [%s, %s, %s, %s/missing-link]
""" % (current, os.path.join(git, "HEAD"), revision, d))
agent = dwtest.Agent(a.binary, cfg, d)
agent.wait_listening()


def deploys():
    st, _, body = dwtest.http_get(agent.url("/api/v1/deploys"))
    check(st == 200, "GET /api/v1/deploys: %d" % st)
    return {x["name"]: x for x in json.loads(body)["data"]}


def ticks():
    _, _, body = dwtest.http_get(agent.url("/metrics"))
    for line in body.decode().splitlines():
        if line.startswith("deploywatch_ticks_total "):
            return float(line.split()[1])
    return 0


def wait_ticks(n):
    want = ticks() + n
    dwtest.wait_until("%d ticks" % n, lambda: ticks() >= want)


def wait_deploy(name, t0):
    got = dwtest.wait_until("deploy %s marked; log:\n%s" % (name, agent.text()),
                            lambda: deploys().get(name))
    # At the change's own time (the path's mtime, to the kernel's coarse clock: a few ms), not
    # at the grid time of a tick that read the path late.
    check(t0 - 0.05 <= got["at"] <= time.time() + 1,
          "%s marked at %r, changed at %r" % (name, got["at"], t0))
    check(got["note"].startswith("automatic: "), "the note: %r" % got["note"])
    return got


# the agent has read what each path shows (the state at start: no deploy)
for p in (current, os.path.join(git, "HEAD"), revision):
    agent.wait_log(r'watching %s for deploys; it shows \S+ now' % re.escape(p))
agent.wait_log(r'watching %s/missing-link for deploys; it shows none now' % re.escape(d))
check(deploys() == {}, "the state at start marked a deploy: %r" % deploys())

# the release symlink re-pointed (a trailing slash in the target is not part of the name)
t0 = time.time()
repoint(current, os.path.join(d, "releases", "r2") + "/")
got = wait_deploy("r2", t0)

# the same release again: no new marker (and the old one does not move)
repoint(current, os.path.join(d, "releases", "r2"))
wait_ticks(2)
check(deploys()["r2"]["at"] == got["at"], "re-pointing to the same release moved its marker")

# .git/HEAD: the branch moves (git pull), then a detached checkout, then a ref in packed-refs
t0 = time.time()
atomic_write(os.path.join(git, "refs", "heads", "main"), SHA[1] + "\n")
wait_deploy(SHA[1][:12], t0)
t0 = time.time()
atomic_write(os.path.join(git, "HEAD"), SHA[2] + "\n")
wait_deploy(SHA[2][:12], t0)
t0 = time.time()
atomic_write(os.path.join(git, "packed-refs"),
             "# pack-refs with: peeled fully-peeled sorted\n%s refs/heads/other\n%s refs/heads/rel\n"
             % (SHA[0], SHA[3]))
atomic_write(os.path.join(git, "HEAD"), "ref: refs/heads/rel\n")
wait_deploy(SHA[3][:12], t0)

# a REVISION file's first line
t0 = time.time()
atomic_write(revision, "  v2  \nbuilt by ci\n")
wait_deploy("v2", t0)

# a path that appears later is a deploy too; the markers are exported as metrics
t0 = time.time()
repoint(os.path.join(d, "missing-link"), os.path.join(d, "releases", "r3"))
wait_deploy("r3", t0)
dwtest.wait_until("the markers exported", lambda: b'deploywatch_deploy_timestamp_seconds{deploy="r3"}'
                  in dwtest.http_get(agent.url("/metrics"))[2])

# a reload keeps what the paths showed: nothing is marked again
agent.signal(signal.SIGHUP)
agent.wait_log("configuration reloaded")
wait_ticks(2)
names = sorted(deploys())
check(names == sorted(["r2", SHA[1][:12], SHA[2][:12], SHA[3][:12], "v2", "r3"]),
      "the markers: %r" % names)
check(agent.stop() == 0, "the agent's exit")
print("ok")
