/*
 * The /proc parsers: pure functions from the text the kernel writes to a parsed struct, with no
 * file, registry or sampler in sight, so tests check them from tables
 * (tests/fixtures/tables/proc.txt) and the sampler's files only add reading and reporting.
 * Formats: proc(5) and Documentation/admin-guide/iostats.rst.
 */
#include "collector/system_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *system_skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

bool system_parse_u64(const char **p, uint64_t *out)
{
	const char *q = system_skip_blanks(*p);
	uint64_t v = 0;

	if (*q < '0' || *q > '9')
		return false;
	for (; *q >= '0' && *q <= '9'; q++) {
		unsigned d = (unsigned)(*q - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = q;
	*out = v;
	return true;
}

/* ---- /proc/stat ---- */

int system_parse_cpu_line(const char *line, struct system_cpu_line *out)
{
	/* "cpuN user nice system idle iowait irq softirq steal guest guest_nice"; the aggregate
	 * "cpu " line and the other lines are not per-CPU lines. */
	const char *p;
	size_t len;

	if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
		return 0;
	len = strspn(line + 3, "0123456789");
	if (len >= sizeof(out->cpu) || (line[3 + len] != ' ' && line[3 + len] != '\t'))
		return -EINVAL;
	memcpy(out->cpu, line + 3, len);
	out->cpu[len] = '\0';
	p = line + 3 + len;
	out->nv = 0;
	while (out->nv < 10 && system_parse_u64(&p, &out->v[out->nv]))
		out->nv++;
	/* Kernels since 2.6.33 print all ten; 2.6.11+ at least eight. */
	return out->nv < 4 ? -EINVAL : 1;
}

/* ---- /proc/meminfo ---- */

int system_parse_meminfo_line(char *line, struct system_meminfo_line *out)
{
	/* "Active(anon):    1544 kB", or "HugePages_Total:       0" without a unit. */
	char *colon = strchr(line, ':');
	const char *p;

	if (!colon)
		return 0;
	*colon = '\0';
	p = colon + 1;
	if (!system_parse_u64(&p, &out->value))
		return -EINVAL;
	p = system_skip_blanks(p);
	out->kb = strcmp(p, "kB") == 0;
	if (!out->kb && *p)
		return -EINVAL;
	out->field = line;
	return 1;
}

bool system_meminfo_name(const char *field, bool bytes, char *out, size_t len)
{
	size_t n = 0;
	int w;

	for (const char *p = field; *p; p++) {
		char c = *p;

		if (c == '(') {
			c = '_';
		} else if (c == ')') {
			continue;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '_')) {
			return false;
		}
		if (n + 1 >= len)
			return false;
		out[n++] = c;
	}
	if (n == 0)
		return false;
	out[n] = '\0';
	w = snprintf(out + n, len - n, "%s", bytes ? "_bytes" : "");
	return w >= 0 && (size_t)w < len - n;
}

/* ---- /proc/loadavg ---- */

int system_parse_loadavg(const char *text, double load[3])
{
	/* "0.18 0.11 0.03 1/89 4936": strtod is locale-dependent, but the agent never calls
	 * setlocale(), so the decimal point is '.'. */
	const char *p = text;
	char *end;

	for (int i = 0; i < 3; i++) {
		load[i] = strtod(p, &end);
		if (end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
			return -EINVAL;
		p = end;
	}
	return 0;
}

/* ---- the mount table ---- */

/* The kernel escapes space, tab, newline and backslash in mount table fields as \ooo. */
static void unescape_octal(char *str)
{
	char *w = str;

	for (const char *r = str; *r; ) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/* Split 'line' in place on blanks into at most 'max' fields. Returns the number of fields. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save))
		f[n++] = t;
	return n;
}

static int mount_fill(struct system_mount *out, char *mp, char *device, const char *fstype,
		      const char *options)
{
	unescape_octal(mp);
	unescape_octal(device);
	out->mountpoint = mp;
	out->device = device;
	out->fstype = fstype;
	out->options = options;
	return 1;
}

int system_parse_mountinfo_line(char *line, struct system_mount *out)
{
	/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": the optional fields
	 * end at "-", then type, source, super options. */
	char *f[64];
	size_t n = split_fields(line, f, sizeof(f) / sizeof(f[0])), dash = 6;

	while (dash < n && strcmp(f[dash], "-") != 0)
		dash++;
	if (n < 6 || dash + 2 >= n)
		return -EINVAL;
	return mount_fill(out, f[4], f[dash + 2], f[dash + 1], f[5]);
}

int system_parse_mounts_line(char *line, struct system_mount *out)
{
	/* "/dev/root / ext4 rw,relatime 0 0" */
	char *f[8];
	size_t n = split_fields(line, f, sizeof(f) / sizeof(f[0]));

	if (n < 4)
		return -EINVAL;
	return mount_fill(out, f[1], f[0], f[2], f[3]);
}

/* ---- /proc/diskstats ---- */

int system_parse_diskstats_line(char *line, struct system_disk_line *out)
{
	/* " 254       0 vda 27306 6144 1979874 8798 5325 ..." */
	const char *p = line;
	uint64_t major, minor;
	char *dev;
	size_t len;

	if (!system_parse_u64(&p, &major) || !system_parse_u64(&p, &minor))
		return *system_skip_blanks(line) ? -EINVAL : 0;
	dev = line + (system_skip_blanks(p) - line);
	len = strcspn(dev, " \t");
	if (len == 0 || len >= SYSTEM_LABEL_MAX)
		return -EINVAL;
	p = dev + len;
	out->nv = 0;
	while (out->nv < SYSTEM_DISK_NMETRICS && system_parse_u64(&p, &out->v[out->nv]))
		out->nv++;
	/* Kernels before 4.18 print the first 11 numbers, before 5.5 the first 15. */
	if (out->nv < 11)
		return -EINVAL;
	dev[len] = '\0';
	out->device = dev;
	return 1;
}

/* ---- /proc/net/dev ---- */

int system_parse_netdev_line(char *line, struct system_netdev_line *out)
{
	/* "  eth0: 49492618 1082 0 ...": interface names hold no ':' or blanks (the kernel's
	 * dev_valid_name), so the first ':' ends the name. The two header lines have '|'. */
	char *colon = strchr(line, ':');
	const char *p;
	char *dev;
	size_t nv = 0;

	if (strchr(line, '|'))
		return 0;
	dev = line + (system_skip_blanks(line) - line);
	if (!colon || colon == dev || (size_t)(colon - dev) >= SYSTEM_LABEL_MAX)
		return *dev ? -EINVAL : 0;
	*colon = '\0';
	p = colon + 1;
	while (nv < SYSTEM_NET_NMETRICS && system_parse_u64(&p, &out->v[nv]))
		nv++;
	if (nv < SYSTEM_NET_NMETRICS)
		return -EINVAL;
	out->device = dev;
	return 1;
}

/* ---- /proc/net/tcp and tcp6 ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parse exactly 'n' hex digits at *p. */
static bool parse_hex(const char **p, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		int d = hexval((*p)[i]);

		if (d < 0)
			return false;
		v = v << 4 | (unsigned)d;
	}
	*p += n;
	*out = v;
	return true;
}

/* "0100007F:0CEA" (tcp) or 32 hex digits ":0CEA" (tcp6): the port. */
static bool parse_endpoint(const char **p, size_t addr_digits, unsigned *port)
{
	const char *q = system_skip_blanks(*p);

	for (size_t i = 0; i < addr_digits; i++)
		if (hexval(q[i]) < 0)
			return false;
	q += addr_digits;
	if (*q++ != ':' || !parse_hex(&q, 4, port))
		return false;
	*p = q;
	return true;
}

int system_parse_tcp_line(const char *line, size_t addr_digits, struct system_tcp_line *out)
{
	/* "   0: 0100007F:0CEA 0100007F:C0AE 01 00000000:00000000 00:00000000 ..." */
	const char *p = line;
	uint64_t sl;

	if (!system_parse_u64(&p, &sl) || *p++ != ':')
		return strstr(line, "local_address") || !*system_skip_blanks(line) ? 0 : -EINVAL;
	if (!parse_endpoint(&p, addr_digits, &out->lport) ||
	    !parse_endpoint(&p, addr_digits, &out->rport))
		return -EINVAL;
	p = system_skip_blanks(p);
	if (!parse_hex(&p, 2, &out->state))
		return -EINVAL;
	return 1;
}

/* ---- /proc/PID/stat ---- */

int system_parse_pid_stat(const char *text, struct system_pid_stat *out)
{
	/* "812 (mysqld) S 1 812 812 0 -1 4194560 ... utime stime ... starttime vsize rss ...".
	 * The name may hold blanks and parentheses ("(sd-pam)"), so it ends at the last ')'. */
	const char *open_paren = strchr(text, '('), *close_paren = strrchr(text, ')'), *p;
	size_t len;

	if (!open_paren || !close_paren || close_paren < open_paren)
		return -EINVAL;
	len = (size_t)(close_paren - open_paren - 1);
	if (len >= sizeof(out->comm))
		len = sizeof(out->comm) - 1;
	memcpy(out->comm, open_paren + 1, len);
	out->comm[len] = '\0';

	/* Fields after the name, numbered as in proc(5): 3 is the state. */
	p = close_paren + 1;
	for (int field = 3; field <= 24; field++) {
		uint64_t v = 0;
		const char *tok = system_skip_blanks(p);
		size_t toklen = strcspn(tok, " \n");

		if (toklen == 0)
			return -EINVAL;
		if (field == 14 || field == 15 || field == 22 || field == 23 || field == 24) {
			const char *q = tok;

			if (!system_parse_u64(&q, &v) || q != tok + toklen)
				return -EINVAL;
		}
		switch (field) {
		case 14: out->utime = v; break;
		case 15: out->stime = v; break;
		case 22: out->starttime = v; break;
		case 23: out->vsize = v; break;
		case 24: out->rss = v; break;
		default: break;
		}
		p = tok + toklen;
	}
	return 0;
}
