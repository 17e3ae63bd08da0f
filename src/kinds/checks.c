/*
 * The `checks` kind: verifiers that run inside the apply transaction,
 * after every change and before any flag is switched on.  A check that
 * does not return what it expects rolls the whole run back (exit 5).
 *
 * Checks own no storage.  In a plan with changes each check is a step of
 * phase 6; `plan` itself runs, read-only, the checks that none of the
 * plan's steps can affect, and lists the others as "run at apply".
 *
 * Rows are compared in a canonical text form: each row's cells as
 * "<len>:<text>" (or "~" for NULL) followed by ";".  Values compare as
 * the database prints them, so `expect: 0` matches count(*) = 0, except
 * that truth values and numbers compare by value (same_cell).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "converge/kind.h"

/* Skips blanks and SQL comments. */
static const char *skip_blank(const char *p)
{
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");

			p = end ? end + 2 : p + strlen(p);
		} else {
			return p;
		}
	}
}

/* Past a PostgreSQL dollar-quoted string ($$…$$, $tag$…$tag$) at p, or p. */
static const char *dollar_quoted(const char *p)
{
	const char *tag = p + 1, *end;
	size_t n;

	while (isalnum((unsigned char)*tag) || *tag == '_')
		tag++;
	if (*tag != '$' || (tag > p + 1 && isdigit((unsigned char)p[1])))
		return p;
	n = (size_t)(tag - p) + 1;
	for (end = tag + 1; *end; end++)
		if (strncmp(end, p, n) == 0)
			return end + n;
	return end;
}

/*
 * The words by which a statement that starts as a SELECT or WITH writes
 * (a CTE may hold an INSERT, UPDATE, DELETE or MERGE; SELECT … INTO makes
 * a table) or locks rows (FOR UPDATE): a check only reads.
 */
static bool writes(const char *word, size_t n)
{
	static const char *const words[] = {
		"INSERT", "UPDATE", "DELETE", "MERGE", "INTO", NULL
	};
	size_t i;

	for (i = 0; words[i]; i++)
		if (strlen(words[i]) == n && strncasecmp(word, words[i], n) == 0)
			return true;
	return false;
}

/*
 * One statement that only reads: SELECT, WITH … SELECT, or one of them in
 * parentheses; no second statement and no word that writes outside
 * strings, quoted names and comments.  Checks also run inside a savepoint
 * that is rolled back (cv_check_eval): this says so at validate.
 */
static bool single_select(const char *sql)
{
	const char *p = skip_blank(sql);

	while (*p == '(')
		p = skip_blank(p + 1);
	if (strncasecmp(p, "SELECT", 6) != 0 && strncasecmp(p, "WITH", 4) != 0)
		return false;
	while (*p) {
		if (*p == '\'' || *p == '"' || *p == '`') {
			char q = *p++;

			while (*p && *p != q)
				p++;
			if (*p)
				p++;
			continue;
		}
		if (*p == '$' && dollar_quoted(p) != p) {
			p = dollar_quoted(p);
			continue;
		}
		if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
			p = skip_blank(p);
			continue;
		}
		if (isalpha((unsigned char)*p) || *p == '_') {
			const char *w = p;

			while (isalnum((unsigned char)*p) || *p == '_' ||
			       *p == '$')
				p++;
			if (writes(w, (size_t)(p - w)))
				return false;
			continue;
		}
		if (*p == ';')
			return *skip_blank(p + 1) == '\0';
		p++;
	}
	return true;
}

static void canon_cell(struct cv_buf *b, const char *s)
{
	cv_canon_add(b, s);
}

/* The canonical rows of an `expect`: a scalar, or a list of rows. */
static int load_expect(const struct cv_node *n, struct cv_loader *ld,
		       struct cv_buf *out)
{
	int ret = 0;

	if (n->type == CV_NODE_SCALAR) {
		canon_cell(out, cv_yaml_is_null(n) ? NULL : n->str);
		cv_buf_addch(out, ';');
		return 0;
	}
	if (cv_yaml_expect(n, CV_NODE_SEQ, "expect", ld->diags))
		return CV_EINVAL;
	cv_yaml_each(row, n) {
		if (row->type == CV_NODE_SCALAR) {
			canon_cell(out, cv_yaml_is_null(row) ? NULL : row->str);
		} else if (row->type == CV_NODE_SEQ) {
			cv_yaml_each(cell, row) {
				if (cell->type != CV_NODE_SCALAR) {
					cv_diag_error(ld->diags, &cell->mark,
						      "a cell of 'expect' must be a value, got %s",
						      cv_yaml_type_name(cell));
					ret = CV_EINVAL;
					continue;
				}
				canon_cell(out, cv_yaml_is_null(cell) ? NULL :
					   cell->str);
			}
		} else {
			cv_diag_error(ld->diags, &row->mark,
				      "a row of 'expect' must be a value or a list of values, got %s",
				      cv_yaml_type_name(row));
			ret = CV_EINVAL;
		}
		cv_buf_addch(out, ';');
	}
	return ret;
}

/*
 * The cell of canonical rows at *p, moving *p past it: *text (NULL for
 * SQL NULL) and *len.  False where no cell starts: at a row's end (';'),
 * at the end, or in text that is not canonical, such as a length longer
 * than what follows (a saved plan's `after` is anyone's text).
 */
static bool next_cell(const char **p, const char **text, size_t *len)
{
	char *end;

	if (**p == '~') {
		*text = NULL;
		*len = 0;
		(*p)++;
		return true;
	}
	if (!isdigit((unsigned char)**p))
		return false;
	*len = strtoul(*p, &end, 10);
	if (*end != ':' || strnlen(end + 1, *len) < *len)
		return false;
	*text = end + 1;
	*p = end + 1 + *len;
	return true;
}

/* Readable rows for messages: "0", or "[a, b]; [c, d]", or "no rows";
 * an empty text is '', apart from NULL. */
static char *show_rows(const char *canon)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *p = canon;
	size_t rows = 0, cells = 0;
	bool single;

	for (; *p; p++)
		if (*p == ';')
			rows++;
	p = canon;
	if (!rows) {
		cv_buf_adds(&b, "no rows");
		return cv_buf_detach(&b);
	}
	single = rows == 1;
	while (*p) {
		struct cv_buf row = CV_BUF_INIT;

		const char *text;
		size_t n;

		cells = 0;
		while (next_cell(&p, &text, &n)) {
			if (cells++)
				cv_buf_adds(&row, ", ");
			if (text && n)
				cv_buf_add(&row, text, n);
			else
				cv_buf_adds(&row, text ? "''" : "NULL");
		}
		if (*p && *p != ';') {
			/* Not as converge writes rows (an edited saved plan):
			 * shown as it is, not as what it would parse to. */
			cv_buf_release(&row);
			cv_buf_reset(&b);
			cv_buf_addf(&b, "'%.200s'%s (not rows as converge records them)",
				    canon, strlen(canon) > 200 ? "…" : "");
			return cv_buf_detach(&b);
		}
		if (*p == ';')
			p++;
		if (b.len)
			cv_buf_adds(&b, "; ");
		if (single && cells == 1)
			cv_buf_adds(&b, cv_buf_str(&row));
		else
			cv_buf_addf(&b, "[%s]", cv_buf_str(&row));
		cv_buf_release(&row);
	}
	return cv_buf_detach(&b);
}

static int checks_load(struct cv_state *want, const struct cv_node *node,
		       struct cv_loader *ld)
{
	static const char *const keys[] = { "sql", "as_role", "expect", NULL };
	int ret = 0;

	if (cv_yaml_is_null(node))
		return 0;
	if (cv_yaml_expect(node, CV_NODE_MAP, "checks", ld->diags)) {
		want->unknown |= CV_SEC_CHECKS;
		return CV_EINVAL;
	}
	cv_yaml_each(e, node) {
		struct cv_buf canon = CV_BUF_INIT;
		const struct cv_node *v;
		struct cv_check c;
		char *shown;

		memset(&c, 0, sizeof(c));
		c.name = e->key;
		c.mark = e->key_mark;
		if (cv_check_name(e->key, "check name", &e->key_mark, ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		if (cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags)) {
			/* Defined all the same: the flags that name it are
			 * not wrong. */
			CV_GROW(want->checks, want->nchecks + 1,
				want->checks_alloc);
			want->checks[want->nchecks++] = c;
			ret = CV_EINVAL;
			continue;
		}
		if (cv_yaml_check_keys(e, keys, "a check", ld->diags))
			ret = CV_EINVAL;
		v = cv_yaml_get(e, "sql");
		if (!v) {
			cv_diag_error(ld->diags, &e->key_mark,
				      "check '%s' has no 'sql'", cv_shorten(e->key));
			ret = CV_EINVAL;
		} else if (cv_yaml_as_string(v, "sql", ld->diags, &c.sql)) {
			ret = CV_EINVAL;
		} else if (!single_select(c.sql)) {
			cv_diag_error(ld->diags, &v->mark,
				      "check '%s' must be a single SELECT (or WITH … SELECT) statement that only reads",
				      cv_shorten(e->key));
			ret = CV_EINVAL;
		}
		if ((v = cv_yaml_get(e, "as_role")) && !cv_yaml_is_null(v) &&
		    (cv_yaml_as_string(v, "as_role", ld->diags, &c.as_role) ||
		     cv_check_name(c.as_role, "as_role", &v->mark, ld->diags)))
			ret = CV_EINVAL;
		v = cv_yaml_get(e, "expect");
		if (!v) {
			cv_diag_error(ld->diags, &e->key_mark,
				      "check '%s' has no 'expect'", cv_shorten(e->key));
			ret = CV_EINVAL;
		} else if (load_expect(v, ld, &canon)) {
			ret = CV_EINVAL;
		}
		c.expect = cv_arena_strdup(ld->strings, cv_buf_str(&canon));
		shown = show_rows(c.expect);
		c.expect_text = cv_arena_strdup(ld->strings, shown);
		free(shown);
		cv_buf_release(&canon);
		CV_GROW(want->checks, want->nchecks + 1, want->checks_alloc);
		want->checks[want->nchecks++] = c;
	}
	return ret;
}

static int check_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_check *)a)->name,
		      ((const struct cv_check *)b)->name);
}

static int checks_validate(struct cv_state *want, struct cv_arena *strings,
			   struct cv_diags *diags)
{
	size_t i, k, j;
	int ret;

	(void)strings;
	cv_sort_stable(want->checks, want->nchecks, sizeof(*want->checks),
		       check_cmp);
	ret = cv_report_twice(want->checks, want->nchecks,
			      sizeof(*want->checks),
			      offsetof(struct cv_check, name),
			      offsetof(struct cv_check, mark), "check", diags);
	/* Flags name the checks that gate them (when all could be read). */
	for (i = 0; i < want->nflags && !(want->unknown & CV_SEC_CHECKS); i++)
		for (k = 0; k < want->flags[i].nchecks; k++) {
			for (j = 0; j < want->nchecks; j++)
				if (strcmp(want->checks[j].name,
					   want->flags[i].checks[k]) == 0)
					break;
			if (j == want->nchecks) {
				const struct cv_flag *f = &want->flags[i];

				cv_report_undefined(diags, f->checks_marks ?
					&f->checks_marks[k] : &f->mark,
					cv_suggest_among(f->checks[k],
						want->checks, want->nchecks,
						sizeof(*want->checks),
						offsetof(struct cv_check, name)),
					"flag '%s' names undefined check '%s'",
					cv_shorten(f->name),
					cv_shorten(f->checks[k]));
				ret = CV_EINVAL;
			}
		}
	return ret;
}

struct rows {
	struct cv_buf canon;
	size_t n;
};

static int add_row(void *p, const char *const *cols, const size_t *lens,
		   int ncols)
{
	struct rows *r = p;
	int i;

	(void)lens;
	/* A runaway check must not eat the machine: 1,000 rows is plenty
	 * to tell expected from not. */
	if (r->n++ >= 1000)
		return 0;
	for (i = 0; i < ncols; i++)
		canon_cell(&r->canon, cols[i]);
	cv_buf_addch(&r->canon, ';');
	return 0;
}

/*
 * A check whose SQL fails has failed (exit 5, docs/manifest.md): a table
 * renamed, a permission as_role lacks are what a fail-closed check is
 * there to catch, and a pipeline that tells a failed check by its exit
 * code must see them.  Waiting too long for a lock stays what it is.
 */
static int check_failed(struct cv_error *err, int ret)
{
	if (ret != CV_EDB)
		return ret;
	err->code = CV_ECHECK;
	return CV_ECHECK;
}

/*
 * Runs a check's query inside a savepoint that is rolled back whatever
 * happens: nothing a check does outlives it, and on PostgreSQL a failing
 * query leaves the transaction usable, so the error reported is the
 * check's.  On PostgreSQL the savepoint is read-only too, in apply as in
 * plan (whose whole transaction is): a function with a side effect, which
 * validate cannot see (nextval, whose advance no rollback undoes), fails
 * both alike, CV_EREADONLY.  The rollback to the savepoint makes the
 * transaction read-write again.  SQLite has no writing function a single
 * SELECT could call; plan's connection is read-only there anyway.
 */
static int query_undone(struct cv_ctx *ctx, const char *sql, struct rows *r,
			struct cv_error *err)
{
	struct cv_error ignored = CV_ERROR_INIT;
	int ret;

	ret = ctx->be->exec_script(ctx->db,
				   strcmp(ctx->be->name, "postgres") == 0 ?
				   "SAVEPOINT converge_check_query; "
				   "SET LOCAL transaction_read_only = on" :
				   "SAVEPOINT converge_check_query", err);
	if (ret)
		return ret;
	ret = ctx->be->query(ctx->db, sql, NULL, 0, add_row, r, err);
	if (ctx->be->exec_script(ctx->db,
				 "ROLLBACK TO SAVEPOINT converge_check_query",
				 &ignored) == 0)
		ctx->be->exec_script(ctx->db,
				     "RELEASE SAVEPOINT converge_check_query",
				     &ignored);
	cv_error_release(&ignored);
	return ret;
}

/* A truth value (PostgreSQL's t and f, true and false in any case) as
 * SQLite gives it, 1 or 0; anything else as it is. */
static const char *truth(const char *s)
{
	if (!strcmp(s, "t") || !strcasecmp(s, "true"))
		return "1";
	if (!strcmp(s, "f") || !strcasecmp(s, "false"))
		return "0";
	return s;
}

/*
 * The exact value of the number s as "[-]DIGITSeEXP", its digits without
 * leading or trailing zeros ("0" for zero: 2, 2.0, 2.00 and 0.2e1 are all
 * "2e0", 007 is "7e0"), and in *sig how many digits that is.  False when
 * s is no decimal number (then it compares as text).
 */
static bool exact_number(const char *s, struct cv_buf *out, size_t *sig)
{
	const char *p = s;
	long exp = 0, frac = -1;	/* digits after the point; -1: none */
	size_t sign, first, last;
	char *end;

	cv_buf_reset(out);
	if (*p == '-')
		cv_buf_addch(out, '-');
	if (*p == '+' || *p == '-')
		p++;
	sign = out->len;
	for (; isdigit((unsigned char)*p) || (*p == '.' && frac < 0); p++) {
		if (*p == '.') {
			frac = 0;
			continue;
		}
		cv_buf_addch(out, *p);
		if (frac >= 0)
			frac++;
	}
	if (out->len == sign)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		/* strtol would take blanks before the digits too. */
		if (!isdigit((unsigned char)p[*p == '+' || *p == '-']))
			return false;
		errno = 0;
		exp = strtol(p, &end, 10);
		if (errno || exp > 1000000 || exp < -1000000)
			return false;
		p = end;
	}
	if (*p)
		return false;
	if (frac > 0)
		exp -= frac;
	/* The digits without leading and trailing zeros, moved left. */
	last = out->len;
	while (last > sign && out->buf[last - 1] == '0') {
		last--;
		exp++;
	}
	for (first = sign; first < last && out->buf[first] == '0'; first++)
		;
	*sig = last - first;
	if (!*sig) {
		cv_buf_reset(out);
		cv_buf_addch(out, '0');
		return true;
	}
	memmove(out->buf + sign, out->buf + first, *sig);
	out->len = sign + *sig;
	out->buf[out->len] = '\0';
	cv_buf_addf(out, "e%ld", exp);
	return true;
}

/*
 * Numbers compare by value, and exactly: 12345678901234.56 is not
 * 12345678901234.57, nor is a long numeric any other that shares its
 * first 15 digits.  But SQLite prints a REAL with 15 significant digits
 * and PostgreSQL a float8 with up to 17 (0.30000000000000004): a number
 * of more than 15 digits against one of 15 or fewer is compared rounded
 * to 15, as a REAL's printing would round it.
 */
static bool same_cell(const char *a, const char *b)
{
	struct cv_buf x = CV_BUF_INIT, y = CV_BUF_INIT;
	size_t sx, sy;
	bool same;
	char num[64];

	a = truth(a);
	b = truth(b);
	if (!strcmp(a, b))
		return true;
	same = exact_number(a, &x, &sx) && exact_number(b, &y, &sy);
	if (same && (sx > 15) != (sy > 15)) {
		/* The longer one, rounded to 15 digits. */
		const char *l = sx > 15 ? a : b;

		snprintf(num, sizeof(num), "%.15g", strtod(l, NULL));
		same = exact_number(num, sx > 15 ? &x : &y, sx > 15 ? &sx : &sy);
	}
	same = same && !strcmp(cv_buf_str(&x), cv_buf_str(&y));
	cv_buf_release(&x);
	cv_buf_release(&y);
	return same;
}

/* Canonical rows (see the top of this file), cell by cell (same_cell). */
static bool same_rows(const char *got, const char *expect)
{
	const char *p = got, *q = expect, *a, *b;
	size_t na, nb;
	char *x, *y;
	bool same;

	if (strcmp(got, expect) == 0)
		return true;
	while (*p && *q) {
		if (*p == ';' || *q == ';') {
			if (*p++ != *q++)
				return false;
			continue;
		}
		if (!next_cell(&p, &a, &na) || !next_cell(&q, &b, &nb))
			return false;
		if (!a || !b) {
			if (a || b)
				return false;
			continue;
		}
		x = cv_strndup(a, na);
		y = cv_strndup(b, nb);
		same = same_cell(x, y);
		free(x);
		free(y);
		if (!same)
			return false;
	}
	return !*p && !*q;
}

int cv_check_eval(struct cv_ctx *ctx, const char *name, const char *sql,
		  const char *expect, struct cv_error *err)
{
	struct rows r = { CV_BUF_INIT, 0 };
	char *want, *got;
	int ret;

	ret = query_undone(ctx, sql, &r, err);
	if (ret == CV_EREADONLY) {
		cv_error_prefix(err, "check '%s' writes to the database, but a check must only read: it runs read-only, in plan and apply alike",
				name);
		cv_buf_release(&r.canon);
		err->code = CV_ECHECK;
		return CV_ECHECK;
	}
	if (ret) {
		cv_error_prefix(err, "check '%s' could not run", name);
		cv_buf_release(&r.canon);
		return check_failed(err, ret);
	}
	if (same_rows(cv_buf_str(&r.canon), expect)) {
		cv_buf_release(&r.canon);
		return 0;
	}
	want = show_rows(expect);
	got = show_rows(cv_buf_str(&r.canon));
	ret = cv_error_set(err, CV_ECHECK,
			   "check '%s' failed: expected %s, got %s%s", name,
			   want, got, r.n > 1000 ? " (first 1,000 rows)" : "");
	cv_error_set_sql(err, NULL, sql);
	free(want);
	free(got);
	cv_buf_release(&r.canon);
	return ret;
}

/* Tables a non-script statement writes: the identifier after INSERT
 * INTO, UPDATE or DELETE FROM. */
static char *written_table(const char *sql)
{
	const char *p = skip_blank(sql), *start;
	char q;

	if (strncasecmp(p, "INSERT INTO", 11) == 0)
		p += 11;
	else if (strncasecmp(p, "DELETE FROM", 11) == 0)
		p += 11;
	else if (strncasecmp(p, "UPDATE", 6) == 0)
		p += 6;
	else
		return NULL;
	p = skip_blank(p);
	if (*p == '"' || *p == '`') {
		q = *p++;
		start = p;
		while (*p && *p != q)
			p++;
	} else {
		start = p;
		while (*p && !isspace((unsigned char)*p) && *p != '(')
			p++;
	}
	return cv_strndup(start, (size_t)(p - start));
}

/* Whether `word` occurs in sql as a whole identifier (any case). */
static bool mentions(const char *sql, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = sql; *p; p++) {
		if (strncasecmp(p, word, n) != 0)
			continue;
		if ((p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
		    !(isalnum((unsigned char)p[n]) || p[n] == '_'))
			return true;
	}
	return false;
}

/*
 * What the plan's steps write, as names a check may mention: the tables
 * its statements write, then every view that reads one of them (a view
 * over a view too).  `all` when a step may write anything: a migration's
 * script, a statement converge cannot read the table of, or a table with
 * a trigger (or, on PostgreSQL, a rule) that writes what it likes.
 */
struct written {
	char **names;
	size_t n, alloc;
	bool all;
};

/* A view or trigger of the live database, or one of converge's views. */
struct dep {
	bool trigger;
	char *name;	/* the view's name */
	char *on;	/* the trigger's table */
	char *sql;	/* the view's definition */
};

struct deps {
	struct dep *v;
	size_t n, alloc;
};

/*
 * converge's views, with the tables under them: a database that has none
 * yet (its first apply makes them) is planned as one that will.
 */
static const char *const own_views[][2] = {
	{ "ent_effective_modules", "ent_org_modules" },
	{ "rbac_effective_permissions",
	  "rbac_roles rbac_role_parents rbac_role_permissions" },
};

static const char SQLITE_DEPS[] =
	"SELECT type, name, tbl_name, sql FROM sqlite_master"
	" WHERE type IN ('view', 'trigger')";
static const char PG_DEPS[] =
	"SELECT 'view', c.relname, NULL, pg_get_viewdef(c.oid)"
	" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	" WHERE c.relkind IN ('v', 'm')"
	" AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
	" UNION ALL SELECT 'trigger', t.tgname, c.relname, NULL"
	" FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
	" WHERE NOT t.tgisinternal"
	" UNION ALL SELECT 'trigger', r.rulename, r.tablename, NULL"
	" FROM pg_rules r"
	" WHERE r.schemaname NOT IN ('pg_catalog', 'information_schema')";

static void add_dep(struct deps *d, bool trigger, const char *name,
		    const char *on, const char *sql)
{
	struct dep *e;

	CV_GROW(d->v, d->n + 1, d->alloc);
	e = &d->v[d->n++];
	e->trigger = trigger;
	e->name = cv_strdup(name ? name : "");
	e->on = cv_strdup(on ? on : "");
	e->sql = cv_strdup(sql ? sql : "");
}

static int dep_row(void *p, const char *const *cols, const size_t *lens,
		   int ncols)
{
	(void)lens;
	if (ncols == 4 && cols[0])
		add_dep(p, strcmp(cols[0], "trigger") == 0, cols[1], cols[2],
			cols[3]);
	return 0;
}

static void deps_release(struct deps *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].name);
		free(d->v[i].on);
		free(d->v[i].sql);
	}
	free(d->v);
}

static bool written_has(const struct written *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (strcasecmp(w->names[i], name) == 0)
			return true;
	return false;
}

static void written_add(struct written *w, const char *name)
{
	if (written_has(w, name))
		return;
	CV_GROW(w->names, w->n + 1, w->alloc);
	w->names[w->n++] = cv_strdup(name);
}

/* Whether sql mentions a name the plan writes. */
static bool reads_written(const struct written *w, const char *sql)
{
	size_t i;

	if (w->all)
		return true;
	for (i = 0; i < w->n; i++)
		if (mentions(sql, w->names[i]))
			return true;
	return false;
}

static void written_release(struct written *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		free(w->names[i]);
	free(w->names);
}

/* The tables the plan's own statements write. */
static void written_tables(const struct cv_plan *plan, struct written *w)
{
	size_t i;
	uint32_t k;

	for (i = 0; i < plan->nr && !w->all; i++) {
		const struct cv_step *st = &plan->steps[i];

		if (st->action == CV_ACT_CHECK)
			continue;
		for (k = 0; k < st->nfwd && !w->all; k++) {
			char *t;

			if (st->fwd[k].script) {
				w->all = true;	/* migrations change anything */
				break;
			}
			t = written_table(st->fwd[k].sql);
			if (t)
				written_add(w, t);
			else
				w->all = true;
			free(t);
		}
	}
}

/*
 * The live database's views and triggers, read in a savepoint as a
 * check's query is: a failure here must not leave PostgreSQL's
 * transaction unusable.  Nonzero when they could not be read.
 */
static int read_deps(struct cv_ctx *ctx, struct deps *d)
{
	struct cv_error e = CV_ERROR_INIT;
	int ret;

	ret = ctx->be->exec_script(ctx->db, "SAVEPOINT converge_check_deps",
				   &e);
	if (ret) {
		cv_error_release(&e);
		return ret;
	}
	ret = ctx->be->query(ctx->db, strcmp(ctx->be->name, "postgres") == 0 ?
			     PG_DEPS : SQLITE_DEPS, NULL, 0, dep_row, d, &e);
	cv_error_release(&e);
	if (ctx->be->exec_script(ctx->db,
				 "ROLLBACK TO SAVEPOINT converge_check_deps",
				 &e) == 0)
		ctx->be->exec_script(ctx->db,
				     "RELEASE SAVEPOINT converge_check_deps",
				     &e);
	cv_error_release(&e);
	return ret;
}

/*
 * Adds to w what the database's views and triggers make of it.  A
 * database converge cannot read them from is taken to have any.
 */
static void written_through(struct cv_ctx *ctx, struct written *w)
{
	struct deps d = { NULL, 0, 0 };
	bool more = true;
	size_t i;

	for (i = 0; i < sizeof(own_views) / sizeof(own_views[0]); i++)
		add_dep(&d, false, own_views[i][0], NULL, own_views[i][1]);
	if (ctx->db && read_deps(ctx, &d))
		w->all = true;
	while (more && !w->all) {
		more = false;
		for (i = 0; i < d.n && !w->all; i++) {
			const struct dep *e = &d.v[i];

			if (e->trigger) {
				w->all = written_has(w, e->on);
			} else if (!written_has(w, e->name) &&
				   reads_written(w, e->sql)) {
				written_add(w, e->name);
				more = true;
			}
		}
	}
	deps_release(&d);
}

/* Can a step of the plan change what the check reads? */
static bool affected(const struct cv_plan *plan, const struct cv_check *c,
		     const struct written *w)
{
	/* The apply itself writes the journal (its run is in progress
	 * while the checks run): a check that reads it sees another state
	 * than plan would. */
	if (plan->nr && strcasestr(c->sql, "converge_"))
		return true;
	return reads_written(w, c->sql);
}

static int checks_diff(struct cv_ctx *ctx, struct cv_plan *plan,
		       struct cv_error *err)
{
	const struct cv_state *w = ctx->want;
	struct written written = { NULL, 0, 0, false };
	size_t i, changes = plan->nr;

	/* Every check that names a role, at once (SQLite has none). */
	if (strcmp(ctx->be->name, "postgres") != 0) {
		struct cv_buf b = CV_BUF_INIT;

		for (i = 0; i < w->nchecks; i++)
			if (w->checks[i].as_role)
				cv_buf_addf(&b, "%s'%s' (%s:%u:%u)",
					    b.len ? ", " : "", w->checks[i].name,
					    w->checks[i].mark.file,
					    w->checks[i].mark.line,
					    w->checks[i].mark.col);
		if (b.len) {
			cv_error_set(err, CV_EINVAL,
				     "as_role needs PostgreSQL; on SQLite, leave it out of check %s",
				     b.buf);
			cv_buf_release(&b);
			return CV_EINVAL;
		}
	}
	if (changes && w->nchecks) {
		written_tables(plan, &written);
		written_through(ctx, &written);
	}
	for (i = 0; i < w->nchecks; i++) {
		const struct cv_check *c = &w->checks[i];
		struct cv_step *st;

		if (affected(plan, c, &written))
			cv_plan_defer_check(plan, c->name);
		/* Every apply that changes something runs every check. */
		if (!changes)
			continue;
		st = cv_plan_add(plan, CV_PHASE_CHECKS, CV_ACT_CHECK, "checks",
				 c->name);
		st->detail = cv_arena_printf(&plan->arena, "expect %s",
					     c->expect_text);
		st->after = cv_arena_strdup(&plan->arena, c->expect);
		if (c->as_role) {
			struct cv_buf b = CV_BUF_INIT;
			struct cv_stmt *s;

			cv_buf_adds(&b, "SET LOCAL ROLE ");
			ctx->be->quote_ident(&b, c->as_role);
			s = cv_step_fwd(plan, st, b.buf, NULL, 0);
			s->script = true;
			cv_buf_release(&b);
		}
		cv_step_fwd(plan, st, c->sql, NULL, 0);
		if (c->as_role)
			cv_step_fwd(plan, st, "RESET ROLE", NULL, 0)->script = true;
	}
	written_release(&written);
	return 0;
}

/*
 * A check with as_role, in plan's read-only transaction: SET LOCAL ROLE
 * is allowed there, and rolling back to a savepoint resets the role (a
 * RELEASE would keep it to the end of the transaction).  A role that does
 * not exist fails here: had this plan created it, the check would have
 * been deferred (a role's step affects every check).
 */
static int eval_as_role(struct cv_ctx *ctx, const struct cv_check *c,
			struct cv_error *err)
{
	struct cv_error ignored = CV_ERROR_INIT;
	struct cv_buf b = CV_BUF_INIT;
	int ret;

	ret = ctx->be->exec_script(ctx->db, "SAVEPOINT converge_check", err);
	if (ret)
		return ret;
	cv_buf_adds(&b, "SET LOCAL ROLE ");
	ctx->be->quote_ident(&b, c->as_role);
	ret = ctx->be->exec_script(ctx->db, b.buf, err);
	if (ret) {
		cv_error_prefix(err, "check '%s' could not run as_role '%s'",
				c->name, c->as_role);
		ret = check_failed(err, ret);
	} else
		ret = cv_check_eval(ctx, c->name, c->sql, c->expect, err);
	if (ctx->be->exec_script(ctx->db, "ROLLBACK TO SAVEPOINT converge_check",
				 &ignored) == 0)
		ctx->be->exec_script(ctx->db, "RELEASE SAVEPOINT converge_check",
				     &ignored);
	cv_error_release(&ignored);
	cv_buf_release(&b);
	return ret;
}

static int checks_verify(struct cv_ctx *ctx, const struct cv_plan *plan,
			 struct cv_error *err);

/*
 * A SQLite file that does not exist is planned as an empty database
 * (SPEC §4), so its live state is an empty database: the checks no step
 * can affect run against one, in memory, and fail the plan as they would
 * against an empty file, not first at apply.  (A PostgreSQL database
 * cannot be made for the purpose; its checks run at apply.)
 */
static int verify_on_empty(struct cv_ctx *ctx, const struct cv_plan *plan,
			   struct cv_error *err)
{
	char memory[] = ":memory:";
	struct cv_url url = CV_URL_INIT;
	struct cv_db *empty = NULL;
	int ret;

	if (strcmp(ctx->be->name, "sqlite") != 0)
		return 0;
	url.backend = ctx->be;
	url.type = ctx->be->name;
	url.path = memory;
	ret = ctx->be->open(&empty, &url, CV_DB_CREATE, 0, err);
	if (ret)
		return ret;
	ctx->db = empty;
	ret = checks_verify(ctx, plan, err);
	ctx->db = NULL;
	ctx->be->close(empty);
	return ret;
}

/* `plan` runs, read-only, the checks no step of the plan can affect. */
static int checks_verify(struct cv_ctx *ctx, const struct cv_plan *plan,
			 struct cv_error *err)
{
	const struct cv_state *w = ctx->want;
	struct cv_buf msg = CV_BUF_INIT;
	size_t i, k, failed = 0;
	int ret = 0;

	/* `apply` runs them where they count, in its transaction; an apply
	 * with nothing to change runs none, so neither does its plan. */
	if (!ctx->dry_run || !plan->nr)
		return 0;
	if (!ctx->db)
		return verify_on_empty(ctx, plan, err);
	for (i = 0; i < w->nchecks; i++) {
		const struct cv_check *c = &w->checks[i];
		struct cv_error e = CV_ERROR_INIT;
		bool deferred = false;

		for (k = 0; k < plan->ndeferred; k++)
			if (strcmp(plan->deferred_checks[k], c->name) == 0)
				deferred = true;
		if (deferred)
			continue;
		if (cv_db_scope(ctx, true, &e) ||
		    (c->as_role ? eval_as_role(ctx, c, &e) :
		     cv_check_eval(ctx, c->name, c->sql, c->expect, &e))) {
			cv_buf_addf(&msg, "%s%s", failed++ ? "; " : "", e.msg);
			if (e.code != CV_ECHECK)
				ret = e.code;
		}
		cv_error_release(&e);
	}
	if (!ret && cv_db_scope(ctx, false, err))
		return err->code;
	if (failed)
		ret = cv_error_set(err, ret ? ret : CV_EREFUSED,
				   "%s (against the live database; apply would fail)",
				   msg.buf);
	cv_buf_release(&msg);
	return ret;
}

const struct cv_kind cv_kind_checks = {
	.name = "checks",
	.section = CV_SEC_CHECKS,
	.load = checks_load,
	.validate = checks_validate,
	.diff = checks_diff,
	.verify = checks_verify,
};
