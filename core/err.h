#ifndef DW_CORE_ERR_H
#define DW_CORE_ERR_H

/*
 * Error codes. An action function returns 0, a negative errno, or a project code. Each module owns
 * one range of ERR_RANGE codes just below its base, declared here so ranges can never overlap,
 * and err_str() names any code of any module, and any errno, as mdb_strerror() does for LMDB.
 *
 * The code that handles an error logs it (with err_str()); code that passes an error up returns
 * it without logging.
 */

#define ERR_RANGE 1000

enum {
	ERR_CORE_BASE = -10000,
	ERR_STORE_BASE = -20000,
	ERR_COLLECTOR_BASE = -30000,
	ERR_QUERY_BASE = -40000,
	ERR_EXPORTERS_BASE = -50000,
};

/* store */
enum {
	STORE_E_FORMAT = ERR_STORE_BASE - 1,       /* a newer or foreign on-disk format: refused */
	STORE_E_CORRUPT = ERR_STORE_BASE - 2,      /* a record that does not decode */
	STORE_E_OUT_OF_ORDER = ERR_STORE_BASE - 3, /* sample at or before the series' last timestamp */
	STORE_E_LMDB = ERR_STORE_BASE - 4,         /* another LMDB error (store_last_lmdb_error()) */
};

/* query (PromQL; each maps to one Prometheus API error type: promql_error_type()) */
enum {
	PROMQL_E_BAD_DATA = ERR_QUERY_BASE - 1,         /* parse error or bad parameter */
	PROMQL_E_EXECUTION = ERR_QUERY_BASE - 2,        /* error while evaluating */
	PROMQL_E_TOO_MANY_SAMPLES = ERR_QUERY_BASE - 3, /* over the query's sample limit */
	PROMQL_E_TIMEOUT = ERR_QUERY_BASE - 4,          /* past the query's deadline */
	PROMQL_E_CANCELED = ERR_QUERY_BASE - 5,         /* the caller canceled the query */
	PROMQL_E_SOURCE = ERR_QUERY_BASE - 6,           /* the series source failed */
};

/*
 * Text for 0 ("success"), any negative errno (strerrordesc_np: a constant string, safe from any
 * thread unlike strerror()), or any project code above. An unknown code gives "unknown error".
 * Static string; any thread.
 */
const char *err_str(int code);

#endif
