/*
 * The SQLite backend against real database files in a temporary directory:
 * read-only opens that change nothing, the statement cache, locks,
 * snapshots and restores, foreign key checks and identifier quoting.
 *
 * The timing test includes sqlite3.h to compare the backend's exec with a
 * hand-written prepared loop; the library itself keeps sqlite3.h to
 * src/backend/sqlite.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
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

#include <sqlite3.h>

#include "converge/backend.h"
#include "converge/journal.h"
#include "../../src/backend/cache.h"

static const struct cv_backend *be = &cv_sqlite_backend;

struct fixture {
	char dir[64];
};

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/cv-sqlite.XXXXXX",
		 tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static char *in_dir(void **state, const char *name)
{
	struct fixture *f = *state;

	return cv_asprintf("%s/%s", f->dir, name);
}

/* Names in the fixture directory, sorted, joined by spaces. */
static char *dir_listing(void **state)
{
	struct fixture *f = *state;
	struct dirent **names = NULL;
	struct cv_buf b = CV_BUF_INIT;
	int n = scandir(f->dir, &names, NULL, alphasort);

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") &&
		    strcmp(names[i]->d_name, "..")) {
			if (b.len)
				cv_buf_addch(&b, ' ');
			cv_buf_adds(&b, names[i]->d_name);
		}
		free(names[i]);
	}
	free(names);
	return cv_buf_detach(&b);
}

static struct cv_db *open_db(const char *path, unsigned flags)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	int rc;

	url.path = cv_strdup(path);
	rc = be->open(&db, &url, flags, 5000, &err);
	if (rc)
		fail_msg("open '%s': %s", path, err.msg);
	assert_non_null(db);
	assert_ptr_equal(db->backend, be);
	cv_url_release(&url);
	cv_error_release(&err);
	return db;
}

static int open_rc(const char *path, unsigned flags, struct cv_error *err)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_db *db = NULL;
	int rc;

	url.path = cv_strdup(path);
	rc = be->open(&db, &url, flags, 5000, err);
	if (rc)
		assert_null(db);
	be->close(db);
	cv_url_release(&url);
	return rc;
}

static void script(struct cv_db *db, const char *sql)
{
	struct cv_error err = CV_ERROR_INIT;

	if (be->exec_script(db, sql, &err))
		fail_msg("script failed: %s", err.msg);
	cv_error_release(&err);
}

/* Every row of a query as "a|b\n" lines, NULL shown as "<null>". */
static int collect(void *ctx, const char *const *cols, const size_t *lens,
		   int ncols)
{
	struct cv_buf *b = ctx;

	for (int i = 0; i < ncols; i++) {
		if (i)
			cv_buf_addch(b, '|');
		if (cols[i]) {
			assert_int_equal(strlen(cols[i]), lens[i]);
			cv_buf_add(b, cols[i], lens[i]);
		} else {
			assert_int_equal(lens[i], 0);
			cv_buf_adds(b, "<null>");
		}
	}
	cv_buf_addch(b, '\n');
	return 0;
}

static char *rows(struct cv_db *db, const char *sql)
{
	struct cv_buf b = CV_BUF_INIT;
	struct cv_error err = CV_ERROR_INIT;

	if (be->query(db, sql, NULL, 0, collect, &b, &err))
		fail_msg("query failed: %s", err.msg);
	cv_error_release(&err);
	return cv_buf_detach(&b);
}

static char *read_all(const char *path, size_t *len)
{
	char *data = NULL;

	assert_int_equal(cv_read_file(path, &data, len, 1 << 26), 0);
	return data;
}

static void make_sample(const char *path)
{
	struct cv_db *db = open_db(path, CV_DB_CREATE);

	script(db,
	       "CREATE TABLE roles (name TEXT PRIMARY KEY, description TEXT);"
	       "INSERT INTO roles VALUES ('viewer', 'reads'), ('admin', NULL);"
	       "CREATE VIEW role_names AS SELECT name FROM roles;");
	be->close(db);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- opening ------------------------------------------------------ */

static void test_sqlite__readonly_missing_creates_nothing(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "missing.db");
	char *list;

	assert_int_equal(open_rc(path, CV_DB_READONLY, &err), CV_ENOTFOUND);
	assert_non_null(strstr(err.msg, "does not exist"));
	cv_error_release(&err);
	/* Without CREATE, a write open does not create it either. */
	assert_int_equal(open_rc(path, 0, &err), CV_ENOTFOUND);
	list = dir_listing(state);
	assert_string_equal(list, "");
	free(list);
	cv_error_release(&err);
	free(path);
}

static void test_sqlite__readonly_plan_leaves_file_identical(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	char *before, *after, *got, *list;
	size_t nbefore, nafter;
	struct cv_db *db;
	bool yes = false;

	make_sample(path);
	before = read_all(path, &nbefore);

	db = open_db(path, CV_DB_READONLY);
	assert_int_equal(be->begin_read(db, &err), 0);
	got = rows(db, "SELECT name, description FROM roles ORDER BY name");
	assert_string_equal(got, "admin|<null>\nviewer|reads\n");
	free(got);
	assert_int_equal(be->table_exists(db, "roles", &yes, &err), 0);
	assert_true(yes);
	assert_int_equal(be->table_exists(db, "role_names", &yes, &err), 0);
	assert_true(yes);
	assert_int_equal(be->table_exists(db, "converge_runs", &yes, &err), 0);
	assert_false(yes);
	assert_int_equal(be->table_has_rows(db, "roles", &yes, &err), 0);
	assert_true(yes);
	/* A write is refused, not performed, with its own code (plan says
	 * so of a check that writes). */
	assert_int_equal(be->exec(db, "DELETE FROM roles", NULL, 0, &err),
			 CV_EREADONLY);
	assert_int_equal(be->exec_script(db, "DELETE FROM roles", &err),
			 CV_EREADONLY);
	assert_int_equal(be->rollback(db), 0);
	be->close(db);

	after = read_all(path, &nafter);
	assert_int_equal(nbefore, nafter);
	assert_memory_equal(before, after, nbefore);
	list = dir_listing(state);
	assert_string_equal(list, "app.db");
	free(list);
	free(before);
	free(after);
	free(path);
	cv_error_release(&err);
}

static void test_sqlite__readonly_wal_leaves_nothing(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "wal.db");
	char *before, *after, *got, *list;
	size_t nbefore, nafter;
	struct cv_db *db, *other;

	db = open_db(path, CV_DB_CREATE);
	script(db, "PRAGMA journal_mode = WAL; CREATE TABLE t (x);"
		   "INSERT INTO t VALUES (1)");
	be->close(db);
	list = dir_listing(state);
	assert_string_equal(list, "wal.db");
	free(list);
	before = read_all(path, &nbefore);

	/* Nobody has it open: no -wal or -shm may be left behind. */
	db = open_db(path, CV_DB_READONLY);
	assert_int_equal(be->begin_read(db, &err), 0);
	got = rows(db, "SELECT x FROM t");
	assert_string_equal(got, "1\n");
	free(got);
	assert_int_equal(be->exec(db, "INSERT INTO t VALUES (2)", NULL, 0, &err),
			 CV_EREADONLY);
	cv_error_release(&err);
	assert_int_equal(be->rollback(db), 0);
	be->close(db);
	after = read_all(path, &nafter);
	assert_int_equal(nbefore, nafter);
	assert_memory_equal(before, after, nbefore);
	list = dir_listing(state);
	assert_string_equal(list, "wal.db");
	free(list);
	free(after);

	/* In use by a writer: read through its log as any reader does. */
	other = open_db(path, 0);
	script(other, "INSERT INTO t VALUES (3)");
	db = open_db(path, CV_DB_READONLY);
	assert_int_equal(be->begin_read(db, &err), 0);
	got = rows(db, "SELECT x FROM t ORDER BY x");
	assert_string_equal(got, "1\n3\n");
	free(got);
	assert_int_equal(be->rollback(db), 0);
	be->close(db);
	be->close(other);

	free(before);
	free(path);
	cv_error_release(&err);
}

static void test_sqlite__create_needs_parent_dir(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "nope/app.db");
	char *list;

	assert_int_equal(open_rc(path, CV_DB_CREATE, &err), CV_EIO);
	assert_non_null(strstr(err.msg, "does not exist"));
	list = dir_listing(state);
	assert_string_equal(list, "");
	free(list);
	free(path);
	cv_error_release(&err);
}

static void test_sqlite__create_then_readonly_sees_empty(void **state)
{
	char *path = in_dir(state, "new.db");
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = open_db(path, CV_DB_CREATE);
	bool yes = true;

	be->close(db);
	db = open_db(path, CV_DB_READONLY);
	assert_int_equal(be->begin_read(db, &err), 0);
	assert_int_equal(be->table_exists(db, "roles", &yes, &err), 0);
	assert_false(yes);
	assert_int_equal(be->rollback(db), 0);
	be->close(db);
	free(path);
	cv_error_release(&err);
}

static void test_sqlite__not_a_database(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "junk.db");
	FILE *fp = fopen(path, "w");
	char *data;
	size_t len;

	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not a sqlite file. ", fp);
	fclose(fp);
	assert_int_equal(open_rc(path, CV_DB_READONLY, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "not a sqlite database"));
	cv_error_release(&err);
	assert_int_equal(open_rc(path, CV_DB_CREATE, &err), CV_EDB);
	data = read_all(path, &len);
	assert_int_equal(len, 200 * strlen("this is not a sqlite file. "));
	assert_memory_equal(data, "this is not", 11);
	free(data);
	free(path);
	cv_error_release(&err);
}

/* ---- statements --------------------------------------------------- */

static void test_sqlite__exec_many_params(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *db = open_db(path, CV_DB_CREATE);
	const char *ins = "INSERT INTO t (k, v) VALUES (?1, ?2)";
	char *got;

	script(db, "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)");
	assert_int_equal(be->begin(db, &err), 0);
	for (int i = 0; i < 1000; i++) {
		char k[32], v[32];
		const char *params[2] = { k, v };

		snprintf(k, sizeof(k), "k%04d", i);
		snprintf(v, sizeof(v), "v%d", i * 7);
		if (i % 10 == 0)
			params[1] = NULL;
		assert_int_equal(be->exec(db, ins, params, 2, &err), 0);
	}
	assert_int_equal(be->commit(db, &err), 0);

	got = rows(db, "SELECT count(*), count(v) FROM t");
	assert_string_equal(got, "1000|900\n");
	free(got);
	got = rows(db, "SELECT k, v FROM t WHERE k IN ('k0000', 'k0001', 'k0999') "
		       "ORDER BY k");
	assert_string_equal(got, "k0000|<null>\nk0001|v7\nk0999|v6993\n");
	free(got);

	/* Same text, parameters bound afresh: no value leaks between calls. */
	{
		const char *p1[] = { "o'brien@example.com; --", "x" };
		const char *p2[] = { "second", NULL };

		assert_int_equal(be->exec(db, ins, p1, 2, &err), 0);
		assert_int_equal(be->exec(db, ins, p2, 2, &err), 0);
	}
	got = rows(db, "SELECT k, v FROM t WHERE k NOT LIKE 'k%' ORDER BY k");
	assert_string_equal(got, "o'brien@example.com; --|x\nsecond|<null>\n");
	free(got);

	be->close(db);
	free(path);
	cv_error_release(&err);
}

/*
 * The journal writes its steps several rows to an INSERT, and the rest
 * one by one: 70 steps are two full INSERTs of 32 and six single rows,
 * and every one reads back as written, in order.
 */
static void test_sqlite__journal_steps_in_multi_row_inserts(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "journal.db");
	struct cv_db *db = open_db(path, CV_DB_CREATE);
	struct cv_plan plan, back;
	const char *ins = "INSERT INTO t (k, v) VALUES (?1, ?2)";
	size_t i;

	cv_plan_init(&plan);
	cv_plan_init(&back);
	for (i = 0; i < 70; i++) {
		char obj[32], v[32];
		const char *p[2] = { obj, i % 3 ? v : NULL };
		struct cv_step *st;

		snprintf(obj, sizeof(obj), "o'bj %zu", i);
		snprintf(v, sizeof(v), "v%zu", i * 7);
		st = cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_CREATE, "grants",
				 cv_arena_strdup(&plan.arena, obj));
		st->seq = (uint32_t)(i + 1);
		cv_step_fwd(&plan, st, ins, p, 2);
		cv_step_inv(&plan, st, "DELETE FROM t WHERE k = ?1", p, 1);
		cv_step_set_key(&plan, st, p, 1);
	}
	assert_int_equal(be->begin(db, &err), 0);
	assert_int_equal(cv_journal_ensure(db, &err), 0);
	assert_int_equal(cv_journal_add_steps(db, "r1", plan.steps, plan.nr,
					      "applied", &err), 0);
	assert_int_equal(be->commit(db, &err), 0);

	assert_int_equal(cv_journal_steps(db, "r1", &back, &err), 0);
	assert_int_equal(back.nr, 70);
	for (i = 0; i < 70; i++) {
		const struct cv_step *a = &plan.steps[i], *b = &back.steps[i];

		assert_int_equal(b->seq, a->seq);
		assert_string_equal(b->object, a->object);
		assert_string_equal(b->key[0], a->key[0]);
		assert_int_equal(b->nfwd, 1);
		assert_string_equal(b->fwd[0].sql, ins);
		assert_string_equal(b->fwd[0].params[0], a->fwd[0].params[0]);
		if (a->fwd[0].params[1])
			assert_string_equal(b->fwd[0].params[1],
					    a->fwd[0].params[1]);
		else
			assert_null(b->fwd[0].params[1]);
		assert_int_equal(b->ninv, 1);
	}
	cv_plan_release(&back);
	cv_plan_release(&plan);
	be->close(db);
	free(path);
	cv_error_release(&err);
}

static void test_sqlite__exec_error_carries_sql(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *db = open_db(path, CV_DB_CREATE);
	const char *bad = "INSERT INTO nope (a) VALUES (?1)";
	const char *ins = "INSERT INTO t (k) VALUES (?1)";
	const char *params[] = { "dup" };

	assert_int_equal(be->exec(db, bad, params, 1, &err), CV_EDB);
	assert_int_equal(err.code, CV_EDB);
	assert_non_null(strstr(err.msg, "no such table: nope"));
	assert_string_equal(err.sql, bad);
	cv_error_release(&err);

	script(db, "CREATE TABLE t (k TEXT PRIMARY KEY)");
	assert_int_equal(be->exec(db, ins, params, 1, &err), 0);
	/* The failing run is a cached statement's: same SQL recorded. */
	assert_int_equal(be->exec(db, ins, params, 1, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "UNIQUE constraint failed"));
	assert_string_equal(err.sql, ins);
	cv_error_release(&err);
	/* And the statement is usable again afterwards. */
	params[0] = "other";
	assert_int_equal(be->exec(db, ins, params, 1, &err), 0);

	assert_int_equal(be->exec(db, ins, params, 0, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "takes 1 parameters, 0 given"));
	cv_error_release(&err);

	assert_int_equal(be->exec(db, "DELETE FROM t; DROP TABLE t", NULL, 0,
				  &err), CV_EDB);
	assert_non_null(strstr(err.msg, "more than one statement"));
	cv_error_release(&err);
	/* A trailing semicolon and comment are one statement. */
	assert_int_equal(be->exec(db, "DELETE FROM t WHERE k = 'x'; -- done",
				  NULL, 0, &err), 0);

	assert_int_equal(be->exec_script(db, "CREATE TABLE u (a);\nSELEC 1",
					 &err), CV_EDB);
	assert_non_null(strstr(err.msg, "syntax error"));
	assert_string_equal(err.sql, "CREATE TABLE u (a);\nSELEC 1");

	be->close(db);
	free(path);
	cv_error_release(&err);
}

struct stopper {
	int seen;
	struct cv_db *db;
	struct cv_buf inner;
};

static int stop_after_two(void *ctx, const char *const *cols,
			  const size_t *lens, int ncols)
{
	struct stopper *s = ctx;

	(void)cols;
	(void)lens;
	(void)ncols;
	return ++s->seen == 2 ? 42 : 0;
}

/* Runs the same query again from inside its own row callback. */
static int nested(void *ctx, const char *const *cols, const size_t *lens,
		  int ncols)
{
	struct stopper *s = ctx;
	struct cv_error err = CV_ERROR_INIT;
	const char *params[] = { cols[0] };

	(void)lens;
	(void)ncols;
	s->seen++;
	if (be->query(s->db, "SELECT k FROM t WHERE k >= ?1 ORDER BY k", params,
		      1, collect, &s->inner, &err))
		fail_msg("nested query: %s", err.msg);
	cv_error_release(&err);
	return 0;
}

static void test_sqlite__query_stop_and_nesting(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *db = open_db(path, CV_DB_CREATE);
	const char *sel = "SELECT k FROM t WHERE k >= ?1 ORDER BY k";
	const char *params[] = { "a" };
	struct stopper s = { 0, db, CV_BUF_INIT };

	script(db, "CREATE TABLE t (k TEXT); INSERT INTO t VALUES ('a'), ('b'), ('c')");
	assert_int_equal(be->query(db, sel, params, 1, stop_after_two, &s, &err),
			 42);
	assert_int_equal(s.seen, 2);

	/* The stopped statement was reset: the next run sees every row. */
	s.seen = 0;
	assert_int_equal(be->query(db, sel, params, 1, nested, &s, &err), 0);
	assert_int_equal(s.seen, 3);
	assert_string_equal(cv_buf_str(&s.inner), "a\nb\nc\nb\nc\nc\n");

	cv_buf_release(&s.inner);
	be->close(db);
	free(path);
	cv_error_release(&err);
}

static void test_sqlite__many_distinct_statements(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *db = open_db(path, CV_DB_CREATE);
	char *got;

	/* More texts than the cache keeps: it must start over cleanly. */
	script(db, "CREATE TABLE t (n INTEGER)");
	assert_int_equal(be->begin(db, &err), 0);
	for (int i = 0; i < 5000; i++) {
		char sql[64];

		snprintf(sql, sizeof(sql), "INSERT INTO t (n) VALUES (%d)", i);
		assert_int_equal(be->exec(db, sql, NULL, 0, &err), 0);
	}
	assert_int_equal(be->commit(db, &err), 0);
	got = rows(db, "SELECT count(*), sum(n) FROM t");
	assert_string_equal(got, "5000|12497500\n");
	free(got);
	be->close(db);
	free(path);
	cv_error_release(&err);
}

#define TIMED_ROWS 100000

static void test_sqlite__statement_cache_timing(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "cached.db");
	char *raw_path = in_dir(state, "raw.db");
	const char *ins = "INSERT INTO t (k, v) VALUES (?1, ?2)";
	struct cv_db *db = open_db(path, CV_DB_CREATE);
	sqlite3 *raw = NULL;
	sqlite3_stmt *stmt = NULL;
	double t0, t_cached, t_raw;
	char *got;

	script(db, "CREATE TABLE t (k TEXT, v TEXT)");
	t0 = now_s();
	assert_int_equal(be->begin(db, &err), 0);
	for (int i = 0; i < TIMED_ROWS; i++) {
		char k[32];
		const char *params[2] = { k, "value" };

		snprintf(k, sizeof(k), "key-%d", i);
		assert_int_equal(be->exec(db, ins, params, 2, &err), 0);
	}
	assert_int_equal(be->commit(db, &err), 0);
	t_cached = now_s() - t0;
	got = rows(db, "SELECT count(*) FROM t");
	assert_string_equal(got, "100000\n");
	free(got);
	be->close(db);

	assert_int_equal(sqlite3_open(raw_path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "CREATE TABLE t (k TEXT, v TEXT)",
				      NULL, NULL, NULL), SQLITE_OK);
	t0 = now_s();
	assert_int_equal(sqlite3_exec(raw, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, ins, -1, &stmt, NULL), SQLITE_OK);
	for (int i = 0; i < TIMED_ROWS; i++) {
		char k[32];

		snprintf(k, sizeof(k), "key-%d", i);
		sqlite3_bind_text(stmt, 1, k, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, "value", -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	assert_int_equal(sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	t_raw = now_s() - t0;
	sqlite3_close(raw);

	printf("# %d inserts: backend exec %.3f s, hand-written prepared loop "
	       "%.3f s (ratio %.2f)\n", TIMED_ROWS, t_cached, t_raw,
	       t_raw > 0 ? t_cached / t_raw : 0.0);
	free(path);
	free(raw_path);
	cv_error_release(&err);
}

/* ---- locks and transactions --------------------------------------- */

static void test_sqlite__begin_lock_contention(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *a = open_db(path, CV_DB_CREATE);
	struct cv_db *b = open_db(path, 0);
	double t0, waited;

	assert_int_equal(be->begin(a, &err), 0);
	be->set_lock_timeout(b, 200);
	t0 = now_s();
	assert_int_equal(be->begin(b, &err), CV_ELOCKED);
	waited = now_s() - t0;
	assert_int_equal(err.code, CV_ELOCKED);
	assert_string_equal(err.msg,
			    "database is locked by another apply (waited 0.2 s)");
	assert_true(waited >= 0.15);
	cv_error_release(&err);

	/* The loser can still read; once the holder is done, it can lock. */
	assert_int_equal(be->rollback(b), 0);
	assert_int_equal(be->rollback(a), 0);
	assert_int_equal(be->begin(b, &err), 0);
	assert_int_equal(be->commit(b, &err), 0);
	/* rollback with no transaction is fine. */
	assert_int_equal(be->rollback(b), 0);

	be->close(a);
	be->close(b);
	free(path);
	cv_error_release(&err);
}

/*
 * An application's write transaction keeps converge's write transaction
 * out though converge's own lock is free: the message does not blame
 * another apply, and lock_holder says it is not converge's lock.
 */
static void test_sqlite__begin_blocked_by_application(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_buf who = CV_BUF_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *a = open_db(path, CV_DB_CREATE);
	sqlite3 *app = NULL;

	assert_int_equal(sqlite3_open(path, &app), SQLITE_OK);
	assert_int_equal(sqlite3_exec(app, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	be->set_lock_timeout(a, 0);
	assert_int_equal(be->begin(a, &err), CV_ELOCKED);
	/* This process's own locks are no news: no pid is named. */
	assert_string_equal(err.msg,
			    "database is locked by another program's write transaction (waited 0 s)");
	assert_int_equal(be->rollback(a), 0);
	assert_non_null(be->lock_holder);
	assert_false(be->lock_holder(a, &who));
	assert_int_equal(who.len, 0);
	cv_error_release(&err);

	/* Once the application is done, converge's lock is its own again. */
	assert_int_equal(sqlite3_exec(app, "ROLLBACK", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(be->begin(a, &err), 0);
	assert_int_equal(be->rollback(a), 0);
	sqlite3_close(app);
	be->close(a);
	cv_buf_release(&who);
	free(path);
	cv_error_release(&err);
}

static void test_sqlite__begin_read_is_a_snapshot(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *w, *r;
	char *got;

	make_sample(path);
	w = open_db(path, 0);
	r = open_db(path, CV_DB_READONLY);
	assert_int_equal(be->begin_read(r, &err), 0);
	/* The reader holds its view: a writer cannot commit under it. */
	be->set_lock_timeout(w, 50);
	assert_int_equal(be->begin(w, &err), 0);
	assert_int_equal(be->exec(w, "DELETE FROM roles", NULL, 0, &err), 0);
	assert_int_equal(be->commit(w, &err), CV_ELOCKED);
	cv_error_release(&err);
	got = rows(r, "SELECT count(*) FROM roles");
	assert_string_equal(got, "2\n");
	free(got);
	assert_int_equal(be->rollback(r), 0);
	assert_int_equal(be->commit(w, &err), 0);
	got = rows(r, "SELECT count(*) FROM roles");
	assert_string_equal(got, "0\n");
	free(got);
	be->close(r);
	be->close(w);
	free(path);
	cv_error_release(&err);
}

/*
 * A run whose revisions commit in segments keeps converge's lock between
 * its transactions, while a revision runs outside any (VACUUM refuses to
 * run inside one); the application's own connections are not held up.
 */
static void test_sqlite__hold_lock_between_transactions(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	char *snap = in_dir(state, "snap.db");
	struct cv_db *a, *b;
	sqlite3 *app = NULL;
	double t0, waited;
	int fd;

	make_sample(path);
	make_sample(snap);
	a = open_db(path, 0);
	b = open_db(path, 0);
	be->set_lock_timeout(b, 0);
	assert_non_null(be->hold_lock);
	assert_int_equal(be->begin(a, &err), 0);
	assert_int_equal(be->hold_lock(a, &err), 0);
	assert_int_equal(be->commit(a, &err), 0);

	/* Between a's transactions: b is kept out, at once and after 0.2 s. */
	assert_int_equal(be->begin(b, &err), CV_ELOCKED);
	assert_string_equal(err.msg,
			    "database is locked by another apply (waited 0 s)");
	cv_error_release(&err);
	be->set_lock_timeout(b, 200);
	t0 = now_s();
	assert_int_equal(be->begin(b, &err), CV_ELOCKED);
	waited = now_s() - t0;
	assert_string_equal(err.msg,
			    "database is locked by another apply (waited 0.2 s)");
	assert_true(waited >= 0.15 && waited < 2.0);
	cv_error_release(&err);
	/* A restore is an apply's peer, and waits too. */
	be->set_lock_timeout(b, 0);
	assert_int_equal(be->restore(b, snap, &err), CV_ELOCKED);
	cv_error_release(&err);

	/* What must run outside a transaction runs, under the lock. */
	script(a, "VACUUM");
	/* Closing another descriptor of the file, as a plain open() and
	 * close() do, leaves the lock alone (a POSIX lock would go). */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(be->begin(b, &err), CV_ELOCKED);
	cv_error_release(&err);

	/* The application writes as it always does. */
	assert_int_equal(sqlite3_open(path, &app), SQLITE_OK);
	assert_int_equal(sqlite3_exec(app, "INSERT INTO roles VALUES "
				      "('app', NULL)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(app);
	/* And readers (plan) read. */
	assert_int_equal(be->begin_read(b, &err), 0);
	assert_int_equal(be->rollback(b), 0);

	/* a's next segment, then the end of its run. */
	assert_int_equal(be->begin(a, &err), 0);
	assert_int_equal(be->exec(a, "DELETE FROM roles WHERE name = 'app'",
				  NULL, 0, &err), 0);
	assert_int_equal(be->commit(a, &err), 0);
	assert_int_equal(be->begin(b, &err), CV_ELOCKED);
	cv_error_release(&err);
	be->release_lock(a);
	assert_int_equal(be->begin(b, &err), 0);
	assert_int_equal(be->rollback(b), 0);

	/* Without hold_lock, the lock goes with the transaction. */
	assert_int_equal(be->begin(a, &err), 0);
	assert_int_equal(be->commit(a, &err), 0);
	assert_int_equal(be->begin(b, &err), 0);
	assert_int_equal(be->rollback(b), 0);

	be->close(a);
	be->close(b);
	free(path);
	free(snap);
	cv_error_release(&err);
}

/* Closing the connection ends a held lock, as the end of the process
 * does (the kernel drops flock locks then). */
static void test_sqlite__close_ends_held_lock(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *a = open_db(path, CV_DB_CREATE);
	struct cv_db *b = open_db(path, 0);

	be->set_lock_timeout(b, 0);
	/* Outside a transaction, hold_lock takes the lock itself. */
	assert_int_equal(be->hold_lock(a, &err), 0);
	assert_int_equal(be->begin(b, &err), CV_ELOCKED);
	cv_error_release(&err);
	be->close(a);
	assert_int_equal(be->begin(b, &err), 0);
	assert_int_equal(be->commit(b, &err), 0);
	be->close(b);
	free(path);
	cv_error_release(&err);
}

/* ---- snapshots ---------------------------------------------------- */

static void test_sqlite__snapshot_mode_and_content(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	char *snap = in_dir(state, "app-run1.db");
	struct cv_db *db, *copy;
	struct stat st;
	char *want, *got;
	mode_t old = umask(0);

	make_sample(path);
	db = open_db(path, 0);
	assert_int_equal(be->snapshot(db, snap, &err), 0);
	umask(old);
	assert_int_equal(stat(snap, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	copy = open_db(snap, CV_DB_READONLY);
	want = rows(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name");
	got = rows(copy, "SELECT type, name, sql FROM sqlite_master ORDER BY name");
	assert_string_equal(got, want);
	free(want);
	free(got);
	want = rows(db, "SELECT * FROM roles ORDER BY name");
	got = rows(copy, "SELECT * FROM roles ORDER BY name");
	assert_string_equal(got, want);
	assert_string_equal(got, "admin|<null>\nviewer|reads\n");
	free(want);
	free(got);
	be->close(copy);
	be->close(db);
	free(path);
	free(snap);
	cv_error_release(&err);
}

static void test_sqlite__snapshot_inside_begin_immediate(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	char *snap = in_dir(state, "app-run2.db");
	struct cv_db *db, *copy;
	struct stat st;
	char *got;

	make_sample(path);
	db = open_db(path, 0);
	assert_int_equal(be->begin(db, &err), 0);
	assert_int_equal(be->snapshot(db, snap, &err), 0);
	/* The lock is still ours, and the run goes on in it. */
	assert_int_equal(be->exec(db, "DELETE FROM roles WHERE name = 'admin'",
				  NULL, 0, &err), 0);
	assert_int_equal(be->commit(db, &err), 0);

	assert_int_equal(stat(snap, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	copy = open_db(snap, CV_DB_READONLY);
	got = rows(copy, "SELECT name FROM roles ORDER BY name");
	assert_string_equal(got, "admin\nviewer\n");
	free(got);
	be->close(copy);
	got = rows(db, "SELECT name FROM roles ORDER BY name");
	assert_string_equal(got, "viewer\n");
	free(got);
	be->close(db);
	free(path);
	free(snap);
	cv_error_release(&err);
}

static void test_sqlite__snapshot_empty_database(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "new.db");
	char *snap = in_dir(state, "new-run1.db");
	struct cv_db *db = open_db(path, CV_DB_CREATE);
	struct cv_db *copy;
	struct stat st;
	char *got;

	assert_int_equal(be->begin(db, &err), 0);
	assert_int_equal(be->snapshot(db, snap, &err), 0);
	assert_int_equal(be->rollback(db), 0);
	assert_int_equal(stat(snap, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	copy = open_db(snap, CV_DB_READONLY);
	got = rows(copy, "SELECT count(*) FROM sqlite_master");
	assert_string_equal(got, "0\n");
	free(got);
	be->close(copy);
	be->close(db);
	free(path);
	free(snap);
	cv_error_release(&err);
}

static void test_sqlite__snapshot_never_overwrites(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	char *snap = in_dir(state, "app-run1.db");
	char *missing_dir = in_dir(state, "no/such/dir/app-run1.db");
	struct cv_db *db;
	FILE *fp;
	char *data, *list;
	size_t len;

	make_sample(path);
	fp = fopen(snap, "w");
	assert_non_null(fp);
	fputs("keep me", fp);
	fclose(fp);

	db = open_db(path, 0);
	assert_int_equal(be->snapshot(db, snap, &err), CV_EIO);
	assert_non_null(strstr(err.msg, "already exists"));
	cv_error_release(&err);
	data = read_all(snap, &len);
	assert_string_equal(data, "keep me");
	free(data);

	assert_int_equal(be->snapshot(db, missing_dir, &err), CV_EIO);
	cv_error_release(&err);
	be->close(db);
	list = dir_listing(state);
	assert_string_equal(list, "app-run1.db app.db");
	free(list);
	free(path);
	free(snap);
	free(missing_dir);
}

static void test_sqlite__restore_round_trip(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	char *snap = in_dir(state, "app-run1.db");
	struct cv_db *db;
	char *want, *got;
	bool yes = true;

	make_sample(path);
	db = open_db(path, 0);
	want = rows(db, "SELECT * FROM roles ORDER BY name");
	assert_int_equal(be->snapshot(db, snap, &err), 0);

	/* Warm the cache with a statement on a table about to vanish. */
	got = rows(db, "SELECT count(*) FROM roles");
	free(got);
	script(db, "DELETE FROM roles; CREATE TABLE later (x);"
		   "INSERT INTO later VALUES (1)");

	assert_int_equal(be->restore(db, snap, &err), 0);
	got = rows(db, "SELECT * FROM roles ORDER BY name");
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(be->table_exists(db, "later", &yes, &err), 0);
	assert_false(yes);
	got = rows(db, "SELECT count(*) FROM roles");
	assert_string_equal(got, "2\n");
	free(got);

	/* Not inside a transaction. */
	assert_int_equal(be->begin(db, &err), 0);
	assert_int_equal(be->restore(db, snap, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "inside a transaction"));
	assert_int_equal(be->rollback(db), 0);
	cv_error_release(&err);

	be->close(db);
	free(want);
	free(path);
	free(snap);
}

/*
 * restore snapshots the database under the lock, lets the lock go (the
 * backup API needs it), then restores: a commit by another connection in
 * between must refuse the restore (the caller snapshots again), not be
 * overwritten unsaved.  Our own writes do not count.
 */
static void test_sqlite__restore_refuses_after_foreign_commit(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	char *snap = in_dir(state, "app-run1.db");
	char *before = in_dir(state, "app-before.db");
	char *before2 = in_dir(state, "app-before2.db");
	struct cv_db *db, *other;
	char *got;

	make_sample(path);
	db = open_db(path, 0);
	assert_int_equal(be->snapshot(db, snap, &err), 0);
	script(db, "DELETE FROM roles");

	/* As restore does it: the state to replace, under the lock. */
	assert_int_equal(be->begin(db, &err), 0);
	assert_int_equal(be->snapshot(db, before, &err), 0);
	assert_int_equal(be->rollback(db), 0);

	other = open_db(path, 0);
	script(other, "INSERT INTO roles (name) VALUES ('late')");
	be->close(other);

	assert_int_equal(be->restore(db, snap, &err), CV_ESTALE);
	assert_non_null(strstr(err.msg, "changed after its snapshot was taken"));
	cv_error_release(&err);
	got = rows(db, "SELECT name FROM roles");
	assert_string_equal(got, "late\n");	/* nothing restored */
	free(got);

	/* Snapshotted again, with nobody else writing: it goes through. */
	assert_int_equal(be->begin(db, &err), 0);
	assert_int_equal(be->snapshot(db, before2, &err), 0);
	assert_int_equal(be->rollback(db), 0);
	assert_int_equal(be->restore(db, snap, &err), 0);
	got = rows(db, "SELECT count(*) FROM roles");
	assert_string_equal(got, "2\n");
	free(got);

	be->close(db);
	free(path);
	free(snap);
	free(before);
	free(before2);
}

static void test_sqlite__restore_bad_snapshot_leaves_database(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	char *missing = in_dir(state, "gone.db");
	char *junk = in_dir(state, "junk.db");
	char *cut = in_dir(state, "cut.db");
	char *snap = in_dir(state, "full.db");
	char *before, *after, *data;
	size_t nbefore, nafter, len;
	struct cv_db *db;
	FILE *fp;

	make_sample(path);
	db = open_db(path, 0);
	/* A snapshot big enough to span many pages, then cut in half. */
	script(db, "CREATE TABLE big (x TEXT);"
		   "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
		   "FROM n WHERE i < 2000) INSERT INTO big "
		   "SELECT printf('%0500d', i) FROM n");
	assert_int_equal(be->snapshot(db, snap, &err), 0);
	data = read_all(snap, &len);
	fp = fopen(cut, "w");
	assert_non_null(fp);
	fwrite(data, 1, len / 2, fp);
	fclose(fp);
	free(data);
	fp = fopen(junk, "w");
	assert_non_null(fp);
	for (int i = 0; i < 100; i++)
		fputs("garbage, not a database; ", fp);
	fclose(fp);
	script(db, "DROP TABLE big");
	be->close(db);
	before = read_all(path, &nbefore);

	db = open_db(path, 0);
	assert_int_equal(be->restore(db, missing, &err), CV_ENOTFOUND);
	assert_non_null(strstr(err.msg, "does not exist"));
	cv_error_release(&err);
	assert_int_equal(be->restore(db, junk, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "junk.db"));
	cv_error_release(&err);
	assert_int_equal(be->restore(db, cut, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "cut.db"));
	cv_error_release(&err);
	be->close(db);

	after = read_all(path, &nafter);
	assert_int_equal(nbefore, nafter);
	assert_memory_equal(before, after, nbefore);
	free(before);
	free(after);
	free(path);
	free(missing);
	free(junk);
	free(cut);
	free(snap);
}

static void test_sqlite__snapshot_and_restore_wal_database(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "wal.db");
	char *snap = in_dir(state, "wal-run1.db");
	struct cv_db *db, *other;
	char *got;

	db = open_db(path, CV_DB_CREATE);
	script(db, "PRAGMA journal_mode = WAL; CREATE TABLE t (x);"
		   "INSERT INTO t VALUES (1), (2)");
	assert_int_equal(be->begin(db, &err), 0);
	assert_int_equal(be->snapshot(db, snap, &err), 0);
	assert_int_equal(be->exec(db, "DELETE FROM t", NULL, 0, &err), 0);
	assert_int_equal(be->commit(db, &err), 0);

	/* A restore waits for the lock like everything else that writes. */
	other = open_db(path, 0);
	assert_int_equal(be->begin(other, &err), 0);
	be->set_lock_timeout(db, 100);
	assert_int_equal(be->restore(db, snap, &err), CV_ELOCKED);
	cv_error_release(&err);
	got = rows(db, "SELECT count(*) FROM t");
	assert_string_equal(got, "0\n");
	free(got);
	assert_int_equal(be->rollback(other), 0);
	be->close(other);

	assert_int_equal(be->restore(db, snap, &err), 0);
	got = rows(db, "SELECT x FROM t ORDER BY x");
	assert_string_equal(got, "1\n2\n");
	free(got);
	got = rows(db, "PRAGMA journal_mode");
	assert_string_equal(got, "wal\n");
	free(got);
	be->close(db);
	/* The snapshot is one self-contained file, and stays alone. */
	got = dir_listing(state);
	assert_string_equal(got, "wal-run1.db wal.db");
	free(got);
	free(path);
	free(snap);
	cv_error_release(&err);
}

/* ---- catalogue and quoting ---------------------------------------- */

static void test_sqlite__foreign_key_check(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *db = open_db(path, CV_DB_CREATE);

	script(db, "CREATE TABLE parent (name TEXT PRIMARY KEY);"
		   "CREATE TABLE child (role TEXT REFERENCES parent (name));"
		   "INSERT INTO parent VALUES ('admin');"
		   "INSERT INTO child VALUES ('admin')");
	assert_int_equal(be->foreign_key_check(db, &err), 0);

	script(db, "PRAGMA foreign_keys = OFF; INSERT INTO child VALUES ('ghost')");
	assert_int_equal(be->foreign_key_check(db, &err), CV_EDB);
	assert_string_equal(err.msg, "foreign key check failed: table 'child' "
				     "row 2 references 'parent'");
	cv_error_release(&err);

	script(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
		   "FROM n WHERE i < 7) INSERT INTO child SELECT 'x' || i FROM n");
	assert_int_equal(be->foreign_key_check(db, &err), CV_EDB);
	assert_non_null(strstr(err.msg, "row 6 references 'parent' (and 3 more)"));
	assert_null(strstr(err.msg, "row 7"));
	be->close(db);
	free(path);
	cv_error_release(&err);
}

static void test_sqlite__quote_ident(void **state)
{
	static const char *names[] = {
		"plain", "with \"quotes\"", "semi;colon -- DROP TABLE x",
		"with space", "ünïcødé_表", "'single'",
	};
	struct cv_error err = CV_ERROR_INIT;
	char *path = in_dir(state, "app.db");
	struct cv_db *db = open_db(path, CV_DB_CREATE);
	struct cv_buf b = CV_BUF_INIT;

	be->quote_ident(&b, "a\"b");
	assert_string_equal(cv_buf_str(&b), "\"a\"\"b\"");
	cv_buf_reset(&b);
	be->param(&b, 3);
	assert_string_equal(cv_buf_str(&b), "?3");
	cv_buf_reset(&b);
	assert_string_equal(be->table_suffix, " WITHOUT ROWID");
	assert_string_equal(be->bool_type, "INTEGER");
	assert_string_equal(be->name, "sqlite");
	assert_string_equal(be->snapshot_ext, ".db");

	for (size_t i = 0; i < CV_ARRAY_SIZE(names); i++) {
		const char *params[] = { names[i] };
		bool yes = false;
		char *got;

		cv_buf_reset(&b);
		cv_buf_adds(&b, "CREATE TABLE ");
		be->quote_ident(&b, names[i]);
		cv_buf_adds(&b, " (");
		be->quote_ident(&b, names[i]);
		cv_buf_adds(&b, " TEXT PRIMARY KEY)");
		cv_buf_adds(&b, be->table_suffix);
		script(db, b.buf);

		assert_int_equal(be->table_exists(db, names[i], &yes, &err), 0);
		assert_true(yes);
		assert_int_equal(be->table_has_rows(db, names[i], &yes, &err), 0);
		assert_false(yes);

		cv_buf_reset(&b);
		cv_buf_adds(&b, "INSERT INTO ");
		be->quote_ident(&b, names[i]);
		cv_buf_adds(&b, " VALUES (");
		be->param(&b, 1);
		cv_buf_adds(&b, ")");
		assert_int_equal(be->exec(db, b.buf, params, 1, &err), 0);
		assert_int_equal(be->table_has_rows(db, names[i], &yes, &err), 0);
		assert_true(yes);

		cv_buf_reset(&b);
		cv_buf_adds(&b, "SELECT * FROM ");
		be->quote_ident(&b, names[i]);
		got = rows(db, b.buf);
		cv_buf_reset(&b);
		cv_buf_addf(&b, "%s\n", names[i]);
		assert_string_equal(got, b.buf);
		free(got);
	}
	cv_buf_release(&b);
	be->close(db);
	free(path);
	cv_error_release(&err);
}

/*
 * The statement cache (src/backend/cache.c): the last statement found is
 * tried first, and that shortcut never outlives the slot it points at
 * (the table grows, is pruned, is cleared).
 */
static int dropped;

static void count_drop(void *stmt)
{
	(void)stmt;
	dropped++;
}

static bool keep_odd(void *stmt)
{
	return (uintptr_t)stmt & 1;
}

static void test_sqlite__stmt_cache(void **state)
{
	struct cv_stmt_cache c;
	char sql[64];
	uint64_t h, h2;
	uintptr_t i;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_null(cv_stmt_cache_lookup(&c, "SELECT 1", &h));
	assert_true(h == cv_stmt_cache_hash("SELECT 1"));
	cv_stmt_cache_add(&c, "SELECT 1", h, (void *)1);
	assert_ptr_equal(cv_stmt_cache_lookup(&c, "SELECT 1", &h2), (void *)1);
	assert_true(h2 == h);
	/* The shortcut hit, and a miss right after it. */
	assert_ptr_equal(cv_stmt_cache_lookup(&c, "SELECT 1", &h2), (void *)1);
	assert_null(cv_stmt_cache_lookup(&c, "SELECT 2", &h2));
	/* Growing the table moves every slot: lookups still find each. */
	for (i = 2; i < 300; i++) {
		snprintf(sql, sizeof(sql), "SELECT %u", (unsigned)i);
		assert_null(cv_stmt_cache_lookup(&c, sql, &h));
		cv_stmt_cache_add(&c, sql, h, (void *)i);
		assert_ptr_equal(cv_stmt_cache_lookup(&c, "SELECT 1", &h2),
				 (void *)1);
	}
	for (i = 1; i < 300; i++) {
		snprintf(sql, sizeof(sql), "SELECT %u", (unsigned)i);
		assert_ptr_equal(cv_stmt_cache_lookup(&c, sql, &h), (void *)i);
		assert_ptr_equal(cv_stmt_cache_lookup(&c, sql, &h), (void *)i);
	}
	/* Pruning drops the even ones, the last found among them. */
	assert_ptr_equal(cv_stmt_cache_lookup(&c, "SELECT 298", &h), (void *)298);
	dropped = 0;
	cv_stmt_cache_prune(&c, keep_odd, count_drop);
	assert_int_equal(dropped, 149);
	assert_null(cv_stmt_cache_lookup(&c, "SELECT 298", &h));
	assert_ptr_equal(cv_stmt_cache_lookup(&c, "SELECT 299", &h), (void *)299);
	dropped = 0;
	cv_stmt_cache_clear(&c, count_drop);
	assert_int_equal(dropped, 150);
	assert_null(cv_stmt_cache_lookup(&c, "SELECT 299", &h));
	cv_stmt_cache_clear(&c, NULL);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlite__stmt_cache),
		T(test_sqlite__readonly_missing_creates_nothing),
		T(test_sqlite__readonly_plan_leaves_file_identical),
		T(test_sqlite__readonly_wal_leaves_nothing),
		T(test_sqlite__create_needs_parent_dir),
		T(test_sqlite__create_then_readonly_sees_empty),
		T(test_sqlite__not_a_database),
		T(test_sqlite__exec_many_params),
		T(test_sqlite__journal_steps_in_multi_row_inserts),
		T(test_sqlite__exec_error_carries_sql),
		T(test_sqlite__query_stop_and_nesting),
		T(test_sqlite__many_distinct_statements),
		T(test_sqlite__statement_cache_timing),
		T(test_sqlite__begin_lock_contention),
		T(test_sqlite__begin_blocked_by_application),
		T(test_sqlite__begin_read_is_a_snapshot),
		T(test_sqlite__hold_lock_between_transactions),
		T(test_sqlite__close_ends_held_lock),
		T(test_sqlite__snapshot_mode_and_content),
		T(test_sqlite__snapshot_inside_begin_immediate),
		T(test_sqlite__snapshot_empty_database),
		T(test_sqlite__snapshot_never_overwrites),
		T(test_sqlite__restore_round_trip),
		T(test_sqlite__restore_refuses_after_foreign_commit),
		T(test_sqlite__restore_bad_snapshot_leaves_database),
		T(test_sqlite__snapshot_and_restore_wal_database),
		T(test_sqlite__foreign_key_check),
		T(test_sqlite__quote_ident),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
