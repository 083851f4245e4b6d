/* Fuzz target: the YAML configuration parser. Any input must parse or fail with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char err[512];
	int rc;

	err[0] = '\0';
	rc = config_parse("fuzz.yml", (const char *)data, size, &cfg, err, sizeof(err));
	if (rc == 0) {
		config_free(cfg);
	} else if (strncmp(err, "fuzz.yml", 8) != 0) {
		/* Every error names the file: anything else is a bug worth crashing on. */
		abort();
	}
	return 0;
}
