/*
 * Unit tests for the journal's statement encoding, timestamps and digests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "converge/journal.h"
#include "converge/kind.h"
#include "converge/timeutil.h"

static void test_journal__stmts_round_trip(void **state)
{
	struct cv_arena a = CV_ARENA_INIT;
	const char *p1[] = { "o'brien@example.com", NULL, "", "12:34", "~" };
	struct cv_stmt in[2], *out = NULL;
	struct cv_buf b = CV_BUF_INIT, sql = CV_BUF_INIT;
	uint32_t n = 0, i;

	(void)state;
	memset(in, 0, sizeof(in));
	in[0].sql = "INSERT INTO \"t\" (\"a\", \"b\", \"c\", \"d\", \"e\") VALUES (?1, ?2, ?3, ?4, ?5)";
	in[0].params = p1;
	in[0].nparams = 5;
	in[0].run_id_param = 2;
	in[1].sql = "CREATE TABLE x (a TEXT);\n-- 12:34 ~\nDROP TABLE y;\n";
	in[1].script = true;
	cv_stmts_encode(&sql, &b, in, 2);
	/* The texts are readable as they are, one after the other. */
	assert_true(strncmp(sql.buf, in[0].sql, strlen(in[0].sql)) == 0);
	assert_int_equal(cv_stmts_decode(&a, sql.buf, b.buf, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].sql, in[0].sql);
	assert_false(out[0].script);
	assert_int_equal(out[0].nparams, 5);
	assert_int_equal(out[0].run_id_param, 2);
	assert_int_equal(out[0].now_param, 0);
	for (i = 0; i < 5; i++) {
		if (p1[i])
			assert_string_equal(out[0].params[i], p1[i]);
		else
			assert_null(out[0].params[i]);
	}
	assert_string_equal(out[1].sql, in[1].sql);
	assert_true(out[1].script);
	assert_int_equal(out[1].nparams, 0);
	/* A text that does not match the lengths is damage. */
	sql.buf[sql.len - 1] = 'x';
	assert_int_equal(cv_stmts_decode(&a, sql.buf, b.buf, &out, &n), CV_EINVAL);
	cv_buf_release(&sql);
	cv_buf_release(&b);
	cv_arena_release(&a);
}

static void test_journal__decode_rejects_damage(void **state)
{
	/* Codes against the text "abc\n". */
	static const char *const bad[] = {
		"x3:0:", "q4:0:", "q3:1:", "q3:2:1:a", "q99999999999:0:",
		"q3:1:5:ab", "q3:0:q1:0:", "q2:0:",
	};
	struct cv_arena a = CV_ARENA_INIT;
	struct cv_stmt *out;
	uint32_t n;
	size_t i;

	(void)state;
	for (i = 0; i < CV_ARRAY_SIZE(bad); i++)
		assert_int_equal(cv_stmts_decode(&a, "abc\n", bad[i], &out, &n),
				 CV_EINVAL);
	assert_int_equal(cv_stmts_decode(&a, "abc\n", "q3:1:2:xy", &out, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].sql, "abc");
	assert_string_equal(out[0].params[0], "xy");
	assert_int_equal(cv_stmts_decode(&a, "", "", &out, &n), 0);
	assert_int_equal(n, 0);
	cv_arena_release(&a);
}

/* A step read back from the journal can be added to like a planned one:
 * its lists have the room cv_step_fwd expects, and adding a statement
 * writes over nothing allocated after them. */
static void test_journal__decoded_lists_grow(void **state)
{
	struct cv_stmt in[3];
	struct cv_buf sql = CV_BUF_INIT, code = CV_BUF_INIT;
	struct cv_plan plan;
	struct cv_step *st;
	const char *after;
	uint32_t i;

	(void)state;
	memset(in, 0, sizeof(in));
	in[0].sql = "SELECT 1";
	in[1].sql = "SELECT 2";
	in[2].sql = "SELECT 3";
	cv_stmts_encode(&sql, &code, in, 3);
	cv_plan_init(&plan);
	st = cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_CREATE, "grants", "x");
	assert_int_equal(cv_stmts_decode(&plan.arena, sql.buf, code.buf,
					 &st->fwd, &st->nfwd), 0);
	after = cv_arena_strdup(&plan.arena, "allocated after the list");
	cv_step_fwd(&plan, st, "SELECT 4", NULL, 0);
	assert_string_equal(after, "allocated after the list");
	assert_int_equal(st->nfwd, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(st->fwd[i].sql[7], '1' + (int)i);
	cv_plan_release(&plan);
	cv_buf_release(&sql);
	cv_buf_release(&code);
}

static void test_journal__stmts_text(void **state)
{
	struct cv_stmt in[2];
	struct cv_buf b = CV_BUF_INIT;

	(void)state;
	memset(in, 0, sizeof(in));
	in[0].sql = "DELETE FROM t WHERE a = ?1";
	in[1].sql = "DROP TABLE x;\n  ";
	in[1].script = true;
	cv_stmts_text(&b, in, 2);
	assert_string_equal(b.buf, "DELETE FROM t WHERE a = ?1;\nDROP TABLE x;");
	cv_buf_release(&b);
}

static void test_timeutil__parse(void **state)
{
	char out[CV_TIME_LEN];
	time_t t;

	(void)state;
	assert_int_equal(cv_time_parse("2026-11-23T02:00:00Z", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "2026-11-23T02:00:00Z");
	assert_int_equal(cv_time_parse("2026-11-23T04:00:00+02:00", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "2026-11-23T02:00:00Z");
	assert_int_equal(cv_time_parse("2026-11-22T21:30:00.123-04:30", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "2026-11-23T02:00:00Z");
	assert_int_equal(cv_time_parse("2026-11-23", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "2026-11-23T00:00:00Z");
	assert_int_equal(cv_time_parse("2024-02-29T00:00Z", &t), 0);
	/* A fraction rounds down, for expiry and --now alike, so that the
	 * two compare in the order the exact times do. */
	assert_int_equal(cv_time_parse("2026-11-24T02:00:00.5Z", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "2026-11-24T02:00:00Z");
	assert_int_equal(cv_time_parse("2026-11-24T02:00:00.001Z", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "2026-11-24T02:00:00Z");
	assert_int_equal(cv_time_parse("2026-11-24T02:00:00.9999Z", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "2026-11-24T02:00:00Z");
}

/* A timestamptz as PostgreSQL prints it; manifests keep RFC 3339's. */
static void test_timeutil__parse_db(void **state)
{
	char out[CV_TIME_LEN];
	time_t t;

	(void)state;
	assert_int_equal(cv_time_parse_db("2026-11-24 15:45:00+13:45", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "2026-11-24T02:00:00Z");
	assert_int_equal(cv_time_parse_db("2026-11-24 04:00:00.5+02", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "2026-11-24T02:00:00Z");
	assert_int_equal(cv_time_parse_db("1890-01-01 00:00:00-00:19:32", &t), 0);
	cv_time_format(t, out);
	assert_string_equal(out, "1890-01-01T00:19:32Z");
	assert_int_equal(cv_time_parse_db("2026-11-24T02:00:00Z", &t), 0);
	assert_int_equal(cv_time_parse_db("2026-11-24 02:00:00", &t), -1);
	assert_int_equal(cv_time_parse_db("2026-11-24 02:00:00+2", &t), -1);
	assert_int_equal(cv_time_parse("2026-11-24 04:00:00+02", &t), -1);
	assert_int_equal(cv_time_parse("2026-11-24 04:00:00+02:00:00", &t), -1);
}

static void test_timeutil__rejects(void **state)
{
	static const char *const bad[] = {
		"", "tomorrow", "2026-11-23T02:00:00", "2026-13-01", "2026-02-29",
		"2026-11-23T24:00:00Z", "2026-11-23T02:00:00Zjunk", "2026-1-1",
		"2026-11-23T02:00:00+2:00",
	};
	size_t i;
	time_t t;

	(void)state;
	for (i = 0; i < CV_ARRAY_SIZE(bad); i++)
		assert_int_equal(cv_time_parse(bad[i], &t), -1);
}

static void test_digest__lengths_matter(void **state)
{
	struct cv_arena a = CV_ARENA_INIT;
	struct cv_digest *d1 = cv_digest_new(), *d2 = cv_digest_new(),
			 *d3 = cv_digest_new();
	const char *h1, *h2, *h3;

	(void)state;
	cv_digest_str(d1, "ab");
	cv_digest_str(d1, "c");
	cv_digest_str(d2, "a");
	cv_digest_str(d2, "bc");
	cv_digest_str(d3, NULL);
	h1 = cv_digest_finish(d1, &a);
	h2 = cv_digest_finish(d2, &a);
	h3 = cv_digest_finish(d3, &a);
	assert_string_not_equal(h1, h2);
	assert_true(strncmp(h1, "sha256:", 7) == 0);
	assert_int_equal(strlen(h1), 7 + 64);
	assert_string_equal(cv_sha256_hex("", 0, &a),
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_not_equal(h3, cv_sha256_hex("", 0, &a));
	cv_arena_release(&a);
}

static void test_canon__unambiguous(void **state)
{
	struct cv_buf a = CV_BUF_INIT, b = CV_BUF_INIT;

	(void)state;
	cv_canon_add(&a, "x:1");
	cv_canon_add(&a, NULL);
	cv_canon_add(&b, "x");
	cv_canon_add(&b, ":1~");
	assert_string_equal(a.buf, "3:x:1~");
	assert_string_not_equal(a.buf, b.buf);
	cv_buf_release(&a);
	cv_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal__stmts_round_trip),
		cmocka_unit_test(test_journal__decode_rejects_damage),
		cmocka_unit_test(test_journal__decoded_lists_grow),
		cmocka_unit_test(test_journal__stmts_text),
		cmocka_unit_test(test_timeutil__parse),
		cmocka_unit_test(test_timeutil__parse_db),
		cmocka_unit_test(test_timeutil__rejects),
		cmocka_unit_test(test_digest__lengths_matter),
		cmocka_unit_test(test_canon__unambiguous),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
