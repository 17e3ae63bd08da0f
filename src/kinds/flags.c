/*
 * The `flags` kind: feature flags and their per-tenant overrides, kept in
 * feature_flags and feature_flag_tenants.
 *
 * Switching off happens first (phase 1) and switching on last (phase 7),
 * after every other change and every check of the run: a flag that turns
 * on a feature never sees the feature's schema or grants half there.
 * Within those phases the `requires` graph orders the steps: a flag is
 * switched on after the flags it requires, and off before them.
 */
#include <stdlib.h>
#include <string.h>

#include "converge/emit.h"
#include "converge/kind.h"

static const char T_FLAGS[] = "feature_flags";
static const char T_TENANTS[] = "feature_flag_tenants";
static const char *const tables[] = { T_FLAGS, T_TENANTS, NULL };

static int tenant_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_flag_tenant *)a)->tenant,
		      ((const struct cv_flag_tenant *)b)->tenant);
}

static int load_tenants(const struct cv_node *n, struct cv_loader *ld,
			struct cv_flag *f)
{
	size_t i = 0;
	int ret = 0;

	if (!n || cv_yaml_is_null(n))
		return 0;
	if (cv_yaml_expect(n, CV_NODE_MAP, "tenants", ld->diags))
		return CV_EINVAL;
	f->tenants = cv_arena_alloc(ld->strings,
				    (n->count + 1) * sizeof(*f->tenants));
	cv_yaml_each(t, n) {
		struct cv_flag_tenant *ft = &f->tenants[i];

		if (cv_check_name(t->key, "tenant", &t->key_mark, ld->diags) ||
		    cv_yaml_as_bool(t, t->key, ld->diags, &ft->enabled)) {
			ret = CV_EINVAL;
			continue;
		}
		ft->tenant = t->key;
		ft->mark = t->key_mark;
		i++;
	}
	cv_sort(f->tenants, i, sizeof(*f->tenants), tenant_cmp);
	f->ntenants = i;
	return ret;
}

static int flags_load(struct cv_state *want, const struct cv_node *node,
		      struct cv_loader *ld)
{
	static const char *const keys[] = {
		"enabled", "description", "requires", "checks", "tenants", NULL
	};
	int ret = 0;

	if (cv_yaml_is_null(node))
		return 0;
	if (cv_yaml_expect(node, CV_NODE_MAP, "flags", ld->diags)) {
		want->unknown |= CV_SEC_FLAGS;
		return CV_EINVAL;
	}
	cv_yaml_each(e, node) {
		const struct cv_node *v;
		struct cv_flag *f;

		if (cv_check_name(e->key, "flag name", &e->key_mark, ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		CV_GROW(want->flags, want->nflags + 1, want->flags_alloc);
		f = &want->flags[want->nflags++];
		memset(f, 0, sizeof(*f));
		f->name = e->key;
		f->mark = e->key_mark;
		/*
		 * A flag whose body, or value, cannot be read is defined all
		 * the same (the flags that require it are not wrong); whether
		 * it is on is not known (f->unknown), and not compared.  A
		 * null body says nothing: off, as {} is (so are a module's,
		 * an org's and a role's).
		 */
		if (cv_yaml_is_null(e))
			continue;
		if (cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags)) {
			f->unknown = true;
			ret = CV_EINVAL;
			continue;
		}
		if (cv_yaml_check_keys(e, keys, "a flag", ld->diags))
			ret = CV_EINVAL;
		/* Off unless it says on: a flag is declared before it ships. */
		if ((v = cv_yaml_get(e, "enabled")) && !cv_yaml_is_null(v) &&
		    cv_yaml_as_bool(v, "enabled", ld->diags, &f->enabled)) {
			f->unknown = true;
			ret = CV_EINVAL;
		}
		if ((v = cv_yaml_get(e, "description")) && !cv_yaml_is_null(v) &&
		    cv_yaml_as_string(v, "description", ld->diags,
				      &f->description))
			ret = CV_EINVAL;
		/* Each key is loaded whatever the others gave: one run shows
		 * every error. */
		if (cv_load_names_at(cv_yaml_get(e, "requires"), "requires",
				     "flag", NULL, ld, &f->requires,
				     &f->requires_marks, &f->nrequires))
			ret = CV_EINVAL;
		if (cv_load_names_at(cv_yaml_get(e, "checks"), "checks", "check",
				     NULL, ld, &f->checks, &f->checks_marks,
				     &f->nchecks))
			ret = CV_EINVAL;
		if (load_tenants(cv_yaml_get(e, "tenants"), ld, f)) {
			f->unknown = true;
			ret = CV_EINVAL;
		}
	}
	return ret;
}

static int flag_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_flag *)a)->name,
		      ((const struct cv_flag *)b)->name);
}

static const struct cv_flag_tenant *find_tenant(const struct cv_flag *f,
						const char *tenant)
{
	size_t i;

	for (i = 0; f && i < f->ntenants; i++)
		if (strcmp(f->tenants[i].tenant, tenant) == 0)
			return &f->tenants[i];
	return NULL;
}

/* A flag's effective value for a tenant: its override, else its own. */
static bool effective(const struct cv_flag *f, const char *tenant)
{
	const struct cv_flag_tenant *t = find_tenant(f, tenant);

	return t ? t->enabled : f->enabled;
}

static void tenant_conflict(const struct cv_flag *f, const struct cv_flag *r,
			    const struct cv_flag_tenant *t,
			    struct cv_diags *diags)
{
	cv_diag_error(diags, &t->mark,
		      "flag '%s' is enabled for tenant '%s' but requires '%s', which is not enabled for it",
		      cv_shorten(f->name), cv_shorten(t->tenant),
		      cv_shorten(r->name));
}

/*
 * The tenants for which `f` is on while `r`, a flag it requires, is off.
 * An override on either flag can make one: f switched on for a tenant that
 * r is off for, or r switched off for a tenant that f is on for by its own
 * value.  Each is reported at the override that makes it.  (f on and r off
 * as a whole is reported once, by the caller, not once per tenant.)
 */
static int check_tenants(const struct cv_flag *f, const struct cv_flag *r,
			 struct cv_diags *diags)
{
	size_t t;
	int ret = 0;

	for (t = 0; t < f->ntenants; t++)
		if (f->tenants[t].enabled &&
		    !effective(r, f->tenants[t].tenant)) {
			tenant_conflict(f, r, &f->tenants[t], diags);
			ret = CV_EINVAL;
		}
	for (t = 0; f->enabled && r->enabled && t < r->ntenants; t++)
		if (!r->tenants[t].enabled &&
		    !find_tenant(f, r->tenants[t].tenant)) {
			tenant_conflict(f, r, &r->tenants[t], diags);
			ret = CV_EINVAL;
		}
	return ret;
}

/*
 * Depth in the `requires` graph: 0 for a flag that requires nothing.
 * Returns -1 on a cycle (reported by the caller).
 */
static int depth(const struct cv_state *s, const struct cv_flag *f,
		 unsigned char *seen, int *memo)
{
	size_t i = (size_t)(f - s->flags), k;
	int d = 0;

	if (memo[i] >= 0)
		return memo[i];
	if (seen[i])
		return -1;
	seen[i] = 1;
	for (k = 0; k < f->nrequires; k++) {
		const struct cv_flag *r = cv_state_flag(s, f->requires[k]);
		int rd;

		if (!r)
			continue;
		rd = depth(s, r, seen, memo);
		if (rd < 0)
			return -1;
		if (rd + 1 > d)
			d = rd + 1;
	}
	seen[i] = 0;
	memo[i] = d;
	return d;
}

static int flags_validate(struct cv_state *want, struct cv_arena *strings,
			  struct cv_diags *diags)
{
	unsigned char *seen;
	int *memo;
	size_t i, k;
	int ret;

	(void)strings;
	cv_sort_stable(want->flags, want->nflags, sizeof(*want->flags),
		       flag_cmp);
	ret = cv_report_twice(want->flags, want->nflags, sizeof(*want->flags),
			      offsetof(struct cv_flag, name),
			      offsetof(struct cv_flag, mark), "flag", diags);
	for (i = 0; i < want->nflags; i++) {
		const struct cv_flag *f = &want->flags[i];

		/* What the flags it requires say is known only when every
		 * flag could be read. */
		for (k = 0; k < f->nrequires && !(want->unknown & CV_SEC_FLAGS);
		     k++) {
			const struct cv_flag *r = cv_state_flag(want, f->requires[k]);

			if (!r) {
				cv_report_undefined(diags, f->requires_marks ?
					&f->requires_marks[k] : &f->mark,
					cv_suggest_among(f->requires[k],
						want->flags, want->nflags,
						sizeof(*want->flags),
						offsetof(struct cv_flag, name)),
					"flag '%s' requires undefined flag '%s'",
					cv_shorten(f->name),
					cv_shorten(f->requires[k]));
				ret = CV_EINVAL;
				continue;
			}
			if (f->unknown || r->unknown)
				continue;
			if (f->enabled && !r->enabled) {
				cv_diag_error(diags, &f->mark,
					      "flag '%s' is enabled but requires '%s', which is not enabled",
					      cv_shorten(f->name), cv_shorten(r->name));
				ret = CV_EINVAL;
			}
			if (check_tenants(f, r, diags))
				ret = CV_EINVAL;
		}
		for (k = 0; k < f->nchecks; k++)
			if (!(want->sections & CV_SEC_CHECKS) &&
			    !(want->unknown & CV_SEC_CHECKS)) {
				cv_diag_error(diags, &f->mark,
					      "flag '%s' names check '%s', but no manifest defines checks",
					      cv_shorten(f->name), cv_shorten(f->checks[k]));
				ret = CV_EINVAL;
			}
	}
	seen = cv_calloc(want->nflags + 1, 1);
	memo = cv_calloc(want->nflags + 1, sizeof(*memo));
	for (i = 0; i < want->nflags; i++)
		memo[i] = -1;
	for (i = 0; i < want->nflags; i++)
		if (depth(want, &want->flags[i], seen, memo) < 0) {
			cv_diag_error(diags, &want->flags[i].mark,
				      "flag '%s' is part of a cycle of 'requires'",
				      cv_shorten(want->flags[i].name));
			ret = CV_EINVAL;
			memset(seen, 0, want->nflags + 1);
		}
	free(seen);
	free(memo);
	return ret;
}

static bool truthy(const char *v)
{
	return v && (strcmp(v, "1") == 0 || strcmp(v, "t") == 0 ||
		     strcmp(v, "true") == 0 || strcmp(v, "TRUE") == 0);
}

static int read_flag(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct cv_ctx *ctx = p;
	struct cv_state *live = ctx->live;
	struct cv_flag *f;

	(void)ncols;
	CV_GROW(live->flags, live->nflags + 1, live->flags_alloc);
	f = &live->flags[live->nflags++];
	memset(f, 0, sizeof(*f));
	f->name = cv_arena_strndup(ctx->live_arena, cols[0] ? cols[0] : "",
				   lens[0]);
	f->enabled = truthy(cols[1]);
	f->description = cols[2] ? cv_arena_strndup(ctx->live_arena, cols[2],
						    lens[2]) : NULL;
	return 0;
}

struct tenant_reader {
	struct cv_ctx *ctx;
	struct cv_flag_tenant *items;
	size_t nr, alloc;
	const char *flag;
};

static void flush_tenants(struct tenant_reader *rd)
{
	struct cv_flag *f;

	if (rd->flag && rd->nr &&
	    (f = (struct cv_flag *)cv_state_flag(rd->ctx->live, rd->flag))) {
		f->tenants = cv_arena_memdup(rd->ctx->live_arena, rd->items,
					     rd->nr * sizeof(*rd->items));
		f->ntenants = rd->nr;
		cv_sort(f->tenants, f->ntenants, sizeof(*f->tenants), tenant_cmp);
	}
	rd->nr = 0;
	rd->flag = NULL;
}

static int read_tenant(void *p, const char *const *cols, const size_t *lens,
		       int ncols)
{
	struct tenant_reader *rd = p;
	struct cv_flag_tenant *t;

	(void)ncols;
	if (!cols[0] || !cols[1])
		return 0;
	if (!rd->flag || strcmp(rd->flag, cols[0]) != 0) {
		flush_tenants(rd);
		rd->flag = cv_arena_strndup(rd->ctx->live_arena, cols[0], lens[0]);
	}
	CV_GROW(rd->items, rd->nr + 1, rd->alloc);
	t = &rd->items[rd->nr++];
	memset(t, 0, sizeof(*t));
	t->tenant = cv_arena_strndup(rd->ctx->live_arena, cols[1], lens[1]);
	t->enabled = truthy(cols[2]);
	return 0;
}

static int flags_read(struct cv_ctx *ctx, struct cv_error *err)
{
	static const char *const fcols[] = { "name", "enabled", "description" };
	static const char *const tcols[] = { "flag", "tenant", "enabled" };
	struct tenant_reader rd = { ctx, NULL, 0, 0, NULL };
	bool exists = false;
	char *sql;
	int ret;

	ctx->live->sections |= CV_SEC_FLAGS;
	if (!ctx->db)
		return 0;
	ret = ctx->be->table_exists(ctx->db, T_FLAGS, &exists, err);
	if (ret || !exists)
		return ret;
	ctx->live->stored |= CV_SEC_FLAGS;
	sql = cv_sql_select(ctx->be, T_FLAGS, fcols, 3, fcols, 1);
	ret = ctx->be->query(ctx->db, sql, NULL, 0, read_flag, ctx, err);
	free(sql);
	if (ret)
		return ret;
	cv_sort(ctx->live->flags, ctx->live->nflags, sizeof(*ctx->live->flags),
	      flag_cmp);
	ret = ctx->be->table_exists(ctx->db, T_TENANTS, &exists, err);
	if (ret || !exists)
		return ret;
	sql = cv_sql_select(ctx->be, T_TENANTS, tcols, 3, tcols, 2);
	ret = ctx->be->query(ctx->db, sql, NULL, 0, read_tenant, &rd, err);
	free(sql);
	if (!ret)
		flush_tenants(&rd);
	free(rd.items);
	return ret;
}

static const char *bool_text(bool b)
{
	return b ? "1" : "0";
}

static void flags_digest(const struct cv_state *live, struct cv_digest *d)
{
	size_t i, k;

	for (i = 0; i < live->nflags; i++) {
		const struct cv_flag *f = &live->flags[i];

		cv_digest_str(d, f->name);
		cv_digest_str(d, bool_text(f->enabled));
		cv_digest_str(d, f->description);
		for (k = 0; k < f->ntenants; k++) {
			cv_digest_str(d, f->tenants[k].tenant);
			cv_digest_str(d, bool_text(f->tenants[k].enabled));
		}
		cv_digest_str(d, "");
	}
}

static const char *flag_value(const struct cv_flag *f, struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;

	if (!f)
		return NULL;
	cv_canon_add(&b, bool_text(f->enabled));
	cv_canon_add(&b, f->description);
	s = cv_arena_strdup(a, b.buf);
	cv_buf_release(&b);
	return s;
}

static const char *flags_value(struct cv_ctx *ctx, const char *const *key,
			       size_t nkey, struct cv_arena *arena)
{
	const struct cv_flag *f = nkey ? cv_state_flag(ctx->live, key[0]) : NULL;
	const struct cv_flag_tenant *t;

	if (nkey == 1)
		return flag_value(f, arena);
	if (nkey != 2 || !(t = find_tenant(f, key[1])))
		return NULL;
	return cv_arena_strdup(arena, bool_text(t->enabled));
}

struct flag_sql {
	const char *ins, *del, *upd;
	const char *ins_t, *del_t, *del_all_t, *upd_t;
};

static void flag_sql_init(struct flag_sql *q, const struct cv_backend *be,
			  struct cv_arena *a)
{
	static const char *const fcols[] = { "name", "enabled", "description" };
	static const char *const tcols[] = { "flag", "tenant", "enabled" };
	static const char *const en[] = { "enabled" };

	q->ins = cv_sql_insert(be, a, T_FLAGS, fcols, 3);
	q->del = cv_sql_delete(be, a, T_FLAGS, fcols, 1);
	q->upd = cv_sql_update(be, a, T_FLAGS, fcols + 1, 2, fcols, 1);
	q->ins_t = cv_sql_insert(be, a, T_TENANTS, tcols, 3);
	q->del_t = cv_sql_delete(be, a, T_TENANTS, tcols, 2);
	q->del_all_t = cv_sql_delete(be, a, T_TENANTS, tcols, 1);
	q->upd_t = cv_sql_update(be, a, T_TENANTS, en, 1, tcols, 2);
}

/*
 * Steps are gathered first and added in order: disabling steps by
 * decreasing depth (dependents first), enabling ones by increasing depth.
 */
struct pending {
	struct cv_step step;
	int depth;
};

struct gather {
	struct pending *items;
	size_t nr, alloc;
};

static struct cv_step *pend(struct cv_plan *plan, struct gather *g, int d,
			    enum cv_phase phase, enum cv_action act,
			    const char *object, const char *const *key,
			    size_t nkey)
{
	struct pending *p;

	CV_GROW(g->items, g->nr + 1, g->alloc);
	p = &g->items[g->nr++];
	memset(p, 0, sizeof(*p));
	p->depth = phase == CV_PHASE_DISABLE_FLAGS ? -d : d;
	p->step.phase = (uint8_t)phase;
	p->step.action = (uint8_t)act;
	p->step.kind = "flags";
	p->step.object = cv_arena_strdup(&plan->arena, object);
	cv_step_set_key(plan, &p->step, key, nkey);
	return &p->step;
}

static int pending_cmp(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	if (x->step.phase != y->step.phase)
		return x->step.phase < y->step.phase ? -1 : 1;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void tenant_params(const char *flag, const struct cv_flag_tenant *t,
			  const char **p)
{
	p[0] = flag;
	p[1] = t->tenant;
	p[2] = bool_text(t->enabled);
}

static void diff_tenants(struct cv_plan *plan, struct gather *g,
			 const struct flag_sql *q, const struct cv_flag *w,
			 const struct cv_flag *l, int d)
{
	size_t i = 0, j = 0, nl = l ? l->ntenants : 0;

	while (i < w->ntenants || j < nl) {
		int c = i >= w->ntenants ? 1 : j >= nl ? -1 :
			strcmp(w->tenants[i].tenant, l->tenants[j].tenant);
		const struct cv_flag_tenant *wt = c <= 0 ? &w->tenants[i] : NULL;
		const struct cv_flag_tenant *lt = c >= 0 ? &l->tenants[j] : NULL;
		const struct cv_flag_tenant *any = wt ? wt : lt;
		const char *key[2] = { w->name, any->tenant };
		const char *p[3], *up[3];
		char *object;
		struct cv_step *st;

		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (wt && lt && wt->enabled == lt->enabled)
			continue;
		object = cv_asprintf("%s for %s", w->name, any->tenant);
		if (wt) {
			/* A new override is an add (+), one that flips a
			 * change (~); either switches in its flag phase. */
			st = pend(plan, g, d, wt->enabled ? CV_PHASE_ENABLE_FLAGS :
				  CV_PHASE_DISABLE_FLAGS,
				  lt ? CV_ACT_UPDATE : CV_ACT_CREATE, object,
				  key, 2);
			st->detail = wt->enabled ? "on" : "off";
			st->after = bool_text(wt->enabled);
			tenant_params(w->name, wt, p);
			if (lt) {
				st->before = bool_text(lt->enabled);
				up[0] = p[2];
				up[1] = w->name;
				up[2] = wt->tenant;
				cv_step_fwd(plan, st, q->upd_t, up, 3);
				up[0] = bool_text(lt->enabled);
				cv_step_inv(plan, st, q->upd_t, up, 3);
			} else {
				cv_step_fwd(plan, st, q->ins_t, p, 3);
				cv_step_inv(plan, st, q->del_t, p, 2);
			}
		} else {
			/* The override goes: the tenant falls back to the
			 * flag's own value. */
			bool now_on = w->enabled;

			st = pend(plan, g, d, now_on ? CV_PHASE_ENABLE_FLAGS :
				  CV_PHASE_DISABLE_FLAGS, CV_ACT_DELETE, object,
				  key, 2);
			st->detail = now_on ? "override removed (back to on)" :
					      "override removed (back to off)";
			st->before = bool_text(lt->enabled);
			tenant_params(w->name, lt, p);
			cv_step_fwd(plan, st, q->del_t, p, 2);
			cv_step_inv(plan, st, q->ins_t, p, 3);
		}
		free(object);
	}
}

/* "off", "on; description 'New text'", "description removed"… */
static const char *change_detail(struct cv_plan *plan,
				 const struct cv_flag *w,
				 const struct cv_flag *l)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;

	if (w->enabled != l->enabled)
		cv_buf_adds(&b, w->enabled ? "on" : "off");
	if (!cv_streq0(w->description, l->description)) {
		if (b.len)
			cv_buf_adds(&b, "; ");
		if (w->description)
			cv_buf_addf(&b, "description '%s'",
				    cv_shorten(w->description));
		else
			cv_buf_adds(&b, "description removed");
	}
	s = cv_arena_strdup(&plan->arena, cv_buf_str(&b));
	cv_buf_release(&b);
	return s;
}

static void delete_flag(struct cv_plan *plan, struct gather *g,
			const struct flag_sql *q, const struct cv_flag *l)
{
	const char *p[3] = { l->name, bool_text(l->enabled), l->description };
	struct cv_step *st = pend(plan, g, 0, CV_PHASE_DISABLE_FLAGS,
				  CV_ACT_DELETE, l->name, &l->name, 1);
	size_t k;

	st->before = flag_value(l, &plan->arena);
	cv_step_fwd(plan, st, q->del_all_t, p, 1);
	cv_step_fwd(plan, st, q->del, p, 1);
	cv_step_inv(plan, st, q->ins, p, 3);
	for (k = 0; k < l->ntenants; k++) {
		const char *tp[3];

		tenant_params(l->name, &l->tenants[k], tp);
		cv_step_inv(plan, st, q->ins_t, tp, 3);
	}
}

static int flags_diff(struct cv_ctx *ctx, struct cv_plan *plan,
		      struct cv_error *err)
{
	const struct cv_state *w = ctx->want, *l = ctx->live;
	struct gather g = { NULL, 0, 0 };
	unsigned char *seen = cv_calloc(w->nflags + 1, 1);
	int *memo = cv_calloc(w->nflags + 1, sizeof(int));
	struct flag_sql q;
	size_t i = 0, j = 0, k;

	(void)err;
	flag_sql_init(&q, ctx->be, &plan->arena);
	for (k = 0; k < w->nflags; k++)
		memo[k] = -1;
	while (i < w->nflags || j < l->nflags) {
		int c = i >= w->nflags ? 1 : j >= l->nflags ? -1 :
			strcmp(w->flags[i].name, l->flags[j].name);
		const struct cv_flag *wf = c <= 0 ? &w->flags[i] : NULL;
		const struct cv_flag *lf = c >= 0 ? &l->flags[j] : NULL;
		int d = wf ? depth(w, wf, seen, memo) : 0;
		const char *p[3];
		struct cv_step *st;

		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (!wf) {
			delete_flag(plan, &g, &q, lf);
			continue;
		}
		p[0] = wf->name;
		p[1] = bool_text(wf->enabled);
		p[2] = wf->description;
		if (!lf) {
			st = pend(plan, &g, d, wf->enabled ? CV_PHASE_ENABLE_FLAGS :
				  CV_PHASE_ADD, CV_ACT_CREATE, wf->name,
				  &wf->name, 1);
			st->detail = wf->enabled ? "on" : "off";
			st->after = flag_value(wf, &plan->arena);
			cv_step_fwd(plan, st, q.ins, p, 3);
			cv_step_inv(plan, st, q.del, p, 1);
		} else if (wf->enabled != lf->enabled ||
			   !cv_streq0(wf->description, lf->description)) {
			const char *up[3] = { p[1], p[2], wf->name };
			enum cv_phase ph = wf->enabled == lf->enabled ? CV_PHASE_ADD :
					   wf->enabled ? CV_PHASE_ENABLE_FLAGS :
					   CV_PHASE_DISABLE_FLAGS;

			/*
			 * A flag that exists and is switched is changed (~),
			 * not added or removed (SPEC §4): CV_ACT_ENABLE and
			 * _DISABLE read as + and -.  Its phase still says
			 * when: off first, on last.
			 */
			st = pend(plan, &g, d, ph, CV_ACT_UPDATE, wf->name,
				  &wf->name, 1);
			st->detail = change_detail(plan, wf, lf);
			st->before = flag_value(lf, &plan->arena);
			st->after = flag_value(wf, &plan->arena);
			cv_step_fwd(plan, st, q.upd, up, 3);
			up[0] = bool_text(lf->enabled);
			up[1] = lf->description;
			cv_step_inv(plan, st, q.upd, up, 3);
		}
		diff_tenants(plan, &g, &q, wf, lf, d);
	}
	cv_sort(g.items, g.nr, sizeof(*g.items), pending_cmp);
	for (k = 0; k < g.nr; k++) {
		const struct cv_step *src = &g.items[k].step;
		struct cv_step *st = cv_plan_add(plan, (enum cv_phase)src->phase,
						 (enum cv_action)src->action,
						 src->kind, src->object);
		const struct cv_step keep = *st;

		*st = *src;
		st->seq = keep.seq;
	}
	free(g.items);
	free(seen);
	free(memo);
	return 0;
}

static int flags_ensure(struct cv_ctx *ctx, struct cv_error *err)
{
	struct cv_buf b = CV_BUF_INIT;
	int ret;

	cv_buf_addf(&b,
		    "CREATE TABLE IF NOT EXISTS feature_flags (\n"
		    "  name TEXT NOT NULL PRIMARY KEY,\n"
		    "  enabled %s NOT NULL,\n"
		    "  description TEXT\n"
		    ")%s;\n"
		    "CREATE TABLE IF NOT EXISTS feature_flag_tenants (\n"
		    "  flag TEXT NOT NULL,\n"
		    "  tenant TEXT NOT NULL,\n"
		    "  enabled %s NOT NULL,\n"
		    "  PRIMARY KEY (flag, tenant)\n"
		    ")%s;\n",
		    ctx->be->bool_type, ctx->be->table_suffix,
		    ctx->be->bool_type, ctx->be->table_suffix);
	ret = ctx->be->exec_script(ctx->db, b.buf, err);
	cv_buf_release(&b);
	return ret;
}

static void flags_inspect(const struct cv_state *live, struct cv_emit *e)
{
	size_t i, k;

	cv_emit_str(e, "flags");
	cv_emit_map(e, false);
	for (i = 0; i < live->nflags; i++) {
		const struct cv_flag *f = &live->flags[i];

		cv_emit_str(e, f->name);
		cv_emit_map(e, !f->ntenants);
		cv_emit_str(e, "enabled");
		cv_emit_bool(e, f->enabled);
		if (f->description)
			cv_emit_pair(e, "description", f->description);
		if (f->ntenants) {
			cv_emit_str(e, "tenants");
			cv_emit_map(e, true);
			for (k = 0; k < f->ntenants; k++) {
				cv_emit_str(e, f->tenants[k].tenant);
				cv_emit_bool(e, f->tenants[k].enabled);
			}
			cv_emit_end(e);
		}
		cv_emit_end(e);
	}
	cv_emit_end(e);
}

const struct cv_kind cv_kind_flags = {
	.name = "flags",
	.section = CV_SEC_FLAGS,
	.load = flags_load,
	.validate = flags_validate,
	.read = flags_read,
	.digest = flags_digest,
	.diff = flags_diff,
	.value = flags_value,
	.ensure = flags_ensure,
	.inspect = flags_inspect,
	.tables = tables,
};
