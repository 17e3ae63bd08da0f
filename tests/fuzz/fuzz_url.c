/*
 * Fuzz target: database URLs and libpq key=value strings (--db,
 * CONVERGE_DATABASE_URL).
 *
 * Checks: a password never survives into what may be shown.  When libpq
 * finds a password in the string and that password occurs once in the
 * input (so that seeing it elsewhere would not be a false alarm), neither
 * the URL's display form nor cv_url_redact's output contains it; the
 * error message of a refused string does not either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "converge/backend.h"
#include "../../src/backend/pq.h"
#include "fuzz.h"

/* libpq's reading of the password in `text`, or NULL; malloc'd. */
static char *password_of(const char *text)
{
	PQconninfoOption *opts, *o;
	char *pw = NULL;

	if (cv_pq_load(NULL))
		return NULL;
	opts = PQconninfoParse(text, NULL);
	for (o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val)
			pw = strdup(o->val);
	if (opts)
		PQconninfoFree(opts);
	return pw;
}

static int occurs_once(const char *hay, const char *needle)
{
	const char *p = strstr(hay, needle);

	return p && !strstr(p + 1, needle);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	char *text, *pw, *redacted;
	int ret;

	if (size > 4096)
		return -1;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	ret = cv_url_parse(&url, text, &err);
	redacted = cv_url_redact(text);
	pw = password_of(text);
	if (pw && strlen(pw) >= 3 && occurs_once(text, pw)) {
		fuzz_check(!url.display || !strstr(url.display, pw),
			   "no password in a URL's display form", data, size);
		fuzz_check(!redacted || !strstr(redacted, pw),
			   "no password in a redacted URL", data, size);
		fuzz_check(!err.msg || !strstr(err.msg, pw),
			   "no password in a URL error", data, size);
	}
	fuzz_check(ret || url.display, "a parsed URL can be shown", data, size);
	free(pw);
	free(redacted);
	cv_error_release(&err);
	cv_url_release(&url);
	free(text);
	return 0;
}
