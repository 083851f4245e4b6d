/*
 * Connection limits: libmicrohttpd accepts and parses, this file decides who keeps a slot.
 *
 * Why not libmicrohttpd's own limit: with epoll (0.9.75, Debian 12), a worker that reaches
 * MHD_OPTION_CONNECTION_LIMIT stops reading connections it has already accepted: after
 * `wrk -c256` against a limit of 256, 128 sockets sat in CLOSE-WAIT with their request unread
 * and both workers idle in epoll_wait until the 60 s timeout (issue 8; at a limit of 64, 8 to 42
 * sockets stayed stuck). With the limit out of reach the same burst leaves none. So the daemon's
 * limit is set far above ours, and this file keeps the number of connections under
 * web.max_connections itself, from the accept policy callback.
 *
 * Every connection is in one list with its state and the time it entered it:
 *   NEW      accepted, no request line yet          deadline: read_timeout from accept
 *   READING  request line seen, request incomplete  deadline: read_timeout from its start
 *   BUSY     complete, being answered               none here (libmicrohttpd's inactivity timeout)
 *   IDLE     keep-alive, between requests           deadline: idle_timeout
 * A reaper thread closes connections past their deadline, and those whose peer has closed
 * (EPOLLRDHUP on its own epoll set) once they are not being answered. When the server is full a new
 * connection takes the slot of the connection idle the longest, else of the one waiting longest
 * for its request; with every connection busy it is refused.
 *
 * Closing is shutdown(2) on the socket, from whichever thread decides: the socket's own worker
 * then reads end-of-file and closes the connection through its normal path. The descriptor
 * stays valid while the connection is in the list: libmicrohttpd reports
 * MHD_CONNECTION_NOTIFY_CLOSED (which unlinks it, under the same lock) before it closes the
 * socket, so a shutdown never reaches a descriptor number reused by another connection.
 */
#include "exporters/exporters.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/clock.h"
#include "core/log.h"
#include "exporters/http_int.h"

#define LOG_COMP "http"
/* At most one "server full" log line per this many nanoseconds. */
#define FULL_LOG_INTERVAL_NS (60 * (int64_t)1000000000)
/* The reaper looks at least this often, so a deadline is kept to within this much. */
#define REAPER_MAX_SLEEP_NS (250 * (int64_t)1000000)
/* After a peer's FIN, time for libmicrohttpd to read and answer a request that came with it
 * before the connection, no longer answering anything, is closed. */
#define PEER_GRACE_NS (100 * (int64_t)1000000)
/* Memory is handed back to the system when the connections fall under half of a peak of at
 * least this many. */
#define TRIM_MIN_PEAK 64

static void conn_unlink(struct http_conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	c->prev = c->next = c;
}

/* Shut 'c' down for 'reason' (counted; NULL: the peer closed, not counted). Caller holds the
 * lock. */
static void conn_shut(struct http_conns *cs, struct http_conn *c, _Atomic uint64_t *reason)
{
	c->shut = true;
	cs->nshut++;
	shutdown(c->fd, SHUT_RDWR);
	if (reason)
		atomic_fetch_add_explicit(reason, 1, memory_order_relaxed);
}

static int64_t deadline_of(const struct http_conns *cs, const struct http_conn *c)
{
	switch (c->state) {
	case HTTP_CONN_NEW:
	case HTTP_CONN_READING:
		return c->since_ns + cs->read_timeout_ns;
	case HTTP_CONN_IDLE:
		return c->since_ns + cs->idle_timeout_ns;
	case HTTP_CONN_BUSY:
		break;
	}
	return INT64_MAX;
}

/* Caller holds the lock. The open connection with descriptor 'fd' and 'serial', or NULL. */
static struct http_conn *find_conn(struct http_conns *cs, int fd, uint32_t serial)
{
	for (struct http_conn *c = cs->head.next; c != &cs->head; c = c->next)
		if (c->fd == fd && c->serial == serial)
			return c;
	return NULL;
}

/*
 * Caller holds the lock. Close what is past its deadline, and what the peer closed: once it is
 * no longer being answered and libmicrohttpd has had PEER_GRACE_NS to act on the request that
 * may have come with the FIN. Returns the next time something falls due.
 */
static int64_t reap(struct http_conns *cs, int64_t now)
{
	int64_t next = now + REAPER_MAX_SLEEP_NS;

	for (struct http_conn *c = cs->head.next; c != &cs->head; c = c->next) {
		int64_t dl;

		if (c->shut)
			continue;
		if (c->peer_closed_ns && c->state != HTTP_CONN_BUSY) {
			int unread = 0;

			/* Bytes libmicrohttpd has yet to read: a request that came with the FIN,
			 * which it will answer. The grace starts once it has read them all. */
			if (ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0)
				c->peer_closed_ns = now;
			dl = (c->progress_ns > c->peer_closed_ns ? c->progress_ns : c->peer_closed_ns) +
			     PEER_GRACE_NS;
			if (dl <= now) {
				conn_shut(cs, c, NULL);
				continue;
			}
			if (dl < next)
				next = dl;
		}
		dl = deadline_of(cs, c);
		if (dl <= now)
			conn_shut(cs, c, c->state == HTTP_CONN_IDLE ? &cs->closed_idle
								     : &cs->closed_slow);
		else if (dl < next)
			next = dl;
	}
	return next;
}

static void *reaper_main(void *arg)
{
	struct http_conns *cs = arg;
	struct epoll_event ev[64];
	int64_t next = clock_mono_ns();
	bool trim;

	for (;;) {
		int64_t now = clock_mono_ns(), wait_ms = (next - now + 999999) / 1000000;
		int n = epoll_wait(cs->epfd, ev, 64, wait_ms < 0 ? 0 : (int)wait_ms);

		now = clock_mono_ns();
		pthread_mutex_lock(&cs->lock);
		for (int i = 0; i < n; i++) {
			struct http_conn *c;

			if (ev[i].data.u64 == UINT64_MAX) {
				pthread_mutex_unlock(&cs->lock);
				return NULL;
			}
			/* Reported once (EPOLLONESHOT): a connection that is gone may still be in
			 * this batch, hence the lookup. */
			c = find_conn(cs, (int)(ev[i].data.u64 & 0xffffffff),
				      (uint32_t)(ev[i].data.u64 >> 32));
			if (c && !c->peer_closed_ns)
				c->peer_closed_ns = now;
		}
		next = reap(cs, now);
		trim = cs->count < cs->peak / 2 && cs->peak >= TRIM_MIN_PEAK;
		if (trim)
			cs->peak = cs->count;
		pthread_mutex_unlock(&cs->lock);
		/* libmicrohttpd's pools of 32 KiB or less come from malloc, whose arenas keep what
		 * a burst of connections freed: give it back once most of them are gone. */
		if (trim)
			malloc_trim(0);
	}
}

int http_conns_init(struct http_conns *cs, unsigned max_connections, int64_t read_timeout_ns,
		    int64_t idle_timeout_ns)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	int rc;

	memset(cs, 0, sizeof(*cs));
	pthread_mutex_init(&cs->lock, NULL);
	cs->head.prev = cs->head.next = &cs->head;
	cs->max = max_connections;
	cs->read_timeout_ns = read_timeout_ns;
	cs->idle_timeout_ns = idle_timeout_ns;
	cs->epfd = epoll_create1(EPOLL_CLOEXEC);
	cs->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cs->epfd < 0 || cs->stopfd < 0 ||
	    epoll_ctl(cs->epfd, EPOLL_CTL_ADD, cs->stopfd, &ev) < 0) {
		rc = -errno;
		http_conns_release(cs);
		return rc;
	}
	return 0;
}

int http_conns_start(struct http_conns *cs)
{
	int rc = pthread_create(&cs->reaper, NULL, reaper_main, cs);

	if (rc)
		return -rc;
	cs->reaper_running = true;
	return 0;
}

void http_conns_stop(struct http_conns *cs)
{
	uint64_t one = 1;

	if (!cs->reaper_running)
		return;
	if (write(cs->stopfd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		abort(); /* an eventfd write of 1 cannot fail short of a bug */
	pthread_join(cs->reaper, NULL);
	cs->reaper_running = false;
}

void http_conns_release(struct http_conns *cs)
{
	/* The daemon is stopped: every connection was reported closed and unlinked. */
	if (cs->epfd >= 0)
		close(cs->epfd);
	if (cs->stopfd >= 0)
		close(cs->stopfd);
	cs->epfd = cs->stopfd = -1;
	pthread_mutex_destroy(&cs->lock);
}

/* Caller holds the lock. The connection to close to make room: idle the longest, else the one
 * waiting longest for its request; NULL when every connection is being answered. */
static struct http_conn *pick_victim(struct http_conns *cs)
{
	struct http_conn *idle = NULL, *waiting = NULL;

	for (struct http_conn *c = cs->head.next; c != &cs->head; c = c->next) {
		if (c->shut || c->state == HTTP_CONN_BUSY)
			continue;
		if (c->state == HTTP_CONN_IDLE) {
			if (!idle || c->since_ns < idle->since_ns)
				idle = c;
		} else if (!waiting || c->since_ns < waiting->since_ns) {
			waiting = c;
		}
	}
	return idle ? idle : waiting;
}

enum MHD_Result http_conn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http_conns *cs = &((struct http_server *)cls)->conns;
	enum MHD_Result ret = MHD_YES;
	struct http_conn *victim;
	int64_t now;

	(void)addr;
	(void)addrlen;
	pthread_mutex_lock(&cs->lock);
	if (cs->count - cs->nshut < cs->max) {
		pthread_mutex_unlock(&cs->lock);
		return MHD_YES;
	}
	victim = pick_victim(cs);
	if (victim) {
		conn_shut(cs, victim, &cs->closed_full);
	} else {
		atomic_fetch_add_explicit(&cs->refused, 1, memory_order_relaxed);
		ret = MHD_NO;
	}
	cs->full_events++;
	now = clock_mono_ns();
	if (!cs->last_full_log_ns || now - cs->last_full_log_ns >= FULL_LOG_INTERVAL_NS) {
		unsigned long long events = cs->full_events;

		cs->full_events = 0;
		cs->last_full_log_ns = now;
		pthread_mutex_unlock(&cs->lock);
		log_warn(LOG_COMP, "connection limit reached (web.max_connections %u): %s; %llu time%s "
				   "since the last such message; see deploywatch_http_connections_*",
			 cs->max, ret == MHD_YES ? "closed a waiting connection to make room"
						 : "refused a connection, all are being answered",
			 events, events == 1 ? "" : "s");
		return ret;
	}
	pthread_mutex_unlock(&cs->lock);
	return ret;
}

void http_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode code)
{
	struct http_conns *cs = &((struct http_server *)cls)->conns;
	struct http_conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		struct epoll_event ev = { .events = EPOLLRDHUP | EPOLLONESHOT };

		c = xcalloc(1, sizeof(*c));
		c->fd = info ? info->connect_fd : -1;
		c->state = HTTP_CONN_NEW;
		c->since_ns = c->progress_ns = clock_mono_ns();
		pthread_mutex_lock(&cs->lock);
		c->serial = cs->next_serial++;
		ev.data.u64 = (uint64_t)c->serial << 32 | (uint32_t)c->fd;
		/* Without it a peer's close goes unnoticed until a deadline: libmicrohttpd, edge
		 * triggered, misses a FIN that arrives while it is busy with the connection. */
		if (c->fd >= 0)
			epoll_ctl(cs->epfd, EPOLL_CTL_ADD, c->fd, &ev);
		c->prev = cs->head.prev;
		c->next = &cs->head;
		cs->head.prev->next = c;
		cs->head.prev = c;
		if (++cs->count > cs->peak)
			cs->peak = cs->count;
		pthread_mutex_unlock(&cs->lock);
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	pthread_mutex_lock(&cs->lock);
	if (c->fd >= 0)
		epoll_ctl(cs->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	conn_unlink(c);
	cs->count--;
	if (c->shut)
		cs->nshut--;
	pthread_mutex_unlock(&cs->lock);
	free(c);
	*socket_context = NULL;
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

static void set_state(struct http_conns *cs, struct MHD_Connection *conn,
		      enum http_conn_state state, bool restart_clock)
{
	struct http_conn *c = conn_of(conn);

	if (!c)
		return;
	pthread_mutex_lock(&cs->lock);
	c->progress_ns = clock_mono_ns();
	if (restart_clock)
		c->since_ns = c->progress_ns;
	c->state = state;
	pthread_mutex_unlock(&cs->lock);
}

void http_conn_request_started(struct http_server *srv, struct MHD_Connection *conn)
{
	struct http_conn *c = conn_of(conn);

	if (!c)
		return;
	pthread_mutex_lock(&srv->conns.lock);
	c->progress_ns = clock_mono_ns();
	/* A first request's time counts from the accept, a later one's from its request line. */
	if (c->state != HTTP_CONN_NEW)
		c->since_ns = c->progress_ns;
	c->state = HTTP_CONN_READING;
	pthread_mutex_unlock(&srv->conns.lock);
}

void http_conn_request_complete(struct http_server *srv, struct MHD_Connection *conn)
{
	set_state(&srv->conns, conn, HTTP_CONN_BUSY, false);
}

void http_conn_request_done(struct http_server *srv, struct MHD_Connection *conn)
{
	set_state(&srv->conns, conn, HTTP_CONN_IDLE, true);
}

unsigned http_conns_open(struct http_conns *cs)
{
	unsigned n;

	pthread_mutex_lock(&cs->lock);
	n = (unsigned)cs->count;
	pthread_mutex_unlock(&cs->lock);
	return n;
}
