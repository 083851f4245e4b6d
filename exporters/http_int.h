#ifndef DW_EXPORTERS_HTTP_INT_H
#define DW_EXPORTERS_HTTP_INT_H

/* Private to exporters/: basic authentication for the HTTP server. */

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

struct http_auth;

/*
 * Users 'users[0..n)' (name -> bcrypt hash, copied). Returns 0 and *out, or -EINVAL with 'err'
 * naming the user whose hash is not a bcrypt hash ($2a$, $2b$, $2y$). n must be > 0.
 */
int http_auth_new(const struct config_user *users, size_t n, struct http_auth **out,
		  char *err, size_t errlen);
/* NULL is a no-op. */
void http_auth_free(struct http_auth *auth);

/*
 * True when 'authorization' (the Authorization header, may be NULL) carries Basic credentials
 * of a configured user with the right password. The first success for a (user, password) costs
 * one bcrypt; later ones hit a cache keyed by the user and a salted SHA-256-crypt digest of the
 * password, compared in constant time. Checks that need a bcrypt are rate limited (a burst of 10,
 * then 2 per second, for all users together): past that they fail at once without one, so a
 * flood of wrong passwords cannot take the CPU. Any thread.
 */
bool http_auth_check(struct http_auth *auth, const char *authorization);

#endif
