/*
 * Durations as Prometheus writes them (model.ParseDuration / model.Duration.String): a sequence
 * of NUMBER UNIT terms with units y w d h m s ms, each unit at most once and in decreasing order,
 * or "0" alone. Prometheus keeps durations as int64 nanoseconds, so it refuses anything longer
 * than about 292 years; we keep milliseconds but apply the same bound so that a duration that
 * parses here also parses in Prometheus (and converts to nanoseconds without overflow).
 */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MS_SECOND ((dw_millis)1000)
#define MS_MINUTE (60 * MS_SECOND)
#define MS_HOUR (60 * MS_MINUTE)
#define MS_DAY (24 * MS_HOUR)
#define MS_WEEK (7 * MS_DAY)
#define MS_YEAR (365 * MS_DAY)

/* INT64_MAX nanoseconds, in whole milliseconds: Prometheus's ceiling. */
#define DURATION_MAX_MS (INT64_MAX / 1000000)

struct duration_unit {
	const char *name;
	dw_millis ms;
	bool exact;   /* formatted only when the value is a whole multiple (as Prometheus) */
};

/* In the only order the parser accepts them. */
static const struct duration_unit duration_units[] = {
	{ "y", MS_YEAR, true },
	{ "w", MS_WEEK, true },
	{ "d", MS_DAY, false },
	{ "h", MS_HOUR, false },
	{ "m", MS_MINUTE, false },
	{ "s", MS_SECOND, false },
	{ "ms", 1, false },
};

#define NUNITS (sizeof(duration_units) / sizeof(duration_units[0]))

/* The unit at 's' (longest match, so "ms" is not read as "m"), or -1. Sets *len. */
static int duration_unit_at(const char *s, size_t *len)
{
	int best = -1;
	size_t best_len = 0;

	for (size_t i = 0; i < NUNITS; i++) {
		size_t n = strlen(duration_units[i].name);

		if (n > best_len && strncmp(s, duration_units[i].name, n) == 0) {
			best = (int)i;
			best_len = n;
		}
	}
	*len = best_len;
	return best;
}

/*
 * Parse a Prometheus duration into milliseconds. Returns 0 and sets *out, or -EINVAL for an
 * empty string, a missing or unknown unit, units out of order or repeated, a sign, or a value
 * beyond ~292 years. Pure; any thread.
 */
int duration_parse(const char *s, dw_millis *out)
{
	dw_millis total = 0;
	int next_unit = 0;    /* index of the first unit still allowed */

	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	while (*s) {
		dw_millis v = 0;
		size_t ulen;
		int u;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (v > (DURATION_MAX_MS - (*s - '0')) / 10)
				return -EINVAL;
			v = v * 10 + (*s - '0');
		}
		u = duration_unit_at(s, &ulen);
		if (u < next_unit)    /* also catches u == -1 */
			return -EINVAL;
		if (v > (DURATION_MAX_MS - total) / duration_units[u].ms)
			return -EINVAL;
		total += v * duration_units[u].ms;
		next_unit = u + 1;
		s += ulen;
	}
	*out = total;
	return 0;
}

/*
 * Format 'd' the way Prometheus's model.Duration.String() does: years and weeks only when they
 * divide the value exactly, then d h m s ms; zero is "0s". A negative value gets a leading '-'.
 * Writes at most 'outlen' bytes (32 always suffices) and returns 'out'. Pure; any thread.
 */
char *duration_format(dw_millis d, char *out, size_t outlen)
{
	size_t used = 0;
	/* Work on the magnitude as unsigned so that INT64_MIN does not overflow. */
	uint64_t ms = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;

	if (outlen == 0)
		return out;
	out[0] = '\0';
	if (ms == 0) {
		snprintf(out, outlen, "0s");
		return out;
	}
	if (d < 0)
		used += (size_t)snprintf(out, outlen, "-");
	for (size_t i = 0; i < NUNITS && used < outlen; i++) {
		uint64_t unit = (uint64_t)duration_units[i].ms;
		uint64_t v;

		if (duration_units[i].exact && ms % unit != 0)
			continue;
		v = ms / unit;
		if (v == 0)
			continue;
		used += (size_t)snprintf(out + used, outlen - used, "%llu%s", (unsigned long long)v,
					 duration_units[i].name);
		ms -= v * unit;
	}
	return out;
}

int size_parse(const char *s, uint64_t *out)
{
	static const struct {
		const char *name;
		unsigned shift;
	} units[] = {
		{ "B", 0 },   { "KB", 10 },  { "MB", 20 },  { "GB", 30 },  { "TB", 40 },  { "PB", 50 },
		{ "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 }, { "TiB", 40 }, { "PiB", 50 },
	};
	uint64_t n = 0;
	const char *p = s;

	if (!s)
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].name) != 0)
			continue;
		if (n > (UINT64_C(1) << 63) >> units[i].shift)
			return -EINVAL;
		*out = n << units[i].shift;
		return 0;
	}
	return -EINVAL;
}
