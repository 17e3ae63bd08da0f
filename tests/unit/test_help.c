/*
 * The -h texts (help.h) against the documentation: for each verb, every
 * long option its help lists is on docs/verbs/<verb>.md, and every long
 * option in that page's "## Options" section is in its help.  The man
 * page must name every option too.
 *
 * The documentation is found through the environment variable TOP (the
 * root of the source tree; tests/run.sh sets it), or else as ../../docs
 * from the current directory (build/tests/ when run by hand from there):
 *
 *   make build/tests/test_help && TOP=$PWD build/tests/test_help
 *
 * src/cli/help.c belongs to the program, not to libconverge.a that unit
 * tests link with, so it is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "converge/util.h"
#include "../../src/cli/help.c"

static const char *const verbs[] = {
	"validate", "plan", "apply", "rollback", "restore", "status",
	"history", "snapshots", "inspect",
};

/* A set of long option names ("--db"), in the order first seen. */
struct opts {
	char **v;
	size_t n, alloc;
};

static void opts_release(struct opts *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		free(o->v[i]);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

static bool opts_has(const struct opts *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->v[i], name) == 0)
			return true;
	return false;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/*
 * Every `--name` in text: two dashes not preceded by a letter, digit or
 * dash (so "a--b" and "---" do not count), then a lowercase letter, then
 * letters, digits and dashes.  A trailing dash is not part of the name.
 */
static void long_options(const char *text, struct opts *out)
{
	const char *p;

	memset(out, 0, sizeof(*out));
	for (p = text; (p = strstr(p, "--")); p += 2) {
		const char *e = p + 2;
		char *name;

		if (p > text && (is_name_char(p[-1]) ||
				 (p[-1] >= 'A' && p[-1] <= 'Z')))
			continue;
		if (!(*e >= 'a' && *e <= 'z'))
			continue;
		while (is_name_char(*e))
			e++;
		while (e[-1] == '-')
			e--;
		name = cv_strndup(p, (size_t)(e - p));
		if (opts_has(out, name)) {
			free(name);
			continue;
		}
		CV_GROW(out->v, out->n + 1, out->alloc);
		out->v[out->n++] = name;
	}
}

/*
 * The "## Options" section of a Markdown page: from the line after its
 * heading to the next level-two heading (level-three headings such as
 * "### Global options" stay inside).  NULL when the page has none.
 */
static char *options_section(const char *page)
{
	const char *start = NULL, *p = page, *end;

	while (p && *p) {
		if (strncmp(p, "## Options", 10) == 0 &&
		    (p[10] == '\n' || p[10] == '\0')) {
			start = p + 10;
			break;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!start)
		return NULL;
	for (end = start; (end = strchr(end, '\n')); end++)
		if (strncmp(end + 1, "## ", 3) == 0)
			break;
	return end ? cv_strndup(start, (size_t)(end - start))
		   : cv_strdup(start);
}

/*
 * Compares a help text with its page.  Each problem is one line in
 * `report`; returns how many there are.
 */
static size_t compare(const char *help, const char *page, struct cv_buf *report)
{
	struct opts in_help, in_page, in_section;
	char *section = options_section(page);
	size_t problems = 0, i;

	long_options(help, &in_help);
	long_options(page, &in_page);
	long_options(section ? section : "", &in_section);
	if (!section) {
		cv_buf_adds(report, "the page has no '## Options' section\n");
		problems++;
	}
	for (i = 0; i < in_help.n; i++)
		if (!opts_has(&in_page, in_help.v[i])) {
			cv_buf_addf(report, "'%s' is in the help but not on the page\n",
				    in_help.v[i]);
			problems++;
		}
	for (i = 0; i < in_section.n; i++)
		if (!opts_has(&in_help, in_section.v[i])) {
			cv_buf_addf(report, "'%s' is in the page's Options but not in the help\n",
				    in_section.v[i]);
			problems++;
		}
	opts_release(&in_help);
	opts_release(&in_page);
	opts_release(&in_section);
	free(section);
	return problems;
}

/* A file of the documentation, malloc'd; fails the test when missing. */
static char *read_doc(const char *rel)
{
	const char *top = getenv("TOP");
	char *path, *text = NULL;
	size_t len = 0;
	int ret;

	if (top && *top)
		path = cv_asprintf("%s/docs/%s", top, rel);
	else
		path = cv_asprintf("../../docs/%s", rel);
	ret = cv_read_file(path, &text, &len, (size_t)1 << 20);
	if (ret < 0)
		fail_msg("cannot read %s (set TOP to the source tree): %s",
			 path, strerror(-ret));
	free(path);
	return text;
}

static void check_verb(const char *verb)
{
	struct cv_buf report = CV_BUF_INIT;
	const char *help = cv_help_text(verb);
	char *rel = cv_asprintf("verbs/%s.md", verb);
	char *page = read_doc(rel);
	size_t problems;

	assert_non_null(help);
	problems = compare(help, page, &report);
	if (problems)
		print_error("docs/%s and 'converge %s -h' disagree:\n%s", rel,
			    verb, cv_buf_str(&report));
	assert_int_equal(problems, 0);
	cv_buf_release(&report);
	free(page);
	free(rel);
}

#define VERB_TEST(v)						\
	static void test_help__##v##_page(void **state)		\
	{							\
		(void)state;					\
		check_verb(#v);					\
	}

VERB_TEST(validate)
VERB_TEST(plan)
VERB_TEST(apply)
VERB_TEST(rollback)
VERB_TEST(restore)
VERB_TEST(status)
VERB_TEST(history)
VERB_TEST(snapshots)
VERB_TEST(inspect)

/* The comparison itself must catch a difference in either direction,
 * and must not take "--no-snapshot" for "--snapshot" or the like. */
static void test_help__compare_finds_differences(void **state)
{
	static const char help[] =
		"usage: converge x\n  --db URL  the database\n"
		"  --no-snapshot  none\n  --only-in-help  x\n";
	static const char page[] =
		"# converge x\n\n## Description\n\nA prefix is not the "
		"option: --only-in-hel.\n\n## Options\n\n- `--db URL`\n"
		"- `--no-snapshot`\n- `--snapshot` (only on the page)\n\n"
		"### Global options\n\n- `--page-global`\n\n"
		"## Exit codes\n\n--not-an-option-section\n";
	struct cv_buf report = CV_BUF_INIT;

	(void)state;
	assert_int_equal(compare(help, page, &report), 3);
	assert_non_null(strstr(report.buf,
		"'--only-in-help' is in the help but not on the page"));
	assert_non_null(strstr(report.buf,
		"'--snapshot' is in the page's Options but not in the help"));
	assert_non_null(strstr(report.buf,
		"'--page-global' is in the page's Options but not in the help"));
	assert_null(strstr(report.buf, "--not-an-option-section"));
	cv_buf_release(&report);

	assert_int_equal(compare(help, "# no options here\n--db\n", &report), 3);
	assert_non_null(strstr(report.buf, "no '## Options' section"));
	cv_buf_release(&report);
}

static void test_help__long_options_parsing(void **state)
{
	struct opts o;

	(void)state;
	long_options("a --db, `--lock-timeout SECONDS` x--y --- --X "
		     "--format=json --db --allow-data-loss.", &o);
	assert_int_equal(o.n, 4);
	assert_string_equal(o.v[0], "--db");
	assert_string_equal(o.v[1], "--lock-timeout");
	assert_string_equal(o.v[2], "--format");
	assert_string_equal(o.v[3], "--allow-data-loss");
	opts_release(&o);
}

static void test_help__usage_lists_every_verb(void **state)
{
	const char *usage = cv_help_text(NULL);
	size_t i;

	(void)state;
	assert_non_null(usage);
	assert_ptr_equal(cv_help_text("converge"), usage);
	assert_true(cv_starts_with(usage, "usage: converge VERB"));
	for (i = 0; i < CV_ARRAY_SIZE(verbs); i++) {
		char *line = cv_asprintf("\n  %s ", verbs[i]);

		if (!strstr(usage, line))
			fail_msg("the usage does not list '%s'", verbs[i]);
		free(line);
	}
	assert_non_null(strstr(usage, "--db URL"));
}

static void test_help__unknown_verb(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	assert_null(cv_help_text("plans"));
	assert_null(cv_help_text(""));
	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	cv_help_print("plans", fp);
	fclose(fp);
	assert_string_equal(buf, cv_help_text(NULL));
	free(buf);
}

static void test_help__print_writes_the_text(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	cv_help_print("apply", fp);
	fclose(fp);
	assert_string_equal(buf, cv_help_text("apply"));
	free(buf);
}

/* Each verb's help: its usage line, an Options section, the global
 * options and the exit codes; ASCII lines of at most 79 columns. */
static void test_help__texts_are_well_formed(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i <= CV_ARRAY_SIZE(verbs); i++) {
		const char *verb = i < CV_ARRAY_SIZE(verbs) ? verbs[i] : NULL;
		const char *text = cv_help_text(verb), *line, *p;
		char *want;

		assert_non_null(text);
		if (verb) {
			want = cv_asprintf("usage: converge %s", verb);
			if (!cv_starts_with(text, want))
				fail_msg("'%s -h' does not start with '%s'",
					 verb, want);
			free(want);
			assert_non_null(strstr(text, "\nOptions:\n"));
		}
		assert_non_null(strstr(text, "--lock-timeout SECONDS"));
		assert_non_null(strstr(text, "64 usage error"));
		assert_true(cv_ends_with(text, "\n"));
		for (line = text; *line; line = p + 1) {
			p = strchr(line, '\n');
			assert_non_null(p);
			if (p - line > 79)
				fail_msg("'%s -h' has a line of %d columns: %.*s",
					 verb ? verb : "converge", (int)(p - line),
					 (int)(p - line), line);
		}
		for (p = text; *p; p++)
			if ((unsigned char)*p >= 0x80 || (*p < 0x20 && *p != '\n'))
				fail_msg("'%s -h' holds a byte that is not "
					 "printable ASCII", verb ? verb : "converge");
	}
}

/* The man page says the same: every option of every help is in it. */
static void test_help__man_page_has_every_option(void **state)
{
	struct cv_buf report = CV_BUF_INIT;
	char *man = read_doc("converge.1");
	struct opts in_man;
	size_t i, j, problems = 0;

	(void)state;
	/* roff writes a dash as "\-"; read it as the dash it prints. */
	for (i = j = 0; man[i]; i++)
		if (!(man[i] == '\\' && man[i + 1] == '-'))
			man[j++] = man[i];
	man[j] = '\0';
	long_options(man, &in_man);
	for (i = 0; i <= CV_ARRAY_SIZE(verbs); i++) {
		const char *verb = i < CV_ARRAY_SIZE(verbs) ? verbs[i] : NULL;
		struct opts in_help;

		long_options(cv_help_text(verb), &in_help);
		for (j = 0; j < in_help.n; j++)
			if (!opts_has(&in_man, in_help.v[j])) {
				cv_buf_addf(&report, "'%s' (%s -h) is not in docs/converge.1\n",
					    in_help.v[j], verb ? verb : "converge");
				problems++;
			}
		opts_release(&in_help);
	}
	if (problems)
		print_error("%s", cv_buf_str(&report));
	assert_int_equal(problems, 0);
	opts_release(&in_man);
	cv_buf_release(&report);
	free(man);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help__long_options_parsing),
		cmocka_unit_test(test_help__compare_finds_differences),
		cmocka_unit_test(test_help__usage_lists_every_verb),
		cmocka_unit_test(test_help__unknown_verb),
		cmocka_unit_test(test_help__print_writes_the_text),
		cmocka_unit_test(test_help__texts_are_well_formed),
		cmocka_unit_test(test_help__validate_page),
		cmocka_unit_test(test_help__plan_page),
		cmocka_unit_test(test_help__apply_page),
		cmocka_unit_test(test_help__rollback_page),
		cmocka_unit_test(test_help__restore_page),
		cmocka_unit_test(test_help__status_page),
		cmocka_unit_test(test_help__history_page),
		cmocka_unit_test(test_help__snapshots_page),
		cmocka_unit_test(test_help__inspect_page),
		cmocka_unit_test(test_help__man_page_has_every_option),
	};

	return cmocka_run_group_tests_name("help", tests, NULL, NULL);
}
