/*
 * Fuzz target: the reader of saved plans (`apply FILE`), and the writer.
 *
 * A saved plan comes from a review, a CI artefact, a hand edit: anything.
 * Checks: a refused file has an error message; a file that is read is
 * written back (libyaml's emitter), that text is read again, and writing
 * it once more gives the same text, so what `plan -o` writes is always
 * what `apply FILE` reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "converge/plan.h"
#include "fuzz.h"

/* Writes `plan` into a malloc'd buffer; NULL when the writer refused. */
static char *write_plan(const struct cv_plan *plan, size_t *len)
{
	struct cv_error err = CV_ERROR_INIT;
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);
	int ret;

	if (!fp)
		abort();
	ret = cv_plan_write_yaml(plan, fp, &err);
	fclose(fp);
	cv_error_release(&err);
	if (ret) {
		free(buf);
		return NULL;
	}
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cv_plan plan, again;
	struct cv_error err = CV_ERROR_INIT;
	char *first = NULL, *second = NULL;
	size_t n1 = 0, n2 = 0;
	const char *path = fuzz_scratch("plan.yaml", data, size);
	int ret = cv_plan_read_yaml(&plan, path, &err);

	fuzz_check(!ret || (err.msg && *err.msg),
		   "a refused plan says why", data, size);
	cv_error_release(&err);
	if (ret) {
		cv_plan_release(&plan);
		return 0;
	}
	first = write_plan(&plan, &n1);
	cv_plan_release(&plan);
	if (!first)
		return 0;
	path = fuzz_scratch("again.yaml", (const uint8_t *)first, n1);
	ret = cv_plan_read_yaml(&again, path, &err);
	if (ret)
		fprintf(stderr, "fuzz: %s\n", err.msg ? err.msg : "?");
	cv_error_release(&err);
	fuzz_check(ret == 0, "a plan converge wrote reads back", data, size);
	second = write_plan(&again, &n2);
	cv_plan_release(&again);
	fuzz_check(second && n1 == n2 && memcmp(first, second, n1) == 0,
		   "writing a plan read back gives the same text", data, size);
	free(first);
	free(second);
	return 0;
}
