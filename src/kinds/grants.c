/*
 * The `grants` kind: who holds which role, keyed by (subject, role,
 * scope), with an optional expiry and reason, kept in rbac_grants.
 *
 * This is the kind that grows to millions of rows, so it is written for
 * that: one sorted read, a sorted merge, SQL texts built once per plan.
 */
#include <stdlib.h>
#include <string.h>

#include "converge/emit.h"
#include "converge/kind.h"
#include "converge/timeutil.h"

static const char T_GRANTS[] = "rbac_grants";
static const char *const tables[] = { T_GRANTS, NULL };
static const char *const grant_cols[] = {
	"subject", "role", "scope", "expires_at", "reason"
};

int cv_grants_load_item(struct cv_state *want, const struct cv_node *g,
			struct cv_loader *ld)
{
	static const char *const keys[] = {
		"subject", "role", "scope", "expires", "reason", NULL
	};
	struct cv_grant gr;
	bool unknown = false;
	int ret = 0;

	memset(&gr, 0, sizeof(gr));
	gr.mark = g->mark;
	gr.scope = "";
	if (cv_yaml_expect(g, CV_NODE_MAP, "a grant", ld->diags))
		return CV_EINVAL;
	cv_yaml_each(f, g) {
		const char *k = f->key;

		if (strcmp(k, "subject") == 0) {
			if (cv_yaml_as_string(f, k, ld->diags, &gr.subject) ||
			    cv_check_name(gr.subject, "subject", &f->mark,
					  ld->diags))
				ret = CV_EINVAL;
		} else if (strcmp(k, "role") == 0) {
			if (cv_yaml_as_string(f, k, ld->diags, &gr.role) ||
			    cv_check_name(gr.role, "role", &f->mark, ld->diags))
				ret = CV_EINVAL;
		} else if (strcmp(k, "scope") == 0) {
			if (cv_yaml_is_null(f))
				continue;
			if (cv_yaml_as_string(f, k, ld->diags, &gr.scope))
				ret = CV_EINVAL;
			else if (*gr.scope && cv_check_name(gr.scope, "scope",
							    &f->mark, ld->diags))
				ret = CV_EINVAL;
		} else if (strcmp(k, "expires") == 0) {
			const char *s;
			char buf[CV_TIME_LEN];
			time_t t;

			if (cv_yaml_is_null(f))
				continue;
			if (cv_yaml_as_string(f, k, ld->diags, &s)) {
				ret = CV_EINVAL;
			} else if (cv_time_parse(s, &t)) {
				cv_diag_error(ld->diags, &f->mark,
					      "invalid timestamp '%s' for 'expires' (expected RFC 3339, e.g. 2026-11-24T02:00:00Z)",
					      cv_shorten(s));
				ret = CV_EINVAL;
			} else {
				cv_time_format(t, buf);
				gr.expires = cv_arena_strdup(ld->strings, buf);
			}
		} else if (strcmp(k, "reason") == 0) {
			if (!cv_yaml_is_null(f) &&
			    cv_yaml_as_string(f, k, ld->diags, &gr.reason))
				ret = CV_EINVAL;
		} else if (!unknown) {
			/* Reports every unknown key of the grant at once. */
			cv_yaml_check_keys(g, keys, "a grant", ld->diags);
			unknown = true;
			ret = CV_EINVAL;
		}
	}
	if (!cv_yaml_get(g, "subject")) {
		cv_diag_error(ld->diags, &g->mark, "grant has no 'subject'");
		ret = CV_EINVAL;
	}
	if (!cv_yaml_get(g, "role")) {
		cv_diag_error(ld->diags, &g->mark, "grant has no 'role'");
		ret = CV_EINVAL;
	}
	/*
	 * A grant with another error still names a subject and a role: it
	 * is kept, so that validation says too whether the role exists or
	 * the grant is there twice (the load has failed all the same).
	 */
	if (!gr.subject || !gr.role)
		return CV_EINVAL;
	CV_GROW(want->grants, want->ngrants + 1, want->grants_alloc);
	want->grants[want->ngrants++] = gr;
	return ret;
}

static int grants_load(struct cv_state *want, const struct cv_node *node,
		       struct cv_loader *ld)
{
	int ret = 0;

	if (cv_yaml_is_null(node))
		return 0;
	if (cv_yaml_expect(node, CV_NODE_SEQ, "grants", ld->diags))
		return CV_EINVAL;
	CV_GROW(want->grants, want->ngrants + node->count, want->grants_alloc);
	cv_yaml_each(g, node)
		if (cv_grants_load_item(want, g, ld))
			ret = CV_EINVAL;
	return ret;
}

static int grant_qcmp(const void *a, const void *b)
{
	return cv_grant_cmp(a, b);
}

static const char *grant_name(const struct cv_grant *g, struct cv_arena *a)
{
	if (*g->scope)
		return cv_arena_printf(a, "%s to %s on %s", g->role, g->subject,
				       g->scope);
	return cv_arena_printf(a, "%s to %s", g->role, g->subject);
}

static int grants_validate(struct cv_state *want, struct cv_arena *strings,
			   struct cv_diags *diags)
{
	size_t i, first = 0;
	int ret = 0;

	(void)strings;
	/* Long lists are mostly generated, and then mostly in order already:
	 * a sorted list is left alone (a stable order, and no sort). */
	for (i = 1; i < want->ngrants; i++)
		if (cv_grant_cmp(&want->grants[i - 1], &want->grants[i]) > 0)
			break;
	if (i < want->ngrants)
		cv_sort(want->grants, want->ngrants, sizeof(*want->grants),
			grant_qcmp);
	for (i = 0; i < want->ngrants; i++) {
		const struct cv_grant *g = &want->grants[i];

		/* Every later copy points at the first one, not the one
		 * before it. */
		if (!i || cv_grant_cmp(&want->grants[i - 1], g) != 0)
			first = i;
		if (first != i) {
			const struct cv_mark *m = &want->grants[first].mark;

			cv_diag_error(diags, &g->mark,
				      "grant of role '%s' to '%s'%s%s%s is defined twice (first at %s:%u:%u)",
				      cv_shorten(g->role), cv_shorten(g->subject),
				      *g->scope ? " on '" : "",
				      *g->scope ? cv_shorten(g->scope) : "",
				      *g->scope ? "'" : "", m->file, m->line,
				      m->col);
			ret = CV_EINVAL;
		}
		if (cv_check_role(want, g->role, "grant", &g->mark, diags))
			ret = CV_EINVAL;
	}
	return ret;
}

struct reader {
	struct cv_ctx *ctx;
	bool sorted;
	const char *role, *scope;  /* the previous row's, to share */
};

/*
 * Roles and scopes repeat from row to row (a million grants name a
 * handful of roles): a row that repeats the previous one's shares it.
 */
static const char *shared(struct cv_arena *a, const char **prev,
			  const char *s, size_t n)
{
	if (!*prev || strlen(*prev) != n || memcmp(*prev, s, n) != 0)
		*prev = cv_arena_strndup(a, s, n);
	return *prev;
}

/*
 * expires_at as converge writes it ("2026-11-24T02:00:00Z"), whatever
 * the column holds it as: a column made timestamptz by hand reads back
 * in the session's time zone ("2026-11-24 15:45:00+13:45"), which would
 * otherwise differ from the manifests' at every plan and compare wrong
 * with --now.  A value that is not a time is kept as it is.
 */
static const char *live_time(struct cv_arena *a, const char *s, size_t len)
{
	char buf[CV_TIME_LEN];
	time_t t;

	if (len < 10 || len > 64 || memchr(s, 0, len) || cv_time_parse_db(s, &t))
		return cv_arena_strndup(a, s, len);
	cv_time_format(t, buf);
	return cv_arena_strdup(a, buf);
}

static int read_grant(void *p, const char *const *cols, const size_t *lens,
		      int ncols)
{
	struct reader *rd = p;
	struct cv_state *live = rd->ctx->live;
	struct cv_arena *a = rd->ctx->live_arena;
	struct cv_grant *g;

	(void)ncols;
	CV_GROW(live->grants, live->ngrants + 1, live->grants_alloc);
	g = &live->grants[live->ngrants++];
	g->subject = cv_arena_strndup(a, cols[0] ? cols[0] : "", lens[0]);
	g->role = shared(a, &rd->role, cols[1] ? cols[1] : "", lens[1]);
	g->scope = cols[2] && lens[2] ? shared(a, &rd->scope, cols[2], lens[2]) :
				       "";
	g->expires = cols[3] ? live_time(a, cols[3], lens[3]) : NULL;
	g->reason = cols[4] ? cv_arena_strndup(a, cols[4], lens[4]) : NULL;
	memset(&g->mark, 0, sizeof(g->mark));
	if (live->ngrants > 1 && rd->sorted && cv_grant_cmp(g - 1, g) >= 0)
		rd->sorted = false;
	return 0;
}


/*
 * Grants kept in an application's own table (store.grants): one role per
 * subject in a column.  converge never adds or removes the application's
 * rows; granting sets the column, revoking sets it back to the binding's
 * default (NULL when it has none).  Steps name the binding in their key,
 * ["@store", <binding>, subject], so that a rollback finds it.
 */
#define STORE_KEY "@store"

static void canon_opt(struct cv_buf *b, const char *s)
{
	cv_canon_add(b, s);
}

const char *cv_grants_store_encode(const struct cv_grants_store *gs,
				   struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;

	if (!gs)
		return NULL;
	canon_opt(&b, gs->table);
	canon_opt(&b, gs->subject);
	canon_opt(&b, gs->role);
	canon_opt(&b, gs->dflt);
	s = cv_arena_strdup(a, b.buf);
	cv_buf_release(&b);
	return s;
}

static int decode_one(const char **p, struct cv_arena *a, const char **out)
{
	char *end;
	unsigned long n;

	if (**p == '~') {
		(*p)++;
		*out = NULL;
		return 0;
	}
	n = strtoul(*p, &end, 10);
	if (end == *p || *end != ':' || strlen(end + 1) < n)
		return -1;
	*out = cv_arena_strndup(a, end + 1, n);
	*p = end + 1 + n;
	return 0;
}

const struct cv_grants_store *cv_grants_store_decode(const char *enc,
						     struct cv_arena *a)
{
	struct cv_grants_store *gs;
	const char *p = enc;

	if (!enc)
		return NULL;
	gs = cv_arena_alloc(a, sizeof(*gs));
	if (decode_one(&p, a, &gs->table) || decode_one(&p, a, &gs->subject) ||
	    decode_one(&p, a, &gs->role) || decode_one(&p, a, &gs->dflt) ||
	    *p || !gs->table || !gs->subject || !gs->role)
		return NULL;
	return gs;
}

const struct cv_grants_store *cv_grants_store_of(const struct cv_plan *plan,
						 struct cv_arena *a)
{
	size_t i;

	if (plan->grants_store)
		return cv_grants_store_decode(plan->grants_store, a);
	for (i = 0; i < plan->nr; i++) {
		const struct cv_step *st = &plan->steps[i];

		if (strcmp(st->kind, "grants") == 0 && st->nkey == 3 &&
		    strcmp(st->key[0], STORE_KEY) == 0)
			return cv_grants_store_decode(st->key[1], a);
	}
	return NULL;
}

static bool store_unset(const struct cv_grants_store *gs, const char *role)
{
	return !role || (gs->dflt && strcmp(role, gs->dflt) == 0);
}

static int read_store_row(void *p, const char *const *cols,
			  const size_t *lens, int ncols)
{
	struct reader *rd = p;
	struct cv_state *live = rd->ctx->live;
	struct cv_arena *a = rd->ctx->live_arena;
	struct cv_grant *g;

	(void)ncols;
	if (!cols[0])
		return 0;	/* a row without a subject holds no grant */
	CV_GROW(live->grants, live->ngrants + 1, live->grants_alloc);
	g = &live->grants[live->ngrants++];
	memset(g, 0, sizeof(*g));
	g->subject = cv_arena_strndup(a, cols[0], lens[0]);
	g->role = cols[1] ? shared(a, &rd->role, cols[1], lens[1]) : NULL;
	g->scope = "";
	g->unset = store_unset(rd->ctx->grants_store, g->role);
	if (live->ngrants > 1 && rd->sorted &&
	    strcmp(g[-1].subject, g->subject) >= 0)
		rd->sorted = false;
	return 0;
}

static int subject_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_grant *)a)->subject,
		      ((const struct cv_grant *)b)->subject);
}

/*
 * When the plan also moves the schema, a revision may be what makes the
 * bound table or column: say why that is not enough.  The grants kept
 * there are planned from the rows as they are now, before any revision
 * has run, so the schema change has to be applied first.
 */
static const char *schema_hint(const struct cv_ctx *ctx)
{
	if (!ctx->want || !(ctx->want->sections & CV_SEC_SCHEMA) ||
	    cv_streq0(ctx->want->schema_version, ctx->live->schema_version))
		return "";
	return "; this plan changes the schema version, which may make it, "
	       "but the grants kept there are planned from the table as it is "
	       "now: apply the schema change first (with store.grants left "
	       "out), then the grants";
}

/*
 * The binding's table and columns exist.  Asked before reading them:
 * SQLite takes a double-quoted name it does not know for a string, so a
 * misspelt role column would read as that string in every row.
 */
static int store_check(struct cv_ctx *ctx, struct cv_error *err)
{
	const struct cv_grants_store *gs = ctx->grants_store;
	const char *cols[3] = { NULL, gs->subject, gs->role };
	const char *what[3] = { NULL, "subject", "role" };
	const struct cv_mark *marks[3] = {
		&gs->table_mark, &gs->subject_mark, &gs->role_mark
	};
	bool exists;
	size_t i;
	int ret;

	for (i = 0; i < 3; i++) {
		ret = ctx->be->column_exists(ctx->db, gs->table, cols[i],
					     &exists, err);
		if (ret)
			return ret;
		if (exists)
			continue;
		if (!cols[i])
			cv_error_set(err, CV_ENOTFOUND,
				     "no table '%s' in the database, which store.grants names to keep the grants%s",
				     cv_shorten(gs->table), schema_hint(ctx));
		else
			cv_error_set(err, CV_ENOTFOUND,
				     "table '%s' has no column '%s', which store.grants names as its %s column%s",
				     cv_shorten(gs->table), cv_shorten(cols[i]),
				     what[i], schema_hint(ctx));
		cv_error_set_mark(err, marks[i]);
		return CV_ENOTFOUND;
	}
	return 0;
}

/*
 * A subject with several rows has no one role: the plan would both
 * revoke one row's role and grant another's, and a rollback would set
 * every row to the same one.  Rows in strcmp order.
 */
static int store_unique(struct cv_ctx *ctx, struct cv_error *err)
{
	enum { SHOWN = 5 };
	const struct cv_grants_store *gs = ctx->grants_store;
	const struct cv_grant *g = ctx->live->grants;
	struct cv_buf b = CV_BUF_INIT;
	size_t i, n = 0;

	for (i = 1; i < ctx->live->ngrants; i++) {
		/* The second row of a subject only, not the third. */
		if (strcmp(g[i - 1].subject, g[i].subject) != 0 ||
		    (i > 1 && strcmp(g[i - 2].subject, g[i].subject) == 0))
			continue;
		if (++n <= SHOWN)
			cv_buf_addf(&b, "%s'%s'", n > 1 ? ", " : "",
				    cv_shorten(g[i].subject));
	}
	if (!n)
		return 0;
	if (n > SHOWN)
		cv_buf_addf(&b, " and %zu more", n - SHOWN);
	cv_error_set(err, CV_EINVAL,
		     "%s %s several rows in %s, but store.grants keeps one role per subject: %s.%s must be unique",
		     b.buf, n > 1 ? "have" : "has", cv_shorten(gs->table),
		     cv_shorten(gs->table), cv_shorten(gs->subject));
	cv_error_set_mark(err, &gs->subject_mark);
	cv_buf_release(&b);
	return CV_EINVAL;
}

/*
 * The binding's columns read as text, as the manifests name subjects
 * and roles: a char(n) column's value without the spaces that pad it
 * ('a1' and not 'a1      '), which the UPDATE's comparison ignores too.
 */
static char *store_select(const struct cv_backend *be,
			  const struct cv_grants_store *gs)
{
	struct cv_buf b = CV_BUF_INIT;

	cv_buf_adds(&b, "SELECT CAST(");
	be->quote_ident(&b, gs->subject);
	cv_buf_adds(&b, " AS TEXT), CAST(");
	be->quote_ident(&b, gs->role);
	cv_buf_adds(&b, " AS TEXT) FROM ");
	be->quote_ident(&b, gs->table);
	cv_buf_adds(&b, " ORDER BY ");
	be->quote_ident(&b, gs->subject);
	return cv_buf_detach(&b);
}

static int store_read(struct cv_ctx *ctx, struct cv_error *err)
{
	const struct cv_grants_store *gs = ctx->grants_store;
	struct reader rd = { ctx, true, NULL, NULL };
	char *sql;
	int ret;

	ret = store_check(ctx, err);
	if (ret)
		return ret;
	sql = store_select(ctx->be, gs);
	ret = ctx->be->query(ctx->db, sql, NULL, 0, read_store_row, &rd, err);
	free(sql);
	if (ret)
		return cv_error_prefix(err, "reading the grants in %s (store.grants)",
				       gs->table);
	if (!rd.sorted)
		cv_sort(ctx->live->grants, ctx->live->ngrants,
			sizeof(*ctx->live->grants), subject_cmp);
	return store_unique(ctx, err);
}

static const char *store_value(struct cv_ctx *ctx, const char *subject,
			       struct cv_arena *a)
{
	struct cv_grant k, *g;

	memset(&k, 0, sizeof(k));
	k.subject = subject;
	g = ctx->live->ngrants ? bsearch(&k, ctx->live->grants,
					 ctx->live->ngrants, sizeof(k),
					 subject_cmp) : NULL;
	return g && !g->unset ? cv_arena_strdup(a, g->role) : NULL;
}

/* One step: the column of `subject` goes from `from` to `to`. */
static void store_step(struct cv_plan *plan, const char *sql,
		       const char *enc, enum cv_phase phase, enum cv_action act,
		       const char *subject, const char *shown_role,
		       const char *from, const char *to, const char *before,
		       const char *after)
{
	const char *key[3] = { STORE_KEY, enc, subject };
	const char *p[2];
	struct cv_step *st;

	st = cv_plan_add(plan, phase, act, "grants",
			 cv_arena_printf(&plan->arena, "%s to %s", shown_role,
					 subject));
	cv_step_set_key(plan, st, key, 3);
	st->before = cv_arena_strdup(&plan->arena, before);
	st->after = cv_arena_strdup(&plan->arena, after);
	p[0] = to;
	p[1] = subject;
	cv_step_fwd(plan, st, sql, p, 2);
	p[0] = from;
	cv_step_inv(plan, st, sql, p, 2);
}

/* The subjects a plan revokes to NULL: the first few, and a count. */
#define TO_NULL_SHOWN 5

struct to_null {
	struct cv_buf names;
	size_t n;
};

static void to_null_add(struct to_null *tn, const char *subject)
{
	if (++tn->n <= TO_NULL_SHOWN)
		cv_buf_addf(&tn->names, "%s'%s'", tn->n > 1 ? ", " : "",
			    cv_shorten(subject));
}

/*
 * Revoking without a default sets the role column to NULL, which a NOT
 * NULL column refuses: apply would fail on the first such step.  Asked
 * once, and only when the plan revokes that way.
 */
static int store_not_null(struct cv_ctx *ctx, const struct to_null *tn,
			  struct cv_error *err)
{
	const struct cv_grants_store *gs = ctx->grants_store;
	bool not_null = false;
	char more[48] = "";
	int ret;

	if (!tn->n || !ctx->db || !ctx->be->column_not_null)
		return 0;
	ret = ctx->be->column_not_null(ctx->db, gs->table, gs->role,
				       &not_null, err);
	if (ret || !not_null)
		return ret;
	if (tn->n > TO_NULL_SHOWN)
		snprintf(more, sizeof(more), " and %zu more",
			 tn->n - TO_NULL_SHOWN);
	cv_error_set(err, CV_EINVAL,
		     "revoking the grant%s of %s%s would set %s.%s to NULL, but the column is NOT NULL: give store.grants a 'default' role for the subjects with no grant",
		     tn->n > 1 ? "s" : "", tn->names.buf, more,
		     cv_shorten(gs->table), cv_shorten(gs->role));
	cv_error_set_mark(err, &gs->mark);
	return CV_EINVAL;
}

static int store_diff(struct cv_ctx *ctx, struct cv_plan *plan,
		      struct cv_error *err)
{
	const struct cv_grants_store *gs = ctx->grants_store;
	const struct cv_state *w = ctx->want, *l = ctx->live;
	const char *set = gs->role, *where = gs->subject;
	const char *sql = cv_sql_update(ctx->be, &plan->arena, gs->table, &set,
					1, &where, 1);
	const char *enc = cv_grants_store_encode(gs, &plan->arena);
	struct to_null tn = { CV_BUF_INIT, 0 };
	size_t i = 0, j = 0;
	int ret;

	/* Without a roles section, the default is one of the database's
	 * roles, as a grant's role is; a database without rbac_roles has
	 * none to check against (the application keeps its roles). */
	if (gs->dflt && !(w->sections & CV_SEC_ROLES) &&
	    (l->stored & CV_SEC_ROLES) && !cv_state_role(l, gs->dflt)) {
		cv_error_set(err, CV_EINVAL,
			     "store.grants default names role '%s': no such role in the database",
			     cv_shorten(gs->dflt));
		cv_error_set_mark(err, &gs->dflt_mark);
		return CV_EINVAL;
	}
	plan->grants_store = enc;
	while (i < w->ngrants || j < l->ngrants) {
		int c = i >= w->ngrants ? 1 : j >= l->ngrants ? -1 :
			strcmp(w->grants[i].subject, l->grants[j].subject);
		const struct cv_grant *wg = c <= 0 ? &w->grants[i++] : NULL;
		const struct cv_grant *lg = c >= 0 ? &l->grants[j++] : NULL;

		if (wg && !lg) {
			cv_buf_release(&tn.names);
			return cv_error_set(err, CV_EINVAL,
					    "'%s' has no row in %s, which keeps the grants (store.grants): converge sets roles, it does not add the application's rows (%s:%u:%u)",
					    cv_shorten(wg->subject), gs->table,
					    wg->mark.file, wg->mark.line,
					    wg->mark.col);
		}
		/* The column already holds the role (the default role
		 * included): nothing to do. */
		if (wg && cv_streq0(wg->role, lg->role))
			continue;
		if (wg)
			store_step(plan, sql, enc, CV_PHASE_ADD,
				   lg->unset ? CV_ACT_CREATE : CV_ACT_UPDATE,
				   wg->subject, wg->role, lg->role, wg->role,
				   lg->unset ? NULL : lg->role,
				   store_unset(gs, wg->role) ? NULL : wg->role);
		else if (!lg->unset) {
			store_step(plan, sql, enc, CV_PHASE_REMOVE,
				   CV_ACT_DELETE, lg->subject, lg->role,
				   lg->role, gs->dflt, lg->role, NULL);
			if (!gs->dflt)
				to_null_add(&tn, lg->subject);
		}
	}
	ret = store_not_null(ctx, &tn, err);
	cv_buf_release(&tn.names);
	return ret;
}

static int grants_read(struct cv_ctx *ctx, struct cv_error *err)
{
	struct reader rd = { ctx, true, NULL, NULL };
	bool exists = false;
	char *sql;
	int ret;

	ctx->live->sections |= CV_SEC_GRANTS;
	if (!ctx->db)
		return 0;
	if (ctx->grants_store)
		return store_read(ctx, err);
	ret = ctx->be->table_exists(ctx->db, T_GRANTS, &exists, err);
	if (ret || !exists)
		return ret;
	ctx->live->stored |= CV_SEC_GRANTS;
	sql = cv_sql_select(ctx->be, T_GRANTS, grant_cols, 5, grant_cols, 3);
	ret = ctx->be->query(ctx->db, sql, NULL, 0, read_grant, &rd, err);
	free(sql);
	/* The order of the database's collation may not be strcmp's. */
	if (!ret && !rd.sorted)
		cv_sort(ctx->live->grants, ctx->live->ngrants,
		      sizeof(*ctx->live->grants), grant_qcmp);
	return ret;
}

static void grants_digest(const struct cv_state *live, struct cv_digest *d)
{
	size_t i;

	for (i = 0; i < live->ngrants; i++) {
		const struct cv_grant *g = &live->grants[i];

		cv_digest_str(d, g->subject);
		cv_digest_str(d, g->role);
		cv_digest_str(d, g->scope);
		cv_digest_str(d, g->expires);
		cv_digest_str(d, g->reason);
	}
}

static const char *grant_value(const struct cv_grant *g, struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;

	if (!g)
		return NULL;
	cv_canon_add(&b, g->expires);
	cv_canon_add(&b, g->reason);
	s = cv_arena_strndup(a, b.buf, b.len);
	cv_buf_release(&b);
	return s;
}

static const struct cv_grant *find_grant(const struct cv_state *s,
					 const char *const *key)
{
	struct cv_grant k;

	memset(&k, 0, sizeof(k));
	k.subject = key[0];
	k.role = key[1];
	k.scope = key[2];
	if (!s->ngrants)
		return NULL;
	return bsearch(&k, s->grants, s->ngrants, sizeof(k), grant_qcmp);
}

static const char *grants_value(struct cv_ctx *ctx, const char *const *key,
				size_t nkey, struct cv_arena *arena)
{
	if (nkey != 3)
		return NULL;
	if (strcmp(key[0], STORE_KEY) == 0)
		return store_value(ctx, key[2], arena);
	return grant_value(find_grant(ctx->live, key), arena);
}

/*
 * The grant a step of rbac_grants leaves: its key, and its `after` value
 * read back (grant_value's encoding; NULL: the step removes it).
 * CV_EINVAL when `after` is not that encoding (a hand-edited plan).
 */
static int step_grant(const struct cv_step *st, struct cv_arena *a,
		      struct cv_grant *out)
{
	const char *p = st->after;

	memset(out, 0, sizeof(*out));
	out->subject = st->key[0];
	out->role = st->key[1];
	out->scope = st->key[2];
	if (p && (decode_one(&p, a, &out->expires) ||
		  decode_one(&p, a, &out->reason) || *p))
		return CV_EINVAL;
	return 0;
}

int cv_grants_after_plan(const struct cv_ctx *ctx, const struct cv_plan *plan,
			 struct cv_state *out, struct cv_arena *a,
			 struct cv_error *err)
{
	const struct cv_state *l = ctx->live;
	const struct cv_grants_store *gs = ctx->grants_store;
	bool *gone = cv_calloc(l->ngrants + 1, sizeof(*gone));
	size_t i, n;
	int ret = 0;

	CV_GROW(out->grants, l->ngrants + 1, out->grants_alloc);
	if (l->ngrants)
		memcpy(out->grants, l->grants, l->ngrants * sizeof(*l->grants));
	out->ngrants = l->ngrants;
	for (i = 0; i < plan->nr; i++) {
		const struct cv_step *st = &plan->steps[i];
		bool store;
		struct cv_grant k, *g;

		if (strcmp(st->kind, "grants") != 0 || st->nkey != 3)
			continue;
		store = strcmp(st->key[0], STORE_KEY) == 0;
		if (store) {
			memset(&k, 0, sizeof(k));
			k.subject = st->key[2];
		} else if (step_grant(st, a, &k)) {
			ret = cv_error_set(err, CV_EINVAL,
					   "step %u (grants %s): 'after' is not a grant's value",
					   st->seq, cv_shorten(st->object));
			break;
		}
		/* Only the live rows are searched (sorted as read): a plan
		 * has one step per grant, so none looks for one it added. */
		g = l->ngrants ? bsearch(&k, out->grants, l->ngrants,
					 sizeof(k), store ? subject_cmp
							  : grant_qcmp) : NULL;
		if (store) {
			/* The column is set, back to the default when the
			 * step revokes; converge adds no rows there. */
			if (g) {
				g->role = st->after ? st->after
						    : gs ? gs->dflt : NULL;
				g->unset = !st->after;
			}
		} else if (g && !st->after) {
			gone[g - out->grants] = true;
		} else if (g) {
			g->expires = k.expires;
			g->reason = k.reason;
		} else if (st->after) {
			CV_GROW(out->grants, out->ngrants + 1,
				out->grants_alloc);
			out->grants[out->ngrants++] = k;
		}
	}
	for (i = n = 0; i < out->ngrants; i++)
		if (i >= l->ngrants || !gone[i])
			out->grants[n++] = out->grants[i];
	out->ngrants = n;
	free(gone);
	return ret;
}

struct grant_sql {
	const char *ins, *del, *upd;
};

/* Expired grants of the manifests named one by one; the rest are counted
 * (a generated manifest may hold thousands). */
#define EXPIRED_SHOWN 10

/*
 * The n-th grant of the manifests found expired at --now: it is absent
 * from the desired state, which the plan shows only when the database
 * still holds it.  Said either way, so that it is never silent.
 */
static void warn_expired(struct cv_ctx *ctx, const struct cv_grant *g,
			 size_t n)
{
	if (!ctx->warnings || n > EXPIRED_SHOWN)
		return;
	cv_diags_add(ctx->warnings, CV_DIAG_WARNING, &g->mark,
		     "grant of role '%s' to '%s'%s%s%s expired at %s and is absent: an expired grant is revoked, never granted",
		     cv_shorten(g->role), cv_shorten(g->subject),
		     *g->scope ? " on '" : "",
		     *g->scope ? cv_shorten(g->scope) : "",
		     *g->scope ? "'" : "", g->expires);
}

static struct cv_step *grant_step(struct cv_plan *plan, enum cv_phase phase,
				  enum cv_action act, const struct cv_grant *g,
				  const struct cv_grant *before,
				  const struct cv_grant *after)
{
	const char *key[3] = { g->subject, g->role, g->scope };
	struct cv_step *st;

	st = cv_plan_add(plan, phase, act, "grants",
			 grant_name(g, &plan->arena));
	cv_step_set_key(plan, st, key, 3);
	st->before = grant_value(before, &plan->arena);
	st->after = grant_value(after, &plan->arena);
	return st;
}

static void row_params(const struct cv_grant *g, const char **p)
{
	p[0] = g->subject;
	p[1] = g->role;
	p[2] = g->scope;
	p[3] = g->expires;
	p[4] = g->reason;
}

static void add_create(struct cv_plan *plan, const struct grant_sql *q,
		       const struct cv_grant *g)
{
	struct cv_step *st = grant_step(plan, CV_PHASE_ADD, CV_ACT_CREATE, g,
					NULL, g);
	const char *p[5];

	row_params(g, p);
	cv_step_fwd(plan, st, q->ins, p, 5);
	cv_step_inv(plan, st, q->del, p, 3);
	if (g->expires && g->reason)
		st->detail = cv_arena_printf(&plan->arena,
					     "expires %s (%s)", g->expires,
					     g->reason);
	else if (g->expires)
		st->detail = cv_arena_printf(&plan->arena, "expires %s",
					     g->expires);
	else if (g->reason)
		st->detail = cv_arena_printf(&plan->arena, "reason: %s",
					     g->reason);
}

static void add_delete(struct cv_plan *plan, const struct grant_sql *q,
		       const struct cv_grant *g, const struct cv_grant *lapsed)
{
	struct cv_step *st = grant_step(plan, CV_PHASE_REMOVE, CV_ACT_DELETE,
					g, g, NULL);
	const char *p[5];

	row_params(g, p);
	cv_step_fwd(plan, st, q->del, p, 3);
	cv_step_inv(plan, st, q->ins, p, 5);
	if (lapsed)
		st->detail = cv_arena_printf(&plan->arena, "expired %s",
					     lapsed->expires);
	else if (cv_grant_expired(g, plan->now))
		st->detail = cv_arena_printf(&plan->arena, "expired %s",
					     g->expires);
}

static void add_update(struct cv_plan *plan, const struct grant_sql *q,
		       const struct cv_grant *w, const struct cv_grant *l)
{
	struct cv_step *st = grant_step(plan, CV_PHASE_ADD, CV_ACT_UPDATE, w,
					l, w);
	const char *p[5] = { w->expires, w->reason, w->subject, w->role,
			     w->scope };
	struct cv_buf d = CV_BUF_INIT;

	cv_step_fwd(plan, st, q->upd, p, 5);
	p[0] = l->expires;
	p[1] = l->reason;
	cv_step_inv(plan, st, q->upd, p, 5);
	if (!cv_streq0(w->expires, l->expires))
		cv_buf_addf(&d, "expires %s -> %s", l->expires ? l->expires : "never",
			    w->expires ? w->expires : "never");
	if (!cv_streq0(w->reason, l->reason))
		cv_buf_addf(&d, "%sreason '%s'", d.len ? "; " : "",
			    w->reason ? cv_shorten(w->reason) : "");
	st->detail = cv_arena_strdup(&plan->arena, cv_buf_str(&d));
	cv_buf_release(&d);
}

static int grants_diff(struct cv_ctx *ctx, struct cv_plan *plan,
		       struct cv_error *err)
{
	static const char *const sets[] = { "expires_at", "reason" };
	const struct cv_state *w = ctx->want, *l = ctx->live;
	struct grant_sql q;
	size_t i = 0, j = 0, nexpired = 0;

	/* Without a roles section, the roles that grants name are the ones
	 * the database has. */
	if (!(w->sections & CV_SEC_ROLES))
		for (i = 0; i < w->ngrants; i++)
			if (!cv_grant_expired(&w->grants[i], ctx->now) &&
			    !cv_state_role(l, w->grants[i].role))
				return cv_error_set(err, CV_EINVAL,
					"grant of role '%s' to '%s': no such role in the database (%s:%u:%u)",
					cv_shorten(w->grants[i].role),
					cv_shorten(w->grants[i].subject),
					w->grants[i].mark.file,
					w->grants[i].mark.line,
					w->grants[i].mark.col);
	if (ctx->grants_store)
		return store_diff(ctx, plan, err);
	q.ins = cv_sql_insert(ctx->be, &plan->arena, T_GRANTS, grant_cols, 5);
	q.del = cv_sql_delete(ctx->be, &plan->arena, T_GRANTS, grant_cols, 3);
	q.upd = cv_sql_update(ctx->be, &plan->arena, T_GRANTS, sets, 2,
			      grant_cols, 3);
	i = 0;
	while (i < w->ngrants || j < l->ngrants) {
		int c = i >= w->ngrants ? 1 : j >= l->ngrants ? -1 :
			cv_grant_cmp(&w->grants[i], &l->grants[j]);
		const struct cv_grant *wg = c <= 0 ? &w->grants[i] : NULL;
		const struct cv_grant *lg = c >= 0 ? &l->grants[j] : NULL;
		bool lapsed = wg && cv_grant_expired(wg, ctx->now);

		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (wg && lapsed) {
			warn_expired(ctx, wg, ++nexpired);
			wg = NULL;
		}
		if (wg && !lg)
			add_create(plan, &q, wg);
		else if (!wg && lg)
			add_delete(plan, &q, lg, lapsed ? &w->grants[i - 1] : NULL);
		else if (wg && lg && (!cv_streq0(wg->expires, lg->expires) ||
				      !cv_streq0(wg->reason, lg->reason)))
			add_update(plan, &q, wg, lg);
	}
	if (ctx->warnings && nexpired > EXPIRED_SHOWN)
		cv_diags_add(ctx->warnings, CV_DIAG_WARNING, NULL,
			     "… and %zu more expired grants in the manifests",
			     nexpired - EXPIRED_SHOWN);
	return 0;
}

static int grants_ensure(struct cv_ctx *ctx, struct cv_error *err)
{
	struct cv_buf b = CV_BUF_INIT;
	int ret;

	if (ctx->grants_store)
		return 0;	/* the application's table exists already */
	cv_buf_addf(&b,
		    "CREATE TABLE IF NOT EXISTS rbac_grants (\n"
		    "  subject TEXT NOT NULL,\n"
		    "  role TEXT NOT NULL,\n"
		    "  scope TEXT NOT NULL DEFAULT '',\n"
		    "  expires_at TEXT,\n"
		    "  reason TEXT,\n"
		    "  PRIMARY KEY (subject, role, scope)\n"
		    ")%s;\n"
		    "CREATE INDEX IF NOT EXISTS rbac_grants_role ON rbac_grants (role);\n",
		    ctx->be->table_suffix);
	ret = ctx->be->exec_script(ctx->db, b.buf, err);
	cv_buf_release(&b);
	return ret;
}

static void grants_inspect(const struct cv_state *live, struct cv_emit *e)
{
	size_t i;

	cv_emit_str(e, "grants");
	cv_emit_seq(e, false);
	for (i = 0; i < live->ngrants; i++) {
		const struct cv_grant *g = &live->grants[i];

		cv_emit_map(e, true);
		cv_emit_pair(e, "subject", g->subject);
		cv_emit_pair(e, "role", g->role);
		if (*g->scope)
			cv_emit_pair(e, "scope", g->scope);
		if (g->expires)
			cv_emit_pair(e, "expires", g->expires);
		if (g->reason)
			cv_emit_pair(e, "reason", g->reason);
		cv_emit_end(e);
	}
	cv_emit_end(e);
}

const struct cv_kind cv_kind_grants = {
	.name = "grants",
	.section = CV_SEC_GRANTS,
	.needs = CV_SEC_ROLES,
	.load = grants_load,
	.validate = grants_validate,
	.read = grants_read,
	.digest = grants_digest,
	.diff = grants_diff,
	.value = grants_value,
	.ensure = grants_ensure,
	.inspect = grants_inspect,
	.tables = tables,
};
