/*
 * The planner (planner.h): read each section once, diff in memory, order
 * the steps by phase.
 */
#include <stdlib.h>
#include <string.h>

#include "converge/planner.h"

unsigned cv_planner_sections(unsigned want)
{
	unsigned read = want & ~(unsigned)CV_SEC_VERSION;
	size_t i;

	for (i = 0; i < cv_nkinds; i++)
		if (want & cv_kinds[i]->section)
			read |= cv_kinds[i]->needs;
	/* Sections with nothing to read (guards) are not part of it. */
	for (i = 0; i < cv_nkinds; i++)
		if ((read & cv_kinds[i]->section) && !cv_kinds[i]->read)
			read &= ~cv_kinds[i]->section;
	return read;
}

int cv_live_read(struct cv_ctx *ctx, unsigned sections,
		 const char **fingerprint, struct cv_arena *arena,
		 struct cv_error *err)
{
	struct cv_digest *d = cv_digest_new();
	size_t i;
	int ret = 0;

	for (i = 0; i < cv_nkinds && !ret; i++) {
		const struct cv_kind *k = cv_kinds[i];

		if (!(sections & k->section) || !k->read)
			continue;
		ret = k->read(ctx, err);
		if (ret)
			break;
		cv_digest_str(d, k->name);
		if (k->digest)
			k->digest(ctx->live, d);
		cv_trace_perf(k->name);	/* "read <kind>" would allocate */
	}
	*fingerprint = cv_digest_finish(d, arena);
	return ret;
}

static size_t kind_rank(const char *name)
{
	size_t i;

	for (i = 0; i < cv_nkinds; i++)
		if (strcmp(cv_kinds[i]->name, name) == 0)
			return i;
	return cv_nkinds;
}

/*
 * Within the removal phases, later kinds go first (revoke the grants
 * before the role they name); within the others, earlier kinds go first.
 */
static long order_key(const struct cv_step *s)
{
	long rank = (long)kind_rank(s->kind);
	bool removing = s->phase == CV_PHASE_REMOVE ||
			s->phase == CV_PHASE_DISABLE_FLAGS;

	return (long)s->phase * 1000 + (removing ? 500 - rank : rank);
}

struct keyed {
	long key;
	size_t index;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Moves each step to its place in the sorted order, following the
 * permutation's cycles: one step is held aside at a time, rather than a
 * second copy of every step (a plan of 200,000 grant steps would hold
 * 24 MB more at its peak).  keys[i].index names the step that belongs at i;
 * it is set to i once step i is in place.
 */
static void permute_steps(struct cv_step *steps, struct keyed *keys, size_t n)
{
	size_t i, j, from;

	for (i = 0; i < n; i++) {
		struct cv_step held;

		if (keys[i].index == i)
			continue;
		held = steps[i];
		j = i;
		while ((from = keys[j].index) != i) {
			steps[j] = steps[from];
			keys[j].index = j;
			j = from;
		}
		steps[j] = held;
		keys[j].index = j;
	}
}

static void order_steps(struct cv_plan *plan)
{
	struct keyed *keys;
	size_t i;

	for (i = 1; i < plan->nr; i++)
		if (order_key(&plan->steps[i - 1]) > order_key(&plan->steps[i]))
			break;
	if (i >= plan->nr)
		return;	/* already in order: steps are large, leave them */
	keys = cv_calloc(plan->nr + 1, sizeof(*keys));
	for (i = 0; i < plan->nr; i++) {
		keys[i].key = order_key(&plan->steps[i]);
		keys[i].index = i;
	}
	cv_sort(keys, plan->nr, sizeof(*keys), keyed_cmp);
	permute_steps(plan->steps, keys, plan->nr);
	free(keys);
}

int cv_planner_run(struct cv_plan *plan, struct cv_ctx *ctx,
		   struct cv_error *err)
{
	const struct cv_state *want = ctx->want;
	unsigned sections = cv_planner_sections(want->sections);
	size_t i;
	int ret;

	plan->now = cv_arena_strdup(&plan->arena, ctx->now);
	plan->backend = ctx->be->name;
	plan->sections = sections;
	if (want->sections & CV_SEC_SCHEMA)
		plan->schema_table = cv_arena_strdup(&plan->arena,
						     ctx->schema_table);
	/* Recorded for apply FILE, which has no manifests to read them in. */
	for (i = 0; i < want->nmin_grants; i++)
		cv_plan_add_min_grant(plan, want->min_grants[i].role,
				      want->min_grants[i].min,
				      &want->min_grants[i].mark);
	ret = cv_live_read(ctx, sections, &plan->fingerprint, &plan->arena,
			   err);
	if (ret)
		return ret;
	for (i = 0; i < cv_nkinds; i++) {
		const struct cv_kind *k = cv_kinds[i];

		if (!(want->sections & k->section) || !k->diff)
			continue;
		ret = k->diff(ctx, plan, err);
		if (ret)
			return ret;
	}
	cv_trace_perf("plan: diff");
	order_steps(plan);
	cv_plan_finish(plan);
	for (i = 0; i < cv_nkinds; i++) {
		const struct cv_kind *k = cv_kinds[i];

		if (!(want->sections & k->section) || !k->verify)
			continue;
		ret = k->verify(ctx, plan, err);
		if (ret)
			return ret;
	}
	cv_trace_perf("plan: order and verify");
	return 0;
}
