/*
 * TLS files for the HTTP server: read the PEM pair, let gnutls (through libmicrohttpd) accept it
 * before anything is bound, and libmicrohttpd's log messages, which explain why it refused.
 */
#include "exporters/exporters.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/clock.h"
#include "core/err.h"
#include "exporters/http_int.h"

#define LOG_COMP "http"
#define TLS_FILE_MAX ((size_t)1 << 20)
/* At most one libmicrohttpd message a minute at warn level while serving. */
#define MHD_LOG_INTERVAL_NS (60 * (int64_t)1000000000)

__attribute__((format(printf, 2, 0)))
void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_log_sink *sink = cls;
	int64_t now, next;
	uint64_t suppressed;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == '.'))
		msg[--n] = '\0';
	if (sink && sink->capture) {
		size_t used = strlen(sink->last);

		/* Keep them all: the last one is often just "Failed to initialize TLS support". */
		snprintf(sink->last + used, sizeof(sink->last) - used, "%s%s", used ? "; " : "", msg);
		return;
	}
	if (!sink) {
		log_warn(LOG_COMP, "%s", msg);
		return;
	}
	/* While serving, its messages are about single connections ("closed by remote side with
	 * incomplete request"): a flood of bad clients must not become a flood of log lines. */
	now = clock_mono_ns();
	next = atomic_load_explicit(&sink->next_warn_ns, memory_order_relaxed);
	if (now < next || !atomic_compare_exchange_strong(&sink->next_warn_ns, &next,
							  now + MHD_LOG_INTERVAL_NS)) {
		atomic_fetch_add_explicit(&sink->suppressed, 1, memory_order_relaxed);
		log_debug(LOG_COMP, "%s", msg);
		return;
	}
	suppressed = atomic_exchange_explicit(&sink->suppressed, 0, memory_order_relaxed);
	if (suppressed)
		log_warn(LOG_COMP, "%s (and %llu more libmicrohttpd messages in the last minute, "
				   "logged at debug level)", msg, (unsigned long long)suppressed);
	else
		log_warn(LOG_COMP, "%s", msg);
}



/* check_tls() never accepts a connection: any request would be a bug. */
static enum MHD_Result refuse_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	(void)cls; (void)conn; (void)url; (void)method; (void)version; (void)upload_data;
	(void)upload_data_size; (void)con_cls;
	return MHD_NO;
}

/* Read a whole PEM file (at most TLS_FILE_MAX) into a new string. */
static int read_pem(const char *what, const char *path, const char *marker, char **out,
		    char *err, size_t errlen)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s %s: cannot read: %s", what, path,
			 err_str(-errno));
		return rc;
	}
	buf_init(&b, TLS_FILE_MAX);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s %s: cannot read: %s", what, path,
				 err_str(-errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n)) {
			rc = -EFBIG;
			snprintf(err, errlen, "%s %s: larger than %zu bytes", what, path,
				 TLS_FILE_MAX);
			goto out;
		}
	}
	if (!b.data || !strstr(b.data, marker)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s %s: no PEM %s found", what, path,
			 strstr(marker, "CERTIFICATE") ? "certificate" : "private key");
		goto out;
	}
	*out = buf_detach(&b, NULL);
out:
	close(fd);
	buf_release(&b);
	return rc;
}

/*
 * Let libmicrohttpd (gnutls) load the pair once without a socket, so that a bad file or a key
 * that does not match the certificate is reported before anything is bound.
 */
static int check_tls(const char *cert_path, const char *key_path, const char *cert,
		     const char *key, char *err, size_t errlen)
{
	struct http_log_sink sink = { .capture = true };
	struct MHD_Daemon *d;

	d = MHD_start_daemon(MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET, 0,
			     NULL, NULL, refuse_request, NULL,
			     MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, &sink,
			     MHD_OPTION_HTTPS_MEM_KEY, key,
			     MHD_OPTION_HTTPS_MEM_CERT, cert,
			     MHD_OPTION_END);
	if (!d) {
		snprintf(err, errlen, "tls_cert_file %s, tls_key_file %s: cannot use them: %s",
			 cert_path, key_path, sink.last[0] ? sink.last : "rejected by gnutls");
		return -EINVAL;
	}
	MHD_stop_daemon(d);
	return 0;
}

/* Free a private key's PEM text after wiping it. NULL is a no-op. */
void http_tls_free_key(char *key)
{
	if (key)
		explicit_bzero(key, strlen(key));
	free(key);
}

/* Read both PEM files and check that gnutls accepts the pair. On success the caller owns
 * *cert and *key (free()); on failure both are NULL and 'err' says which file and why. */
int http_tls_load(const char *cert_path, const char *key_path, char **cert, char **key,
		    char *err, size_t errlen)
{
	int rc;

	*cert = *key = NULL;
	rc = read_pem("tls_cert_file", cert_path, "-----BEGIN CERTIFICATE-----", cert, err, errlen);
	if (!rc)
		rc = read_pem("tls_key_file", key_path, "PRIVATE KEY-----", key, err, errlen);
	if (!rc)
		rc = check_tls(cert_path, key_path, *cert, *key, err, errlen);
	if (rc) {
		free(*cert);
		http_tls_free_key(*key);
		*cert = *key = NULL;
	}
	return rc;
}

int http_tls_validate(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	char *cert, *key;
	int rc = http_tls_load(cert_file, key_file, &cert, &key, err, errlen);

	free(cert);
	http_tls_free_key(key);
	return rc;
}

