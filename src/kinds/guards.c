/*
 * The `guards` kind: rules a plan must not break.  `min_grants` keeps at
 * least N holders of a role (never leave fewer than one admin).  Guards
 * own no storage; `plan` and `apply` check them, rollback and restore do
 * not (they are how a team gets out of a lockout).  A saved plan records
 * them, and `apply FILE` checks them again at its own clock: a grant
 * that counted when the plan was made may have expired since.
 */
#include <stdlib.h>
#include <string.h>

#include "converge/kind.h"

static int guards_load(struct cv_state *want, const struct cv_node *node,
		       struct cv_loader *ld)
{
	static const char *const keys[] = { "min_grants", NULL };
	const struct cv_node *mg;
	int ret = 0;

	if (cv_yaml_is_null(node))
		return 0;
	if (cv_yaml_expect(node, CV_NODE_MAP, "guards", ld->diags))
		return CV_EINVAL;
	if (cv_yaml_check_keys(node, keys, "guards", ld->diags))
		ret = CV_EINVAL;
	mg = cv_yaml_get(node, "min_grants");
	if (!mg || cv_yaml_is_null(mg))
		return ret;
	if (cv_yaml_expect(mg, CV_NODE_MAP, "min_grants", ld->diags))
		return CV_EINVAL;
	cv_yaml_each(e, mg) {
		struct cv_min_grant *g;
		long long n;
		size_t i;

		if (cv_yaml_as_int(e, e->key, ld->diags, &n)) {
			ret = CV_EINVAL;
			continue;
		}
		if (n < 0) {
			cv_diag_error(ld->diags, &e->mark,
				      "min_grants for '%s' must not be negative",
				      cv_shorten(e->key));
			ret = CV_EINVAL;
			continue;
		}
		/* In the order read: the first match is the first place. */
		for (i = 0; i < want->nmin_grants; i++)
			if (strcmp(want->min_grants[i].role, e->key) == 0) {
				const struct cv_mark *m = &want->min_grants[i].mark;

				cv_diag_error(ld->diags, &e->key_mark,
					      "guard min_grants for role '%s' is defined twice (first at %s:%u:%u)",
					      cv_shorten(e->key), m->file,
					      m->line, m->col);
				ret = CV_EINVAL;
				break;
			}
		CV_GROW(want->min_grants, want->nmin_grants + 1,
			want->min_grants_alloc);
		g = &want->min_grants[want->nmin_grants++];
		g->role = e->key;
		g->min = n;
		g->mark = e->key_mark;
	}
	return ret;
}

static int guards_validate(struct cv_state *want, struct cv_arena *strings,
			   struct cv_diags *diags)
{
	size_t i;
	int ret = 0;

	(void)strings;
	if (!(want->sections & CV_SEC_ROLES) || (want->unknown & CV_SEC_ROLES))
		return 0;
	for (i = 0; i < want->nmin_grants; i++)
		if (!cv_state_role(want, want->min_grants[i].role)) {
			cv_diag_error(diags, &want->min_grants[i].mark,
				      "guard names undefined role '%s'",
				      cv_shorten(want->min_grants[i].role));
			ret = CV_EINVAL;
		}
	return ret;
}

/*
 * Counts the holders a role has once the plan is applied: the manifests'
 * unexpired grants when they own the grants, else the database's (for a
 * saved plan, ctx->live is the database as the plan leaves it).
 */
static long long holders(const struct cv_ctx *ctx, const char *role)
{
	const struct cv_state *s = (ctx->want->sections & CV_SEC_GRANTS) ?
				   ctx->want : ctx->live;
	long long n = 0;
	size_t i;

	for (i = 0; i < s->ngrants; i++) {
		const struct cv_grant *g = &s->grants[i];

		/* A row of store.grants may hold no role at all. */
		if (g->role && strcmp(g->role, role) == 0 &&
		    !(g->expires && strcmp(g->expires, ctx->now) <= 0))
			n++;
	}
	return n;
}

static int guards_verify(struct cv_ctx *ctx, const struct cv_plan *plan,
			 struct cv_error *err)
{
	const struct cv_state *w = ctx->want;
	struct cv_buf msg = CV_BUF_INIT;
	size_t i;
	int ret = 0;

	(void)plan;
	for (i = 0; i < w->nmin_grants; i++) {
		const struct cv_min_grant *g = &w->min_grants[i];
		long long n = holders(ctx, g->role);

		if (n >= g->min)
			continue;
		if (msg.len)
			cv_buf_adds(&msg, "; ");
		cv_buf_addf(&msg,
			    "role '%s' would have %lld grant%s, fewer than the %lld that guards.min_grants requires (%s:%u:%u)",
			    cv_shorten(g->role), n, n == 1 ? "" : "s", g->min,
			    g->mark.file, g->mark.line, g->mark.col);
		ret = CV_EREFUSED;
	}
	if (ret)
		cv_error_set(err, ret, "plan refused by guard: %s", msg.buf);
	cv_buf_release(&msg);
	return ret;
}

int cv_guards_verify_saved(const struct cv_ctx *ctx,
			   const struct cv_plan *plan, struct cv_error *err)
{
	struct cv_state want, after;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cv_ctx c = *ctx;
	int ret;

	if (!plan->nmin_grants)
		return 0;
	/* The guards alone, owning no grants: holders() counts `after`. */
	memset(&want, 0, sizeof(want));
	memset(&after, 0, sizeof(after));
	want.sections = CV_SEC_GUARDS;
	want.min_grants = plan->min_grants;
	want.nmin_grants = plan->nmin_grants;
	ret = cv_grants_after_plan(ctx, plan, &after, &arena, err);
	if (!ret) {
		c.want = &want;
		c.live = &after;
		ret = guards_verify(&c, plan, err);
	}
	free(after.grants);
	cv_arena_release(&arena);
	return ret;
}

const struct cv_kind cv_kind_guards = {
	.name = "guards",
	.section = CV_SEC_GUARDS,
	.needs = CV_SEC_GRANTS,
	.load = guards_load,
	.validate = guards_validate,
	.verify = guards_verify,
};
