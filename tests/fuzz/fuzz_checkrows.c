/*
 * Fuzz target: the comparison of a check's rows with its `expect`
 * (cv_check_eval), where `expect` is the canonical text of a saved plan's
 * check step (`after`), which `apply FILE` takes as it is written: a
 * review artefact anyone may have edited.
 *
 * The first byte picks one of a few fixed queries (run on an in-memory
 * SQLite database: the rows are real, the SQL is not the input), the rest
 * is the `expect` text.  Checks, beyond "no crash, no read past the
 * text": a comparison either passes or fails as a check fails (CV_ECHECK,
 * "check 'NAME' failed: expected …, got …"), and the canonical rows of
 * each query always pass against themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "converge/backend.h"
#include "converge/kind.h"
#include "fuzz.h"

static const struct {
	const char *sql;
	const char *canon;
} queries[] = {
	{ "SELECT 1", "1:1;" },
	{ "SELECT 0", "1:0;" },
	{ "SELECT NULL", "~;" },
	{ "SELECT 1 WHERE 0", "" },
	{ "SELECT 'a', NULL, 2.5", "1:a~3:2.5;" },
	{ "SELECT 1 UNION ALL SELECT 2", "1:1;1:2;" },
	{ "SELECT 'x;y', '3:abc', '~', ''", "3:x;y5:3:abc1:~0:;" },
	{ "SELECT -0.0, 1e20, '007', 'true'", "3:0.07:1.0e+203:0074:true;" },
};

static struct cv_db *db;

static struct cv_db *open_memory(void)
{
	static char memory[] = ":memory:";
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *out = NULL;

	url.backend = &cv_sqlite_backend;
	url.type = "sqlite";
	url.path = memory;
	if (cv_sqlite_backend.open(&out, &url, CV_DB_CREATE, 0, &err)) {
		fprintf(stderr, "fuzz: %s\n", err.msg ? err.msg : "?");
		abort();
	}
	cv_error_release(&err);
	return out;
}

/* Runs query q against `expect`; returns cv_check_eval's result. */
static int eval(size_t q, const char *expect, const uint8_t *data,
		size_t size)
{
	struct cv_ctx ctx;
	struct cv_error err = CV_ERROR_INIT;
	int ret;

	memset(&ctx, 0, sizeof(ctx));
	ctx.db = db;
	ctx.be = &cv_sqlite_backend;
	ret = cv_check_eval(&ctx, "fz", queries[q].sql, expect, &err);
	fuzz_check(!ret || (ret == CV_ECHECK && err.msg &&
			    strncmp(err.msg, "check 'fz' failed: expected ",
				    28) == 0),
		   "a comparison passes, or fails as a check", data, size);
	cv_error_release(&err);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t q;
	char *expect;

	if (size < 1 || size > 4096)
		return -1;
	if (!db)
		db = open_memory();
	q = data[0] % CV_ARRAY_SIZE(queries);
	expect = cv_strndup((const char *)data + 1, size - 1);
	eval(q, expect, data, size);
	fuzz_check(eval(q, queries[q].canon, data, size) == 0,
		   "a query's own rows pass", data, size);
	free(expect);
	return 0;
}
