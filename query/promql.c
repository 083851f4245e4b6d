/* Names shared by the parser, the engine and the API: value types and error types. */
#include "query/promql.h"

const char *promql_type_name(enum promql_type t)
{
	switch (t) {
	case PROMQL_TYPE_SCALAR:
		return "scalar";
	case PROMQL_TYPE_VECTOR:
		return "vector";
	case PROMQL_TYPE_MATRIX:
		return "matrix";
	case PROMQL_TYPE_STRING:
		return "string";
	case PROMQL_TYPE_NONE:
		break;
	}
	return "none";
}

/* Prometheus's web/api/v1 maps engine errors the same way: too many samples is an ordinary
 * execution error (422), a storage failure is internal (500). */
const char *promql_error_type(int code)
{
	switch (code) {
	case PROMQL_E_BAD_DATA:
		return "bad_data";
	case PROMQL_E_EXECUTION:
	case PROMQL_E_TOO_MANY_SAMPLES:
		return "execution";
	case PROMQL_E_TIMEOUT:
		return "timeout";
	case PROMQL_E_CANCELED:
		return "canceled";
	default:
		return "internal";
	}
}
