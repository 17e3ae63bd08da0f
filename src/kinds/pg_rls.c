/*
 * Row-level security, for the `postgres` kind (postgres.c): postgres.rls
 * as manifests write it and as pg_class and pg_policy read back, each
 * table's ENABLE and FORCE flags, CREATE and DROP POLICY, their diff, and
 * the rls part of inspect.  One file per object type, so that where
 * policies are planned can be found from file names alone.
 *
 * Policies are compared as PostgreSQL deparses them: each expression, the
 * manifest's and pg_get_expr's of the live policy alike, is put through
 * EXPLAIN (VERBOSE) of a one-table SELECT, which prints it in
 * PostgreSQL's own spelling, so "a=1" and "(a = 1)" are the same; with a
 * subquery the whole plan is compared (see normalize).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "converge/emit.h"
#include "converge/kind.h"

#include "pg.h"

static const char *const policy_commands[] = {
	"ALL", "SELECT", "INSERT", "UPDATE", "DELETE", NULL
};

/* ---- load ------------------------------------------------------------ */

static int policy_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_pg_policy *)a)->name,
		      ((const struct cv_pg_policy *)b)->name);
}

static int load_policy(struct cv_pg_policy *p, const struct cv_node *e,
		       struct cv_loader *ld)
{
	static const char *const keys[] = {
		"command", "to", "using", "with_check", "permissive", NULL
	};
	const struct cv_node *v;
	const char *s;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	p->name = e->key;
	p->mark = e->key_mark;
	p->command = "ALL";
	p->permissive = true;
	if (cv_check_name(e->key, "policy", &e->key_mark, ld->diags) ||
	    cv_pg_long_name(e->key, "policy", &e->key_mark, ld->diags) ||
	    cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags) ||
	    cv_yaml_check_keys(e, keys, "a policy", ld->diags))
		return CV_EINVAL;
	if ((v = cv_yaml_get(e, "command"))) {
		if (cv_yaml_as_string(v, "command", ld->diags, &s))
			ret = CV_EINVAL;
		else if (!(p->command = cv_pg_find_word(policy_commands, s))) {
			cv_diag_error(ld->diags, &v->mark,
				      "policy command '%s': expected ALL, SELECT, INSERT, UPDATE or DELETE",
				      cv_shorten(s));
			ret = CV_EINVAL;
		}
	}
	if ((v = cv_yaml_get(e, "permissive")) &&
	    cv_yaml_as_bool(v, "permissive", ld->diags, &p->permissive))
		ret = CV_EINVAL;
	if (cv_load_names(cv_yaml_get(e, "to"), "to", "role", NULL, ld,
			  &p->to, &p->nto))
		ret = CV_EINVAL;
	if ((v = cv_yaml_get(e, "using")) && !cv_yaml_is_null(v) &&
	    cv_yaml_as_string(v, "using", ld->diags, &p->using_expr))
		ret = CV_EINVAL;
	if ((v = cv_yaml_get(e, "with_check")) && !cv_yaml_is_null(v) &&
	    cv_yaml_as_string(v, "with_check", ld->diags, &p->check_expr))
		ret = CV_EINVAL;
	if (!ret && !p->using_expr && !p->check_expr) {
		cv_diag_error(ld->diags, &e->key_mark,
			      "policy '%s' has neither 'using' nor 'with_check'",
			      cv_shorten(p->name));
		ret = CV_EINVAL;
	}
	if (!ret && strcmp(p->command, "INSERT") == 0 && p->using_expr) {
		cv_diag_error(ld->diags, &e->key_mark,
			      "policy '%s': an INSERT policy takes 'with_check' only",
			      cv_shorten(p->name));
		ret = CV_EINVAL;
	}
	if (!ret && (strcmp(p->command, "SELECT") == 0 ||
		     strcmp(p->command, "DELETE") == 0) && p->check_expr) {
		cv_diag_error(ld->diags, &e->key_mark,
			      "policy '%s': a %s policy takes 'using' only",
			      cv_shorten(p->name), p->command);
		ret = CV_EINVAL;
	}
	/* The roles, "public" for everyone, as PostgreSQL lists them. */
	if (!ret && !p->nto) {
		p->to = cv_arena_alloc(ld->strings, sizeof(*p->to));
		p->to[0] = "public";
		p->nto = 1;
	}
	for (size_t i = 0; i < p->nto; i++)
		if (strcasecmp(p->to[i], "public") == 0)
			p->to[i] = "public";
	/*
	 * PostgreSQL keeps PUBLIC alone ("ignoring specified roles other
	 * than PUBLIC"): with others beside it, the policy would never match
	 * the manifests.
	 */
	if (!ret && p->nto > 1 && cv_pg_has_name(p->to, p->nto, "public")) {
		cv_diag_error(ld->diags, &cv_yaml_get(e, "to")->key_mark,
			      "policy '%s': 'to' lists public with other roles; public is every role, and PostgreSQL keeps it alone: list public alone, or leave it out",
			      cv_shorten(p->name));
		ret = CV_EINVAL;
	}
	return ret;
}

int cv_pg_load_rls(struct cv_pg *pg, const struct cv_node *n,
		   struct cv_loader *ld)
{
	static const char *const keys[] = { "enabled", "force", "policies", NULL };
	int ret = 0;

	if (cv_yaml_is_null(n))
		return 0;
	if (cv_yaml_expect(n, CV_NODE_MAP, "rls", ld->diags))
		return CV_EINVAL;
	cv_yaml_each(e, n) {
		struct cv_pg_table *t;
		const struct cv_node *v, *pols;
		const char *schema, *name;
		size_t i = 0;

		if (cv_pg_table_parts(e->key, &e->key_mark, ld, &schema,
				      &name) ||
		    cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags) ||
		    cv_yaml_check_keys(e, keys, "a table's rls", ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		CV_GROW(pg->tables, pg->ntables + 1, pg->tables_alloc);
		t = &pg->tables[pg->ntables++];
		memset(t, 0, sizeof(*t));
		t->schema = schema;
		t->name = name;
		t->mark = e->key_mark;
		t->rls = true;
		if ((v = cv_yaml_get(e, "enabled")) &&
		    cv_yaml_as_bool(v, "enabled", ld->diags, &t->rls))
			ret = CV_EINVAL;
		if ((v = cv_yaml_get(e, "force")) &&
		    cv_yaml_as_bool(v, "force", ld->diags, &t->force))
			ret = CV_EINVAL;
		pols = cv_yaml_get(e, "policies");
		if (!pols || cv_yaml_is_null(pols))
			continue;
		if (cv_yaml_expect(pols, CV_NODE_MAP, "policies", ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		t->policies = cv_arena_alloc(ld->strings,
					     (pols->count + 1) * sizeof(*t->policies));
		cv_yaml_each(p, pols) {
			if (load_policy(&t->policies[i], p, ld))
				ret = CV_EINVAL;
			else
				i++;
		}
		t->npolicies = i;
		cv_sort(t->policies, i, sizeof(*t->policies), policy_cmp);
	}
	return ret;
}

/* ---- read ------------------------------------------------------------ */

static const char *command_of(const char *polcmd)
{
	switch (polcmd ? polcmd[0] : '*') {
	case 'r': return "SELECT";
	case 'a': return "INSERT";
	case 'w': return "UPDATE";
	case 'd': return "DELETE";
	default: return "ALL";
	}
}

/*
 * schema, table, name, polcmd, permissive, using, with check, then one of
 * its roles: a policy comes as one row per role, in order.
 */
int cv_pg_read_policy(void *p, const char *const *cols, const size_t *lens,
		      int ncols)
{
	struct reader *rd = p;
	struct cv_pg_policy *pol = rd->npols ? &rd->pols[rd->npols - 1] : NULL;

	(void)ncols;
	if (!pol || strcmp(pol->name, cols[2]) != 0 ||
	    strcmp(rd->pol_keys[2 * rd->npols - 1], cols[1]) != 0 ||
	    strcmp(rd->pol_keys[2 * rd->npols - 2], cols[0]) != 0) {
		CV_GROW(rd->pols, rd->npols + 1, rd->pols_alloc);
		CV_GROW(rd->pol_keys, 2 * rd->npols + 2, rd->pol_keys_alloc);
		CV_GROW(rd->first_to, rd->npols + 1, rd->first_to_alloc);
		rd->pol_keys[2 * rd->npols] = cv_pg_dup_col(rd, cols, lens, 0);
		rd->pol_keys[2 * rd->npols + 1] =
			cv_pg_dup_col(rd, cols, lens, 1);
		rd->first_to[rd->npols] = rd->ntos;
		pol = &rd->pols[rd->npols++];
		memset(pol, 0, sizeof(*pol));
		pol->name = cv_pg_dup_col(rd, cols, lens, 2);
		pol->command = command_of(cols[3]);
		pol->permissive = cv_pg_true(cols[4]);
		pol->using_expr = cv_pg_dup_col(rd, cols, lens, 5);
		pol->check_expr = cv_pg_dup_col(rd, cols, lens, 6);
	}
	CV_GROW(rd->tos, rd->ntos + 1, rd->tos_alloc);
	rd->tos[rd->ntos++] = cv_pg_dup_col(rd, cols, lens, 7);
	pol->nto++;
	return 0;
}

/* ---- comparing, SQL and the diff ------------------------------------- */

struct explain {
	struct cv_buf plan; /* every line, trimmed, joined by single spaces */
	const char *out;    /* the first Output: line, in the arena */
	bool subplan;       /* the expression has a subquery */
	struct cv_arena *a;
};

static int explain_row(void *p, const char *const *cols, const size_t *lens,
		       int ncols)
{
	struct explain *x = p;
	const char *s = cols[0], *o;

	(void)ncols;
	(void)lens;
	if (!s)
		return 0;
	if (strstr(s, "SubPlan") || strstr(s, "InitPlan"))
		x->subplan = true;
	if (!x->out && (o = strstr(s, "Output: ")))
		x->out = cv_arena_strdup(x->a, o + 8);
	while (*s == ' ')
		s++;
	if (x->plan.len)
		cv_buf_addch(&x->plan, ' ');
	cv_buf_adds(&x->plan, s);
	return 0;
}

/*
 * An expression as PostgreSQL spells it, from EXPLAIN (VERBOSE) of
 * `SELECT (expr) FROM ONLY table`: the Output line.  A subquery shows
 * there only as "(SubPlan 1)", so for one the whole plan is the spelling:
 * the subplans print their own expressions, and the manifest's text and
 * pg_get_expr's of the live policy plan the same in one transaction.
 * (The target list keeps a subquery a SubPlan; in a WHERE it could become
 * a join.)  Nothing is created, so this works in plan's READ ONLY
 * transaction.  When the table does not exist yet (the same plan creates
 * it), the text as written is all there is.  When PostgreSQL cannot read
 * the expression, so is the text; `fail` (when given) gets its reason.
 */
static const char *normalize(struct cv_ctx *ctx, const char *schema,
			     const char *table, const char *expr,
			     struct cv_arena *a, struct cv_error *fail)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_buf b = CV_BUF_INIT;
	struct explain x = { CV_BUF_INIT, NULL, false, a };
	const char *s;
	int ret;

	if (!expr || !ctx->db ||
	    !cv_pg_find_table(&ctx->live->pg, schema, table))
		return expr;
	cv_buf_adds(&b, "EXPLAIN (VERBOSE, COSTS OFF) SELECT (");
	cv_buf_adds(&b, expr);
	cv_buf_adds(&b, ") FROM ONLY ");
	cv_pg_qtable(ctx, &b, schema, table);
	ret = ctx->be->exec_script(ctx->db, "SAVEPOINT converge_expr", &err);
	if (!ret) {
		ret = ctx->be->query(ctx->db, b.buf, NULL, 0, explain_row, &x,
				     &err);
		if (ret && fail)
			cv_error_set(fail, CV_EINVAL, "%s",
				     err.msg ? err.msg : "unknown error");
		if (ret)
			ctx->be->exec_script(ctx->db,
					     "ROLLBACK TO SAVEPOINT converge_expr",
					     &err);
		ctx->be->exec_script(ctx->db, "RELEASE SAVEPOINT converge_expr",
				     &err);
	}
	if (ret || !x.out)
		s = expr;
	else
		s = x.subplan ? cv_arena_strdup(a, x.plan.buf) : x.out;
	cv_error_release(&err);
	cv_buf_release(&b);
	cv_buf_release(&x.plan);
	return s;
}

const char *cv_pg_policy_value(struct cv_ctx *ctx,
			       const struct cv_pg_table *t,
			       const struct cv_pg_policy *p, struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;
	size_t i;

	if (!p)
		return NULL;
	cv_canon_add(&b, p->command);
	cv_canon_add(&b, p->permissive ? "permissive" : "restrictive");
	for (i = 0; i < p->nto; i++)
		cv_canon_add(&b, p->to[i]);
	cv_buf_addch(&b, '|');	/* roles | expressions, as rollback shows groups */
	cv_canon_add(&b, normalize(ctx, t->schema, t->name, p->using_expr, a,
				   NULL));
	cv_canon_add(&b, normalize(ctx, t->schema, t->name, p->check_expr, a,
				   NULL));
	s = cv_arena_strdup(a, b.buf);
	cv_buf_release(&b);
	return s;
}

static void create_policy_sql(const struct cv_ctx *ctx, struct cv_buf *b,
			      const struct cv_pg_table *t,
			      const struct cv_pg_policy *p)
{
	size_t i;

	cv_buf_adds(b, "CREATE POLICY ");
	cv_pg_qname(ctx, b, p->name);
	cv_buf_adds(b, " ON ");
	cv_pg_qtable(ctx, b, t->schema, t->name);
	cv_buf_addf(b, " AS %s FOR %s TO ",
		    p->permissive ? "PERMISSIVE" : "RESTRICTIVE", p->command);
	for (i = 0; i < p->nto; i++) {
		if (i)
			cv_buf_adds(b, ", ");
		if (strcmp(p->to[i], "public") == 0)
			cv_buf_adds(b, "PUBLIC");
		else
			cv_pg_qname(ctx, b, p->to[i]);
	}
	if (p->using_expr)
		cv_buf_addf(b, " USING (%s)", p->using_expr);
	if (p->check_expr)
		cv_buf_addf(b, " WITH CHECK (%s)", p->check_expr);
}

static void drop_policy_sql(const struct cv_ctx *ctx, struct cv_buf *b,
			    const struct cv_pg_table *t,
			    const struct cv_pg_policy *p)
{
	cv_buf_adds(b, "DROP POLICY ");
	cv_pg_qname(ctx, b, p->name);
	cv_buf_adds(b, " ON ");
	cv_pg_qtable(ctx, b, t->schema, t->name);
}

const struct cv_pg_policy *cv_pg_find_policy(const struct cv_pg_table *t,
					     const char *name)
{
	size_t i;

	for (i = 0; t && i < t->npolicies; i++)
		if (strcmp(t->policies[i].name, name) == 0)
			return &t->policies[i];
	return NULL;
}

/* Does a live policy apply to a role this plan drops? */
static bool names_dropping(const struct differ *df,
			   const struct cv_pg_policy *p)
{
	size_t i;

	for (i = 0; p && i < p->nto; i++)
		if (cv_pg_is_dropping(df, p->to[i]))
			return true;
	return false;
}

/* "enabled" or "off", and ",forced" when FORCE is set (it may be on
 * a table whose row-level security is off). */
const char *cv_pg_rls_value(const struct cv_pg_table *t, struct cv_arena *a)
{
	bool rls = t && t->rls, force = t && t->force;

	return cv_arena_strdup(a, rls ? (force ? "enabled,forced" : "enabled") :
				       (force ? "off,forced" : "off"));
}

static void rls_sql(const struct cv_ctx *ctx, struct cv_buf *b,
		    const struct cv_pg_table *t, bool rls_changed, bool rls,
		    bool force_changed, bool force)
{
	cv_buf_adds(b, "ALTER TABLE ");
	cv_pg_qtable(ctx, b, t->schema, t->name);
	if (rls_changed)
		cv_buf_addf(b, " %s ROW LEVEL SECURITY", rls ? "ENABLE" : "DISABLE");
	if (rls_changed && force_changed)
		cv_buf_addch(b, ',');
	if (force_changed)
		cv_buf_addf(b, " %s ROW LEVEL SECURITY", force ? "FORCE" : "NO FORCE");
}

/*
 * A policy expression PostgreSQL cannot read (a column misspelt) would
 * fail only at apply, after the review said yes: refused at plan, unless
 * a revision of the same plan may make what it names.  The table must
 * exist for EXPLAIN; when it does not, the plan's own steps make it.
 */
static int check_policy(struct differ *df, const struct cv_pg_table *t,
			const struct cv_pg_policy *p)
{
	const char *exprs[2] = { p->using_expr, p->check_expr };
	const char *names[2] = { "using", "with_check" };
	struct cv_ctx *ctx = df->ctx;
	size_t i;

	if (!ctx->db || cv_pg_has_schema_steps(df->plan) ||
	    !cv_pg_find_table(&ctx->live->pg, t->schema, t->name))
		return 0;
	for (i = 0; i < 2; i++) {
		struct cv_error fail = CV_ERROR_INIT;
		int ret;

		if (!exprs[i])
			continue;
		normalize(ctx, t->schema, t->name, exprs[i], &df->plan->arena,
			  &fail);
		if (!fail.code)
			continue;
		ret = cv_error_set(df->err, CV_EINVAL,
				   "policy '%s' on %s.%s: PostgreSQL cannot read its '%s' expression (%s:%u:%u): %s",
				   p->name, t->schema, t->name, names[i],
				   p->mark.file, p->mark.line, p->mark.col,
				   fail.msg);
		cv_error_release(&fail);
		return ret;
	}
	return 0;
}

static void add_roles(struct cv_buf *b, const struct cv_pg_policy *p)
{
	size_t i;

	for (i = 0; i < p->nto; i++)
		cv_buf_addf(b, "%s%s", i ? ", " : "", p->to[i]);
}

static bool same_roles(const struct cv_pg_policy *a,
		       const struct cv_pg_policy *b)
{
	size_t i;

	if (a->nto != b->nto)
		return false;
	for (i = 0; i < a->nto; i++)
		if (strcmp(a->to[i], b->to[i]) != 0)
			return false;
	return true;
}

/*
 * The review line of a policy: what it does when it is new, and what
 * changes in it otherwise (its expressions as written, old -> new), so
 * that a reviewer sees a policy opened up ("using (tenant_id = …) ->
 * true") without reading the SQL.
 */
static const char *policy_detail(struct cv_ctx *ctx,
				 const struct cv_pg_table *wt,
				 const struct cv_pg_policy *wp,
				 const struct cv_pg_table *lt,
				 const struct cv_pg_policy *lp,
				 struct cv_arena *a)
{
	const char *wexpr[2] = { wp->using_expr, wp->check_expr };
	const char *names[2] = { "using", "with check" };
	struct cv_buf b = CV_BUF_INIT;
	const char *s;
	size_t i;

	if (!lp) {
		cv_buf_addf(&b, "%s%s to ", wp->command,
			    wp->permissive ? "" : " restrictive");
		add_roles(&b, wp);
		for (i = 0; i < 2; i++)
			if (wexpr[i])
				cv_buf_addf(&b, "; %s %s", names[i], wexpr[i]);
	} else {
		const char *lexpr[2] = { lp->using_expr, lp->check_expr };

		if (strcmp(lp->command, wp->command) != 0)
			cv_buf_addf(&b, "command %s -> %s", lp->command,
				    wp->command);
		if (lp->permissive != wp->permissive)
			cv_buf_addf(&b, "%s%s -> %s", b.len ? "; " : "",
				    lp->permissive ? "permissive" : "restrictive",
				    wp->permissive ? "permissive" : "restrictive");
		if (!same_roles(lp, wp)) {
			cv_buf_addf(&b, "%sto ", b.len ? "; " : "");
			add_roles(&b, lp);
			cv_buf_adds(&b, " -> ");
			add_roles(&b, wp);
		}
		for (i = 0; i < 2; i++) {
			const char *o = normalize(ctx, lt->schema, lt->name,
						  lexpr[i], a, NULL);
			const char *n = normalize(ctx, wt->schema, wt->name,
						  wexpr[i], a, NULL);

			if (cv_streq0(o, n))
				continue;
			cv_buf_addf(&b, "%s%s %s -> %s", b.len ? "; " : "",
				    names[i], lexpr[i] ? lexpr[i] : "(none)",
				    wexpr[i] ? wexpr[i] : "(none)");
		}
		if (!b.len)
			cv_buf_adds(&b, wp->command);
	}
	s = cv_arena_strdup(a, b.buf);
	cv_buf_release(&b);
	return s;
}

/* What a relation that is not a table is, for the error; NULL for a
 * table or partitioned table (they have row-level security). */
static const char *not_a_table(char relkind)
{
	switch (relkind) {
	case 'r':
	case 'p':
		return NULL;
	case 'v':
		return "a view";
	case 'm':
		return "a materialized view";
	case 'f':
		return "a foreign table";
	case 'S':
		return "a sequence";
	default:
		return "not a table";
	}
}

/*
 * A table postgres.rls names that does not exist, or a relation that is
 * not a table (a view, a materialized view, a foreign table, a sequence:
 * ALTER TABLE … ROW LEVEL SECURITY and CREATE POLICY refuse them), would
 * fail only at apply: refused at plan, unless a revision of the same
 * plan may make it (or make it again as a table).
 */
int cv_pg_check_rls_tables(const struct differ *df)
{
	const struct cv_pg *w = df->want;
	const char *what;
	size_t i;

	if (!df->ctx->db || !(w->parts & CV_PG_RLS) ||
	    cv_pg_has_schema_steps(df->plan))
		return 0;
	for (i = 0; i < w->ntables; i++) {
		const struct cv_pg_table *t = &w->tables[i];
		const struct cv_pg_table *lt =
			cv_pg_find_table(df->live, t->schema, t->name);

		if (!lt)
			return cv_error_set(df->err, CV_EINVAL,
					    "postgres.rls names table '%s.%s', which does not exist (%s:%u:%u)",
					    t->schema, t->name, t->mark.file,
					    t->mark.line, t->mark.col);
		if ((what = not_a_table(lt->relkind)))
			return cv_error_set(df->err, CV_EINVAL,
					    "postgres.rls names '%s.%s', which is %s: row-level security and policies apply to tables only (%s:%u:%u)",
					    t->schema, t->name, what,
					    t->mark.file, t->mark.line,
					    t->mark.col);
	}
	return 0;
}

int cv_pg_diff_rls(struct differ *df, bool removing)
{
	struct cv_ctx *ctx = df->ctx;
	struct cv_plan *plan = df->plan;
	struct cv_buf obj = CV_BUF_INIT;
	size_t i, k;

	for (i = 0; i < df->want->ntables; i++) {
		const struct cv_pg_table *wt = &df->want->tables[i];
		const struct cv_pg_table *lt =
			cv_pg_find_table(df->live, wt->schema, wt->name);
		bool lrls = lt && lt->rls, lforce = lt && lt->force;
		struct cv_step *st;

		if (removing) {
			/* Policies no longer declared go first, and so do
			 * those that apply to a role about to be dropped
			 * (made again without it after the drop). */
			for (k = 0; lt && k < lt->npolicies; k++) {
				const struct cv_pg_policy *lp = &lt->policies[k];
				const char *key[4] = { "policy", wt->schema,
						       wt->name, lp->name };

				if (cv_pg_find_policy(wt, lp->name) &&
				    !names_dropping(df, lp))
					continue;
				cv_buf_reset(&obj);
				cv_buf_addf(&obj, "policy %s on %s.%s", lp->name,
					    wt->schema, wt->name);
				st = cv_pg_add_step(df, CV_PHASE_REMOVE,
						    CV_ACT_DELETE, obj.buf,
						    key, 4);
				st->before = cv_pg_policy_value(ctx, lt, lp,
								&plan->arena);
				drop_policy_sql(ctx, &df->sql, lt, lp);
				cv_pg_add_sql(plan, st, false, &df->sql);
				create_policy_sql(ctx, &df->sql, lt, lp);
				cv_pg_add_sql(plan, st, true, &df->sql);
			}
			continue;
		}
		if (lrls != wt->rls || lforce != wt->force) {
			const char *key[3] = { "rls", wt->schema, wt->name };

			cv_buf_reset(&obj);
			cv_buf_addf(&obj, "row-level security on %s.%s",
				    wt->schema, wt->name);
			st = cv_pg_add_step(df, CV_PHASE_ADD, lrls == wt->rls ?
					    CV_ACT_UPDATE : wt->rls ?
					    CV_ACT_ENABLE : CV_ACT_DISABLE,
					    obj.buf, key, 3);
			st->before = cv_pg_rls_value(lt, &plan->arena);
			st->after = cv_pg_rls_value(wt, &plan->arena);
			st->detail = st->after;
			rls_sql(ctx, &df->sql, wt, lrls != wt->rls, wt->rls,
				lforce != wt->force, wt->force);
			cv_pg_add_sql(plan, st, false, &df->sql);
			rls_sql(ctx, &df->sql, wt, lrls != wt->rls, lrls,
				lforce != wt->force, lforce);
			cv_pg_add_sql(plan, st, true, &df->sql);
		}
		for (k = 0; k < wt->npolicies; k++) {
			const struct cv_pg_policy *wp = &wt->policies[k];
			const struct cv_pg_policy *lp =
				cv_pg_find_policy(lt, wp->name);
			const char *key[4] = { "policy", wt->schema, wt->name,
					       wp->name };

			if (names_dropping(df, lp))
				lp = NULL;	/* dropped in the removal phase */
			if (check_policy(df, wt, wp)) {
				cv_buf_release(&obj);
				return CV_EINVAL;
			}
			const char *want_v =
				cv_pg_policy_value(ctx, wt, wp, &plan->arena);
			const char *live_v = lp ?
				cv_pg_policy_value(ctx, lt, lp, &plan->arena) :
				NULL;

			if (cv_streq0(want_v, live_v))
				continue;
			cv_buf_reset(&obj);
			cv_buf_addf(&obj, "policy %s on %s.%s", wp->name,
				    wt->schema, wt->name);
			st = cv_pg_add_step(df, CV_PHASE_ADD,
					    lp ? CV_ACT_UPDATE : CV_ACT_CREATE,
					    obj.buf, key, 4);
			st->before = live_v;
			st->after = want_v;
			st->detail = policy_detail(ctx, wt, wp, lt, lp,
						   &plan->arena);
			if (lp) {
				drop_policy_sql(ctx, &df->sql, wt, lp);
				cv_pg_add_sql(plan, st, false, &df->sql);
			}
			create_policy_sql(ctx, &df->sql, wt, wp);
			cv_pg_add_sql(plan, st, false, &df->sql);
			drop_policy_sql(ctx, &df->sql, wt, wp);
			cv_pg_add_sql(plan, st, true, &df->sql);
			if (lp) {
				create_policy_sql(ctx, &df->sql, lt, lp);
				cv_pg_add_sql(plan, st, true, &df->sql);
			}
		}
	}
	cv_buf_release(&obj);
	return 0;
}

/* ---- inspect ------------------------------------------------------------------ */

static void emit_policy(struct cv_emit *e, const struct cv_pg_policy *p)
{
	size_t i;

	cv_emit_str(e, p->name);
	cv_emit_map(e, false);
	cv_emit_pair(e, "command", p->command);
	if (!p->permissive) {
		cv_emit_str(e, "permissive");
		cv_emit_bool(e, false);
	}
	cv_emit_str(e, "to");
	cv_emit_seq(e, true);
	for (i = 0; i < p->nto; i++)
		cv_emit_str(e, p->to[i]);
	cv_emit_end(e);
	if (p->using_expr)
		cv_emit_pair(e, "using", p->using_expr);
	if (p->check_expr)
		cv_emit_pair(e, "with_check", p->check_expr);
	cv_emit_end(e);
}

/* postgres.rls as inspect prints it: every table with row-level security
 * on or forced, or with policies. */
void cv_pg_emit_rls(struct cv_emit *e, const struct cv_pg *pg)
{
	size_t i, k;

	for (i = 0; i < pg->ntables; i++) {
		const struct cv_pg_table *t = &pg->tables[i];
		char *name;

		if (!t->rls && !t->force && !t->npolicies)
			continue;
		name = cv_asprintf("%s.%s", t->schema, t->name);
		cv_emit_str(e, name);
		free(name);
		cv_emit_map(e, false);
		cv_emit_str(e, "enabled");
		cv_emit_bool(e, t->rls);
		cv_emit_str(e, "force");
		cv_emit_bool(e, t->force);
		if (t->npolicies) {
			cv_emit_str(e, "policies");
			cv_emit_map(e, false);
			for (k = 0; k < t->npolicies; k++)
				emit_policy(e, &t->policies[k]);
			cv_emit_end(e);
		}
		cv_emit_end(e);
	}
}
