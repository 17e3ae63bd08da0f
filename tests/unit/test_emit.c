/*
 * The YAML emitter (emit.h): which strings it quotes so that any YAML
 * 1.1 or 1.2 loader reads them back as strings, and what it prints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "converge/emit.h"

static void test_emit__quotes_what_resolvers_type(void **state)
{
	static const char *const typed[] = {
		"", "~", "null", "Null", "NULL",
		"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE",
		"on", "On", "ON", "off", "Off", "OFF",
		"0", "7", "-7", "+7", "123", "12345", "1_000", "0755", "089",
		"0b1010", "-0b1_0", "0x1F", "0xdead_beef", "0o17", "1:20",
		"-190:20:30", "1.5", "1.", ".5", "-1.5e+3", "1e5", "1E-5",
		"1_000.5", "190:20:30.15", ".inf", "-.Inf", "+.INF", ".nan",
		".NaN", "1.2.3", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
		"2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.1Z",
		"2026-11-24T03:00:00Z", "2001-1-2 3:04:05", "<<", "=",
	};
	static const char *const plain[] = {
		"viewer", "yesterday", "nope", "onboarding", "True1", "o",
		"2fa", "v1.2", "1a", "0x", "0xg", "0b2", "0o8", "12:60",
		"1e", "e5", "inf", "nan", "-", "+", "crm.leads", "a:b",
		"2001-12-14x", "2001-12", "<<<", "==", "license:read",
		"NaN", "Nul", "yes!", "-yes",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(typed) / sizeof(*typed); i++)
		if (!cv_emit_needs_quotes(typed[i]))
			fail_msg("'%s' should be quoted", typed[i]);
	for (i = 0; i < sizeof(plain) / sizeof(*plain); i++)
		if (cv_emit_needs_quotes(plain[i]))
			fail_msg("'%s' should stay plain", plain[i]);
}

static void test_emit__document(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_emit *e;
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	(void)state;
	assert_non_null(fp);
	e = cv_emit_new(fp);
	cv_emit_map(e, false);
	cv_emit_str(e, "version");
	cv_emit_int(e, 1);
	cv_emit_str(e, "yes");
	cv_emit_map(e, true);
	cv_emit_end(e);
	cv_emit_str(e, "grants");
	cv_emit_seq(e, false);
	cv_emit_map(e, true);
	cv_emit_pair(e, "subject", "12345");
	cv_emit_pair(e, "role", "on");
	cv_emit_pair(e, "reason", "because");
	cv_emit_end(e);
	cv_emit_end(e);
	cv_emit_str(e, "flag");
	cv_emit_bool(e, true);
	cv_emit_end(e);
	assert_int_equal(cv_emit_finish(e, &err), 0);
	fclose(fp);
	assert_string_equal(out,
		"version: 1\n"
		"\"yes\": {}\n"
		"grants:\n"
		"- {subject: \"12345\", role: \"on\", reason: because}\n"
		"flag: true\n");
	free(out);
	cv_error_release(&err);
}

/*
 * A live name stored as bytes that are not UTF-8 (SQLite keeps any TEXT):
 * libyaml refuses it and leaves its event unset, which must end in an
 * error that says why, not in an event made of stack garbage (found by
 * tests/fuzz/fuzz_emit.c).
 */
static void test_emit__refuses_invalid_utf8(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_emit *e;
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	(void)state;
	assert_non_null(fp);
	e = cv_emit_new(fp);
	cv_emit_map(e, false);
	cv_emit_str(e, "roles");
	cv_emit_str(e, "ab\xff\xfe");
	cv_emit_str(e, "after");
	cv_emit_str(e, "ok");
	cv_emit_end(e);
	assert_int_equal(cv_emit_finish(e, &err), CV_EIO);
	assert_non_null(strstr(err.msg, "not valid UTF-8"));
	fclose(fp);
	free(out);
	cv_error_release(&err);
}

/*
 * A surrogate, or a code point above U+10FFFF: libyaml's emitter takes
 * them and writes "\uD800" or "\U0019358C", which its parser refuses, so
 * inspect's output would not load.  They are refused as not UTF-8.
 */
static void test_emit__refuses_what_yaml_cannot_read(void **state)
{
	static const char *const bad[] = { "a\xed\xa0\x80", "a\xf6\x93\x96\x8c",
					   "a\xf4\x90\x80\x80" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct cv_error err = CV_ERROR_INIT;
		char *out = NULL;
		size_t len = 0;
		FILE *fp = open_memstream(&out, &len);
		struct cv_emit *e;

		assert_non_null(fp);
		e = cv_emit_new(fp);
		cv_emit_seq(e, false);
		cv_emit_str(e, bad[i]);
		cv_emit_end(e);
		if (cv_emit_finish(e, &err) != CV_EIO)
			fail_msg("bad[%zu] was written: %s", i, out);
		fclose(fp);
		free(out);
		cv_error_release(&err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emit__quotes_what_resolvers_type),
		cmocka_unit_test(test_emit__document),
		cmocka_unit_test(test_emit__refuses_invalid_utf8),
		cmocka_unit_test(test_emit__refuses_what_yaml_cannot_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
