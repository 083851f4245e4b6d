#ifndef DW_QUERY_API_INT_H
#define DW_QUERY_API_INT_H

/* Private to query/api*.c and tests: the JSON pieces the handlers share (api_json.c). */

#include <stddef.h>

#include "core/buf.h"
#include "core/model.h"

/* Append {"name":"value",...} for 'n' labels in the order given. 0 or -E2BIG. */
int promql_api_put_labels(struct buf *out, const struct label *l, size_t n);
/* Append {"status":"success","data":["a","b"]} for 'n' strings. 0 or -E2BIG. */
int promql_api_put_string_list(struct buf *out, char **v, size_t n);

#endif
