/*
 * Fuzz target: one built-in log format (FUZZ_FORMAT, set per target in fuzz_logp.cmake) end to
 * end: the input's lines through multiline assembly (a small entry cap, so cutting is exercised)
 * and the parser, with a rule on the same source. Whatever a log file holds (binary, NULs,
 * invalid UTF-8, truncated entries, hostile regex input) must never crash, and every label value
 * that reaches the registry must be valid UTF-8 without control bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logp_int.h"
#include "core/config.h"
#include "core/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char yaml[] =
	"sources:\n"
	"  - name: src\n"
	"    path: /dev/null\n"
	"    format: " FUZZ_FORMAT "\n"
	"    timezone: Europe/Madrid\n"
	"    app_root: /var/www/cyh\n"
#ifdef FUZZ_REGEX
	"    regex: '^(?<time>\\S+ \\S+) \\[(?<level>[a-z]+)\\] (?<msg>.*)'\n"
#endif
	"rules:\n"
	"  - name: fuzz_total\n"
	"    source: src\n"
	"    regex: 'user (?<user>\\w+) took (?<ms>[0-9.]+)ms'\n"
	"  - name: fuzz_seconds\n"
	"    source: src\n"
	"    type: histogram\n"
	"    value: ms\n"
	"    regex: '(a+)+b took (?<ms>[0-9.]+)'\n";

static int check_label(void *ctx, const struct metric_info *info, const struct sample_view *s)
{
	(void)ctx, (void)info;
	for (size_t i = 0; i < s->nlabels; i++) {
		const char *v = s->label_values[i];

		if (!model_utf8_valid(v, strlen(v)))
			abort();
		for (const char *c = v; *c; c++)
			if ((unsigned char)*c < 0x20)
				abort();
	}
	return 0;
}

struct fz {
	struct logp *p;
};

static void on_exc(void *ctx, const struct logged_exception *e)
{
	(void)ctx;
	if (strlen(e->fingerprint) != 32 || !e->class_name || !e->message || !e->location)
		abort();
}

static int on_entry(void *ctx, const struct ml_entry *e)
{
	static const struct logp_sink sink = { NULL, NULL, on_exc, NULL, NULL };

	return logp_entry(((struct fz *)ctx)->p, e->text, e->len, 1000, &sink);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct registry_visitor v = { NULL, check_label };
	struct config *cfg;
	struct registry *reg = registry_new(50);
	struct ml_options opt = { 2048, 100 };
	struct fz fz;
	struct ml *m;
	char err[256];
	size_t off = 0;
	int64_t now = 0;

	if (config_parse("fuzz.yml", yaml, sizeof(yaml) - 1, &cfg, err, sizeof(err)) ||
	    logp_new(cfg, &cfg->sources[0], reg, &fz.p, err, sizeof(err))) {
		fprintf(stderr, "fuzz_logp: %s\n", err);
		abort();
	}
	m = ml_new(logp_get_format(fz.p), &opt);
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - data - off) : size - off;

		ml_push(m, (const char *)data + off, len, off + len + 1, now, on_entry, &fz);
		now += len % 150; /* sometimes past the idle timeout */
		ml_tick(m, now, on_entry, &fz);
		off += len + 1;
	}
	ml_flush(m, on_entry, &fz);
	registry_visit(reg, &v, NULL);
	ml_free(m);
	logp_free(fz.p);
	registry_free(reg);
	config_free(cfg);
	return 0;
}
