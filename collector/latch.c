/* The failure latch: see io_int.h. */
#include "collector/io_int.h"

bool latch_fail(struct latch *l)
{
	bool first = !l->failing;

	l->failing = true;
	return first;
}

bool latch_ok(struct latch *l)
{
	bool recovered = l->failing;

	l->failing = false;
	return recovered;
}
