/*
 * The listening socket. It is ours, bound before libmicrohttpd starts, so that a port in use is
 * reported as "listen ADDR: Address already in use" and port 0 can be read back.
 */
#include "exporters/exporters.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "exporters/http_int.h"


/* Split "host:port", "[v6]:port" or ":port" into its parts. Returns 0 or -EINVAL. */
static int split_address(const char *addr, char *host, size_t hostlen, char *port,
			 size_t portlen)
{
	const char *colon, *hs = addr, *he;
	size_t n;

	if (addr[0] == '[') {
		he = strchr(addr, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = addr + 1;
		colon = he + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		he = colon;
		if (memchr(addr, ':', (size_t)(colon - addr)))
			return -EINVAL; /* a bare IPv6 address needs brackets */
	}
	n = (size_t)(he - hs);
	if (n >= hostlen)
		return -EINVAL;
	memcpy(host, hs, n);
	host[n] = '\0';
	n = strlen(colon + 1);
	if (n == 0 || n > 5 || n >= portlen)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)colon[1 + i]))
			return -EINVAL;
	memcpy(port, colon + 1, n + 1);
	if (atoi(port) > 65535)
		return -EINVAL;
	return 0;
}

/* A non-blocking listening socket bound to 'sa'. Returns the fd or -errno. */
static int listen_on(const struct sockaddr *sa, socklen_t salen, bool dual_stack)
{
	int fd, one = 1, zero = 0, err;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* SO_REUSEADDR lets a restarted agent bind while old connections sit in TIME_WAIT; on
	 * Linux it does not let two servers listen on one port. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (dual_stack)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/* The kernel's largest backlog: a burst of connects waits there for accept() instead of
	 * having its SYNs dropped and retried a second later. */
	if (bind(fd, sa, salen) < 0 || listen(fd, SOMAXCONN) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Bind 'addr'. Returns the fd or a negative errno with 'err' filled in. */
int http_listen_bind(const char *addr, char *err, size_t errlen)
{
	char host[256], port[8];
	struct addrinfo hints = { 0 }, *res, *ai;
	int fd = -EINVAL, rc;

	if (split_address(addr, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen,
			 "listen_address \"%s\": expected host:port, [ipv6]:port or :port", addr);
		return -EINVAL;
	}
	if (!host[0]) {
		/* All interfaces, as Go's net.Listen(":port") does: one dual-stack IPv6 socket,
		 * or IPv4 only on hosts without IPv6. */
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = in6addr_any,
					     .sin6_port = htons((uint16_t)atoi(port)) };
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = INADDR_ANY,
					   .sin_port = htons((uint16_t)atoi(port)) };

		fd = listen_on((struct sockaddr *)&sin6, sizeof(sin6), true);
		if (fd == -EAFNOSUPPORT)
			fd = listen_on((struct sockaddr *)&sin, sizeof(sin), false);
	} else {
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		rc = getaddrinfo(host, port, &hints, &res);
		if (rc) {
			const char *why = rc == EAI_SYSTEM ? err_str(-errno)
							   : gai_strerror(rc);

			snprintf(err, errlen, "listen %s: %s", addr, why);
			return -EADDRNOTAVAIL;
		}
		for (ai = res; ai; ai = ai->ai_next) {
			fd = listen_on(ai->ai_addr, ai->ai_addrlen, false);
			if (fd >= 0)
				break;
		}
		freeaddrinfo(res);
	}
	if (fd < 0)
		snprintf(err, errlen, "listen %s: %s", addr, err_str(fd));
	return fd;
}

int http_listen_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

