/*
 * deploywatch: watches a Laravel + MySQL host after a deploy and says whether to roll back.
 * This file only dispatches to the commands; see cli/cli.h.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/version.h"

static const struct command commands[] = {
	{ "run", "the agent: follow the logs, sample the host, store, serve /metrics", cmd_run },
	{ "check-config", "validate a configuration and print what would be watched", cmd_check_config },
	{ "import", "backfill Prometheus text / OpenMetrics samples into the store", cmd_import },
	{ "dump", "print stored samples as promtool tsdb dump does", cmd_dump },
	{ "query", "evaluate a PromQL expression on the store", cmd_query },
	{ "replay", "backfill log files (plain or .gz) at their log time", cmd_replay },
	{ "errors", "exception fingerprints: counts, first and last seen, a sample", cmd_errors },
	{ "mark", "record a deploy marker (name, time, note) for judge", cmd_mark },
	{ "judge", "the deploy verdict: PASS, FAIL or INCONCLUSIVE, with the reasons", cmd_judge },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "Usage: deploywatch COMMAND [options]\n"
		     "\n"
		     "Watches a Laravel + MySQL host after a deploy: follows its logs and samples the\n"
		     "host, keeps compact time series, serves them to Prometheus, and judges deploys.\n"
		     "\n"
		     "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n"
		     "Options:\n"
		     "  -h, --help     show this help\n"
		     "  -V, --version  show the version\n"
		     "\n"
		     "'deploywatch COMMAND --help' describes a command's options.\n");
}

/* Edit distance, to suggest the command a typo meant. Names are short: a small table suffices. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], prev, tmp;

	if (la >= 63 || lb >= 63)
		return 64;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

int main(int argc, char **argv)
{
	const char *name;
	const struct command *best = NULL;
	size_t best_distance = 3;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	name = argv[1];
	if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		printf("deploywatch %s\n", DW_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);

	if (name[0] == '-') {
		fprintf(stderr, "deploywatch: unknown option '%s' before the command\n"
				"Try 'deploywatch --help'.\n", name);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t d = edit_distance(name, commands[i].name);

		if (d < best_distance) {
			best_distance = d;
			best = &commands[i];
		}
	}
	fprintf(stderr, "deploywatch: unknown command '%s'", name);
	if (best)
		fprintf(stderr, "; did you mean '%s'?", best->name);
	fprintf(stderr, "\nTry 'deploywatch --help' for the list of commands.\n");
	return EXIT_USAGE;
}
