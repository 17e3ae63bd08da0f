/*
 * The main of a fuzz target built without libFuzzer (`make test`): feeds
 * the target every regular file named on the command line, and every
 * regular file below each directory named, one at a time.  Exits 0 when
 * the target returned for all of them (it aborts on a failed property),
 * and prints how many inputs it ran.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static size_t ran;

static int run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, alloc = 0, n;

	if (!fp) {
		perror(path);
		return -1;
	}
	do {
		if (alloc - len < 65536) {
			alloc = alloc ? 2 * alloc : 65536;
			buf = realloc(buf, alloc);
			if (!buf)
				abort();
		}
		n = fread(buf + len, 1, alloc - len, fp);
		len += n;
	} while (n);
	fclose(fp);
	/* A copy of exactly the input's size, as libFuzzer gives it, so
	 * that ASan sees any read past its end. */
	{
		uint8_t *data = malloc(len ? len : 1);

		memcpy(data, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(data, len);
		free(data);
	}
	ran++;
	return 0;
}

static int run_path(const char *path)
{
	struct stat st;
	struct dirent **names;
	int n, i, ret = 0;

	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? run_file(path) : 0;
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (i = 0; i < n; i++) {
		char *sub;

		if (names[i]->d_name[0] != '.' &&
		    asprintf(&sub, "%s/%s", path, names[i]->d_name) >= 0) {
			ret |= run_path(sub);
			free(sub);
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	int ret = 0;

	for (int i = 1; i < argc; i++)
		ret |= run_path(argv[i]);
	printf("%zu inputs\n", ran);
	return ret ? 1 : 0;
}
