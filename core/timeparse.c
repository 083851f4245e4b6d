/* Time arguments: Unix seconds or RFC 3339, parsed by hand so no locale or TZ variable applies. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/timeparse.h"

/* Read exactly 'n' decimal digits at *s; advances *s. */
static bool read_digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int parse_rfc3339(const char *s, int64_t *ms)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, frac_ms = 0, sign = 0;
	int64_t t;

	if (!read_digits(&s, 4, &y) || *s++ != '-' || !read_digits(&s, 2, &mo) || *s++ != '-' ||
	    !read_digits(&s, 2, &d) || *s++ != 'T' || !read_digits(&s, 2, &h) || *s++ != ':' ||
	    !read_digits(&s, 2, &mi) || *s++ != ':' || !read_digits(&s, 2, &sec))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 ||
	    mi > 59 || sec > 59)
		return -EINVAL;
	if (*s == '.') {
		int digits = 0;

		s++;
		while (*s >= '0' && *s <= '9') {
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*s - '0');
			digits++;
			s++;
		}
		if (!digits || digits > 9)
			return -EINVAL;
		for (int i = digits; i < 3; i++)
			frac_ms *= 10;
	}
	if (*s == 'Z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (!read_digits(&s, 2, &oh) || *s++ != ':' || !read_digits(&s, 2, &om) || oh > 23 ||
		    om > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= sign * (oh * 3600 + om * 60);
	*ms = t * 1000 + frac_ms;
	return 0;
}

/* Exponent forms ("1.7e9"), which Go's ParseFloat and therefore Prometheus accept. */
static int parse_float_seconds(const char *s, int64_t *ms)
{
	char *end;
	double d;

	for (const char *c = s; *c; c++)
		if (!strchr("0123456789+-.eE", *c))
			return -EINVAL;
	errno = 0;
	d = strtod(s, &end);
	if (*end || end == s || errno || !isfinite(d) || fabs(d) > 9.2e15)
		return -EINVAL;
	*ms = llround(d * 1000.0);
	return 0;
}

/* Unix seconds: [-+]digits[.digits], the fraction rounded half away from zero to milliseconds. */
static int parse_unix(const char *s, int64_t *ms)
{
	bool neg = false;
	int64_t secs = 0, frac = 0;
	int digits = 0, fdigits = 0, round = 0;
	const char *start = s;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		/* int64 milliseconds hold about 9.2e15 seconds. */
		if (secs > INT64_MAX / 1000 / 10 - 1)
			return -EINVAL;
		secs = secs * 10 + (*s - '0');
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, fdigits++) {
			if (fdigits < 3)
				frac = frac * 10 + (*s - '0');
			else if (fdigits == 3)
				round = *s >= '5';
		}
		for (int i = fdigits; i < 3; i++)
			frac *= 10;
	}
	if (*s == 'e' || *s == 'E')
		return parse_float_seconds(start, ms);
	if (*s || (!digits && !fdigits))
		return -EINVAL;
	frac += round;
	*ms = secs * 1000 + frac;
	if (neg)
		*ms = -*ms;
	return 0;
}

int time_parse(const char *s, int64_t *ms)
{
	if (!s || !*s)
		return -EINVAL;
	/* A date has its first '-' after four digits; a negative Unix time starts with one. */
	if (strlen(s) >= 10 && s[4] == '-')
		return parse_rfc3339(s, ms);
	return parse_unix(s, ms);
}
