/*
 * node_tcp_established_connections{port,side}: established TCP connections on the configured
 * ports.
 *
 * On the live system (proc_path "/proc") they are counted from a NETLINK_SOCK_DIAG dump
 * restricted to established sockets, as ss(8) does: reading /proc/net/tcp makes the kernel
 * walk its whole connection hash once per 4 KiB page of output and format every socket in
 * every state as text (measured here with 12,900 TIME_WAIT sockets: 36 ms of system time per
 * read of /proc/net/tcp). With another proc_path (fixtures, a host /proc mounted elsewhere),
 * or when sock_diag is refused (seccomp, no inet_diag), <proc>/net/tcp and tcp6 are read line
 * by line, streamed through the fixed line buffer, never loaded whole.
 */
#include "collector/system_int.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/registry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define COMPONENT "system"

/* include/net/tcp_states.h */
#define TCP_STATE_ESTABLISHED 0x01

int system_tcp_init(struct system_sampler *s, const uint16_t *ports, size_t n)
{
	static const char *const labels[] = { "port", "side", NULL };

	s->tcp = registry_gauge(s->reg, "node_tcp_established_connections",
				"Established TCP connections on a configured port: side=\"local\" "
				"when it is this host's port (clients of a server here), "
				"side=\"remote\" when this host connects to that port elsewhere.",
				labels);
	if (!s->tcp) {
		log_error(COMPONENT, "cannot register node_tcp_established_connections: registered "
			  "before with another shape");
		return -EINVAL;
	}
	s->ports = xcalloc(n ? n : 1, sizeof(*s->ports));
	for (size_t i = 0; i < n; i++) {
		uint16_t p = ports[i];

		if (s->port_bits[p / 64] & ((uint64_t)1 << (p % 64)))
			continue;
		s->port_bits[p / 64] |= (uint64_t)1 << (p % 64);
		s->ports[s->nports++] = p;
	}
	s->count_local = xcalloc(s->nports ? s->nports : 1, sizeof(*s->count_local));
	s->count_remote = xcalloc(s->nports ? s->nports : 1, sizeof(*s->count_remote));
	s->tcp_netlink = strcmp(s->proc, "/proc") == 0;
	return 0;
}

void system_tcp_release(struct system_sampler *s)
{
	free(s->ports);
	free(s->count_local);
	free(s->count_remote);
	s->ports = NULL;
	s->count_local = s->count_remote = NULL;
	s->nports = 0;
}

static bool port_wanted(const struct system_sampler *s, unsigned port)
{
	return s->port_bits[port / 64] & ((uint64_t)1 << (port % 64));
}

static size_t port_index(const struct system_sampler *s, unsigned port)
{
	size_t i = 0;

	while (s->ports[i] != port)
		i++;
	return i;
}

static void count_connection(struct system_sampler *s, unsigned lport, unsigned rport)
{
	/* A connection between two local sockets is listed twice, once from each end: it
	 * counts once as local and once as remote, which is what each side sees. */
	if (port_wanted(s, lport))
		s->count_local[port_index(s, lport)]++;
	if (port_wanted(s, rport))
		s->count_remote[port_index(s, rport)]++;
}

/* Count the established TCP sockets of 'family' (AF_INET or AF_INET6) through sock_diag.
 * Returns 0 or -errno. */
static int count_netlink(struct system_sampler *s, int family)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int fd, err = 0;
	bool done = false;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.nlh.nlmsg_seq = 1;
	msg.req.sdiag_family = (uint8_t)family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = 1u << TCP_STATE_ESTABLISHED;
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		err = -errno;
		goto out_close;
	}
	while (!done) {
		/* The line buffer is free here; 64 KiB holds any dump message the kernel sends. */
		ssize_t n = recv(fd, s->line, SYSTEM_LINE_MAX, 0);
		struct nlmsghdr *h = (struct nlmsghdr *)(void *)s->line;
		size_t left;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out_close;
		}
		if (n == 0) {
			err = -EPROTO;
			goto out_close;
		}
		left = (size_t)n;
		for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			const struct inet_diag_msg *m;

			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				err = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ?
					e->error : -EPROTO;
				goto out_close;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			m = NLMSG_DATA(h);
			if (m->idiag_state == TCP_STATE_ESTABLISHED)
				count_connection(s, ntohs(m->id.idiag_sport),
						 ntohs(m->id.idiag_dport));
		}
	}
out_close:
	close(fd);
	return err;
}

/* Count one table. Returns 0 or -errno; malformed lines are counted in *bad. */
static int count_table(struct system_sampler *s, const char *path, size_t addr_digits,
		       unsigned *bad)
{
	struct lines r;
	char *line;
	int err;

	err = lines_open(&r, s->io, path, s->line, SYSTEM_LINE_MAX);
	if (err)
		return err;
	while ((err = lines_next(&r, &line)) > 0) {
		struct system_tcp_line t;
		int rc = system_parse_tcp_line(line, addr_digits, &t);

		if (rc < 0)
			(*bad)++;
		else if (rc > 0 && t.state == TCP_STATE_ESTABLISHED)
			count_connection(s, t.lport, t.rport);
	}
	lines_close(&r);
	return err < 0 ? err : 0;
}

void system_tcp_sample(struct system_sampler *s)
{
	char path[PATH_MAX];
	unsigned bad4 = 0, bad6 = 0;
	int err4, err6;

	if (s->nports == 0)
		return;
	memset(s->count_local, 0, s->nports * sizeof(*s->count_local));
	memset(s->count_remote, 0, s->nports * sizeof(*s->count_remote));

	if (s->tcp_netlink) {
		err4 = count_netlink(s, AF_INET);
		if (!err4) {
			system_source_ok(s, SYSTEM_SRC_TCP);
			err6 = count_netlink(s, AF_INET6);
			/* A kernel without IPv6 refuses the AF_INET6 dump: nothing to count, as
			 * with a missing tcp6 file. Any other failure may have counted part of
			 * the table: leave the series out rather than report too few. */
			if (err6 && err6 != -ENOENT && err6 != -EAFNOSUPPORT) {
				system_source_failed(s, SYSTEM_SRC_TCP6, "sock_diag dump of the IPv6 "
						     "TCP sockets failed: %s", strerror(-err6));
				goto out_sweep;
			}
			system_source_ok(s, SYSTEM_SRC_TCP6);
			goto out_set;
		}
		log_info(COMPONENT, "counting TCP connections through sock_diag failed (%s); "
			 "reading %s/net/tcp and tcp6 from now on", strerror(-err4), s->proc);
		s->tcp_netlink = false;
		memset(s->count_local, 0, s->nports * sizeof(*s->count_local));
		memset(s->count_remote, 0, s->nports * sizeof(*s->count_remote));
	}

	err4 = system_path(path, sizeof(path), s->proc, "net/tcp");
	if (!err4)
		err4 = count_table(s, path, 8, &bad4);
	if (err4)
		system_source_failed(s, SYSTEM_SRC_TCP, "cannot read %s: %s", path, strerror(-err4));
	else if (bad4)
		system_source_failed(s, SYSTEM_SRC_TCP, "%s: %u malformed lines", path, bad4);
	else
		system_source_ok(s, SYSTEM_SRC_TCP);

	err6 = system_path(path, sizeof(path), s->proc, "net/tcp6");
	if (!err6)
		err6 = count_table(s, path, 32, &bad6);
	/* No tcp6 file is a kernel booted with ipv6.disable=1: nothing to count, not an error. */
	if (err6 && err6 != -ENOENT)
		system_source_failed(s, SYSTEM_SRC_TCP6, "cannot read %s: %s", path,
				     strerror(-err6));
	else if (bad6)
		system_source_failed(s, SYSTEM_SRC_TCP6, "%s: %u malformed lines", path, bad6);
	else
		system_source_ok(s, SYSTEM_SRC_TCP6);

	/* A table that could not be read would make the count too low: leave the series out. */
	if (err4 || (err6 && err6 != -ENOENT))
		goto out_sweep;
out_set:
	for (size_t i = 0; i < s->nports; i++) {
		char port[8];
		const char *local[2] = { port, "local" }, *remote[2] = { port, "remote" };

		snprintf(port, sizeof(port), "%u", (unsigned)s->ports[i]);
		series_set(metric_series(s->tcp, local), (double)s->count_local[i]);
		series_set(metric_series(s->tcp, remote), (double)s->count_remote[i]);
	}
out_sweep:
	metric_sweep(s->tcp);
}
