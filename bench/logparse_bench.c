/*
 * The log parsers' throughput: a log file through multiline assembly and its format's parser,
 * as the collector runs them, minus file reading (the file is mapped first) and the store.
 *   dw_logparse_bench FILE [FORMAT [APP_ROOT]]
 * Prints entries, exceptions, MB and MB/s of CPU time on one core (bench/run-logparse.sh).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/logp_int.h"
#include "core/config.h"
#include "core/registry.h"

struct ctx {
	struct logp *p;
	struct logp_sink sink;
	size_t entries, exceptions, unmatched;
};

static void on_exc(void *c, const struct logged_exception *e)
{
	(void)e;
	((struct ctx *)c)->exceptions++;
}

static void on_unmatched(void *c, const char *t, size_t n)
{
	(void)t, (void)n;
	((struct ctx *)c)->unmatched++;
}

static int on_entry(void *c, const struct ml_entry *e)
{
	struct ctx *x = c;

	x->entries++;
	return logp_entry(x->p, e->text, e->len, 0, &x->sink);
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *fmt = argc > 2 ? argv[2] : "laravel";
	char yaml[1024], err[512];
	struct config *cfg;
	struct registry *reg = registry_new(0);
	struct ml_options opt = { 0, 5000 };
	struct ctx x = { 0 };
	struct stat st;
	struct ml *m;
	const char *data;
	size_t off = 0;
	double t0, t1;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: dw_logparse_bench FILE [FORMAT [APP_ROOT]]\n");
		return 64;
	}
	snprintf(yaml, sizeof(yaml),
		 "sources:\n  - {name: b, path: /dev/null, format: %s%s%s}\n", fmt,
		 argc > 3 ? ", app_root: " : "", argc > 3 ? argv[3] : "");
	if (config_parse("bench.yml", yaml, strlen(yaml), &cfg, err, sizeof(err)) ||
	    logp_new(cfg, &cfg->sources[0], reg, &x.p, err, sizeof(err))) {
		fprintf(stderr, "dw_logparse_bench: %s\n", err);
		return 78;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 66;
	}
	data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (data == MAP_FAILED) {
		perror("mmap");
		return 74;
	}
	x.sink = (struct logp_sink){ NULL, NULL, on_exc, on_unmatched, &x };
	m = ml_new(logp_get_format(x.p), &opt);
	t0 = cpu_s();
	while (off < (size_t)st.st_size) {
		const char *nl = memchr(data + off, '\n', (size_t)st.st_size - off);
		size_t len = nl ? (size_t)(nl - data - off) : (size_t)st.st_size - off;

		ml_push(m, data + off, len, off + len + 1, 0, on_entry, &x);
		off += len + 1;
	}
	ml_flush(m, on_entry, &x);
	t1 = cpu_s();
	printf("%s: %zu entries, %zu exceptions, %zu unmatched, %.1f MB in %.3f s CPU: %.1f MB/s "
	       "per core\n",
	       fmt, x.entries, x.exceptions, x.unmatched, (double)st.st_size / 1e6, t1 - t0,
	       (double)st.st_size / 1e6 / (t1 - t0));
	ml_free(m);
	logp_free(x.p);
	registry_free(reg);
	config_free(cfg);
	munmap((void *)data, (size_t)st.st_size);
	close(fd);
	return 0;
}
