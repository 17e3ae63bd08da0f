/*
 * The kind table, in the order kinds are loaded, planned and inspected,
 * and the small helpers every kind uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "converge/kind.h"

const struct cv_kind *const cv_kinds[] = {
	&cv_kind_schema,
	&cv_kind_postgres,	/* native roles, privileges, RLS: before app roles */
	&cv_kind_roles,
	&cv_kind_grants,
	&cv_kind_entitlements,
	&cv_kind_flags,
	&cv_kind_guards,
	&cv_kind_store,
	&cv_kind_checks,	/* last: it sees every other kind's steps */
};
const size_t cv_nkinds = CV_ARRAY_SIZE(cv_kinds);

bool cv_own_table(const char *name, const char *version_table, bool nocase)
{
	int (*cmp)(const char *, const char *) = nocase ? strcasecmp : strcmp;
	size_t i, k;

	if ((nocase ? strncasecmp : strncmp)(name, "converge_", 9) == 0 ||
	    cmp(name, "alembic_version") == 0 ||
	    (version_table && cmp(name, version_table) == 0))
		return true;
	for (i = 0; i < cv_nkinds; i++)
		for (k = 0; cv_kinds[i]->tables && cv_kinds[i]->tables[k]; k++)
			if (cmp(cv_kinds[i]->tables[k], name) == 0)
				return true;
	return false;
}

int cv_db_scope(struct cv_ctx *ctx, bool app, struct cv_error *err)
{
	if (!ctx->db || !ctx->be->scope)
		return 0;
	return ctx->be->scope(ctx->db, app, err);
}

const struct cv_kind *cv_kind_find(const char *name)
{
	size_t i;

	for (i = 0; i < cv_nkinds; i++)
		if (strcmp(cv_kinds[i]->name, name) == 0)
			return cv_kinds[i];
	return NULL;
}

const char *cv_canon_head(char head[CV_CANON_HEAD], size_t len, size_t *n)
{
	size_t i = CV_CANON_HEAD;

	head[--i] = ':';
	do {
		head[--i] = (char)('0' + len % 10);
		len /= 10;
	} while (len);
	*n = CV_CANON_HEAD - i;
	return head + i;
}

void cv_canon_add(struct cv_buf *out, const char *s)
{
	char head[CV_CANON_HEAD];
	const char *h;
	size_t len, n;

	if (!s) {
		cv_buf_addch(out, '~');
		return;
	}
	len = strlen(s);
	h = cv_canon_head(head, len, &n);
	cv_buf_add(out, h, n);
	cv_buf_add(out, s, len);
}

int cv_check_name(const char *s, const char *what, const struct cv_mark *mark,
		  struct cv_diags *diags)
{
	const unsigned char *p;

	if (!*s) {
		cv_diag_error(diags, mark, "%s must not be empty", what);
		return CV_EINVAL;
	}
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			cv_diag_error(diags, mark,
				      "%s '%s' contains a control character",
				      what, cv_shorten(s));
			return CV_EINVAL;
		}
	return 0;
}

const char *cv_suggest_among(const char *name, const void *defs, size_t n,
			     size_t size, size_t name_at)
{
	const char **known = cv_calloc(n + 1, sizeof(*known));
	const char *hint;
	size_t i;

	for (i = 0; i < n; i++)
		known[i] = *(const char *const *)((const char *)defs +
						  i * size + name_at);
	hint = cv_suggest(name, known);
	free(known);
	return hint;
}

void cv_report_undefined(struct cv_diags *diags, const struct cv_mark *mark,
			 const char *hint, const char *fmt, ...)
{
	struct cv_buf b = CV_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	cv_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (hint)
		cv_buf_addf(&b, " (did you mean '%s'?)", cv_shorten(hint));
	cv_diag_error(diags, mark, "%s", b.buf);
	cv_buf_release(&b);
}

int cv_check_role(const struct cv_state *want, const char *role,
		  const char *who, const struct cv_mark *mark,
		  struct cv_diags *diags)
{
	if (!(want->sections & CV_SEC_ROLES) ||
	    (want->unknown & CV_SEC_ROLES) || cv_state_role(want, role))
		return 0;
	cv_report_undefined(diags, mark,
			    cv_suggest_among(role, want->roles, want->nroles,
					     sizeof(*want->roles),
					     offsetof(struct cv_role, name)),
			    "%s names undefined role '%s'", who,
			    cv_shorten(role));
	return CV_EINVAL;
}

int cv_report_twice(const void *defs, size_t n, size_t size, size_t name_at,
		    size_t mark_at, const char *what, struct cv_diags *diags)
{
	const char *first = defs, *at = defs;
	size_t i;
	int ret = 0;

	for (i = 1; i < n; i++) {
		const char *name;
		const struct cv_mark *m;

		at += size;
		name = *(const char *const *)(at + name_at);
		if (strcmp(*(const char *const *)(first + name_at), name) != 0) {
			first = at;
			continue;
		}
		m = (const struct cv_mark *)(first + mark_at);
		cv_diag_error(diags, (const struct cv_mark *)(at + mark_at),
			      "%s '%s' is defined twice (first at %s:%u:%u)",
			      what, cv_shorten(name), m->file ? m->file : "?",
			      m->line, m->col);
		ret = CV_EINVAL;
	}
	return ret;
}

static void add_list(const struct cv_backend *be, struct cv_buf *b,
		     const char *const *cols, size_t n, const char *sep,
		     unsigned *param)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i)
			cv_buf_adds(b, sep);
		be->quote_ident(b, cols[i]);
		if (param) {
			cv_buf_adds(b, " = ");
			be->param(b, (*param)++);
		}
	}
}

static const char *finish(struct cv_buf *b, struct cv_arena *a)
{
	const char *s = cv_arena_strndup(a, cv_buf_str(b), b->len);

	cv_buf_release(b);
	return s;
}

const char *cv_sql_insert(const struct cv_backend *be, struct cv_arena *a,
			  const char *table, const char *const *cols,
			  size_t ncols)
{
	return cv_sql_insert_rows(be, a, table, cols, ncols, 1);
}

const char *cv_sql_insert_rows(const struct cv_backend *be,
			       struct cv_arena *a, const char *table,
			       const char *const *cols, size_t ncols,
			       size_t nrows)
{
	struct cv_buf b = CV_BUF_INIT;
	size_t i, r;

	cv_buf_adds(&b, "INSERT INTO ");
	be->quote_ident(&b, table);
	cv_buf_adds(&b, " (");
	add_list(be, &b, cols, ncols, ", ", NULL);
	cv_buf_adds(&b, ") VALUES ");
	for (r = 0; r < nrows; r++) {
		cv_buf_adds(&b, r ? ", (" : "(");
		for (i = 0; i < ncols; i++) {
			if (i)
				cv_buf_adds(&b, ", ");
			be->param(&b, (unsigned)(r * ncols + i + 1));
		}
		cv_buf_addch(&b, ')');
	}
	return finish(&b, a);
}

const char *cv_sql_delete(const struct cv_backend *be, struct cv_arena *a,
			  const char *table, const char *const *keys,
			  size_t nkeys)
{
	struct cv_buf b = CV_BUF_INIT;
	unsigned param = 1;

	cv_buf_adds(&b, "DELETE FROM ");
	be->quote_ident(&b, table);
	if (nkeys) {
		cv_buf_adds(&b, " WHERE ");
		add_list(be, &b, keys, nkeys, " AND ", &param);
	}
	return finish(&b, a);
}

const char *cv_sql_update(const struct cv_backend *be, struct cv_arena *a,
			  const char *table, const char *const *sets,
			  size_t nsets, const char *const *keys, size_t nkeys)
{
	struct cv_buf b = CV_BUF_INIT;
	unsigned param = 1;

	cv_buf_adds(&b, "UPDATE ");
	be->quote_ident(&b, table);
	cv_buf_adds(&b, " SET ");
	add_list(be, &b, sets, nsets, ", ", &param);
	if (nkeys) {
		cv_buf_adds(&b, " WHERE ");
		add_list(be, &b, keys, nkeys, " AND ", &param);
	}
	return finish(&b, a);
}

char *cv_sql_select(const struct cv_backend *be, const char *table,
		    const char *const *cols, size_t ncols,
		    const char *const *order, size_t norder)
{
	struct cv_buf b = CV_BUF_INIT;

	cv_buf_adds(&b, "SELECT ");
	add_list(be, &b, cols, ncols, ", ", NULL);
	cv_buf_adds(&b, " FROM ");
	be->quote_ident(&b, table);
	if (norder) {
		cv_buf_adds(&b, " ORDER BY ");
		add_list(be, &b, order, norder, ", ", NULL);
	}
	return cv_buf_detach(&b);
}

struct named {
	const char *s;
	struct cv_mark mark;
};

static int named_cmp(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->s,
		      ((const struct named *)b)->s);
}

int cv_load_names(const struct cv_node *n, const char *what, const char *item,
		  int (*check)(const char *s, const struct cv_mark *mark,
			       struct cv_diags *diags),
		  struct cv_loader *ld, const char ***out, size_t *nout)
{
	return cv_load_names_at(n, what, item, check, ld, out, NULL, nout);
}

int cv_load_names_at(const struct cv_node *n, const char *what,
		     const char *item,
		     int (*check)(const char *s, const struct cv_mark *mark,
				  struct cv_diags *diags),
		     struct cv_loader *ld, const char ***out,
		     const struct cv_mark **marks, size_t *nout)
{
	const char **items;
	struct named *found;
	struct cv_mark *at = NULL;
	size_t i = 0, j;
	int ret = 0;

	*out = NULL;
	*nout = 0;
	if (marks)
		*marks = NULL;
	if (!n || cv_yaml_is_null(n))
		return 0;
	if (cv_yaml_expect(n, CV_NODE_SEQ, what, ld->diags))
		return CV_EINVAL;
	items = cv_arena_alloc(ld->strings, (n->count + 1) * sizeof(*items));
	found = cv_calloc(n->count + 1, sizeof(*found));
	cv_yaml_each(e, n) {
		const char *s;

		if (cv_yaml_as_string(e, item, ld->diags, &s) ||
		    cv_check_name(s, item, &e->mark, ld->diags) ||
		    (check && check(s, &e->mark, ld->diags))) {
			ret = CV_EINVAL;
			continue;
		}
		for (j = 0; j < i; j++)
			if (strcmp(found[j].s, s) == 0) {
				cv_diag_error(ld->diags, &e->mark,
					      "%s '%s' is listed twice in %s",
					      item, cv_shorten(s), what);
				ret = CV_EINVAL;
				break;
			}
		if (j == i) {
			found[i].s = s;
			found[i++].mark = e->mark;
		}
	}
	/* Sorted, each name with the place it is written. */
	cv_sort(found, i, sizeof(*found), named_cmp);
	if (marks)
		at = cv_arena_alloc(ld->strings, (i + 1) * sizeof(*at));
	for (j = 0; j < i; j++) {
		items[j] = found[j].s;
		if (at)
			at[j] = found[j].mark;
	}
	free(found);
	*out = items;
	*nout = i;
	if (marks)
		*marks = at;
	return ret;
}
