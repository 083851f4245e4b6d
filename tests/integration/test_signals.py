"""Operation: SIGHUP reloads the configuration (a bad one keeps the old running and says why),
SIGTERM and SIGINT shut down cleanly."""
import os
import signal

from dwtest import Agent, agent_config, args, check, http_get, wait_until, write

a = args()
cfg = agent_config(a.workdir)
agent = Agent(a.binary, cfg, a.workdir)
agent.wait_listening()

status, _, body = http_get(agent.url("/metrics"))
check(status == 200, "/metrics status %d" % status)


def reload_state():
    """(deploywatch_config_last_reload_successful, ..._success_timestamp_seconds)."""
    _, _, b = http_get(agent.url("/metrics"))
    got = {}
    for line in b.decode().splitlines():
        if line.startswith("deploywatch_config_last_reload_"):
            name, _, value = line.rpartition(" ")
            got[name] = float(value)
    return (got.get("deploywatch_config_last_reload_successful"),
            got.get("deploywatch_config_last_reload_success_timestamp_seconds"))


# The load at start-up counts, as Prometheus's own metric does: 1 and a time, not 0 (which an
# alert on "== 0" would take for a refused reload, on every host from its start).
ok, at = reload_state()
check(ok == 1 and at and at > 1e9, "reload metrics at start-up: %r %r" % (ok, at))

# A broken file on SIGHUP: the agent says why and keeps serving with the old configuration.
original = open(cfg).read()
write(cfg, original + "bogus_key: 1\n")
agent.signal(signal.SIGHUP)
agent.wait_log(r'reload.*bogus_key')
check(agent.proc.poll() is None, "agent exited after a bad reload")
status, _, _ = http_get(agent.url("/metrics"))
check(status == 200, "/metrics after a bad reload: %d" % status)

# A file that parses but whose source the agent could not build (a zone file that does not
# exist): refused as run and check-config refuse it, with the position, not "reloaded".
write(cfg, original.replace("sources: []", "sources:\n  - name: hup\n    path: %s/*.log\n"
                            "    format: laravel\n    timezone: Europe/Atlantis" % a.workdir))
agent.signal(signal.SIGHUP)
agent.wait_log(r'reload failed, keeping the running configuration: \S+:\d+:\d+: '
               r'sources\[0\]\.timezone')
check("configuration reloaded" not in agent.text(), "a source it cannot build was reloaded")
ok, at2 = reload_state()
check(ok == 0 and at2 == at, "reload metrics after refused reloads: %r %r" % (ok, at2))

# A good change on SIGHUP is applied: a new process group appears in the metrics.
write(cfg, original.replace("processes: [deploywatch]", "processes: [deploywatch, python3]"))
agent.signal(signal.SIGHUP)
agent.wait_log(r'configuration reloaded')


def python_group():
    _, _, b = http_get(agent.url("/metrics"))
    return b'groupname="python3"' in b


wait_until("the python3 process group after reload", python_group)
ok, at3 = reload_state()
check(ok == 1 and at3 > at, "reload metrics after a good reload: %r %r" % (ok, at3))

# A new source is not applied by a reload (read at start): each SIGHUP of such a file says so,
# the second too (the warning once compared with the last file loaded, not the running one).
WARN = "sources, rules or tail settings changed: they take effect at the next restart"
write(cfg, original.replace("processes: [deploywatch]", "processes: [deploywatch, python3]")
      .replace("sources: []", "sources:\n  - name: later\n    path: %s/*.log\n"
               "    format: laravel" % a.workdir))
for n in (1, 2):
    agent.signal(signal.SIGHUP)
    wait_until("reload %d of the file with a new source" % n,
               lambda: agent.text().count("configuration reloaded") == 1 + n)
    check(agent.text().count(WARN) == n, "reload %d: %d warnings that the source waits for a "
          "restart:\n%s" % (n, agent.text().count(WARN), agent.text()[-2000:]))

# SIGTERM: a clean exit with status 0 and a last log line.
rc = agent.stop()
check(rc == 0, "exit status after SIGTERM: %d\n%s" % (rc, agent.text()))
check("shutting down" in agent.text(), "no shutdown log line:\n" + agent.text())

# SIGINT behaves the same.
agent = Agent(a.binary, cfg, a.workdir, name="agent2")
agent.wait_listening()
agent.signal(signal.SIGINT)
rc = agent.proc.wait(15)
check(rc == 0, "exit status after SIGINT: %d" % rc)

print("integration_signals: ok")
