/* Error codes and their names: see err.h. */
#include "core/err.h"

#include <string.h>

static const struct {
	int code;
	const char *text;
} err_table[] = {
	{ STORE_E_FORMAT, "unsupported store format (newer or not a deploywatch store)" },
	{ STORE_E_CORRUPT, "corrupt store record" },
	{ STORE_E_OUT_OF_ORDER, "sample out of order" },
	{ STORE_E_LMDB, "LMDB error" },
	{ PROMQL_E_BAD_DATA, "bad query or parameter" },
	{ PROMQL_E_EXECUTION, "query execution failed" },
	{ PROMQL_E_TOO_MANY_SAMPLES, "query would load too many samples" },
	{ PROMQL_E_TIMEOUT, "query timed out" },
	{ PROMQL_E_CANCELED, "query canceled" },
	{ PROMQL_E_SOURCE, "query source failed" },
};

const char *err_str(int code)
{
	if (code == 0)
		return "success";
	if (code < 0 && code > -ERR_RANGE) {
		const char *s = strerrordesc_np(-code);

		return s ? s : "unknown error";
	}
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == code)
			return err_table[i].text;
	return "unknown error";
}
