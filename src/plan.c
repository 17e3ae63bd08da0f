/*
 * Plans (plan.h): building steps, ordering them by phase, counting them,
 * and the names of actions, flags and output formats.
 *
 * Everything a step points at is copied into the plan's arena, so a kind
 * can build a step from strings it is about to free; texts that step after
 * step repeats (a statement, a kind's name) are copied once.  The step
 * array itself is malloc'd (it grows by realloc); statement arrays live in
 * the arena and grow by doubling, which needs no capacity field: a list of
 * n statements always has room for cv_stmt_room(n) entries.
 */
#include <stdlib.h>
#include <string.h>

#include "converge/model.h"
#include "converge/plan.h"

static const struct {
	const char *name;
	const char *sign;
	enum cv_action inverse;
} actions[CV_ACT__COUNT] = {
	[CV_ACT_CREATE] = { "create", "+", CV_ACT_DELETE },
	[CV_ACT_DELETE] = { "delete", "-", CV_ACT_CREATE },
	[CV_ACT_UPDATE] = { "update", "~", CV_ACT_UPDATE },
	[CV_ACT_UP] = { "up", "\xe2\x86\x91", CV_ACT_DOWN },         /* ↑ */
	[CV_ACT_DOWN] = { "down", "\xe2\x86\x93", CV_ACT_UP },       /* ↓ */
	[CV_ACT_ENABLE] = { "enable", "+", CV_ACT_DISABLE },
	[CV_ACT_DISABLE] = { "disable", "-", CV_ACT_ENABLE },
	[CV_ACT_CHECK] = { "check", "?", CV_ACT_CHECK },
};

const char *cv_action_name(enum cv_action a)
{
	if ((unsigned)a >= CV_ACT__COUNT)
		return "unknown";
	return actions[a].name;
}

const char *cv_action_sign(enum cv_action a)
{
	if ((unsigned)a >= CV_ACT__COUNT)
		return "?";
	return actions[a].sign;
}

int cv_action_parse(const char *name, enum cv_action *out)
{
	unsigned i;

	for (i = 0; name && i < CV_ACT__COUNT; i++)
		if (strcmp(actions[i].name, name) == 0) {
			*out = (enum cv_action)i;
			return 0;
		}
	return CV_EINVAL;
}

enum cv_action cv_action_inverse(enum cv_action a)
{
	if ((unsigned)a >= CV_ACT__COUNT)
		return a;
	return actions[a].inverse;
}

static const struct {
	unsigned bit;
	const char *name;
} step_flags[] = {
	{ CV_STEP_DATA_LOSS, "data_loss" },
	{ CV_STEP_NO_TXN, "no_transaction" },
	{ CV_STEP_IRREVERSIBLE, "irreversible" },
};

const char *cv_step_flag_name(unsigned flag)
{
	size_t i;

	for (i = 0; i < CV_ARRAY_SIZE(step_flags); i++)
		if (step_flags[i].bit == flag)
			return step_flags[i].name;
	return NULL;
}

int cv_step_flag_parse(const char *name, unsigned *out)
{
	size_t i;

	for (i = 0; name && i < CV_ARRAY_SIZE(step_flags); i++)
		if (strcmp(step_flags[i].name, name) == 0) {
			*out = step_flags[i].bit;
			return 0;
		}
	return CV_EINVAL;
}

int cv_format_parse(const char *s, enum cv_format *out)
{
	static const struct {
		const char *name;
		enum cv_format format;
	} formats[] = {
		{ "text", CV_FORMAT_TEXT },
		{ "json", CV_FORMAT_JSON },
		{ "markdown", CV_FORMAT_MARKDOWN },
	};
	size_t i;

	for (i = 0; s && i < CV_ARRAY_SIZE(formats); i++)
		if (strcmp(formats[i].name, s) == 0) {
			*out = formats[i].format;
			return 0;
		}
	return CV_EINVAL;
}

void cv_plan_init(struct cv_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	cv_arena_init(&plan->arena);
	plan->format = CV_PLAN_FORMAT;
}

void cv_plan_release(struct cv_plan *plan)
{
	if (!plan)
		return;
	free(plan->steps);
	free(plan->deferred_checks);
	free(plan->min_grants);
	cv_arena_release(&plan->arena);
	memset(plan, 0, sizeof(*plan));
}

/*
 * The plan's copy of s, shared with the steps that repeat it: a kind builds
 * each statement once for all its steps, and a plan of a million grants
 * would otherwise hold a million copies of the same two statements.
 */
static const char *shared_text(struct cv_plan *plan, const char *s)
{
	const size_t n = CV_ARRAY_SIZE(plan->texts);
	const char *copy;
	size_t i;

	if (!s)
		return NULL;
	for (i = 0; i < n && i < plan->ntexts; i++)
		if (strcmp(plan->texts[i], s) == 0)
			return plan->texts[i];
	copy = cv_arena_strdup(&plan->arena, s);
	plan->texts[plan->ntexts++ % n] = copy;
	return copy;
}

struct cv_step *cv_plan_add(struct cv_plan *plan, enum cv_phase phase,
			    enum cv_action action, const char *kind,
			    const char *object)
{
	struct cv_step *s;

	CV_GROW(plan->steps, plan->nr + 1, plan->alloc);
	s = &plan->steps[plan->nr++];
	memset(s, 0, sizeof(*s));
	s->seq = (uint32_t)plan->nr;
	s->phase = (uint8_t)phase;
	s->action = (uint8_t)action;
	s->kind = shared_text(plan, kind);
	s->object = cv_arena_strdup(&plan->arena, object);
	return s;
}

/* Room in a statement array holding n entries: 1, 2, 4, 8, … (most
 * steps have one statement each way). */
size_t cv_stmt_room(size_t n)
{
	size_t room = 1;

	while (room < n)
		room *= 2;
	return room;
}

/*
 * Appends a zeroed statement to *list (n entries), moving the array to a
 * bigger arena block when it is full.  Shared with the plan file reader
 * (through cv_step_fwd/cv_step_inv) so both keep the stmt_room invariant.
 */
static struct cv_stmt *stmt_append(struct cv_plan *plan, struct cv_stmt **list,
				   uint32_t *n)
{
	struct cv_stmt *st;

	if (!*list || *n == cv_stmt_room(*n)) {
		struct cv_stmt *bigger;

		bigger = cv_arena_alloc(&plan->arena,
					cv_stmt_room((size_t)*n + 1) * sizeof(*bigger));
		if (*n)
			memcpy(bigger, *list, *n * sizeof(*bigger));
		*list = bigger;
	}
	st = &(*list)[(*n)++];
	memset(st, 0, sizeof(*st));
	return st;
}

/*
 * The plan's copy of a parameter: the step's copy of a key value equal to
 * it when there is one (a grant's statements bind its subject, role and
 * scope, which the key already holds), else a new one.
 */
static const char *param_copy(struct cv_plan *plan, const struct cv_step *step,
			      const char *s)
{
	uint32_t k;

	if (!s)
		return NULL;
	for (k = 0; k < step->nkey; k++)
		if (step->key[k] && strcmp(step->key[k], s) == 0)
			return step->key[k];
	return cv_arena_strdup(&plan->arena, s);
}

static struct cv_stmt *add_stmt(struct cv_plan *plan,
				const struct cv_step *step,
				struct cv_stmt **list, uint32_t *n,
				const char *sql, const char *const *params,
				size_t nparams)
{
	struct cv_stmt *st = stmt_append(plan, list, n);
	size_t i;

	st->sql = shared_text(plan, sql);
	if (params && nparams) {
		const char **p = cv_arena_alloc(&plan->arena,
						nparams * sizeof(*p));

		for (i = 0; i < nparams; i++)
			p[i] = param_copy(plan, step, params[i]);
		st->params = p;
		st->nparams = (uint32_t)nparams;
	}
	return st;
}

struct cv_stmt *cv_step_fwd(struct cv_plan *plan, struct cv_step *step,
			    const char *sql, const char *const *params,
			    size_t nparams)
{
	return add_stmt(plan, step, &step->fwd, &step->nfwd, sql, params,
			nparams);
}

struct cv_stmt *cv_step_inv(struct cv_plan *plan, struct cv_step *step,
			    const char *sql, const char *const *params,
			    size_t nparams)
{
	return add_stmt(plan, step, &step->inv, &step->ninv, sql, params,
			nparams);
}

void cv_step_set_key(struct cv_plan *plan, struct cv_step *step,
		     const char *const *key, size_t nkey)
{
	const char **k = NULL;
	size_t i;

	if (key && nkey) {
		k = cv_arena_alloc(&plan->arena, nkey * sizeof(*k));
		for (i = 0; i < nkey; i++)
			k[i] = cv_arena_strdup(&plan->arena, key[i]);
	} else {
		nkey = 0;
	}
	step->key = k;
	step->nkey = (uint32_t)nkey;
}

void cv_plan_defer_check(struct cv_plan *plan, const char *name)
{
	CV_GROW(plan->deferred_checks, plan->ndeferred + 1,
		plan->deferred_alloc);
	plan->deferred_checks[plan->ndeferred++] =
		cv_arena_strdup(&plan->arena, name);
}

void cv_plan_add_min_grant(struct cv_plan *plan, const char *role,
			   long long min, const struct cv_mark *mark)
{
	struct cv_min_grant *g;

	CV_GROW(plan->min_grants, plan->nmin_grants + 1,
		plan->min_grants_alloc);
	g = &plan->min_grants[plan->nmin_grants++];
	g->role = cv_arena_strdup(&plan->arena, role);
	g->min = min;
	memset(&g->mark, 0, sizeof(g->mark));
	if (mark) {
		g->mark = *mark;
		if (mark->file)
			g->mark.file = cv_arena_strdup(&plan->arena,
						       mark->file);
	}
}

/*
 * A plain merge sort rather than qsort: qsort is not stable, and the order
 * kinds add steps within a phase is part of what a reviewer reads (and
 * what golden files compare).
 */
static void merge_sort(struct cv_step *a, struct cv_step *tmp, size_t n)
{
	size_t mid = n / 2, i = 0, j = mid, k = 0;

	if (n < 2)
		return;
	merge_sort(a, tmp, mid);
	merge_sort(a + mid, tmp, n - mid);
	while (i < mid && j < n) {
		/* Take from the left on ties: that is what keeps it stable. */
		if (a[j].phase < a[i].phase)
			tmp[k++] = a[j++];
		else
			tmp[k++] = a[i++];
	}
	while (i < mid)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof(*a));
}

void cv_plan_finish(struct cv_plan *plan)
{
	struct cv_step *tmp;
	size_t i;
	bool sorted = true;

	/* Planners mostly add steps in phase order already: then there is
	 * nothing to move (and steps are large). */
	for (i = 1; i < plan->nr && sorted; i++)
		sorted = plan->steps[i - 1].phase <= plan->steps[i].phase;
	if (!sorted) {
		tmp = cv_malloc(plan->nr * sizeof(*tmp));
		merge_sort(plan->steps, tmp, plan->nr);
		free(tmp);
	}
	for (i = 0; i < plan->nr; i++)
		plan->steps[i].seq = (uint32_t)(i + 1);
}

void cv_plan_count(const struct cv_plan *plan, struct cv_plan_counts *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < plan->nr; i++) {
		const struct cv_step *s = &plan->steps[i];

		switch ((enum cv_action)s->action) {
		case CV_ACT_CREATE:
		case CV_ACT_ENABLE:
			out->add++;
			break;
		case CV_ACT_DELETE:
		case CV_ACT_DISABLE:
			out->remove++;
			break;
		case CV_ACT_UPDATE:
			out->change++;
			break;
		case CV_ACT_UP:
			out->up++;
			break;
		case CV_ACT_DOWN:
			out->down++;
			break;
		case CV_ACT_CHECK:
			out->checks++;
			break;
		case CV_ACT__COUNT:
			break;
		}
		if (s->flags & CV_STEP_DATA_LOSS)
			out->data_loss++;
	}
}
