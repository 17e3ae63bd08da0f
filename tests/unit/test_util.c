/*
 * The small pieces (util.h, error.h): buffers, arenas, string helpers,
 * edit distance, exit codes, error details, and diagnostics as users read
 * them, source line and caret included.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "converge/error.h"

/* What `d` prints, as a malloc'd string. */
static char *print_diags(const struct cv_diags *d)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	assert_non_null(fp);
	cv_diags_print(d, fp);
	fclose(fp);
	return out;
}

static void test_util__buf(void **state)
{
	struct cv_buf b = CV_BUF_INIT;
	char *s;

	(void)state;
	assert_string_equal(cv_buf_str(&b), "");
	cv_buf_adds(&b, "ab");
	cv_buf_addch(&b, 'c');
	cv_buf_add(&b, "dxyz", 1);
	cv_buf_add(&b, NULL, 0);
	assert_int_equal(b.len, 4);
	assert_string_equal(cv_buf_str(&b), "abcd");
	cv_buf_addf(&b, "-%d-%s", 42, "e");
	assert_string_equal(b.buf, "abcd-42-e");
	assert_int_equal(b.len, strlen(b.buf));
	cv_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(cv_buf_str(&b), "");
	s = cv_buf_detach(&b);
	assert_string_equal(s, "");
	free(s);
	assert_null(b.buf);
	assert_int_equal(b.alloc, 0);
	/* Detaching an untouched buffer still gives a string to free. */
	s = cv_buf_detach(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	cv_buf_release(&b);
}

/* Formatting past the first reservation takes the second vsnprintf path. */
static void test_util__buf_long_format(void **state)
{
	struct cv_buf b = CV_BUF_INIT;
	char big[5000];
	int i;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cv_buf_adds(&b, "<");
	cv_buf_addf(&b, "%s|%s", big, big);
	cv_buf_adds(&b, ">");
	assert_int_equal(b.len, 1 + 2 * 4999 + 1 + 1);
	assert_int_equal(b.buf[0], '<');
	assert_int_equal(b.buf[5000], '|');
	assert_int_equal(b.buf[b.len - 1], '>');
	assert_int_equal(b.buf[b.len], '\0');
	cv_buf_release(&b);
	for (i = 0; i < 1000; i++)
		cv_buf_addf(&b, "%04d", i);
	assert_int_equal(b.len, 4000);
	assert_memory_equal(b.buf + 3996, "0999", 4);
	cv_buf_release(&b);
	assert_null(b.buf);
}

static void test_util__asprintf_and_strdup(void **state)
{
	char *s;

	(void)state;
	s = cv_asprintf("%s=%u", "n", 7u);
	assert_string_equal(s, "n=7");
	free(s);
	s = cv_strndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	s = cv_strdup("");
	assert_string_equal(s, "");
	free(s);
}

/* RFC 3629 UTF-8, stricter than libyaml's emitter (fuzz_emit found it). */
static void test_util__utf8_valid(void **state)
{
	static const char *const good[] = {
		"", "viewer", "caf\xc3\xa9", "\xe2\x80\xa8", "\xef\xbb\xbf",
		"\xed\x9f\xbf", "\xee\x80\x80", "\xf0\x90\x80\x80",
		"\xf4\x8f\xbf\xbf", "\xc2\x80",
	};
	static const char *const bad[] = {
		"\xff", "ab\xfe", "\x80", "\xc0\x80", "\xc1\xbf",
		"\xe0\x80\x80", "\xf0\x8f\xbf\xbf", "\xed\xa0\x80",
		"\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
		"\xf6\x93\x96\x8c", "\xc3", "\xe2\x80", "\xf0\x90\x80",
		"\xe2\x28\xa1", "\xc3\xa9\xc3",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(*good); i++)
		if (!cv_utf8_valid(good[i], strlen(good[i])))
			fail_msg("good[%zu] should be valid", i);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (cv_utf8_valid(bad[i], strlen(bad[i])))
			fail_msg("bad[%zu] should be refused", i);
	/* The length counts, not the NUL. */
	assert_false(cv_utf8_valid("\xc3\xa9", 1));
}

static void test_util__grow(void **state)
{
	int *items = NULL;
	size_t nr = 0, alloc = 0, i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		CV_GROW(items, nr + 1, alloc);
		items[nr++] = (int)i;
	}
	assert_true(alloc >= 1000);
	assert_int_equal(items[999], 999);
	assert_int_equal(items[0], 0);
	free(items);
}

static void test_util__arena(void **state)
{
	struct cv_arena a = CV_ARENA_INIT;
	unsigned char *p[2000];
	unsigned char *big;
	size_t i, j;

	(void)state;
	/* Zeroed, aligned, and distinct. */
	for (i = 0; i < CV_ARRAY_SIZE(p); i++) {
		p[i] = cv_arena_alloc(&a, 1 + i % 100);
		assert_int_equal((uintptr_t)p[i] % _Alignof(max_align_t), 0);
		for (j = 0; j < 1 + i % 100; j++)
			assert_int_equal(p[i][j], 0);
		memset(p[i], (int)(i & 0x7f) + 1, 1 + i % 100);
	}
	for (i = 0; i < CV_ARRAY_SIZE(p); i++)
		for (j = 0; j < 1 + i % 100; j++)
			assert_int_equal(p[i][j], (int)(i & 0x7f) + 1);
	/* A big one gets its own block, and small ones still work after. */
	big = cv_arena_alloc(&a, 1 << 20);
	assert_int_equal(big[0], 0);
	assert_int_equal(big[(1 << 20) - 1], 0);
	memset(big, 0xab, 1 << 20);
	p[0] = cv_arena_alloc(&a, 16);
	assert_int_equal(p[0][15], 0);
	assert_int_equal(p[1][0], 2);
	assert_non_null(cv_arena_alloc(&a, 0));
#ifndef CV_ARENA_MALLOC
	/* Small objects are packed at the alignment, not at 32 bytes. */
	p[0] = cv_arena_alloc(&a, 1);
	p[1] = cv_arena_alloc(&a, 1);
	assert_int_equal(p[1] - p[0], _Alignof(max_align_t));
#endif
	cv_arena_release(&a);
	assert_null(a.blocks);
	cv_arena_release(&a);
}

/*
 * Blocks of 4 MiB and more take another path (huge pages, realloc that
 * moves into advised memory, arena blocks of their own mapping): contents
 * survive every move, and what must be zero is.
 */
static void test_util__big_blocks(void **state)
{
	const size_t mib = (size_t)1 << 20;
	struct cv_arena a = CV_ARENA_INIT;
	unsigned char *b, *z, *p[4096];
	size_t i, j;

	(void)state;
	b = cv_malloc(1024);
	for (i = 0; i < 1024; i++)
		b[i] = (unsigned char)(i * 7);
	b = cv_realloc(b, 8 * mib);          /* small -> big: a move */
	for (i = 0; i < 1024; i++)
		assert_int_equal(b[i], (unsigned char)(i * 7));
	memset(b + 1024, 0x5a, 8 * mib - 1024);
	b = cv_realloc(b, 24 * mib);         /* big -> bigger */
	assert_int_equal(b[8 * mib - 1], 0x5a);
	assert_int_equal(b[1023], (unsigned char)(1023 * 7));
	b[24 * mib - 1] = 1;
	b = cv_realloc(b, 512);              /* and back down */
	assert_int_equal(b[511], (unsigned char)(511 * 7));
	free(b);

	z = cv_calloc(3, 2 * mib);
	for (i = 0; i < 6 * mib; i += 4093)
		assert_int_equal(z[i], 0);
	assert_int_equal(z[6 * mib - 1], 0);
	cv_hint_huge(z, 6 * mib);            /* again: only a hint */
	free(z);

	/* 40 MiB of 10 KiB objects: the blocks grow into mapped ones. */
	for (i = 0; i < CV_ARRAY_SIZE(p); i++) {
		p[i] = cv_arena_alloc(&a, 10 * 1024);
		assert_int_equal(p[i][0], 0);
		assert_int_equal(p[i][10 * 1024 - 1], 0);
		memset(p[i], (int)(i % 251) + 1, 10 * 1024);
	}
	for (i = 0; i < CV_ARRAY_SIZE(p); i++)
		for (j = 0; j < 10 * 1024; j += 1000)
			assert_int_equal(p[i][j], (int)(i % 251) + 1);
	b = cv_arena_alloc(&a, 5 * mib);     /* a block of its own */
	assert_int_equal(b[0], 0);
	assert_int_equal(b[5 * mib - 1], 0);
	memset(b, 0xff, 5 * mib);
	assert_int_equal(p[4095][0], (int)(4095 % 251) + 1);
	cv_arena_release(&a);
	assert_null(a.blocks);
}

static void test_util__arena_strings(void **state)
{
	struct cv_arena a = CV_ARENA_INIT;
	const char bytes[4] = { 1, 0, 2, 3 };
	char *s;

	(void)state;
	assert_null(cv_arena_strdup(&a, NULL));
	assert_string_equal(cv_arena_strdup(&a, "role"), "role");
	s = cv_arena_strndup(&a, "abcdef", 2);
	assert_string_equal(s, "ab");
	assert_string_equal(cv_arena_printf(&a, "%s:%d", "x", -1), "x:-1");
	assert_memory_equal(cv_arena_memdup(&a, bytes, 4), bytes, 4);
	assert_non_null(cv_arena_memdup(&a, NULL, 0));
	cv_arena_release(&a);
}

static void test_util__string_helpers(void **state)
{
	(void)state;
	assert_true(cv_starts_with("license:read", "license:"));
	assert_true(cv_starts_with("x", ""));
	assert_false(cv_starts_with("lic", "license"));
	assert_true(cv_ends_with("a.yaml", ".yaml"));
	assert_true(cv_ends_with(".yml", ".yml"));
	assert_false(cv_ends_with("yml", ".yml"));
	assert_false(cv_ends_with("a.yaml.bak", ".yaml"));
	assert_int_equal(cv_strcmp0(NULL, NULL), 0);
	assert_true(cv_strcmp0(NULL, "") < 0);
	assert_true(cv_strcmp0("", NULL) > 0);
	assert_true(cv_strcmp0("a", "b") < 0);
	assert_true(cv_streq0(NULL, NULL));
	assert_true(cv_streq0("x", "x"));
	assert_false(cv_streq0("x", NULL));
}

/* Entries sorted by key; tag says where each was before the sort. */
struct sort_entry {
	int key, tag;
};

static size_t sort_cmps;

static int sort_entry_cmp(const void *a, const void *b)
{
	const struct sort_entry *x = a, *y = b;

	sort_cmps++;
	return (x->key > y->key) - (x->key < y->key);
}

/* Sorted by key, and of equal keys in the order of their tags. */
static void assert_sorted_stable(const struct sort_entry *e, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		assert_true(e[i - 1].key <= e[i].key);
		if (e[i - 1].key == e[i].key)
			assert_true(e[i - 1].tag < e[i].tag);
	}
}

/*
 * A list nearly in order (a stray every 500 entries, and equal keys)
 * is sorted in about one comparison an entry, not n log n; a list in
 * reverse still gets sorted.  Equal entries keep their order either way.
 */
/* Two spellings of one file, a link to it, a file not made yet. */
static void test_util__same_file(void **state)
{
	char dir[] = "/tmp/cv-same-XXXXXX";
	char *a, *a2, *link, *b, *gone, *gone2;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	a = cv_asprintf("%s/a.db", dir);
	a2 = cv_asprintf("%s/./a.db", dir);
	link = cv_asprintf("%s/l.db", dir);
	b = cv_asprintf("%s/b.db", dir);
	gone = cv_asprintf("%s/new.yaml", dir);
	gone2 = cv_asprintf("%s/../%s/new.yaml", dir, strrchr(dir, '/') + 1);
	fd = open(a, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	fd = open(b, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink(a, link), 0);
	assert_true(cv_same_file(a, a2));
	assert_true(cv_same_file(a, link));
	assert_false(cv_same_file(a, b));
	assert_true(cv_same_file(gone, gone2));
	assert_false(cv_same_file(gone, a));
	unlink(link);
	unlink(a);
	unlink(b);
	rmdir(dir);
	free(a);
	free(a2);
	free(link);
	free(b);
	free(gone);
	free(gone2);
}

static void test_util__sort_nearly_sorted(void **state)
{
	enum { N = 10000 };
	struct sort_entry *e = calloc(N, sizeof(*e));
	size_t i;

	(void)state;
	assert_non_null(e);
	for (i = 0; i < N; i++) {
		e[i].key = (int)(i / 2);
		e[i].tag = (int)i;
	}
	for (i = 250; i < N; i += 500)
		e[i].key = (int)(i / 2) - 100;
	sort_cmps = 0;
	cv_sort(e, N, sizeof(*e), sort_entry_cmp);
	assert_sorted_stable(e, N);
	assert_true(sort_cmps < 3 * N);

	for (i = 0; i < N; i++) {
		e[i].key = (int)((N - i) / 3);
		e[i].tag = (int)i;
	}
	cv_sort(e, N, sizeof(*e), sort_entry_cmp);
	assert_sorted_stable(e, N);
	cv_sort(NULL, 0, sizeof(*e), sort_entry_cmp);
	free(e);
}

static void test_util__edit_distance(void **state)
{
	char long_word[80];

	(void)state;
	assert_int_equal(cv_edit_distance("", ""), 0);
	assert_int_equal(cv_edit_distance("roles", "roles"), 0);
	assert_int_equal(cv_edit_distance("", "abc"), 3);
	assert_int_equal(cv_edit_distance("abc", ""), 3);
	assert_int_equal(cv_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(cv_edit_distance("permisions", "permissions"), 1);
	assert_int_equal(cv_edit_distance("Roles", "roles"), 1);
	/* Optimal string alignment: a swap of neighbours is one edit. */
	assert_int_equal(cv_edit_distance("ab", "ba"), 1);
	assert_int_equal(cv_edit_distance("gaurds", "guards"), 1);
	assert_int_equal(cv_edit_distance("abcd", "badc"), 2);
	/* OSA, not Damerau: "ca" -> "abc" is 3, not 2. */
	assert_int_equal(cv_edit_distance("ca", "abc"), 3);
	/* Long words are not worth comparing. */
	memset(long_word, 'a', sizeof(long_word) - 1);
	long_word[sizeof(long_word) - 1] = '\0';
	assert_true(cv_edit_distance(long_word, "a") == SIZE_MAX);
	long_word[64] = '\0';
	assert_int_equal(cv_edit_distance(long_word, "a"), 63);
}

static void test_util__exit_codes(void **state)
{
	(void)state;
	assert_int_equal(cv_exit_code(CV_OK), 0);
	assert_int_equal(cv_exit_code(CV_ERR), 1);
	assert_int_equal(cv_exit_code(CV_EUSAGE), 64);
	assert_int_equal(cv_exit_code(CV_EINVAL), 1);
	assert_int_equal(cv_exit_code(CV_EDB), 1);
	assert_int_equal(cv_exit_code(CV_EIO), 1);
	assert_int_equal(cv_exit_code(CV_ESTALE), 3);
	assert_int_equal(cv_exit_code(CV_ELOCKED), 4);
	assert_int_equal(cv_exit_code(CV_ECHECK), 5);
	assert_int_equal(cv_exit_code(CV_EREFUSED), 1);
	assert_int_equal(cv_exit_code(CV_ENOTFOUND), 1);
	assert_int_equal(cv_exit_code(CV_EDRIFT), 1);
	assert_int_equal(cv_exit_code(-999), 1);
}

static void test_util__error_details(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	assert_int_equal(cv_error_set(&err, CV_EDB, "no such table '%s'", "t"),
			 CV_EDB);
	assert_int_equal(cv_error_prefix(&err, "step %d", 3), CV_EDB);
	assert_string_equal(err.msg, "step 3: no such table 't'");
	cv_error_set_sql(&err, "+ role viewer", "INSERT INTO t VALUES (1)");
	fp = open_memstream(&out, &len);
	assert_non_null(fp);
	cv_error_print(&err, fp);
	fclose(fp);
	assert_string_equal(out, "converge: error: step 3: no such table 't'\n"
				 "  in step: + role viewer\n"
				 "  sql: INSERT INTO t VALUES (1)\n");
	free(out);
	cv_error_release(&err);
	assert_null(err.msg);
	assert_int_equal(err.code, 0);
	/* A prefix on an empty error makes it a generic failure. */
	assert_int_equal(cv_error_prefix(&err, "reading"), CV_ERR);
	assert_string_equal(err.msg, "reading");
	cv_error_release(&err);
	assert_int_equal(cv_error_set(NULL, CV_EIO, "x"), CV_EIO);
	cv_error_release(NULL);
}

static void test_util__diags_print_caret(void **state)
{
	static const char text[] =
		"roles:\n"
		"  viewer:\n"
		"    permisions: [license:read]\n";
	struct cv_source src = { "manifests/rbac.yaml", text, sizeof(text) - 1 };
	struct cv_diags d = CV_DIAGS_INIT;
	struct cv_mark mark = { "manifests/rbac.yaml", 3, 5 };
	char *out;

	(void)state;
	d.sources = &src;
	d.nsources = 1;
	cv_diag_error(&d, &mark, "unknown key '%s' (did you mean '%s'?)",
		      "permisions", "permissions");
	assert_int_equal(d.nr, 1);
	assert_int_equal(d.errors, 1);
	out = print_diags(&d);
	assert_string_equal(out,
		"manifests/rbac.yaml:3:5: error: unknown key 'permisions' (did you mean 'permissions'?)\n"
		"        permisions: [license:read]\n"
		"        ^\n");
	free(out);
	cv_diags_release(&d);
	assert_int_equal(d.nr, 0);
	assert_int_equal(d.errors, 0);
}

/* Sources are found by name as well as by pointer. */
static void test_util__diags_print_finds_source_by_name(void **state)
{
	static const char text[] = "a: 1\r\nb: 2\r\n";
	char path[] = "x.yaml";
	struct cv_source src = { path, text, sizeof(text) - 1 };
	struct cv_diags d = CV_DIAGS_INIT;
	struct cv_mark mark = { "x.yaml", 2, 4 };
	char *out;

	(void)state;
	d.sources = &src;
	d.nsources = 1;
	cv_diag_error(&d, &mark, "bad");
	out = print_diags(&d);
	/* The carriage return of a CRLF line is not echoed. */
	assert_string_equal(out, "x.yaml:2:4: error: bad\n"
				 "    b: 2\n"
				 "       ^\n");
	free(out);
	cv_diags_release(&d);
}

/* Columns count characters; tabs are kept so that the caret lines up. */
static void test_util__diags_print_caret_utf8_and_tabs(void **state)
{
	static const char text[] = "n\xc3\xa9\xc3\xa9: \xe2\x82\xac x\n"
				   "\tkey: v\n"
				   "\xc3\xa9\tx: 1\n";
	struct cv_source src = { "u.yaml", text, sizeof(text) - 1 };
	struct cv_diags d = CV_DIAGS_INIT;
	struct cv_mark m1 = { "u.yaml", 1, 8 };
	struct cv_mark m2 = { "u.yaml", 2, 7 };
	struct cv_mark m3 = { "u.yaml", 3, 3 };
	char *out;

	(void)state;
	d.sources = &src;
	d.nsources = 1;
	cv_diag_error(&d, &m1, "at x");
	cv_diag_error(&d, &m2, "at v");
	cv_diag_error(&d, &m3, "after a tab after a two-byte character");
	out = print_diags(&d);
	assert_string_equal(out,
		"u.yaml:1:8: error: at x\n"
		"    n\xc3\xa9\xc3\xa9: \xe2\x82\xac x\n"
		"           ^\n"
		"u.yaml:2:7: error: at v\n"
		"    \tkey: v\n"
		"    \t     ^\n"
		"u.yaml:3:3: error: after a tab after a two-byte character\n"
		"    \xc3\xa9\tx: 1\n"
		"     \t^\n");
	free(out);
	cv_diags_release(&d);
}

static void test_util__diags_print_without_place(void **state)
{
	static const char text[] = "a: \x01\n";
	struct cv_source src = { "b.yaml", text, sizeof(text) - 1 };
	struct cv_diags d = CV_DIAGS_INIT;
	struct cv_mark file_only = { "m.yaml", 0, 0 };
	struct cv_mark no_source = { "other.yaml", 1, 1 };
	struct cv_mark binary = { "b.yaml", 1, 4 };
	struct cv_mark past_end = { "b.yaml", 9, 1 };
	char *out;

	(void)state;
	d.sources = &src;
	d.nsources = 1;
	cv_diag_error(&d, NULL, "no manifests given");
	cv_diag_error(&d, &file_only, "manifest is empty");
	cv_diags_add(&d, CV_DIAG_WARNING, &no_source, "a %s", "warning");
	cv_diags_add(&d, CV_DIAG_NOTE, &binary, "binary lines are not shown");
	cv_diag_error(&d, &past_end, "no such line");
	assert_int_equal(d.nr, 5);
	assert_int_equal(d.errors, 3);
	out = print_diags(&d);
	assert_string_equal(out,
		"converge: error: no manifests given\n"
		"m.yaml: error: manifest is empty\n"
		"other.yaml:1:1: warning: a warning\n"
		"b.yaml:1:4: note: binary lines are not shown\n"
		"b.yaml:9:1: error: no such line\n");
	free(out);
	cv_diags_release(&d);
}

static void test_util__shorten(void **state)
{
	char long_text[200];
	char utf8[200];
	const char *a, *b;
	size_t i;

	(void)state;
	assert_string_equal(cv_shorten("viewer"), "viewer");
	assert_string_equal(cv_shorten(""), "");
	assert_string_equal(cv_shorten(NULL), "(null)");
	assert_string_equal(cv_shorten("a\x01" "b\x7f" "c\nd"),
			    "a\\x01b\\x7fc\\x0ad");
	/* C1 controls (U+009B is CSI) and bytes that are not UTF-8 too. */
	assert_string_equal(cv_shorten("a\xc2\x9b" "2J b\x9b" "c \xc3\xa9"),
			    "a\\u{009b}2J b\\x9bc \xc3\xa9");
	/* Cut at 60 bytes with "..." after. */
	for (i = 0; i < sizeof(long_text) - 1; i++)
		long_text[i] = (char)('a' + i % 26);
	long_text[sizeof(long_text) - 1] = '\0';
	a = cv_shorten(long_text);
	assert_int_equal(strlen(a), 63);
	assert_memory_equal(a, long_text, 60);
	assert_string_equal(a + 60, "...");
	/* Exactly 60 is not cut. */
	long_text[60] = '\0';
	assert_string_equal(cv_shorten(long_text), long_text);
	/* Results stay valid for the next few calls (one message's worth). */
	a = cv_shorten("first");
	b = cv_shorten("second");
	assert_string_equal(a, "first");
	assert_string_equal(b, "second");
	/* A UTF-8 character is never cut in half: 'é' is 2 bytes. */
	memset(utf8, 0, sizeof(utf8));
	memset(utf8, 'x', 58);
	memcpy(utf8 + 58, "\xc3\xa9\xc3\xa9", 4);
	a = cv_shorten(utf8);
	/* 58 + 2 bytes make 60: the first 'é' is whole and is kept. */
	assert_int_equal(strlen(a), 63);
	assert_string_equal(a + 58, "\xc3\xa9...");
	memset(utf8, 0, sizeof(utf8));
	memset(utf8, 'x', 59);
	memcpy(utf8 + 59, "\xc3\xa9\xc3\xa9", 4);
	a = cv_shorten(utf8);
	/* 59 + 1 byte: half an 'é' is dropped. */
	assert_int_equal(strlen(a), 62);
	assert_string_equal(a + 59, "...");
	memset(utf8, 0, sizeof(utf8));
	memset(utf8, 'x', 58);
	memcpy(utf8 + 58, "\xe2\x82\xac\xe2\x82\xac", 6);
	a = cv_shorten(utf8);
	/* 58 + 2 of the 3 bytes of '€' fit under 60: that '€' is dropped. */
	assert_int_equal(strlen(a), 61);
	assert_string_equal(a + 58, "...");
}

/* The trace writes one line per phase to the file the variable names,
 * and nothing for a lap start (NULL). */
static void test_util__trace_perf(void **state)
{
	char path[] = "/tmp/converge-trace-XXXXXX";
	char *text = NULL;
	size_t len = 0, i, lines = 0;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	setenv("CONVERGE_TRACE_PERFORMANCE", path, 1);
	cv_trace_perf(NULL);
	cv_trace_perf("first phase");
	cv_trace_perf(NULL);
	cv_trace_perf("second phase");
	assert_int_equal(cv_read_file(path, &text, &len, 1 << 20), 0);
	assert_non_null(strstr(text, "converge: performance: first phase"));
	assert_non_null(strstr(text, "converge: performance: second phase"));
	assert_non_null(strstr(text, "(total "));
	/* The memory after each phase: its peak, wherever getrusage is. */
	assert_non_null(strstr(text, "(peak "));
	assert_non_null(strstr(text, " MB)\n"));
	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	assert_int_equal(lines, 2);
	free(text);
	unlink(path);
	unsetenv("CONVERGE_TRACE_PERFORMANCE");
}

static void test_util__read_file(void **state)
{
	char path[] = "/tmp/converge-test-util-XXXXXX";
	char *text = NULL;
	size_t len = 0;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a: 1\n", 5), 5);
	close(fd);
	assert_int_equal(cv_read_file(path, &text, &len, 100), 0);
	assert_int_equal(len, 5);
	assert_string_equal(text, "a: 1\n");
	free(text);
	assert_int_equal(cv_read_file(path, &text, &len, 4), -EFBIG);
	assert_int_equal(cv_read_file("/tmp", &text, &len, 100), -EISDIR);
	unlink(path);
	assert_int_equal(cv_read_file(path, &text, &len, 100), -ENOENT);
}

/* A snapshot appears whole under its name or not at all, mode 0600,
 * and never replaces a file of that name. */
static void test_util__partial_file(void **state)
{
	char dir[] = "/tmp/converge-test-partial-XXXXXX";
	char *path, *partial = NULL, *other = NULL;
	struct stat st;
	mode_t old;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = cv_asprintf("%s/db-1.db", dir);
	old = umask(0);
	fd = cv_partial_create(path, &partial);
	umask(old);
	assert_true(fd >= 0);
	assert_string_equal(partial + strlen(dir), "/db-1.db.partial");
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(access(path, F_OK), -1);
	/* A second writer of the same name is refused while one writes. */
	assert_int_equal(cv_partial_create(path, &other), -1);
	assert_int_equal(errno, EEXIST);
	assert_null(other);
	assert_int_equal(cv_partial_publish(partial, path), 0);
	assert_int_equal(access(partial, F_OK), -1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 1);
	/* The finished file is never replaced. */
	assert_int_equal(cv_partial_create(path, &other), -1);
	assert_int_equal(errno, EEXIST);
	fd = open(partial, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(cv_partial_publish(partial, path), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 1);
	unlink(partial);
	unlink(path);
	rmdir(dir);
	free(partial);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_util__buf),
		cmocka_unit_test(test_util__buf_long_format),
		cmocka_unit_test(test_util__asprintf_and_strdup),
		cmocka_unit_test(test_util__utf8_valid),
		cmocka_unit_test(test_util__grow),
		cmocka_unit_test(test_util__arena),
		cmocka_unit_test(test_util__big_blocks),
		cmocka_unit_test(test_util__arena_strings),
		cmocka_unit_test(test_util__string_helpers),
		cmocka_unit_test(test_util__sort_nearly_sorted),
		cmocka_unit_test(test_util__same_file),
		cmocka_unit_test(test_util__edit_distance),
		cmocka_unit_test(test_util__exit_codes),
		cmocka_unit_test(test_util__error_details),
		cmocka_unit_test(test_util__diags_print_caret),
		cmocka_unit_test(test_util__diags_print_finds_source_by_name),
		cmocka_unit_test(test_util__diags_print_caret_utf8_and_tabs),
		cmocka_unit_test(test_util__diags_print_without_place),
		cmocka_unit_test(test_util__shorten),
		cmocka_unit_test(test_util__read_file),
		cmocka_unit_test(test_util__partial_file),
		cmocka_unit_test(test_util__trace_perf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
