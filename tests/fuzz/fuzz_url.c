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

/*
 * err's message with converge's own wording blanked out: a password that
 * is a piece of it ("ssw" in "password") shows nothing of the input.
 */
static char *input_part(const char *msg)
{
	static const char *const wording[] = {
		"missing file path in database URL '",
		"': SQLite 'file:' URIs are not supported; use sqlite:PATH or a plain path",
		"': an in-memory SQLite database ends with converge; give a database file",
		"empty database URL", "invalid database URL '",
		"': a '@' or '/' in the user name or password must be percent-encoded (%40, %2F)",
		"': libpq refuses it (its reason quotes the password, so it is not shown)",
		"unrecognised database URL '",
		"' (expected sqlite:PATH, a .db or .sqlite file, postgres://... or key=value)",
		"database URL '",
	};
	char *copy = strdup(msg), *p;

	for (size_t i = 0; i < sizeof(wording) / sizeof(*wording); i++)
		while ((p = strstr(copy, wording[i])))
			memset(p, '\001', strlen(wording[i]));
	return copy;
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
		char *said = err.msg ? input_part(err.msg) : NULL;

		fuzz_check(!said || !strstr(said, pw),
			   "no password in a URL error", data, size);
		free(said);
	}
	fuzz_check(ret || url.display, "a parsed URL can be shown", data, size);
	free(pw);
	free(redacted);
	cv_error_release(&err);
	cv_url_release(&url);
	free(text);
	return 0;
}
