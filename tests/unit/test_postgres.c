/*
 * The PostgreSQL backend against the server tests/pg/harness.sh starts
 * (tests/run.sh passes its URL in CONVERGE_TEST_PG_URL): values and names
 * that try to break quoting, the statement cache, streaming large results,
 * the advisory lock, read-only connections, snapshots with pg_dump and
 * restores, and passwords that must never show in a message or on a
 * command line.
 *
 * Each test gets a database of its own, made from template0 and dropped
 * afterwards.  Without CONVERGE_TEST_PG_URL every test fails, saying so:
 * a PostgreSQL test that cannot run is not a passing one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "converge/backend.h"

static const struct cv_backend *be = &cv_postgres_backend;

/*
 * Members of this role must give a password (tests/pg/harness.sh writes
 * pg_hba.conf so); each test that needs one makes a member of its own.
 */
#define PW_GROUP "converge_pw_required"
#define PW_GOOD "S3cret-correct-h0rse"
#define PW_BAD "Wr0ng-battery-staple"

struct fixture {
	char *base_url;  /* the harness database, CONVERGE_TEST_PG_URL */
	char *dbname;    /* this test's own database */
	char *url;       /* base_url pointing at dbname */
	char dir[64];    /* a temporary directory for snapshots */
	struct cv_db *db;
	char *pw_role;   /* a role that needs a password, made by the test */
};

static unsigned long counter;

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* base with its database replaced: a later dbname wins in libpq. */
static char *url_for(const char *base, const char *extra_key,
		     const char *extra_val)
{
	if (cv_starts_with(base, "postgres://") ||
	    cv_starts_with(base, "postgresql://"))
		return cv_asprintf("%s%c%s=%s", base,
				   strchr(base, '?') ? '&' : '?', extra_key,
				   extra_val);
	return cv_asprintf("%s %s='%s'", base, extra_key, extra_val);
}

static int open_url(struct cv_db **out, const char *text, unsigned flags,
		    struct cv_error *err)
{
	struct cv_url url = CV_URL_INIT;
	int rc = cv_url_parse(&url, text, err);

	if (!rc)
		rc = be->open(out, &url, flags, 5000, err);
	cv_url_release(&url);
	return rc;
}

/* Runs SQL on the harness database itself (CREATE/DROP DATABASE, roles). */
static int admin(const char *base, const char *sql)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	int rc = open_url(&db, base, 0, &err);

	if (!rc)
		rc = be->exec_script(db, sql, &err);
	if (rc)
		print_message("admin '%s': %s\n", sql, err.msg);
	be->close(db);
	cv_error_release(&err);
	return rc;
}

static int setup(void **state)
{
	const char *base = getenv("CONVERGE_TEST_PG_URL");
	const char *tmp = getenv("TMPDIR");
	struct cv_error err = CV_ERROR_INIT;
	struct fixture *f;
	char *sql;
	int rc;

	if (!base || !*base) {
		print_error("CONVERGE_TEST_PG_URL is not set: run the PostgreSQL "
			    "tests through 'make test' (tests/run.sh starts "
			    "the server with tests/pg/harness.sh)\n");
		return -1;
	}
	f = cv_calloc(1, sizeof(*f));
	f->base_url = cv_strdup(base);
	f->dbname = cv_asprintf("cvt_%ld_%lu", (long)getpid(), ++counter);
	f->url = url_for(base, "dbname", f->dbname);
	snprintf(f->dir, sizeof(f->dir), "%s/cv-pg.XXXXXX",
		 tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		print_error("mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	sql = cv_asprintf("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'",
			  f->dbname);
	rc = admin(base, sql);
	free(sql);
	if (!rc)
		rc = open_url(&f->db, f->url, 0, &err);
	if (rc) {
		print_error("cannot open the test database: %s\n",
			    err.msg ? err.msg : "see above");
		cv_error_release(&err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *sql;

	be->close(f->db);
	sql = cv_asprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", f->dbname);
	admin(f->base_url, sql);
	free(sql);
	if (f->pw_role) {
		sql = cv_asprintf("DROP ROLE IF EXISTS %s", f->pw_role);
		admin(f->base_url, sql);
		free(sql);
		free(f->pw_role);
	}
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->url);
	free(f->dbname);
	free(f->base_url);
	free(f);
	return 0;
}

static struct cv_db *fdb(void **state)
{
	return ((struct fixture *)*state)->db;
}

static char *in_dir(void **state, const char *name)
{
	struct fixture *f = *state;

	return cv_asprintf("%s/%s", f->dir, name);
}

static void ok(int rc, const struct cv_error *err)
{
	if (rc)
		fail_msg("unexpected error %d: %s", rc,
			 err->msg ? err->msg : "(no message)");
}

static void run(struct cv_db *db, const char *sql)
{
	struct cv_error err = CV_ERROR_INIT;

	ok(be->exec_script(db, sql, &err), &err);
	cv_error_release(&err);
}

/* Rows of a query, as "a|b\n" lines, NULL as "<null>". */
static int collect(void *ctx, const char *const *cols, const size_t *lens,
		   int ncols)
{
	struct cv_buf *b = ctx;

	for (int i = 0; i < ncols; i++) {
		if (i)
			cv_buf_addch(b, '|');
		if (cols[i]) {
			assert_int_equal(lens[i], strlen(cols[i]));
			cv_buf_add(b, cols[i], lens[i]);
		} else {
			cv_buf_adds(b, "<null>");
		}
	}
	cv_buf_addch(b, '\n');
	return 0;
}

/* The rows of sql as text (malloc'd). */
static char *rows(struct cv_db *db, const char *sql, const char *const *params,
		  size_t nparams)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_buf b = CV_BUF_INIT;

	ok(be->query(db, sql, params, nparams, collect, &b, &err), &err);
	cv_error_release(&err);
	cv_buf_addch(&b, '\0');
	b.len--;
	return cv_buf_detach(&b);
}

static void expect_rows(struct cv_db *db, const char *sql, const char *want)
{
	char *got = rows(db, sql, NULL, 0);

	assert_string_equal(got, want);
	free(got);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- values and names --------------------------------------------- */

static void test_postgres__hostile_values_round_trip(void **state)
{
	static const char *const values[] = {
		"o'brien@example.com", "a; DROP TABLE t; --", "-- comment",
		"$1 $$ dollar $$", "back\\slash \\x41", "\"double\"",
		"Zoë Łukasiewicz — Übersetzerin ✓", "", "line\nbreak\ttab",
		NULL,
	};
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	struct cv_buf sql = CV_BUF_INIT, want = CV_BUF_INIT;
	const char *table = "we\"ird; DROP TABLE x; -- tåble";
	char *got, seq[16];

	cv_buf_adds(&sql, "CREATE TABLE ");
	be->quote_ident(&sql, table);
	cv_buf_adds(&sql, " (seq INTEGER PRIMARY KEY, v TEXT)");
	run(db, sql.buf);

	cv_buf_reset(&sql);
	cv_buf_adds(&sql, "INSERT INTO ");
	be->quote_ident(&sql, table);
	cv_buf_adds(&sql, " (seq, v) VALUES (");
	be->param(&sql, 1);
	cv_buf_adds(&sql, ", ");
	be->param(&sql, 2);
	cv_buf_adds(&sql, ")");
	assert_string_equal(strstr(sql.buf, "VALUES"), "VALUES ($1, $2)");
	for (size_t i = 0; i < CV_ARRAY_SIZE(values); i++) {
		const char *p[2];

		snprintf(seq, sizeof(seq), "%zu", i);
		p[0] = seq;
		p[1] = values[i];
		ok(be->exec(db, sql.buf, p, 2, &err), &err);
		cv_buf_addf(&want, "%zu|%s\n", i, values[i] ? values[i] :
			    "<null>");
	}

	cv_buf_reset(&sql);
	cv_buf_adds(&sql, "SELECT seq, v FROM ");
	be->quote_ident(&sql, table);
	cv_buf_adds(&sql, " ORDER BY seq");
	got = rows(db, sql.buf, NULL, 0);
	assert_string_equal(got, want.buf);
	free(got);

	/* A value bound in a WHERE finds exactly its row. */
	cv_buf_reset(&sql);
	cv_buf_adds(&sql, "SELECT seq FROM ");
	be->quote_ident(&sql, table);
	cv_buf_adds(&sql, " WHERE v = $1");
	got = rows(db, sql.buf, &values[1], 1);
	assert_string_equal(got, "1\n");
	free(got);

	cv_buf_release(&sql);
	cv_buf_release(&want);
	cv_error_release(&err);
}

static void test_postgres__quote_ident(void **state)
{
	struct cv_buf b = CV_BUF_INIT;

	(void)state;
	be->quote_ident(&b, "plain");
	be->quote_ident(&b, "a\"b");
	be->quote_ident(&b, "");
	assert_string_equal(b.buf, "\"plain\"\"a\"\"b\"\"\"");
	cv_buf_reset(&b);
	be->param(&b, 1);
	be->param(&b, 42);
	assert_string_equal(b.buf, "$1$42");
	assert_string_equal(be->table_suffix, "");
	assert_string_equal(be->bool_type, "boolean");
	assert_string_equal(be->snapshot_ext, ".dump");
	assert_string_equal(be->name, "postgres");
	cv_buf_release(&b);
}

static void test_postgres__exec_script_and_errors(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	const char *p[] = { "x" };

	/* Several statements, and IF NOT EXISTS notices stay quiet. */
	run(db, "CREATE TABLE t (a TEXT); CREATE TABLE IF NOT EXISTS t (a TEXT);"
		"INSERT INTO t VALUES ('1'), ('2');");
	expect_rows(db, "SELECT a FROM t ORDER BY a", "1\n2\n");

	assert_int_equal(be->exec_script(db, "SELEC 1", &err), CV_EDB);
	assert_non_null(strstr(err.msg, "postgres: syntax error"));
	assert_null(strstr(err.msg, "line"));
	assert_string_equal(err.sql, "SELEC 1");
	/* In a script of several lines, the line of the error, whether the
	 * script runs whole (in a transaction) or statement by statement. */
	assert_int_equal(be->exec_script(db, "SELECT 'ü';\n-- é\nSELECT 1;\n"
					 "SELECT * FROM nowhere;", &err), CV_EDB);
	assert_non_null(strstr(err.msg, "(line 4 of the SQL)"));
	ok(be->begin(db, &err), &err);
	assert_int_equal(be->exec_script(db, "SELECT 'ü';\n-- é\nSELECT 1;\n"
					 "SELECT\n * FROM nowhere;", &err), CV_EDB);
	assert_non_null(strstr(err.msg, "(line 5 of the SQL)"));
	be->rollback(db);

	assert_int_equal(be->exec(db, "INSERT INTO nowhere VALUES ($1)", p, 1,
				  &err), CV_EDB);
	assert_non_null(strstr(err.msg, "\"nowhere\" does not exist"));
	assert_string_equal(err.sql, "INSERT INTO nowhere VALUES ($1)");

	/* One statement where one is expected. */
	assert_int_equal(be->exec(db, "SELECT 1; SELECT 2", NULL, 0, &err),
			 CV_EDB);

	/* COPY FROM STDIN would wait forever for data: refused, and the
	 * connection goes on working. */
	assert_int_equal(be->exec_script(db, "COPY t FROM STDIN", &err), CV_EDB);
	assert_non_null(strstr(err.msg, "COPY"));
	assert_int_equal(be->exec(db, "COPY t TO STDOUT", NULL, 0, &err), CV_EDB);
	expect_rows(db, "SELECT count(*) FROM t", "2\n");
	cv_error_release(&err);
}

static void test_postgres__script_outside_transaction(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;

	run(db, "CREATE TABLE t (a TEXT)");
	/*
	 * Outside a transaction (a revision marked `transaction: false`),
	 * statements run one by one: CREATE INDEX CONCURRENTLY refuses the
	 * implicit transaction of a multi-statement query.  Semicolons in
	 * strings, names, dollar quotes and comments end nothing.
	 */
	run(db, "CREATE INDEX CONCURRENTLY t_a ON t (a);\n"
		"-- a comment; with a semicolon\n"
		"INSERT INTO t VALUES ('x;y'), (E'q\\';z'), ($$d;$$), "
		"($tag$e;$$;$tag$);\n"
		"/* nested /* ; */ ; */ CREATE TABLE \"u;v\" (a TEXT);\n"
		"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
		"BEGIN RETURN 1; END $body$;\n"
		";;\n");
	expect_rows(db, "SELECT count(*) FROM pg_indexes WHERE indexname = 't_a'",
		    "1\n");
	expect_rows(db, "SELECT a FROM t ORDER BY a",
		    "d;\ne;$$;\nq';z\nx;y\n");
	expect_rows(db, "SELECT f(), count(*) FROM \"u;v\"", "1|0\n");

	/* A failure stops there, naming the statement; what ran, stays. */
	assert_int_equal(be->exec_script(db, "INSERT INTO t VALUES ('kept');\n"
					 "INSERT INTO nowhere VALUES (1);\n"
					 "INSERT INTO t VALUES ('never');",
					 &err), CV_EDB);
	assert_non_null(strstr(err.msg, "(line 2 of the SQL)"));
	assert_string_equal(err.sql, "INSERT INTO t VALUES ('kept');\n"
			    "INSERT INTO nowhere VALUES (1);\n"
			    "INSERT INTO t VALUES ('never');");
	expect_rows(db, "SELECT count(*) FROM t WHERE a IN ('kept', 'never')",
		    "1\n");

	/* Inside one, the script is all or nothing. */
	ok(be->begin(db, &err), &err);
	assert_int_equal(be->exec_script(db, "INSERT INTO t VALUES ('in');\n"
					 "INSERT INTO nowhere VALUES (1);",
					 &err), CV_EDB);
	be->rollback(db);
	expect_rows(db, "SELECT count(*) FROM t WHERE a = 'in'", "0\n");

	/* A SQL-standard body has semicolons of its own: left whole. */
	run(db, "CREATE FUNCTION g() RETURNS int LANGUAGE sql\n"
		"BEGIN ATOMIC SELECT 1; SELECT 2; END;\n"
		"CREATE TABLE w (a TEXT);");
	expect_rows(db, "SELECT g(), count(*) FROM w", "2|0\n");
	cv_error_release(&err);
}

static void test_postgres__failed_transaction_does_not_commit(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;

	run(db, "CREATE TABLE t (a INTEGER PRIMARY KEY)");
	ok(be->begin(db, &err), &err);
	ok(be->exec(db, "INSERT INTO t VALUES (1)", NULL, 0, &err), &err);
	assert_int_equal(be->exec(db, "INSERT INTO t VALUES (1)", NULL, 0, &err),
			 CV_EDB);
	assert_non_null(strstr(err.msg, "duplicate key"));
	/* PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK. */
	assert_int_equal(be->commit(db, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "rolled back"));
	assert_int_equal(be->rollback(db), 0);
	expect_rows(db, "SELECT count(*) FROM t", "0\n");

	ok(be->begin(db, &err), &err);
	ok(be->exec(db, "INSERT INTO t VALUES (2)", NULL, 0, &err), &err);
	ok(be->rollback(db), &err);
	ok(be->begin(db, &err), &err);
	ok(be->exec(db, "INSERT INTO t VALUES (3)", NULL, 0, &err), &err);
	ok(be->commit(db, &err), &err);
	expect_rows(db, "SELECT a FROM t", "3\n");
	/* No transaction: rollback is a no-op. */
	assert_int_equal(be->rollback(db), 0);
	cv_error_release(&err);
}

/* ---- statement cache ---------------------------------------------- */

static void test_postgres__statement_cache_reuse(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	const char *ins = "INSERT INTO t (a, b) VALUES ($1, $2)";
	char a[16], *got;
	double t0, prepared, unprepared;

	run(db, "CREATE TABLE t (a INTEGER, b TEXT)");
	t0 = now_s();
	for (int i = 0; i < 2000; i++) {
		const char *p[] = { a, "row" };

		snprintf(a, sizeof(a), "%d", i);
		ok(be->exec(db, ins, p, 2, &err), &err);
	}
	prepared = now_s() - t0;
	expect_rows(db, "SELECT count(*), sum(a) FROM t", "2000|1999000\n");

	/* 2000 executions, one prepared statement for the text. */
	got = rows(db, "SELECT count(*) FROM pg_prepared_statements "
		   "WHERE statement = $1", &ins, 1);
	assert_string_equal(got, "1\n");
	free(got);
	/*
	 * Each distinct text is prepared once: the search path read at
	 * open (for converge's schema), the insert, the sum, the query
	 * above and this one (scripts are not prepared).
	 */
	got = rows(db, "SELECT count(*) FROM pg_prepared_statements", NULL, 0);
	assert_string_equal(got, "5\n");
	free(got);

	/* The same work with text that differs each time (no reuse). */
	t0 = now_s();
	for (int i = 0; i < 2000; i++) {
		char *sql = cv_asprintf("INSERT INTO t (a, b) VALUES (%d, 'x') "
					"/* %d */", i, i);

		ok(be->exec_script(db, sql, &err), &err);
		free(sql);
	}
	unprepared = now_s() - t0;
	print_message("2000 inserts: %.1f ms prepared once, %.1f ms parsed "
		      "each time\n", prepared * 1e3, unprepared * 1e3);
	cv_error_release(&err);
}

static void test_postgres__many_distinct_statements(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	char *got;

	/* Past the cache's limit it starts over instead of growing. */
	for (int i = 0; i < 5000; i++) {
		char *sql = cv_asprintf("SELECT %d", i);
		char *want = cv_asprintf("%d\n", i);

		got = rows(db, sql, NULL, 0);
		assert_string_equal(got, want);
		free(got);
		free(sql);
		free(want);
	}
	got = rows(db, "SELECT count(*) < 4200 FROM pg_prepared_statements",
		   NULL, 0);
	assert_string_equal(got, "t\n");
	free(got);
	cv_error_release(&err);
}

/* ---- queries ------------------------------------------------------ */

struct stream {
	long rows;
	long long sum;
	size_t bytes;
	long stop_at;
};

static int count_row(void *ctx, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct stream *s = ctx;

	assert_int_equal(ncols, 2);
	s->rows++;
	s->sum += atoll(cols[0]);
	s->bytes += lens[1];
	if (s->stop_at && s->rows == s->stop_at)
		return 7;
	return 0;
}

/* A line "Name:   N kB" of /proc/self/status, in kB; -1 if absent. */
static long status_kb(const char *name)
{
	char line[256];
	long kb = -1;
	size_t n = strlen(name);
	FILE *fp = fopen("/proc/self/status", "r");

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, name, n) && line[n] == ':')
			kb = atol(line + n + 1);
	fclose(fp);
	return kb;
}

/* Starts measuring the peak resident size from now (Linux: clear_refs). */
static long peak_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "5", 1) != 1)
			print_message("cannot reset the peak RSS\n");
		close(fd);
	}
	return status_kb("VmRSS");
}

static void test_postgres__query_streams_100k_rows(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	struct stream s = { 0, 0, 0, 0 };
	long rss0, grown;
	double t0, secs;

	/* 100,000 rows of 1 kB: 100 MB if the result were held whole. */
	rss0 = peak_reset();
	t0 = now_s();
	ok(be->query(db, "SELECT g, repeat('x', 1000) FROM "
		     "generate_series(1, 100000) AS g", NULL, 0, count_row, &s,
		     &err), &err);
	secs = now_s() - t0;
	grown = status_kb("VmHWM") - rss0;
	assert_int_equal(s.rows, 100000);
	assert_true(s.sum == 5000050000LL);
	assert_int_equal(s.bytes, 100000u * 1000u);
	print_message("100,000 rows of 1 kB streamed in %.0f ms, peak memory "
		      "+%ld kB\n", secs * 1e3, grown);
#ifndef __SANITIZE_ADDRESS__
	/* (AddressSanitizer keeps freed memory aside: no bound holds there.) */
	assert_true(grown < 30 * 1024);
#endif
	cv_error_release(&err);
}

static int nested(void *ctx, const char *const *cols, const size_t *lens,
		  int ncols)
{
	struct cv_db *db = ctx;
	struct cv_error err = CV_ERROR_INIT;
	int rc;

	(void)cols;
	(void)lens;
	(void)ncols;
	rc = be->exec(db, "SELECT 1", NULL, 0, &err);
	assert_int_equal(rc, CV_EDB);
	assert_non_null(strstr(err.msg, "being read"));
	cv_error_release(&err);
	return 0;
}

static void test_postgres__query_stop_and_nesting(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	struct stream s = { 0, 0, 0, 10 };

	ok(be->begin(db, &err), &err);
	/* fn's nonzero value stops the calls and is returned. */
	assert_int_equal(be->query(db, "SELECT g, 'v' FROM "
				   "generate_series(1, 50000) AS g", NULL, 0,
				   count_row, &s, &err), 7);
	assert_int_equal(s.rows, 10);
	/* The transaction is intact (no cancel aborted it). */
	ok(be->exec(db, "SELECT 1", NULL, 0, &err), &err);
	/* SQL from inside a row callback is refused, not mixed in. */
	ok(be->query(db, "SELECT 1", NULL, 0, nested, db, &err), &err);
	ok(be->commit(db, &err), &err);
	expect_rows(db, "SELECT NULL::text, '', 'x'", "<null>||x\n");
	cv_error_release(&err);
}

/* ---- catalogue ---------------------------------------------------- */

static void test_postgres__table_exists_and_has_rows(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	bool b = true;

	run(db, "CREATE TABLE t (a TEXT); CREATE VIEW v AS SELECT a FROM t;"
		"CREATE TABLE \"MiXed\" (a TEXT);"
		"CREATE SCHEMA other; CREATE TABLE other.elsewhere (a TEXT);");
	ok(be->table_exists(db, "t", &b, &err), &err);
	assert_true(b);
	ok(be->table_exists(db, "v", &b, &err), &err);
	assert_true(b);
	ok(be->table_exists(db, "MiXed", &b, &err), &err);
	assert_true(b);
	/* Names are exact, as quote_ident makes them. */
	ok(be->table_exists(db, "mixed", &b, &err), &err);
	assert_false(b);
	ok(be->table_exists(db, "nope", &b, &err), &err);
	assert_false(b);
	/* Only the current schema counts, and never the catalogue. */
	ok(be->table_exists(db, "elsewhere", &b, &err), &err);
	assert_false(b);
	ok(be->table_exists(db, "pg_class", &b, &err), &err);
	assert_false(b);

	ok(be->table_has_rows(db, "t", &b, &err), &err);
	assert_false(b);
	run(db, "INSERT INTO t VALUES ('x')");
	ok(be->table_has_rows(db, "t", &b, &err), &err);
	assert_true(b);
	ok(be->table_has_rows(db, "MiXed", &b, &err), &err);
	assert_false(b);
	ok(be->foreign_key_check(db, &err), &err);
	cv_error_release(&err);
}

/* ---- read-only ---------------------------------------------------- */

static void test_postgres__readonly_refuses_writes(void **state)
{
	struct fixture *f = *state;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *ro = NULL;

	run(f->db, "CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x')");
	ok(open_url(&ro, f->url, CV_DB_READONLY, &err), &err);
	ok(be->begin_read(ro, &err), &err);
	expect_rows(ro, "SELECT a FROM t", "x\n");
	/* A snapshot: a commit elsewhere is not seen until the end. */
	run(f->db, "INSERT INTO t VALUES ('y')");
	expect_rows(ro, "SELECT count(*) FROM t", "1\n");
	/* SQLSTATE 25006: a code of its own (plan says so of a check
	 * that writes). */
	assert_int_equal(be->exec(ro, "INSERT INTO t VALUES ('z')", NULL, 0,
				  &err), CV_EREADONLY);
	assert_non_null(strstr(err.msg, "read-only"));
	be->rollback(ro);
	/* Outside begin_read too. */
	assert_int_equal(be->exec_script(ro, "CREATE TABLE u (a TEXT)", &err),
			 CV_EREADONLY);
	assert_non_null(strstr(err.msg, "read-only"));
	expect_rows(ro, "SELECT count(*) FROM t", "2\n");
	be->close(ro);
	cv_error_release(&err);
}

/* ---- locks -------------------------------------------------------- */

static void test_postgres__lock_contention(void **state)
{
	struct fixture *f = *state;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *a = f->db, *b = NULL;
	double t0, waited;

	ok(open_url(&b, f->url, 0, &err), &err);
	ok(be->begin(a, &err), &err);

	be->set_lock_timeout(b, 300);
	t0 = now_s();
	assert_int_equal(be->begin(b, &err), CV_ELOCKED);
	waited = now_s() - t0;
	assert_non_null(strstr(err.msg, "locked by another apply"));
	assert_non_null(strstr(err.msg, "waited 0.3 s"));
	assert_true(waited >= 0.25 && waited < 3.0);
	/* b is left with no transaction open. */
	expect_rows(b, "SELECT 1", "1\n");

	be->set_lock_timeout(b, 0);
	t0 = now_s();
	assert_int_equal(be->begin(b, &err), CV_ELOCKED);
	assert_true(now_s() - t0 < 1.0);

	/* The lock timeout applies to the lock only, not to the steps. */
	expect_rows(a, "SHOW lock_timeout", "0\n");

	ok(be->commit(a, &err), &err);
	be->set_lock_timeout(b, 2000);
	ok(be->begin(b, &err), &err);
	ok(be->rollback(b), &err);
	/* Closing a connection releases its lock (once its server process
	 * has seen it go: wait for that, not for a second apply). */
	ok(be->begin(b, &err), &err);
	be->close(b);
	be->set_lock_timeout(a, 5000);
	t0 = now_s();
	ok(be->begin(a, &err), &err);
	assert_true(now_s() - t0 < 2.0);
	ok(be->rollback(a), &err);
	print_message("second begin refused after %.0f ms (timeout 300 ms)\n",
		      waited * 1e3);
	cv_error_release(&err);
}

/* ---- snapshots ---------------------------------------------------- */

static void test_postgres__snapshot_and_restore_round_trip(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	char *snap = in_dir(state, "db-1.dump");
	char *before = in_dir(state, "db-2.dump");
	struct stat st;
	mode_t old;

	run(db, "CREATE TABLE parent (k TEXT PRIMARY KEY, v TEXT);"
		"INSERT INTO parent VALUES ('a', 'o''brien'), ('b', 'Zoë');"
		"CREATE VIEW pv AS SELECT k FROM parent;");
	/* Inside the write transaction, as apply takes it. */
	ok(be->begin(db, &err), &err);
	old = umask(0);
	ok(be->snapshot(db, snap, &err), &err);
	umask(old);
	ok(be->commit(db, &err), &err);
	assert_int_equal(stat(snap, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(st.st_size > 0);

	/* Never over an existing file. */
	assert_int_equal(be->snapshot(db, snap, &err), CV_EIO);
	assert_non_null(strstr(err.msg, "already exists"));

	/* What happens after the snapshot: changed rows, and a new table
	 * whose foreign key holds on to the restored one. */
	run(db, "UPDATE parent SET v = 'changed';"
		"DELETE FROM parent WHERE k = 'b';"
		"CREATE TABLE child (k TEXT REFERENCES parent (k));"
		"INSERT INTO child VALUES ('a');"
		"CREATE SEQUENCE later_seq;");
	expect_rows(db, "SELECT count(*) FROM parent", "1\n");
	ok(be->snapshot(db, before, &err), &err);

	ok(be->restore(db, snap, &err), &err);
	expect_rows(db, "SELECT k, v FROM parent ORDER BY k",
		    "a|o'brien\nb|Zoë\n");
	expect_rows(db, "SELECT k FROM pv ORDER BY k", "a\nb\n");
	expect_rows(db, "SELECT count(*) FROM pg_class WHERE relname IN "
		    "('child', 'later_seq')", "0\n");

	/* And back again: the later state, from its own snapshot. */
	ok(be->restore(db, before, &err), &err);
	expect_rows(db, "SELECT k, v FROM child JOIN parent USING (k)",
		    "a|changed\n");
	free(snap);
	free(before);
	cv_error_release(&err);
}

static void test_postgres__restore_failure_changes_nothing(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	char *bad = in_dir(state, "bad.dump");
	char *gone = in_dir(state, "gone.dump");
	int fd;

	run(db, "CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('kept')");
	fd = open(bad, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "PGDMPnot really", 15), 15);
	close(fd);
	assert_int_equal(be->restore(db, bad, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "restore failed: pg_restore failed"));
	expect_rows(db, "SELECT a FROM t", "kept\n");

	assert_int_equal(be->restore(db, gone, &err), CV_ENOTFOUND);

	/* Not inside a transaction: the restore has sessions of its own. */
	ok(be->begin(db, &err), &err);
	assert_int_equal(be->restore(db, bad, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "inside a transaction"));
	be->rollback(db);
	free(bad);
	free(gone);
	cv_error_release(&err);
}

static void test_postgres__restore_waits_for_the_lock(void **state)
{
	struct fixture *f = *state;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *other = NULL;
	char *snap = in_dir(state, "db.dump");

	run(f->db, "CREATE TABLE t (a TEXT)");
	ok(be->snapshot(f->db, snap, &err), &err);
	ok(open_url(&other, f->url, 0, &err), &err);
	ok(be->begin(other, &err), &err);
	be->set_lock_timeout(f->db, 200);
	assert_int_equal(be->restore(f->db, snap, &err), CV_ELOCKED);
	be->rollback(other);
	ok(be->restore(f->db, snap, &err), &err);
	/* The session lock is gone with the restore. */
	be->set_lock_timeout(other, 0);
	ok(be->begin(other, &err), &err);
	be->rollback(other);
	be->close(other);
	free(snap);
	cv_error_release(&err);
}

static void test_postgres__snapshot_without_pg_dump(void **state)
{
	struct cv_db *db = fdb(state);
	struct cv_error err = CV_ERROR_INIT;
	char *snap = in_dir(state, "db.dump");
	char *path = getenv("PATH") ? cv_strdup(getenv("PATH")) : NULL;
	struct fixture *f = *state;

	setenv("PATH", f->dir, 1);
	/* CV_ENOTFOUND: apply goes on without a snapshot (SPEC §5). */
	assert_int_equal(be->snapshot(db, snap, &err), CV_ENOTFOUND);
	if (path)
		setenv("PATH", path, 1);
	assert_non_null(strstr(err.msg, "pg_dump not found"));
	/* No empty file is left pretending to be a snapshot. */
	assert_int_equal(access(snap, F_OK), -1);
	free(path);
	free(snap);
	cv_error_release(&err);
}

/* ---- passwords ---------------------------------------------------- */

/*
 * Makes the role that must give a password (tests/pg/harness.sh has
 * pg_hba.conf ask it for one), owning the test database so that it may
 * create tables there.  Teardown drops it after the database.
 */
static const char *make_pw_role(struct fixture *f)
{
	char *sql;

	f->pw_role = cv_asprintf("%s_pw", f->dbname);
	sql = cv_asprintf("CREATE ROLE %s LOGIN PASSWORD '" PW_GOOD "' "
			  "IN ROLE " PW_GROUP ";"
			  "ALTER DATABASE %s OWNER TO %s;",
			  f->pw_role, f->dbname, f->pw_role);
	assert_int_equal(admin(f->base_url, sql), 0);
	free(sql);
	return f->pw_role;
}

static void assert_no_secret(const char *text, const char *secret)
{
	if (text && strstr(text, secret))
		fail_msg("'%s' shows the password '%s'", text, secret);
}

static void test_postgres__password_never_in_errors(void **state)
{
	struct fixture *f = *state;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	char *bad, *good, *kv, *with_user, *want;
	const char *role = make_pw_role(f);

	with_user = url_for(f->url, "user", role);
	bad = url_for(with_user, "password", PW_BAD);
	good = url_for(with_user, "password", PW_GOOD);

	/* The server asks this role for its password: a wrong one fails. */
	assert_int_equal(open_url(&db, bad, 0, &err), CV_EDB);
	assert_null(db);
	assert_non_null(strstr(err.msg, "password authentication failed"));
	assert_no_secret(err.msg, PW_BAD);
	assert_non_null(strstr(err.msg, "cannot connect to 'postgresql://"));

	/* A key=value string with a quoted password. */
	kv = cv_asprintf("dbname=%s user=%s password='" PW_BAD "' host=%s",
			 f->dbname, role, strstr(f->url, "host=") + 5);
	*strchr(strstr(kv, "host="), '&') = '\0';
	assert_int_equal(open_url(&db, kv, 0, &err), CV_EDB);
	assert_no_secret(err.msg, PW_BAD);
	assert_non_null(strstr(err.msg, "password authentication failed"));

	/* And the right one connects. */
	ok(open_url(&db, good, 0, &err), &err);
	want = cv_asprintf("%s\n", role);
	expect_rows(db, "SELECT current_user", want);
	be->close(db);

	free(want);
	free(kv);
	free(bad);
	free(good);
	free(with_user);
	cv_error_release(&err);
}

/* A pg_dump that records how it was called, then runs the real one. */
static void fake_pg_dump(const char *dir, const char *real)
{
	char *path = cv_asprintf("%s/pg_dump", dir);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\n"
		"printf '%%s\\n' \"$0\" \"$@\" > '%s/argv'\n"
		"env > '%s/env'\n"
		"exec '%s' \"$@\"\n", dir, dir, real);
	fclose(fp);
	chmod(path, 0700);
	free(path);
}

static char *slurp(const char *path)
{
	char *text = NULL;
	size_t len;

	assert_int_equal(cv_read_file(path, &text, &len, 1 << 20), 0);
	return text;
}

static void test_postgres__pg_dump_gets_password_from_env(void **state)
{
	struct fixture *f = *state;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	char *good, *with_user, *snap = in_dir(state, "pw.dump");
	char *real, *argv_file = in_dir(state, "argv");
	char *env_file = in_dir(state, "env"), *text;
	char *old_path = cv_strdup(getenv("PATH"));
	char *path = cv_strdup(old_path);
	char *newpath = cv_asprintf("%s:%s", f->dir, path);
	char *want = cv_asprintf("PGPASSWORD=%s\n", PW_GOOD);
	const char *role = make_pw_role(f);
	char *want_user = cv_asprintf("PGUSER=%s\n", role);

	with_user = url_for(f->url, "user", role);
	good = url_for(with_user, "password", PW_GOOD);
	ok(open_url(&db, good, 0, &err), &err);
	run(db, "CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x')");

	/* Find the real pg_dump before putting the fake one first. */
	real = NULL;
	for (char *dir = strtok(path, ":"); dir && !real; dir = strtok(NULL, ":")) {
		char *cand = cv_asprintf("%s/pg_dump", dir);

		if (access(cand, X_OK) == 0)
			real = cand;
		else
			free(cand);
	}
	assert_non_null(real);
	fake_pg_dump(f->dir, real);
	setenv("PATH", newpath, 1);
	ok(be->begin(db, &err), &err);
	ok(be->snapshot(db, snap, &err), &err);
	setenv("PATH", old_path, 1);
	be->rollback(db);

	/* pg_dump connected as the role (the server asks it a password):
	 * the password went through the environment, not argv. */
	text = slurp(argv_file);
	assert_no_secret(text, PW_GOOD);
	assert_null(strstr(text, role));
	free(text);
	text = slurp(env_file);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, want_user));
	free(text);
	/* And the snapshot it made is a real one. */
	text = slurp(snap);
	assert_memory_equal(text, "PGDMP", 5);
	free(text);

	be->close(db);
	free(want_user);
	free(old_path);
	free(want);
	free(newpath);
	free(real);
	free(argv_file);
	free(env_file);
	free(good);
	free(with_user);
	free(snap);
	free(path);
	cv_error_release(&err);
}

static void test_postgres__missing_database(void **state)
{
	struct fixture *f = *state;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	char *url = url_for(f->base_url, "dbname", "cv_no_such_db");

	/* An error, read-only or not: never "an empty database" (SPEC §4
	 * says that of a SQLite file only; apply cannot create this one). */
	assert_int_equal(open_url(&db, url, CV_DB_READONLY, &err), CV_EDB);
	assert_null(db);
	assert_non_null(strstr(err.msg, "\"cv_no_such_db\" does not exist"));
	free(url);
	cv_error_release(&err);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_postgres__hostile_values_round_trip),
		T(test_postgres__quote_ident),
		T(test_postgres__exec_script_and_errors),
		T(test_postgres__script_outside_transaction),
		T(test_postgres__failed_transaction_does_not_commit),
		T(test_postgres__statement_cache_reuse),
		T(test_postgres__many_distinct_statements),
		T(test_postgres__query_streams_100k_rows),
		T(test_postgres__query_stop_and_nesting),
		T(test_postgres__table_exists_and_has_rows),
		T(test_postgres__readonly_refuses_writes),
		T(test_postgres__lock_contention),
		T(test_postgres__snapshot_and_restore_round_trip),
		T(test_postgres__restore_failure_changes_nothing),
		T(test_postgres__restore_waits_for_the_lock),
		T(test_postgres__snapshot_without_pg_dump),
		T(test_postgres__password_never_in_errors),
		T(test_postgres__pg_dump_gets_password_from_env),
		T(test_postgres__missing_database),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
