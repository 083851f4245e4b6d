/*
 * HTTP basic authentication against bcrypt hashes, as Prometheus's web config does it.
 *
 * bcrypt is slow on purpose (~50 ms at cost 10) and Prometheus sends the same credentials on
 * every scrape, so successful checks are cached (as exporter-toolkit does). The cache never holds
 * a password: it holds a SHA-256-crypt digest of it under a salt chosen at start, which costs
 * well under a millisecond.
 *
 * Checks that need a bcrypt (wrong passwords, unknown users, a first login) are rate limited: a
 * flood of wrong passwords would otherwise cost one bcrypt each and take the CPU from the
 * collector. A generic cell-rate limiter allows AUTH_BCRYPT_BURST at once and AUTH_BCRYPT_PER_S
 * per second after that (at cost 10, about 10 % of one core); past it the answer is 401 at once,
 * without a bcrypt, for known and unknown users alike (so it tells nothing). Credentials already
 * in the cache (Prometheus's scrapes, Grafana) never wait for the limiter.
 */
#include "exporters/http_int.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"

#define AUTH_CACHE_SLOTS 64
#define AUTH_MAX_CREDENTIALS 1024 /* decoded "user:password" */
#define DIGEST_MAX 128
#define BCRYPT_LEN 60
#define AUTH_BCRYPT_BURST 10
#define AUTH_BCRYPT_PER_S 2
#define AUTH_BCRYPT_INTERVAL_NS (1000000000LL / AUTH_BCRYPT_PER_S)

struct auth_user {
	char *name;
	char *hash; /* "$2b$..." */
};

struct auth_cache_entry {
	size_t user;             /* index into users; SIZE_MAX: empty */
	char digest[DIGEST_MAX]; /* crypt output of the password under 'salt' */
};

struct http_auth {
	struct auth_user *users;
	size_t nusers;
	char salt[64]; /* "$5$rounds=1000$<16 random chars>$" */

	pthread_mutex_t lock; /* protects cache, next and bcrypt_tat_ns */
	struct auth_cache_entry cache[AUTH_CACHE_SLOTS];
	size_t next;          /* round-robin replacement */
	int64_t bcrypt_tat_ns;/* the limiter's theoretical arrival time of the next bcrypt */
};

static bool is_bcrypt_hash(const char *h)
{
	return strlen(h) == BCRYPT_LEN && h[0] == '$' && h[1] == '2' &&
	       (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') && h[3] == '$';
}

int http_auth_new(const struct config_user *users, size_t n, struct http_auth **out,
		  char *err, size_t errlen)
{
	static const char alphabet[] =
		"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[16];
	struct http_auth *auth;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!users[i].name || !users[i].name[0] || strchr(users[i].name, ':')) {
			snprintf(err, errlen, "basic_auth_users: invalid user name \"%s\"",
				 users[i].name ? users[i].name : "");
			return -EINVAL;
		}
		if (!users[i].bcrypt_hash || !is_bcrypt_hash(users[i].bcrypt_hash)) {
			snprintf(err, errlen,
				 "basic_auth_users: %s: expected a bcrypt hash ($2a$, $2b$ or $2y$, "
				 "60 characters)", users[i].name);
			return -EINVAL;
		}
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(err, errlen, "basic_auth_users: cannot read random bytes: %s",
			 err_str(-errno));
		return -EIO;
	}

	auth = xcalloc(1, sizeof(*auth));
	auth->users = xcalloc(n, sizeof(*auth->users));
	auth->nusers = n;
	for (i = 0; i < n; i++) {
		auth->users[i].name = xstrdup(users[i].name);
		auth->users[i].hash = xstrdup(users[i].bcrypt_hash);
	}
	memcpy(auth->salt, "$5$rounds=1000$", 15);
	for (i = 0; i < sizeof(rnd); i++)
		auth->salt[15 + i] = alphabet[rnd[i] % 64];
	auth->salt[15 + sizeof(rnd)] = '$';
	auth->salt[16 + sizeof(rnd)] = '\0';
	for (i = 0; i < AUTH_CACHE_SLOTS; i++)
		auth->cache[i].user = SIZE_MAX;
	pthread_mutex_init(&auth->lock, NULL);
	*out = auth;
	return 0;
}

void http_auth_free(struct http_auth *auth)
{
	if (!auth)
		return;
	for (size_t i = 0; i < auth->nusers; i++) {
		free(auth->users[i].name);
		free(auth->users[i].hash);
	}
	free(auth->users);
	pthread_mutex_destroy(&auth->lock);
	explicit_bzero(auth->cache, sizeof(auth->cache));
	free(auth);
}

/* Compare two NUL-terminated strings in time that depends only on their lengths. */
static bool const_time_equal(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	unsigned char diff = na != nb;

	for (size_t i = 0; i < na && i < nb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode standard base64 (padding optional) into 'out' (NUL-terminated). Returns the length or
 * -1 for invalid input or an output longer than 'outlen' - 1. */
static long b64_decode(const char *s, char *out, size_t outlen)
{
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	for (; *s && *s != '='; s++) {
		int v = b64_value((unsigned char)*s);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= outlen)
				return -1;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	while (*s == '=')
		s++;
	if (*s)
		return -1;
	out[n] = '\0';
	return (long)n;
}

/* crypt_r into 'out'; false when libxcrypt refuses (it returns NULL or a "*" string). */
static bool do_crypt(const char *phrase, const char *setting, char *out, size_t outlen)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *r = crypt_r(phrase, setting, cd);
	bool ok = r && r[0] != '*' && strlen(r) < outlen;

	if (ok)
		strcpy(out, r);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/*
 * May a bcrypt run now? The cell-rate algorithm: each bcrypt moves the theoretical arrival time
 * one interval on; one is allowed while that time is at most a burst's worth ahead of now.
 * The limiter needs the time where the request is checked, and this function's callers pass
 * none, so it reads the monotonic clock itself (as the store does for its lock deadline).
 */
static bool bcrypt_allowed(struct http_auth *auth)
{
	struct timespec ts;
	int64_t now, tat;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	pthread_mutex_lock(&auth->lock);
	tat = auth->bcrypt_tat_ns > now ? auth->bcrypt_tat_ns : now;
	ok = tat - now <= (AUTH_BCRYPT_BURST - 1) * AUTH_BCRYPT_INTERVAL_NS;
	if (ok)
		auth->bcrypt_tat_ns = tat + AUTH_BCRYPT_INTERVAL_NS;
	pthread_mutex_unlock(&auth->lock);
	return ok;
}

bool http_auth_check(struct http_auth *auth, const char *authorization)
{
	char cred[AUTH_MAX_CREDENTIALS], digest[DIGEST_MAX], hashed[DIGEST_MAX];
	const char *user_name, *password, *hash;
	size_t user = SIZE_MAX, i;
	bool ok = false;
	char *colon;

	if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
		return false;
	authorization += 6;
	while (*authorization == ' ')
		authorization++;
	if (b64_decode(authorization, cred, sizeof(cred)) < 0)
		return false;
	colon = strchr(cred, ':');
	if (!colon)
		goto out;
	*colon = '\0';
	user_name = cred;
	password = colon + 1;

	for (i = 0; i < auth->nusers; i++)
		if (const_time_equal(auth->users[i].name, user_name))
			user = i;
	if (!do_crypt(password, auth->salt, digest, sizeof(digest)))
		goto out;

	if (user != SIZE_MAX) {
		pthread_mutex_lock(&auth->lock);
		for (i = 0; i < AUTH_CACHE_SLOTS; i++)
			if (auth->cache[i].user == user &&
			    const_time_equal(auth->cache[i].digest, digest))
				ok = true;
		pthread_mutex_unlock(&auth->lock);
		if (ok)
			goto out;
	}

	/* An unknown user still costs one bcrypt (against a configured hash, so of the same
	 * cost): answering faster would tell which user names exist. */
	if (!bcrypt_allowed(auth))
		goto out;
	hash = auth->users[user != SIZE_MAX ? user : 0].hash;
	if (!do_crypt(password, hash, hashed, sizeof(hashed)))
		goto out;
	ok = const_time_equal(hashed, hash) && user != SIZE_MAX;
	if (ok) {
		pthread_mutex_lock(&auth->lock);
		auth->cache[auth->next].user = user;
		strcpy(auth->cache[auth->next].digest, digest);
		auth->next = (auth->next + 1) % AUTH_CACHE_SLOTS;
		pthread_mutex_unlock(&auth->lock);
	}
	explicit_bzero(hashed, sizeof(hashed));
out:
	explicit_bzero(cred, sizeof(cred));
	explicit_bzero(digest, sizeof(digest));
	return ok;
}
