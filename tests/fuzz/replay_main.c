/*
 * Replays a fuzz corpus through a libFuzzer entry point, so every fuzz target runs as an ordinary
 * ctest under gcc and the sanitizers: `fuzz_X DIR|FILE...`. With clang, the same target source
 * links against libFuzzer instead (cmake -DDW_LIBFUZZER=ON) for real fuzzing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *data;
	FILE *f;
	size_t n;

	f = fopen(path, "rb");
	if (!f || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	data = malloc((size_t)st.st_size + 1);
	n = fread(data, 1, (size_t)st.st_size, f);
	fclose(f);
	LLVMFuzzerTestOneInput(data, n);
	/* Every prefix too: truncated input is the most common malformed input in practice. */
	for (size_t cut = 0; cut < n; cut += 1 + n / 64)
		LLVMFuzzerTestOneInput(data, cut);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *dir;
		struct dirent *de;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			dir = opendir(argv[i]);
			while (dir && (de = readdir(dir))) {
				char path[4096];

				if (de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
				failed += replay_file(path) != 0;
				files++;
			}
			if (dir)
				closedir(dir);
		} else {
			failed += replay_file(argv[i]) != 0;
			files++;
		}
	}
	printf("replayed %d inputs, %d unreadable\n", files, failed);
	/* An empty corpus would make this test pass vacuously. */
	return files == 0 || failed ? 1 : 0;
}
