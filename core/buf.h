#ifndef DW_CORE_BUF_H
#define DW_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A growable byte buffer with a hard maximum size (curl's dynbuf idea): every buffer whose size
 * input controls gets a cap, and crossing it is an error the caller answers, never a crash.
 * The contents are always NUL-terminated one past 'len' so text can be used as a C string.
 */
struct buf {
	char *data;    /* owned; NULL until the first append */
	size_t len;    /* bytes used, excluding the terminating NUL */
	size_t cap;    /* bytes allocated */
	size_t max;    /* hard limit on len; 0 means BUF_DEFAULT_MAX */
};

#define BUF_DEFAULT_MAX ((size_t)64 << 20)

/* Initialise an empty buffer that may grow to 'max' bytes (0: BUF_DEFAULT_MAX). */
void buf_init(struct buf *b, size_t max);
/* Free the contents; the buffer may be reused after buf_init. */
void buf_release(struct buf *b);
/* Forget the contents but keep the allocation. */
void buf_reset(struct buf *b);

/* Make room for 'extra' more bytes in one allocation, so appending that much does not move
 * the contents again (a large answer built piece by piece). Returns 0, or -E2BIG when that
 * would exceed b->max (nothing changes). */
int buf_reserve(struct buf *b, size_t extra);

/* Append bytes. Returns 0, or -E2BIG when the result would exceed b->max (nothing appended). */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * Append 's' as a JSON string (RFC 8259): quoted, '"' and '\\' escaped, \n \r \t by name and
 * other control characters as \u00XX; other bytes are copied (the caller passes valid UTF-8).
 * Returns 0 or -E2BIG at the buffer's cap.
 */
int buf_put_json_string(struct buf *b, const char *s);

/*
 * Append 'len' bytes of untrusted text (an input line, a configuration value, a query) for an
 * error message, so it can neither move the terminal nor hide what it holds: control bytes
 * (0x00-0x1f, 0x7f, and the C1 controls U+0080-U+009F) and every byte that is not valid UTF-8
 * become \xNN; everything else, valid UTF-8 included, is copied as written, so a name or a
 * regex reads as the user typed it (Prometheus's messages print a regex's backslashes as they
 * are; the rare input that holds the text "\x01" itself reads the same as the byte). Returns 0
 * or -E2BIG at the buffer's cap (nothing appended then). Pure; any thread.
 */
int buf_put_escaped(struct buf *b, const void *s, size_t len);

/*
 * The same into a fixed array, for messages built with snprintf: 'out' (size > 4 bytes) gets the
 * escaped text of the first 'len' bytes of 's', cut before an escape or character that does not
 * fit, then "..." when anything was left out. Always NUL-terminated. Returns 'out'. Pure.
 */
char *buf_escape(char *out, size_t size, const void *s, size_t len);

/* Take the contents (caller frees with free()); the buffer is left empty. Never NULL. */
char *buf_detach(struct buf *b, size_t *len);

/* Write the decimal digits of 'u' so that they end just before 'end' (no NUL; at most 20 bytes
 * before it) and return where they start. Two digits per division: answers format tens of
 * thousands of numbers. Any thread. */
char *fmt_u64_back(char *end, uint64_t u);

/*
 * Format a sample value the way Prometheus does: the shortest text that reads back to the same
 * double, "+Inf", "-Inf", "NaN". 'out' must hold FMT_DOUBLE_MAX bytes. Returns 'out'.
 */
#define FMT_DOUBLE_MAX 32
char *fmt_double(char out[FMT_DOUBLE_MAX], double v);
/* The same, returning the text's length (without the NUL) for callers that append it. */
size_t fmt_double_n(char out[FMT_DOUBLE_MAX], double v);

/* The bits of a double and back, for exact comparisons, atomics and codecs (NaN payloads and
 * -0 survive, unlike with ==). */
uint64_t double_bits(double v);
double bits_double(uint64_t bits);

/* Allocation that aborts with a message on out of memory (STYLE: OOM aborts). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
