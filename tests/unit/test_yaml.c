/*
 * The YAML tree (yaml.h): what the parser builds, every error it reports
 * with its exact text and place, and the typed accessors' messages.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <time.h>

#include <cmocka.h>

#include "converge/yaml.h"

#define PATH "m.yaml"

/* One parsed text with everything it owns. */
struct fx {
	struct cv_yaml_doc doc;
	struct cv_arena strings;
	struct cv_diags diags;
	struct cv_source src;
	const char *path;
	int ret;
};

static void parse_len(struct fx *f, const char *text, size_t len,
		      unsigned flags)
{
	memset(f, 0, sizeof(*f));
	f->path = PATH;
	f->src.path = f->path;
	f->src.text = text;
	f->src.len = len;
	f->diags.sources = &f->src;
	f->diags.nsources = 1;
	f->ret = cv_yaml_parse(&f->doc, f->path, text, len, flags, &f->strings,
			       &f->diags);
}

static void parse(struct fx *f, const char *text)
{
	parse_len(f, text, strlen(text), 0);
}

static void parse_env(struct fx *f, const char *text)
{
	parse_len(f, text, strlen(text), CV_YAML_EXPAND_ENV);
}

static void done(struct fx *f)
{
	cv_yaml_release(&f->doc);
	cv_arena_release(&f->strings);
	cv_diags_release(&f->diags);
}

/* Asserts a clean parse. */
static void parse_ok(struct fx *f, const char *text)
{
	parse(f, text);
	if (f->diags.nr)
		fprintf(stderr, "unexpected: %s\n", f->diags.items[0].msg);
	assert_int_equal(f->ret, 0);
	assert_int_equal(f->diags.nr, 0);
}

/* Asserts that diagnostic `i` is an error at line:col saying `msg`. */
static void assert_diag(const struct fx *f, size_t i, unsigned line,
			unsigned col, const char *msg)
{
	const struct cv_diag *d;

	assert_true(i < f->diags.nr);
	d = &f->diags.items[i];
	assert_int_equal(d->level, CV_DIAG_ERROR);
	assert_string_equal(d->msg, msg);
	assert_ptr_equal(d->mark.file, f->path);
	assert_int_equal(d->mark.line, line);
	assert_int_equal(d->mark.col, col);
}

/* Asserts exactly one error, at line:col saying `msg`, and a failed parse. */
static void assert_one_error(const struct fx *f, unsigned line, unsigned col,
			     const char *msg)
{
	assert_int_equal(f->ret, CV_EINVAL);
	assert_int_equal(f->diags.nr, 1);
	assert_int_equal(f->diags.errors, 1);
	assert_diag(f, 0, line, col, msg);
}

static const struct cv_node *get(const struct cv_node *n, const char *key)
{
	const struct cv_node *v = cv_yaml_get(n, key);

	assert_non_null(v);
	return v;
}

static void assert_scalar(const struct cv_node *n, const char *text,
			  enum cv_scalar_style style)
{
	assert_non_null(n);
	assert_int_equal(n->type, CV_NODE_SCALAR);
	assert_string_equal(n->str, text);
	assert_int_equal(n->len, strlen(text));
	assert_int_equal(n->style, style);
}

static void test_yaml__node_is_64_bytes(void **state)
{
	(void)state;
	assert_true(sizeof(struct cv_node) <= 64);
}

static void test_yaml__map_and_list(void **state)
{
	struct fx f;
	const struct cv_node *roles, *perms, *e;
	const char *const want[] = { "license:read", "license:validate" };
	size_t i = 0;

	(void)state;
	parse_ok(&f, "roles:\n"
		     "  viewer:\n"
		     "    permissions: [license:read, license:validate]\n"
		     "  editor: {}\n");
	assert_non_null(f.doc.root);
	assert_int_equal(f.doc.root->type, CV_NODE_MAP);
	assert_int_equal(f.doc.root->count, 1);
	roles = get(f.doc.root, "roles");
	assert_int_equal(roles->type, CV_NODE_MAP);
	assert_int_equal(roles->count, 2);
	perms = get(get(roles, "viewer"), "permissions");
	assert_int_equal(perms->type, CV_NODE_SEQ);
	assert_int_equal(perms->count, 2);
	cv_yaml_each(p, perms) {
		assert_null(p->key);
		assert_scalar(p, want[i++], CV_SCALAR_PLAIN);
	}
	assert_int_equal(i, 2);
	e = get(roles, "editor");
	assert_int_equal(e->type, CV_NODE_MAP);
	assert_int_equal(e->count, 0);
	assert_null(cv_yaml_first(e));
	assert_null(cv_yaml_get(roles, "admin"));
	assert_null(cv_yaml_get(perms, "x"));
	assert_null(cv_yaml_first(cv_yaml_first(perms)));
	assert_null(cv_yaml_first(NULL));
	assert_null(cv_yaml_next(NULL));
	/* Entries keep their keys, in document order. */
	e = cv_yaml_first(roles);
	assert_string_equal(e->key, "viewer");
	assert_string_equal(cv_yaml_next(e)->key, "editor");
	assert_null(cv_yaml_next(cv_yaml_next(e)));
	done(&f);
}

static void test_yaml__marks_are_one_based(void **state)
{
	struct fx f;
	const struct cv_node *a, *b, *x;

	(void)state;
	parse_ok(&f, "a: 1\n"
		     "b:\n"
		     "  - x\n");
	assert_int_equal(f.doc.root->mark.line, 1);
	assert_int_equal(f.doc.root->mark.col, 1);
	a = get(f.doc.root, "a");
	assert_ptr_equal(a->mark.file, f.path);
	assert_int_equal(a->mark.line, 1);
	assert_int_equal(a->mark.col, 4);
	assert_ptr_equal(a->key_mark.file, f.path);
	assert_int_equal(a->key_mark.line, 1);
	assert_int_equal(a->key_mark.col, 1);
	b = get(f.doc.root, "b");
	assert_int_equal(b->key_mark.line, 2);
	assert_int_equal(b->key_mark.col, 1);
	assert_int_equal(b->mark.line, 3);
	assert_int_equal(b->mark.col, 3);
	x = cv_yaml_first(b);
	assert_int_equal(x->mark.line, 3);
	assert_int_equal(x->mark.col, 5);
	done(&f);
}

/* Columns count characters, as libyaml does: 'é' is one column. */
static void test_yaml__marks_count_characters(void **state)
{
	struct fx f;

	(void)state;
	parse_ok(&f, "\xc3\xa9t\xc3\xa9: x\n");
	assert_int_equal(get(f.doc.root, "\xc3\xa9t\xc3\xa9")->mark.col, 6);
	done(&f);
}

static void test_yaml__scalars_stay_text(void **state)
{
	struct fx f;

	(void)state;
	parse_ok(&f, "on: yes\n"
		     "off: no\n"
		     "id: 0123\n"
		     "rev: 571948cc671b\n"
		     "exp: 1e3\n"
		     "hex: 0x1F\n"
		     "t: true\n"
		     "ver: 1.10\n");
	assert_int_equal(f.doc.root->count, 8);
	assert_scalar(get(f.doc.root, "on"), "yes", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "off"), "no", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "id"), "0123", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "rev"), "571948cc671b", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "exp"), "1e3", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "hex"), "0x1F", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "t"), "true", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "ver"), "1.10", CV_SCALAR_PLAIN);
	done(&f);
}

static void test_yaml__styles(void **state)
{
	struct fx f;

	(void)state;
	parse_ok(&f, "p: plain text\n"
		     "s: 'it''s'\n"
		     "d: \"tab\\there\"\n"
		     "l: |\n"
		     "  one\n"
		     "  two\n"
		     "g: >\n"
		     "  one\n"
		     "  two\n"
		     "e: ''\n"
		     "u: o'brien@example.com\n");
	assert_scalar(get(f.doc.root, "p"), "plain text", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "s"), "it's", CV_SCALAR_QUOTED);
	assert_scalar(get(f.doc.root, "d"), "tab\there", CV_SCALAR_QUOTED);
	assert_scalar(get(f.doc.root, "l"), "one\ntwo\n", CV_SCALAR_QUOTED);
	assert_scalar(get(f.doc.root, "g"), "one two\n", CV_SCALAR_QUOTED);
	assert_scalar(get(f.doc.root, "e"), "", CV_SCALAR_QUOTED);
	assert_scalar(get(f.doc.root, "u"), "o'brien@example.com",
		      CV_SCALAR_PLAIN);
	done(&f);
}

static void test_yaml__null_forms(void **state)
{
	static const char *const nulls[] = { "a", "b", "c", "d", "e", "f" };
	static const char *const texts[] = { "q", "r", "s", "t", "u" };
	struct fx f;
	size_t i;

	(void)state;
	parse_ok(&f, "a:\n"
		     "b: ~\n"
		     "c: null\n"
		     "d: Null\n"
		     "e: NULL\n"
		     "f: \n"
		     "q: 'null'\n"
		     "r: \"~\"\n"
		     "s: nUll\n"
		     "t: none\n"
		     "u: ''\n");
	for (i = 0; i < CV_ARRAY_SIZE(nulls); i++) {
		assert_true(cv_yaml_is_null(get(f.doc.root, nulls[i])));
		assert_string_equal(cv_yaml_type_name(get(f.doc.root, nulls[i])),
				    "null");
	}
	for (i = 0; i < CV_ARRAY_SIZE(texts); i++) {
		assert_false(cv_yaml_is_null(get(f.doc.root, texts[i])));
		assert_string_equal(cv_yaml_type_name(get(f.doc.root, texts[i])),
				    "a string");
	}
	assert_true(cv_yaml_is_null(NULL));
	assert_false(cv_yaml_is_null(f.doc.root));
	assert_string_equal(cv_yaml_type_name(f.doc.root), "a mapping");
	done(&f);
}

static void test_yaml__empty_documents(void **state)
{
	static const char *const texts[] = {
		"", "\n\n", "# only a comment\n# and another\n", "---\n",
		"--- # nothing\n...\n", "   \n",
	};
	struct fx f;
	size_t i;

	(void)state;
	for (i = 0; i < CV_ARRAY_SIZE(texts); i++) {
		parse_ok(&f, texts[i]);
		assert_null(f.doc.root);
		done(&f);
	}
	/* A null written out is a document, not nothing. */
	parse_ok(&f, "~\n");
	assert_non_null(f.doc.root);
	assert_true(cv_yaml_is_null(f.doc.root));
	done(&f);
}

static void test_yaml__bom_is_skipped(void **state)
{
	struct fx f;

	(void)state;
	parse_ok(&f, "\xef\xbb\xbf" "a: 1\n");
	assert_scalar(get(f.doc.root, "a"), "1", CV_SCALAR_PLAIN);
	done(&f);
	/*
	 * More than one line: the mark is not a character in column 0 that
	 * would indent the first key past the second, and columns count
	 * from after it.
	 */
	parse_ok(&f, "\xef\xbb\xbf" "a: 1\nb: {c: 2}\n");
	assert_scalar(get(f.doc.root, "a"), "1", CV_SCALAR_PLAIN);
	assert_int_equal(get(f.doc.root, "a")->mark.col, 4);
	assert_int_equal(get(get(f.doc.root, "b"), "c")->mark.line, 2);
	assert_int_equal(get(get(f.doc.root, "b"), "c")->mark.col, 8);
	done(&f);
}

static void test_yaml__alias_shares_the_anchored_node(void **state)
{
	struct fx f;
	const struct cv_node *base, *list, *e;
	int i = 0;

	(void)state;
	parse_ok(&f, "base: &b {x: 1, y: 2}\n"
		     "list:\n"
		     "  - *b\n"
		     "  - tail\n"
		     "copy: *b\n"
		     "name: &n viewer\n"
		     "again: *n\n");
	base = get(f.doc.root, "base");
	list = get(f.doc.root, "list");
	assert_int_equal(list->count, 2);
	/* Iteration through an alias stays in the list that holds it. */
	cv_yaml_each(it, list) {
		assert_int_not_equal(it->type, CV_NODE_ALIAS);
		i++;
	}
	assert_int_equal(i, 2);
	e = cv_yaml_first(list);
	assert_int_equal(e->type, CV_NODE_MAP);
	assert_true(e->flags & CV_NODE_F_ALIAS);
	assert_ptr_equal(e->child, base->child); /* shared, not copied */
	assert_int_equal(e->count, 2);
	assert_null(e->key);
	assert_int_equal(e->mark.line, 3);
	assert_int_equal(e->mark.col, 5);
	assert_scalar(cv_yaml_next(e), "tail", CV_SCALAR_PLAIN);
	assert_scalar(get(e, "y"), "2", CV_SCALAR_PLAIN);

	e = get(f.doc.root, "copy");
	assert_string_equal(e->key, "copy");
	assert_int_equal(e->key_mark.line, 5);
	assert_ptr_equal(e->child, base->child);
	assert_ptr_equal(cv_yaml_deref(e), e);

	e = get(f.doc.root, "again");
	assert_scalar(e, "viewer", CV_SCALAR_PLAIN);
	assert_string_equal(e->key, "again");
	assert_true(e->flags & CV_NODE_F_ALIAS);
	assert_false(get(f.doc.root, "name")->flags & CV_NODE_F_ALIAS);
	assert_int_equal(f.doc.root->count, 5);
	done(&f);
}

/* A later anchor of the same name is the one later aliases mean. */
static void test_yaml__anchor_redefined(void **state)
{
	struct fx f;

	(void)state;
	parse_ok(&f, "a: &x one\n"
		     "b: *x\n"
		     "c: &x two\n"
		     "d: *x\n");
	assert_scalar(get(f.doc.root, "b"), "one", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "d"), "two", CV_SCALAR_PLAIN);
	done(&f);
}

static void test_yaml__alias_as_key(void **state)
{
	struct fx f;

	(void)state;
	parse_ok(&f, "names: [&k viewer]\n"
		     "roles: {*k : 1}\n");
	assert_scalar(get(get(f.doc.root, "roles"), "viewer"), "1",
		      CV_SCALAR_PLAIN);
	done(&f);
}

static void test_yaml__undefined_alias(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "a: 1\n"
		  "b: *nope\n"
		  "c: 3\n");
	assert_one_error(&f, 2, 4, "undefined alias 'nope'");
	/* The rest of the mapping is still read, pairs intact. */
	assert_scalar(get(f.doc.root, "c"), "3", CV_SCALAR_PLAIN);
	assert_null(cv_yaml_get(f.doc.root, "b"));
	done(&f);
}

static void test_yaml__recursive_alias(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "a: &r [1, *r]\n");
	assert_one_error(&f, 1, 11,
			 "alias 'r' is used inside the node it names (recursive structures are not supported)");
	done(&f);
	parse(&f, "a: &m {k: *m}\n");
	assert_one_error(&f, 1, 11,
			 "alias 'm' is used inside the node it names (recursive structures are not supported)");
	done(&f);
}

/*
 * 9 levels of 9 aliases: expanded, a billion strings.  As shared nodes,
 * a hundred, parsed at once in a few kilobytes.
 */
static void test_yaml__billion_laughs(void **state)
{
	static const char doc[] =
		"a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
		"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
		"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
		"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
		"h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
		"i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	struct fx f;
	struct mallinfo2 before, after;
	clock_t start;
	const struct cv_node *n;
	int depth = 0;

	(void)state;
	before = mallinfo2();
	start = clock();
	parse_ok(&f, doc);
	assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 0.5);
	after = mallinfo2();
	/* Heap in use after the parse (tree, strings): well under 1 MiB. */
	assert_true(after.uordblks < before.uordblks + ((size_t)1 << 20));
	/* Nine levels down from 'i', every level nine wide, all shared. */
	for (n = get(f.doc.root, "i"); n->type == CV_NODE_SEQ;
	     n = cv_yaml_first(n)) {
		const struct cv_node *e, *last = NULL;
		int width = 0;

		assert_int_equal(n->count, 9);
		for (e = cv_yaml_first(n); e; e = cv_yaml_next(e)) {
			last = e;
			width++;
		}
		assert_int_equal(width, 9);
		if (last->type == CV_NODE_SEQ)
			assert_ptr_equal(last->child, cv_yaml_first(n)->child);
		depth++;
	}
	assert_int_equal(depth, 9);
	assert_scalar(n, "lol", CV_SCALAR_QUOTED);
	assert_ptr_equal(cv_yaml_first(get(f.doc.root, "i"))->child,
			 get(f.doc.root, "h")->child);
	done(&f);
}

static void test_yaml__merge_key(void **state)
{
	struct fx f;
	const struct cv_node *m, *a, *b;

	(void)state;
	parse_ok(&f, "base: &base\n"
		     "  a: 1\n"
		     "  b: 2\n"
		     "m:\n"
		     "  <<: *base\n"
		     "  a: 10\n");
	m = get(f.doc.root, "m");
	assert_int_equal(m->count, 2);
	assert_null(cv_yaml_get(m, "<<"));
	/* The explicit key wins, wherever it is written. */
	a = get(m, "a");
	assert_scalar(a, "10", CV_SCALAR_PLAIN);
	assert_false(a->flags & CV_NODE_F_MERGED);
	b = get(m, "b");
	assert_scalar(b, "2", CV_SCALAR_PLAIN);
	assert_true(b->flags & CV_NODE_F_MERGED);
	/* A merged entry is placed where its source wrote it. */
	assert_int_equal(b->key_mark.line, 3);
	assert_int_equal(b->key_mark.col, 3);
	assert_int_equal(b->mark.line, 3);
	assert_int_equal(b->mark.col, 6);
	/* The source is left as it was. */
	assert_int_equal(get(f.doc.root, "base")->count, 2);
	done(&f);
}

static void test_yaml__merge_list_earlier_wins(void **state)
{
	struct fx f;
	const struct cv_node *m;

	(void)state;
	parse_ok(&f, "one: &one {a: 1, b: 1}\n"
		     "two: &two {b: 2, c: 2}\n"
		     "m:\n"
		     "  c: 3\n"
		     "  <<: [*one, *two]\n"
		     "n: {<<: [*two, *one]}\n"
		     "o: {<<: {z: inline}}\n");
	m = get(f.doc.root, "m");
	assert_int_equal(m->count, 3);
	assert_scalar(get(m, "a"), "1", CV_SCALAR_PLAIN);
	assert_scalar(get(m, "b"), "1", CV_SCALAR_PLAIN);
	assert_scalar(get(m, "c"), "3", CV_SCALAR_PLAIN);
	m = get(f.doc.root, "n");
	assert_int_equal(m->count, 3);
	assert_scalar(get(m, "b"), "2", CV_SCALAR_PLAIN);
	assert_scalar(get(get(f.doc.root, "o"), "z"), "inline",
		      CV_SCALAR_PLAIN);
	done(&f);
}

/* Merges through merges: the source's own merged keys come along. */
static void test_yaml__merge_chain(void **state)
{
	struct fx f;
	const struct cv_node *c;

	(void)state;
	parse_ok(&f, "a: &a {x: 1}\n"
		     "b: &b {<<: *a, y: 2}\n"
		     "c: {<<: *b, z: 3}\n");
	c = get(f.doc.root, "c");
	assert_int_equal(c->count, 3);
	assert_scalar(get(c, "x"), "1", CV_SCALAR_PLAIN);
	assert_scalar(get(c, "y"), "2", CV_SCALAR_PLAIN);
	done(&f);
}

static void test_yaml__merge_bad_values(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "m:\n"
		  "  <<: 5\n");
	assert_one_error(&f, 2, 7,
			 "merge key '<<' expects a mapping or a list of mappings, got a string");
	done(&f);
	parse(&f, "a: &a {x: 1}\n"
		  "m: {<<: [*a, [1]]}\n");
	assert_one_error(&f, 2, 14,
			 "merge key '<<' expects a mapping or a list of mappings, got a list in the list");
	done(&f);
	parse(&f, "m: {<<: {a: 1}, <<: {b: 2}}\n");
	assert_one_error(&f, 1, 17,
			 "duplicate key '<<' (first defined at m.yaml:1:5)");
	done(&f);
	/* Quoted, "<<" is an ordinary key. */
	parse_ok(&f, "m: {\"<<\": 5}\n");
	assert_scalar(get(get(f.doc.root, "m"), "<<"), "5", CV_SCALAR_PLAIN);
	done(&f);
}

static void test_yaml__duplicate_key(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "roles:\n"
		  "  viewer: {}\n"
		  "  editor: {}\n"
		  "  viewer: {}\n");
	assert_one_error(&f, 4, 3,
			 "duplicate key 'viewer' (first defined at m.yaml:2:3)");
	assert_int_equal(get(f.doc.root, "roles")->count, 2);
	done(&f);
	/* Same key in different mappings is fine. */
	parse_ok(&f, "a: {x: 1}\nb: {x: 2}\n");
	done(&f);
}

/* Past a few entries, duplicates are found through a table: check it. */
static void test_yaml__duplicate_key_in_large_map(void **state)
{
	struct cv_buf b = CV_BUF_INIT;
	struct fx f;
	int i;

	(void)state;
	for (i = 0; i < 5000; i++)
		cv_buf_addf(&b, "k%d: %d\n", i, i);
	cv_buf_adds(&b, "k1234: again\n");
	parse(&f, b.buf);
	assert_one_error(&f, 5001, 1,
			 "duplicate key 'k1234' (first defined at m.yaml:1235:1)");
	assert_int_equal(f.doc.root->count, 5000);
	assert_scalar(get(f.doc.root, "k4999"), "4999", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "k1234"), "1234", CV_SCALAR_PLAIN);
	done(&f);
	cv_buf_release(&b);
}

static void test_yaml__keys_must_be_scalars(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "? [a, b]\n"
		  ": 1\n"
		  "c: 2\n");
	assert_one_error(&f, 1, 3, "mapping keys must be scalars, got a list");
	assert_int_equal(f.doc.root->count, 1);
	assert_scalar(get(f.doc.root, "c"), "2", CV_SCALAR_PLAIN);
	done(&f);
	parse(&f, "{{a: 1}: x}\n");
	assert_one_error(&f, 1, 2, "mapping keys must be scalars, got a mapping");
	done(&f);
}

static void test_yaml__empty_key(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "?\n"
		  ": x\n");
	assert_one_error(&f, 1, 2,
			 "empty mapping key (write \"\" for an empty string)");
	done(&f);
	parse_ok(&f, "\"\": x\n");
	assert_scalar(get(f.doc.root, ""), "x", CV_SCALAR_PLAIN);
	done(&f);
	/* Keys are text: `on`, `null`, `~` and `1` are keys like any other. */
	parse_ok(&f, "on: a\nnull: b\n~: c\n1: d\n");
	assert_scalar(get(f.doc.root, "on"), "a", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "null"), "b", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "~"), "c", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "1"), "d", CV_SCALAR_PLAIN);
	done(&f);
}

static void test_yaml__depth_limit(void **state)
{
	struct cv_buf b = CV_BUF_INIT;
	struct fx f;
	const struct cv_node *n;
	int i, depth = 0;

	(void)state;
	for (i = 0; i < CV_YAML_MAX_DEPTH; i++)
		cv_buf_addch(&b, '[');
	for (i = 0; i < CV_YAML_MAX_DEPTH; i++)
		cv_buf_addch(&b, ']');
	parse_ok(&f, b.buf);
	for (n = f.doc.root; n; n = cv_yaml_first(n))
		depth++;
	assert_int_equal(depth, CV_YAML_MAX_DEPTH);
	done(&f);

	cv_buf_reset(&b);
	for (i = 0; i < CV_YAML_MAX_DEPTH + 1; i++)
		cv_buf_adds(&b, "- ");
	cv_buf_adds(&b, "x\n");
	parse(&f, b.buf);
	assert_one_error(&f, 1, 2 * CV_YAML_MAX_DEPTH + 1,
			 "nesting too deep (more than 64 levels)");
	assert_null(f.doc.root);
	done(&f);

	/* Far deeper: one error, no crash, no deep recursion. */
	cv_buf_reset(&b);
	for (i = 0; i < 200000; i++)
		cv_buf_addch(&b, '[');
	parse(&f, b.buf);
	assert_one_error(&f, 1, CV_YAML_MAX_DEPTH + 1,
			 "nesting too deep (more than 64 levels)");
	done(&f);
	cv_buf_release(&b);
}

static void test_yaml__env_expansion(void **state)
{
	struct fx f;
	const struct cv_node *n;

	(void)state;
	assert_int_equal(setenv("CV_TEST_HOST", "db.example.com", 1), 0);
	assert_int_equal(setenv("CV_TEST_EMPTY", "", 1), 0);
	parse_env(&f, "url: \"postgres://${CV_TEST_HOST}:5432/x\"\n"
		      "plain: ${CV_TEST_HOST}\n"
		      "twice: ${CV_TEST_HOST}/${CV_TEST_HOST}\n"
		      "literal: $${CV_TEST_HOST}\n"
		      "dollars: a$b $ $$ $}\n"
		      "empty: ${CV_TEST_EMPTY}\n"
		      "${CV_TEST_HOST}: key\n");
	assert_int_equal(f.ret, 0);
	assert_int_equal(f.diags.nr, 0);
	n = get(f.doc.root, "url");
	assert_scalar(n, "postgres://db.example.com:5432/x", CV_SCALAR_QUOTED);
	assert_true(n->flags & CV_NODE_F_EXPANDED);
	assert_scalar(get(f.doc.root, "plain"), "db.example.com",
		      CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "twice"), "db.example.com/db.example.com",
		      CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "literal"), "${CV_TEST_HOST}",
		      CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "dollars"), "a$b $ $$ $}",
		      CV_SCALAR_PLAIN);
	assert_false(get(f.doc.root, "dollars")->flags & CV_NODE_F_EXPANDED);
	/* An empty variable gives the empty string, not a null. */
	n = get(f.doc.root, "empty");
	assert_scalar(n, "", CV_SCALAR_PLAIN);
	assert_false(cv_yaml_is_null(n));
	/* Keys are not expanded. */
	assert_scalar(get(f.doc.root, "${CV_TEST_HOST}"), "key",
		      CV_SCALAR_PLAIN);
	done(&f);

	/* Without the flag, nothing is expanded. */
	parse(&f, "plain: ${CV_TEST_HOST}\n");
	assert_scalar(get(f.doc.root, "plain"), "${CV_TEST_HOST}",
		      CV_SCALAR_PLAIN);
	done(&f);
}

static void test_yaml__env_errors(void **state)
{
	struct fx f;

	(void)state;
	assert_int_equal(unsetenv("CV_TEST_UNSET"), 0);
	parse_env(&f, "a: ${CV_TEST_UNSET}\n"
		      "b: x-${bad-name}\n"
		      "c: ${}\n"
		      "d: \"${OPEN\"\n"
		      "e: ${1ST}\n");
	assert_int_equal(f.ret, CV_EINVAL);
	assert_int_equal(f.diags.nr, 5);
	assert_diag(&f, 0, 1, 4, "environment variable 'CV_TEST_UNSET' is not set");
	assert_diag(&f, 1, 2, 4,
		    "invalid environment variable name 'bad-name' (expected letters, digits and '_', not starting with a digit)");
	assert_diag(&f, 2, 3, 4,
		    "invalid environment variable name '' (expected letters, digits and '_', not starting with a digit)");
	assert_diag(&f, 3, 4, 4, "unterminated '${' in '${OPEN' (expected '}')");
	assert_diag(&f, 4, 5, 4,
		    "invalid environment variable name '1ST' (expected letters, digits and '_', not starting with a digit)");
	done(&f);
}

/*
 * A value whose variable could not be expanded is marked lost, and the
 * typed accessors refuse it without a second message: what the loader
 * would check next (a name, a type) is about text the user did not mean.
 */
static void test_yaml__env_unset_value_is_lost(void **state)
{
	struct fx f;
	const struct cv_node *a, *list;
	const char *s = NULL;
	bool b;
	long long n;

	(void)state;
	assert_int_equal(unsetenv("CV_TEST_UNSET"), 0);
	parse_env(&f, "a: ${CV_TEST_UNSET}\n"
		      "list: [ok, \"x${CV_TEST_UNSET}\"]\n"
		      "b: plain\n");
	assert_int_equal(f.diags.nr, 2);
	a = get(f.doc.root, "a");
	assert_true(a->flags & CV_NODE_F_LOST);
	list = get(f.doc.root, "list");
	assert_false(list->child->flags & CV_NODE_F_LOST);
	assert_true(list->child->next->flags & CV_NODE_F_LOST);
	/* A lost value leaves nothing out of the collections around it. */
	assert_false(list->flags & (CV_NODE_F_LOST | CV_NODE_F_LOST_BELOW));
	assert_false(f.doc.root->flags & (CV_NODE_F_LOST | CV_NODE_F_LOST_BELOW));
	assert_false(get(f.doc.root, "b")->flags & CV_NODE_F_LOST);
	assert_int_equal(cv_yaml_as_string(a, "a", &f.diags, &s), CV_EINVAL);
	assert_null(s);
	assert_int_equal(cv_yaml_as_bool(a, "a", &f.diags, &b), CV_EINVAL);
	assert_int_equal(cv_yaml_as_int(a, "a", &f.diags, &n), CV_EINVAL);
	assert_int_equal(cv_yaml_expect(a, CV_NODE_MAP, "a", &f.diags),
			 CV_EINVAL);
	assert_int_equal(f.diags.nr, 2);
	assert_int_equal(f.diags.errors, 2);
	done(&f);
}

/*
 * A collection that loses an entry to an error is marked lost, and every
 * collection around it knows that one below lost something: a section
 * with a duplicate key inside may not define all that was written.
 */
static void test_yaml__lost_entries_are_marked(void **state)
{
	struct fx f;
	const struct cv_node *roles, *viewer, *other;

	(void)state;
	parse(&f, "roles:\n"
		  "  viewer: {perms: [a], perms: [b]}\n"
		  "  editor: {}\n"
		  "other: {x: 1}\n");
	assert_int_equal(f.diags.nr, 1);
	roles = get(f.doc.root, "roles");
	viewer = get(roles, "viewer");
	other = get(f.doc.root, "other");
	assert_true(viewer->flags & CV_NODE_F_LOST);
	assert_false(viewer->flags & CV_NODE_F_LOST_BELOW);
	assert_true(roles->flags & CV_NODE_F_LOST_BELOW);
	assert_false(roles->flags & CV_NODE_F_LOST);
	assert_true(f.doc.root->flags & CV_NODE_F_LOST_BELOW);
	assert_false(f.doc.root->flags & CV_NODE_F_LOST);
	assert_false(other->flags & (CV_NODE_F_LOST | CV_NODE_F_LOST_BELOW));
	assert_false(get(roles, "editor")->flags &
		     (CV_NODE_F_LOST | CV_NODE_F_LOST_BELOW));
	done(&f);

	/* An alias to nothing loses its entry; an alias to a collection
	 * that lost one, and a merge of it, carry that along. */
	parse(&f, "a: &a {x: 1, x: 2}\n"
		  "b: {y: *a}\n"
		  "c: {<<: *a}\n"
		  "d: [*nothing, 1]\n"
		  "e: [1]\n");
	assert_int_equal(f.diags.nr, 2);
	assert_true(get(f.doc.root, "a")->flags & CV_NODE_F_LOST);
	assert_true(get(f.doc.root, "b")->flags & CV_NODE_F_LOST_BELOW);
	assert_true(get(f.doc.root, "c")->flags & CV_NODE_F_LOST_BELOW);
	assert_true(get(f.doc.root, "d")->flags & CV_NODE_F_LOST);
	assert_false(get(f.doc.root, "e")->flags &
		     (CV_NODE_F_LOST | CV_NODE_F_LOST_BELOW));
	done(&f);

	/* A section written twice in one file: the document lost it. */
	parse(&f, "roles: {a: {}}\nroles: {b: {}}\n");
	assert_true(f.doc.root->flags & CV_NODE_F_LOST);
	done(&f);
}

static void test_yaml__tags(void **state)
{
	struct fx f;

	(void)state;
	parse_ok(&f, "a: !!str 0123\n"
		     "b: !!str true\n");
	assert_scalar(get(f.doc.root, "a"), "0123", CV_SCALAR_QUOTED);
	assert_scalar(get(f.doc.root, "b"), "true", CV_SCALAR_QUOTED);
	done(&f);
	parse(&f, "a: !!int 3\n"
		  "b: !custom {}\n"
		  "c: !!seq []\n");
	assert_int_equal(f.ret, CV_EINVAL);
	assert_int_equal(f.diags.nr, 3);
	assert_diag(&f, 0, 1, 4, "tags are not supported (found '!!int')");
	assert_diag(&f, 1, 2, 4, "tags are not supported (found '!custom')");
	assert_diag(&f, 2, 3, 4, "tags are not supported (found '!!seq')");
	done(&f);
}

static void test_yaml__control_characters(void **state)
{
	struct fx f;

	(void)state;
	/* Escapes get past libyaml's reader: the tree refuses them. */
	parse(&f, "a: \"x\\x01y\"\n");
	assert_one_error(&f, 1, 4, "control character in string (U+0001)");
	done(&f);
	parse(&f, "a: ok\n"
		  "b: \"nul\\0inside\"\n");
	assert_one_error(&f, 2, 4, "control character in string (U+0000)");
	done(&f);
	parse(&f, "a: \"\\u0085\"\n");
	assert_one_error(&f, 1, 4, "control character in string (U+0085)");
	done(&f);
	parse(&f, "\"k\\x7f\": 1\n");
	assert_one_error(&f, 1, 1, "control character in string (U+007F)");
	done(&f);
	/* Tab, newline and carriage return are text. */
	parse_ok(&f, "a: \"x\\ty\\r\\nz\"\n");
	assert_scalar(get(f.doc.root, "a"), "x\ty\r\nz", CV_SCALAR_QUOTED);
	done(&f);
}

static void test_yaml__nul_byte_in_file(void **state)
{
	static const char text[] = "a: 1\nb: x\0y\nc: 3\n";
	struct fx f;

	(void)state;
	parse_len(&f, text, sizeof(text) - 1, 0);
	assert_one_error(&f, 2, 5, "control characters are not allowed (0x00)");
	assert_null(f.doc.root);
	done(&f);
}

static void test_yaml__invalid_utf8(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "a: 1\n"
		  "b: \xff\n");
	assert_one_error(&f, 2, 4, "invalid leading UTF-8 octet (0xff)");
	done(&f);
	parse(&f, "\xc3\xa9: \xc3(\n");
	assert_one_error(&f, 1, 5, "invalid trailing UTF-8 octet (0x28)");
	done(&f);
	parse(&f, "a: \xe2\x82");
	assert_one_error(&f, 1, 4, "incomplete UTF-8 octet sequence");
	done(&f);
}

static void test_yaml__binary_garbage(void **state)
{
	unsigned char junk[4096];
	uint32_t x = 2463534242u;
	struct fx f;
	size_t i;
	int round;

	(void)state;
	for (round = 0; round < 50; round++) {
		for (i = 0; i < sizeof(junk); i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			junk[i] = (unsigned char)x;
		}
		parse_len(&f, (const char *)junk, sizeof(junk), CV_YAML_EXPAND_ENV);
		assert_int_equal(f.ret, CV_EINVAL);
		assert_int_equal(f.diags.nr, 1);
		assert_true(f.diags.items[0].mark.line >= 1);
		done(&f);
	}
	/* The start of an ELF file. */
	parse_len(&f, "\x7f" "ELF\x02\x01\x01", 7, 0);
	assert_one_error(&f, 1, 1, "control characters are not allowed (0x7f)");
	done(&f);
}

static void test_yaml__tab_indentation(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "roles:\n"
		  "\tviewer: {}\n");
	assert_one_error(&f, 2, 1,
			 "while scanning for the next token: found character that cannot start any token (a tab cannot indent YAML: use spaces)");
	done(&f);
}

static void test_yaml__syntax_errors(void **state)
{
	struct fx f;

	(void)state;
	/* Placed at the token to fix, not where the scanner gave up. */
	parse(&f, "a: 1\n"
		  "b c\n");
	assert_one_error(&f, 2, 1,
			 "while scanning a simple key: could not find expected ':'");
	done(&f);
	parse(&f, "a: \"open\n");
	assert_one_error(&f, 1, 4,
			 "while scanning a quoted scalar: found unexpected end of stream");
	done(&f);
	parse(&f, "a: b: c\n");
	assert_one_error(&f, 1, 5, "mapping values are not allowed in this context");
	done(&f);
	/* The end of the stream is the end of the last line, not a line
	 * after it that the file does not have (no caret could show). */
	parse(&f, "- a\n"
		  "- b: [x\n");
	assert_one_error(&f, 2, 8,
			 "while parsing a flow sequence at line 2, column 6: did not find expected ',' or ']'");
	done(&f);
	parse(&f, "a: [x}\n");
	assert_one_error(&f, 1, 6,
			 "while parsing a flow sequence: did not find expected ',' or ']'");
	done(&f);
	/* libyaml hands out the empty value of a last key before it finds
	 * the mapping never closed: for a merge key, that value is an
	 * error of its own, at a line the file does not have.  The syntax
	 * error is the one said (found by fuzz_manifest). */
	parse(&f, " {<<");
	assert_one_error(&f, 1, 5,
			 "while parsing a flow mapping at line 1, column 2: did not find expected ',' or '}'");
	done(&f);
	parse(&f, "a: 1\nb: {c: 2, <<\n");
	assert_one_error(&f, 2, 13,
			 "while parsing a flow mapping at line 2, column 4: did not find expected ',' or '}'");
	done(&f);
	/* Problems before the syntax error stay. */
	parse(&f, "a: 1\na: 2\nb: {<<");
	assert_int_equal(f.diags.errors, 2);
	assert_int_equal(f.diags.nr, 2);
	assert_non_null(strstr(f.diags.items[0].msg, "duplicate key 'a'"));
	assert_non_null(strstr(f.diags.items[1].msg, "flow mapping"));
	done(&f);
}

static void test_yaml__multiple_documents(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "a: 1\n"
		  "---\n"
		  "b: 2\n");
	assert_one_error(&f, 2, 1,
			 "more than one document in the file (a manifest is one YAML document)");
	done(&f);
	parse(&f, "--- a\n"
		  "...\n"
		  "--- b\n");
	assert_one_error(&f, 3, 1,
			 "more than one document in the file (a manifest is one YAML document)");
	done(&f);
	/* One document with its markers is fine. */
	parse_ok(&f, "---\na: 1\n...\n");
	assert_scalar(get(f.doc.root, "a"), "1", CV_SCALAR_PLAIN);
	done(&f);
}

/* Every problem of a file is reported, in order, not just the first. */
static void test_yaml__reports_every_error(void **state)
{
	struct fx f;

	(void)state;
	parse(&f, "a: 1\n"
		  "a: 2\n"
		  "b: !!int 3\n"
		  "c: *nope\n");
	assert_int_equal(f.ret, CV_EINVAL);
	assert_int_equal(f.diags.nr, 3);
	assert_diag(&f, 0, 2, 1, "duplicate key 'a' (first defined at m.yaml:1:1)");
	assert_diag(&f, 1, 3, 4, "tags are not supported (found '!!int')");
	assert_diag(&f, 2, 4, 4, "undefined alias 'nope'");
	done(&f);
}

static void test_yaml__as_string(void **state)
{
	struct fx f;
	const char *s = NULL;

	(void)state;
	parse_ok(&f, "a: text\nb: 'quoted'\nc: 0123\nd: ~\ne: [x]\ng: {x: 1}\n");
	assert_int_equal(cv_yaml_as_string(get(f.doc.root, "a"), "a", &f.diags, &s), 0);
	assert_string_equal(s, "text");
	assert_int_equal(cv_yaml_as_string(get(f.doc.root, "b"), "b", &f.diags, &s), 0);
	assert_string_equal(s, "quoted");
	assert_int_equal(cv_yaml_as_string(get(f.doc.root, "c"), "c", &f.diags, &s), 0);
	assert_string_equal(s, "0123");
	assert_int_equal(f.diags.nr, 0);
	assert_int_equal(cv_yaml_as_string(get(f.doc.root, "d"), "subject", &f.diags, &s),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_string(get(f.doc.root, "e"), "subject", &f.diags, &s),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_string(get(f.doc.root, "g"), "the role name", &f.diags, &s),
			 CV_EINVAL);
	assert_int_equal(f.diags.nr, 3);
	assert_diag(&f, 0, 4, 4, "expected a string for 'subject', got null");
	assert_diag(&f, 1, 5, 4, "expected a string for 'subject', got a list");
	assert_diag(&f, 2, 6, 4, "expected a string for the role name, got a mapping");
	done(&f);
}

static void test_yaml__as_bool(void **state)
{
	struct fx f;
	bool b = false;

	(void)state;
	parse_ok(&f, "t: true\nf: false\ny: yes\no: on\nT: True\nq: 'true'\nn:\nl: []\n");
	assert_int_equal(cv_yaml_as_bool(get(f.doc.root, "t"), "t", &f.diags, &b), 0);
	assert_true(b);
	assert_int_equal(cv_yaml_as_bool(get(f.doc.root, "f"), "f", &f.diags, &b), 0);
	assert_false(b);
	assert_int_equal(f.diags.nr, 0);
	assert_int_equal(cv_yaml_as_bool(get(f.doc.root, "y"), "enabled", &f.diags, &b),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_bool(get(f.doc.root, "o"), "enabled", &f.diags, &b),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_bool(get(f.doc.root, "T"), "enabled", &f.diags, &b),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_bool(get(f.doc.root, "q"), "enabled", &f.diags, &b),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_bool(get(f.doc.root, "n"), "enabled", &f.diags, &b),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_bool(get(f.doc.root, "l"), "enabled", &f.diags, &b),
			 CV_EINVAL);
	assert_int_equal(f.diags.nr, 6);
	assert_diag(&f, 0, 3, 4, "expected true or false for 'enabled', got 'yes'");
	assert_diag(&f, 1, 4, 4, "expected true or false for 'enabled', got 'on'");
	assert_diag(&f, 2, 5, 4, "expected true or false for 'enabled', got 'True'");
	assert_diag(&f, 3, 6, 4,
		    "expected true or false for 'enabled', got 'true' (a quoted string)");
	assert_diag(&f, 4, 7, 3, "expected true or false for 'enabled', got null");
	assert_diag(&f, 5, 8, 4, "expected true or false for 'enabled', got a list");
	done(&f);
}

static void test_yaml__as_int(void **state)
{
	struct fx f;
	long long v = 0;

	(void)state;
	parse_ok(&f, "a: 42\nb: -7\nc: +3\nd: 007\n"
		     "max: 9223372036854775807\nmin: -9223372036854775808\n"
		     "big: 9223372036854775808\nx: 1.5\ny: '5'\nz: 1e3\ne: +\n");
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "a"), "a", &f.diags, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "b"), "b", &f.diags, &v), 0);
	assert_int_equal(v, -7);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "c"), "c", &f.diags, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "d"), "d", &f.diags, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "max"), "max", &f.diags, &v), 0);
	assert_true(v == LLONG_MAX);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "min"), "min", &f.diags, &v), 0);
	assert_true(v == LLONG_MIN);
	assert_int_equal(f.diags.nr, 0);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "big"), "expect", &f.diags, &v),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "x"), "expect", &f.diags, &v),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "y"), "expect", &f.diags, &v),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "z"), "expect", &f.diags, &v),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_as_int(get(f.doc.root, "e"), "expect", &f.diags, &v),
			 CV_EINVAL);
	assert_int_equal(f.diags.nr, 5);
	assert_diag(&f, 0, 7, 6,
		    "expected an integer for 'expect', got '9223372036854775808' (out of range)");
	assert_diag(&f, 1, 8, 4, "expected an integer for 'expect', got '1.5'");
	assert_diag(&f, 2, 9, 4,
		    "expected an integer for 'expect', got '5' (a quoted string)");
	assert_diag(&f, 3, 10, 4, "expected an integer for 'expect', got '1e3'");
	assert_diag(&f, 4, 11, 4, "expected an integer for 'expect', got '+'");
	done(&f);
}

static void test_yaml__expect(void **state)
{
	struct fx f;

	(void)state;
	parse_ok(&f, "m: {}\nl: []\ns: x\nn: ~\n");
	assert_int_equal(cv_yaml_expect(get(f.doc.root, "m"), CV_NODE_MAP, "roles", &f.diags), 0);
	assert_int_equal(cv_yaml_expect(get(f.doc.root, "l"), CV_NODE_SEQ, "grants", &f.diags), 0);
	assert_int_equal(cv_yaml_expect(get(f.doc.root, "s"), CV_NODE_SCALAR, "x", &f.diags), 0);
	assert_int_equal(f.diags.nr, 0);
	assert_int_equal(cv_yaml_expect(get(f.doc.root, "l"), CV_NODE_MAP, "roles", &f.diags),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_expect(get(f.doc.root, "s"), CV_NODE_SEQ, "grants", &f.diags),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_expect(get(f.doc.root, "n"), CV_NODE_MAP, "roles", &f.diags),
			 CV_EINVAL);
	assert_int_equal(cv_yaml_expect(f.doc.root, CV_NODE_SEQ, "the manifest", &f.diags),
			 CV_EINVAL);
	assert_int_equal(f.diags.nr, 4);
	assert_diag(&f, 0, 2, 4, "expected a mapping for 'roles', got a list");
	assert_diag(&f, 1, 3, 4, "expected a list for 'grants', got 'x'");
	assert_diag(&f, 2, 4, 4, "expected a mapping for 'roles', got null");
	assert_diag(&f, 3, 1, 1, "expected a list for the manifest, got a mapping");
	done(&f);
}

static void test_yaml__check_keys(void **state)
{
	static const char *const known[] = {
		"permissions", "inherits", "description", NULL,
	};
	struct fx f;

	(void)state;
	parse_ok(&f, "viewer:\n"
		     "  permisions: [a]\n"
		     "  inherits: []\n"
		     "  colour: red\n"
		     "  Description: x\n");
	assert_int_equal(cv_yaml_check_keys(get(f.doc.root, "viewer"), known,
					    "role 'viewer'", &f.diags), 3);
	assert_int_equal(f.diags.nr, 3);
	assert_diag(&f, 0, 2, 3,
		    "unknown key 'permisions' in role 'viewer' (did you mean 'permissions'?)");
	assert_diag(&f, 1, 4, 3, "unknown key 'colour' in role 'viewer'");
	assert_diag(&f, 2, 5, 3,
		    "unknown key 'Description' in role 'viewer' (did you mean 'description'?)");
	/* Not a mapping: nothing to check. */
	assert_int_equal(cv_yaml_check_keys(get(get(f.doc.root, "viewer"), "inherits"),
					    known, "x", &f.diags), 0);
	assert_int_equal(f.diags.nr, 3);
	done(&f);
}

static void test_yaml__suggest(void **state)
{
	static const char *const known[] = {
		"roles", "grants", "entitlements", "flags", "checks", "guards",
		"schema", "on", NULL,
	};

	(void)state;
	assert_string_equal(cv_suggest("role", known), "roles");
	assert_string_equal(cv_suggest("rols", known), "roles");
	assert_string_equal(cv_suggest("entitelments", known), "entitlements");
	assert_string_equal(cv_suggest("entitlments", known), "entitlements");
	assert_string_equal(cv_suggest("gaurds", known), "guards");
	assert_string_equal(cv_suggest("grants", known), "grants");
	/* Ties go to the first listed: 'grants' and 'guards' are both 2 away. */
	assert_string_equal(cv_suggest("gruants", known), "grants");
	assert_null(cv_suggest("users", known));
	assert_null(cv_suggest("x", known));
	assert_null(cv_suggest("to", known));   /* 2 edits from "on" */
	assert_null(cv_suggest("flagz_and_more", known));
	assert_null(cv_suggest("", known));
}

/* The caret line under an error, through cv_diags_print. */
static void test_yaml__diag_print_with_caret(void **state)
{
	struct fx f;
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	parse(&f, "roles:\n"
		  "  viewer: {}\n"
		  "  viewer: {}\n");
	fp = open_memstream(&out, &len);
	assert_non_null(fp);
	cv_diags_print(&f.diags, fp);
	fclose(fp);
	assert_string_equal(out,
		"m.yaml:3:3: error: duplicate key 'viewer' (first defined at m.yaml:2:3)\n"
		"      viewer: {}\n"
		"      ^\n");
	free(out);
	done(&f);
}

/* A large list of flow mappings, the shape of a big grants file. */
static void test_yaml__large_list(void **state)
{
	struct cv_buf b = CV_BUF_INIT;
	struct fx f;
	const struct cv_node *g, *last = NULL;
	int i;

	(void)state;
	cv_buf_adds(&b, "grants:\n");
	for (i = 0; i < 100000; i++)
		cv_buf_addf(&b, "  - {subject: user%07d, role: viewer}\n", i);
	parse_ok(&f, b.buf);
	g = get(f.doc.root, "grants");
	assert_int_equal(g->count, 100000);
	cv_yaml_each(e, g)
		last = e;
	assert_non_null(last);
	assert_scalar(get(last, "subject"), "user0099999", CV_SCALAR_PLAIN);
	assert_int_equal(last->mark.line, 100001);
	/* Keys are shared between entries, values are not. */
	assert_ptr_equal(cv_yaml_first(last)->key,
			 cv_yaml_first(cv_yaml_first(g))->key);
	done(&f);
	cv_buf_release(&b);
}

/* What a stream was handed: how many entries, and the last one. */
struct streamed {
	size_t n;
	char last[32];
	unsigned line;
};

static void on_entry(void *arg, const struct cv_node *e)
{
	struct streamed *s = arg;
	const struct cv_node *subject = cv_yaml_get(e, "subject");

	s->n++;
	s->line = e->mark.line;
	snprintf(s->last, sizeof(s->last), "%s",
		 subject && subject->type == CV_NODE_SCALAR ? subject->str : "");
}

/* Resident memory now, in bytes (Linux). */
static size_t resident(void)
{
	FILE *fp = fopen("/proc/self/statm", "r");
	unsigned long size = 0, pages = 0;

	if (fp && fscanf(fp, "%lu %lu", &size, &pages) != 2)
		pages = 0;
	if (fp)
		fclose(fp);
	return (size_t)pages * 4096;
}

/*
 * The entries of a streamed list go to the stream as each is read, and
 * their nodes are given back: 200,000 entries do not grow the tree.
 */
static void test_yaml__streamed_list(void **state)
{
	struct cv_buf b = CV_BUF_INIT;
	struct streamed seen = { 0, "", 0 };
	struct cv_yaml_stream stream = { "grants", on_entry, &seen };
	struct cv_yaml_doc doc;
	struct cv_arena strings = CV_ARENA_INIT;
	struct cv_diags diags = CV_DIAGS_INIT;
	const struct cv_node *g;
	size_t before;
	int i;

	(void)state;
	cv_buf_adds(&b, "version: 1\ngrants:\n");
	for (i = 0; i < 200000; i++)
		cv_buf_addf(&b, "  - {subject: user%07d, role: viewer}\n", i);
	cv_buf_adds(&b, "roles: {viewer: {}}\n");
	before = resident();
	assert_int_equal(cv_yaml_parse_stream(&doc, PATH, b.buf, b.len, 0,
					      &strings, &diags, &stream), 0);
	/* Their strings stay (2.4 MB); 600,000 nodes would be 38 MB.  (With
	 * CV_ARENA_MALLOC, for ASan, every node is an allocation of its
	 * own, kept to the end.) */
#ifndef CV_ARENA_MALLOC
	assert_true(resident() < before + ((size_t)16 << 20));
#else
	(void)before;
#endif
	assert_int_equal(seen.n, 200000);
	assert_string_equal(seen.last, "user0199999");
	assert_int_equal(seen.line, 200002);
	g = get(doc.root, "grants");
	assert_int_equal(g->count, 0);
	assert_true(g->flags & CV_NODE_F_STREAMED);
	/* The rest of the document is a tree as always. */
	assert_non_null(get(doc.root, "roles"));
	cv_yaml_release(&doc);
	cv_arena_release(&strings);
	cv_diags_release(&diags);
	cv_buf_release(&b);
}

/*
 * An entry that defines an anchor is kept in the tree, and so is every
 * one after it (an alias may name it later); so is a list that is itself
 * anchored, and a second list under the same key.
 */
static void test_yaml__streamed_list_keeps_anchors(void **state)
{
	static const char text[] =
		"grants:\n"
		"  - {subject: a, role: r}\n"
		"  - {subject: b, role: &r r}\n"
		"  - {subject: c, role: *r}\n"
		"other: &o\n"
		"  - {subject: d}\n";
	static const char anchored[] =
		"grants: &all\n"
		"  - {subject: a, role: r}\n";
	struct streamed seen = { 0, "", 0 };
	struct cv_yaml_stream stream = { "grants", on_entry, &seen };
	struct cv_yaml_doc doc;
	struct cv_arena strings = CV_ARENA_INIT;
	struct cv_diags diags = CV_DIAGS_INIT;
	const struct cv_node *g;

	(void)state;
	assert_int_equal(cv_yaml_parse_stream(&doc, PATH, text, strlen(text), 0,
					      &strings, &diags, &stream), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.last, "a");
	g = get(doc.root, "grants");
	assert_int_equal(g->count, 2);
	assert_scalar(get(cv_yaml_first(g), "subject"), "b", CV_SCALAR_PLAIN);
	assert_scalar(get(cv_yaml_next(cv_yaml_first(g)), "role"), "r",
		      CV_SCALAR_PLAIN);
	/* Only the root's key is streamed. */
	assert_int_equal(get(doc.root, "other")->count, 1);
	cv_yaml_release(&doc);

	seen.n = 0;
	assert_int_equal(cv_yaml_parse_stream(&doc, PATH, anchored,
					      strlen(anchored), 0, &strings,
					      &diags, &stream), 0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(get(doc.root, "grants")->count, 1);
	cv_yaml_release(&doc);
	cv_arena_release(&strings);
	cv_diags_release(&diags);
}

/* A scalar bigger than the pool's chunks gets an allocation of its own. */
static void test_yaml__long_scalar(void **state)
{
	struct cv_buf b = CV_BUF_INIT;
	struct fx f;
	const struct cv_node *n;
	size_t i;

	(void)state;
	cv_buf_adds(&b, "short: a\nlong: \"");
	for (i = 0; i < 300000; i++)
		cv_buf_addch(&b, (char)('a' + i % 26));
	cv_buf_adds(&b, "\"\nafter: b\n");
	parse_ok(&f, b.buf);
	n = get(f.doc.root, "long");
	assert_int_equal(n->len, 300000);
	assert_int_equal(n->str[299999], 'a' + 299999 % 26);
	assert_int_equal(n->str[300000], '\0');
	assert_scalar(get(f.doc.root, "short"), "a", CV_SCALAR_PLAIN);
	assert_scalar(get(f.doc.root, "after"), "b", CV_SCALAR_PLAIN);
	done(&f);
	cv_buf_release(&b);
}

/* Strings live in the caller's arena: they outlive the tree. */
static void test_yaml__strings_outlive_tree(void **state)
{
	struct fx f;
	const char *s = NULL;

	(void)state;
	parse_ok(&f, "name: kept\n");
	assert_int_equal(cv_yaml_as_string(get(f.doc.root, "name"), "name",
					   &f.diags, &s), 0);
	cv_yaml_release(&f.doc);
	assert_null(f.doc.root);
	assert_string_equal(s, "kept");
	cv_yaml_release(&f.doc); /* twice is fine */
	cv_yaml_release(NULL);
	done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml__node_is_64_bytes),
		cmocka_unit_test(test_yaml__map_and_list),
		cmocka_unit_test(test_yaml__marks_are_one_based),
		cmocka_unit_test(test_yaml__marks_count_characters),
		cmocka_unit_test(test_yaml__scalars_stay_text),
		cmocka_unit_test(test_yaml__styles),
		cmocka_unit_test(test_yaml__null_forms),
		cmocka_unit_test(test_yaml__empty_documents),
		cmocka_unit_test(test_yaml__bom_is_skipped),
		cmocka_unit_test(test_yaml__alias_shares_the_anchored_node),
		cmocka_unit_test(test_yaml__anchor_redefined),
		cmocka_unit_test(test_yaml__alias_as_key),
		cmocka_unit_test(test_yaml__undefined_alias),
		cmocka_unit_test(test_yaml__recursive_alias),
		cmocka_unit_test(test_yaml__billion_laughs),
		cmocka_unit_test(test_yaml__merge_key),
		cmocka_unit_test(test_yaml__merge_list_earlier_wins),
		cmocka_unit_test(test_yaml__merge_chain),
		cmocka_unit_test(test_yaml__merge_bad_values),
		cmocka_unit_test(test_yaml__duplicate_key),
		cmocka_unit_test(test_yaml__duplicate_key_in_large_map),
		cmocka_unit_test(test_yaml__keys_must_be_scalars),
		cmocka_unit_test(test_yaml__empty_key),
		cmocka_unit_test(test_yaml__depth_limit),
		cmocka_unit_test(test_yaml__env_expansion),
		cmocka_unit_test(test_yaml__env_errors),
		cmocka_unit_test(test_yaml__env_unset_value_is_lost),
		cmocka_unit_test(test_yaml__lost_entries_are_marked),
		cmocka_unit_test(test_yaml__tags),
		cmocka_unit_test(test_yaml__control_characters),
		cmocka_unit_test(test_yaml__nul_byte_in_file),
		cmocka_unit_test(test_yaml__invalid_utf8),
		cmocka_unit_test(test_yaml__binary_garbage),
		cmocka_unit_test(test_yaml__tab_indentation),
		cmocka_unit_test(test_yaml__syntax_errors),
		cmocka_unit_test(test_yaml__multiple_documents),
		cmocka_unit_test(test_yaml__reports_every_error),
		cmocka_unit_test(test_yaml__as_string),
		cmocka_unit_test(test_yaml__as_bool),
		cmocka_unit_test(test_yaml__as_int),
		cmocka_unit_test(test_yaml__expect),
		cmocka_unit_test(test_yaml__check_keys),
		cmocka_unit_test(test_yaml__suggest),
		cmocka_unit_test(test_yaml__diag_print_with_caret),
		cmocka_unit_test(test_yaml__large_list),
		cmocka_unit_test(test_yaml__streamed_list),
		cmocka_unit_test(test_yaml__streamed_list_keeps_anchors),
		cmocka_unit_test(test_yaml__long_scalar),
		cmocka_unit_test(test_yaml__strings_outlive_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
