/*
 * Fuzz target: the manifest loader (libyaml's parser, the YAML tree, every
 * kind's load and validate, the diagnostics with their carets).
 *
 * Checks, beyond "no crash, no leak, no undefined behaviour": a load that
 * fails has reported at least one error (converge never refuses a manifest
 * without saying why), a load that succeeds has reported none, and every
 * error placed on a line of the file points inside it.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "converge/manifest.h"
#include "fuzz.h"

static FILE *devnull;

/* Lines as YAML counts them: CR LF, CR, LF, NEL, LS and PS break. */
static int line_count(const uint8_t *data, size_t size)
{
	int n = 1;

	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
			i++;
		else if (data[i] == 0xc2 && i + 1 < size && data[i + 1] == 0x85)
			i++;
		else if (data[i] == 0xe2 && i + 2 < size && data[i + 1] == 0x80 &&
			 (data[i + 2] == 0xa8 || data[i + 2] == 0xa9))
			i += 2;
		else if (data[i] != '\r' && data[i] != '\n')
			continue;
		n++;
	}
	return n;
}

/*
 * schema.migrations names a directory that the loader walks: inputs that
 * could name one outside the scratch directory (an absolute path, "..",
 * a variable, an escape) are left out, or a fuzzer would read the disk.
 */
static bool walks_outside(const uint8_t *data, size_t size)
{
	if (!memmem(data, size, "migrations", 10))
		return false;
	if (memmem(data, size, "..", 2) || memmem(data, size, "${", 2) ||
	    memchr(data, '\\', size))
		return true;
	for (size_t i = 0; i < size; i++)
		if (data[i] == '/' &&
		    (!i || !(isalnum(data[i - 1]) || data[i - 1] == '_' ||
			     data[i - 1] == '-' || data[i - 1] == '.')))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cv_manifest m;
	struct cv_diags diags = CV_DIAGS_INIT;
	const char *path;
	int ret;

	if (walks_outside(data, size))
		return -1;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	path = fuzz_scratch("manifest.yaml", data, size);
	cv_manifest_init(&m);
	ret = cv_manifest_load(&m, &path, 1, &diags);
	fuzz_check(!ret == !diags.errors,
		   "a load fails exactly when it reports an error", data, size);
	for (size_t i = 0; i < diags.nr; i++) {
		const struct cv_mark *k = &diags.items[i].mark;

		/* Line 0 places an error on the whole file. */
		if (!k->file || strcmp(k->file, path) != 0 || !k->line)
			continue;
		fuzz_check(k->col >= 1 &&
			   k->line <= (unsigned)line_count(data, size),
			   "an error's line is in the file", data, size);
	}
	cv_diags_print(&diags, devnull);
	cv_diags_release(&diags);
	cv_manifest_release(&m);
	return 0;
}
