/*
 * Rollback plans (apply.h): a recorded run's inverse steps in reverse
 * order, after checking that what the run left is still there.
 */
#include <stdlib.h>
#include <string.h>

#include "converge/apply.h"
#include "converge/planner.h"

/*
 * The phase that undoes step `o` by action `a`.  A flag's switch stays a
 * flag's switch whatever its action (a new flag or override is a create,
 * undone by a delete): what the run switched on last is switched off
 * first, and back.  Anything else switched (row-level security on a
 * table) is a change, phase 5, as a forward plan has it.
 */
static enum cv_phase phase_of(const struct cv_step *o, enum cv_action a)
{
	if (o->phase == CV_PHASE_ENABLE_FLAGS)
		return CV_PHASE_DISABLE_FLAGS;
	if (o->phase == CV_PHASE_DISABLE_FLAGS)
		return CV_PHASE_ENABLE_FLAGS;
	switch (a) {
	case CV_ACT_DELETE:
		return CV_PHASE_REMOVE;
	case CV_ACT_DOWN:
		return CV_PHASE_SCHEMA_DOWN;
	case CV_ACT_UP:
		return CV_PHASE_SCHEMA_UP;
	case CV_ACT_CHECK:
		return CV_PHASE_CHECKS;
	default:
		return CV_PHASE_ADD;
	}
}

/* The newest run a bare `rollback` undoes. */
static int pick_run(struct cv_ctx *ctx, struct cv_arena *a, struct cv_run *out,
		    struct cv_error *err)
{
	struct cv_run *runs = NULL;
	const char *redo = NULL;
	size_t n = 0, i;
	int ret;

	ret = cv_journal_runs(ctx->db, a, 0, &runs, &n, err);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		if (strcmp(runs[i].status, "applied") != 0 ||
		    runs[i].undone_by || runs[i].nsteps == 0)
			continue;
		if (strcmp(runs[i].kind, "apply") == 0) {
			*out = runs[i];
			return 0;
		}
		if (!redo && strcmp(runs[i].kind, "rollback") == 0)
			redo = runs[i].id;
	}
	/* A bare rollback never undoes a rollback (SPEC §5); naming it does,
	 * which is what someone who walked back too far wants next: out->id
	 * says which, for the caller to say how. */
	if (redo) {
		out->id = redo;
		return cv_error_set(err, CV_ENOTFOUND,
				    "nothing to roll back: every apply with changes is undone; to redo what rollback '%s' undid, name it",
				    redo);
	}
	return cv_error_set(err, CV_ENOTFOUND, "nothing to roll back");
}

/*
 * A value as the refusal shows it.  Kinds record values in the canonical
 * encoding ("<len>:<bytes>", "~" for NULL, '|' between groups), which is
 * unambiguous but unreadable: decode it to quoted fields, e.g. the grant
 * value "~4:hand" becomes "(none, 'hand')" and the role value
 * "0:||12:license:read" becomes "('' | - | 'license:read')".  Values in
 * any other form (a schema revision id) are shown as they are.
 */
static const char *show(const char *v, struct cv_buf *b)
{
	const char *p = v;
	size_t items = 0;
	bool groups = false;

	if (!v)
		return "absent";
	cv_buf_reset(b);
	cv_buf_addch(b, '(');
	while (*p) {
		char *end;
		unsigned long n;

		if (*p == '|') {
			cv_buf_adds(b, items ? " | " : "- | ");
			groups = true;
			items = 0;
			p++;
			continue;
		}
		if (items++)
			cv_buf_adds(b, ", ");
		if (*p == '~') {
			cv_buf_adds(b, "none");
			p++;
			continue;
		}
		if (*p < '0' || *p > '9')
			return cv_shorten(v);
		n = strtoul(p, &end, 10);
		if (*end != ':' || strlen(end + 1) < n)
			return cv_shorten(v);
		cv_buf_addch(b, '\'');
		cv_buf_add(b, end + 1, n);
		cv_buf_addch(b, '\'');
		p = end + 1 + n;
	}
	if (groups && !items)
		cv_buf_addch(b, '-');
	cv_buf_addch(b, ')');
	return cv_shorten(b->buf);
}

/*
 * Every object the run touched must hold the value its last step left;
 * anything else means someone changed it since, and undoing blindly
 * would throw that change away.
 */
static int key_cmp(const struct cv_step *a, const struct cv_step *b)
{
	uint32_t i;
	int c = strcmp(a->kind, b->kind);

	if (c)
		return c;
	for (i = 0; i < a->nkey && i < b->nkey; i++)
		if ((c = strcmp(a->key[i], b->key[i])))
			return c;
	return (a->nkey > b->nkey) - (a->nkey < b->nkey);
}

static const struct cv_plan *sort_run;

/* By object, then by position: the last step of each object is last. */
static int index_cmp(const void *x, const void *y)
{
	size_t i = *(const size_t *)x, k = *(const size_t *)y;
	int c = key_cmp(&sort_run->steps[i], &sort_run->steps[k]);

	return c ? c : (i > k) - (i < k);
}

/* The indexes of plan's steps sorted by object, then by position. */
static size_t *by_object(const struct cv_plan *plan)
{
	size_t *order = cv_calloc(plan->nr + 1, sizeof(*order));
	size_t i;

	for (i = 0; i < plan->nr; i++)
		order[i] = i;
	sort_run = plan;
	cv_sort(order, plan->nr, sizeof(*order), index_cmp);
	return order;
}

/* The run-time markers of a statement copied along with its text. */
static void same_stmt(struct cv_stmt *to, const struct cv_stmt *from)
{
	to->script = from->script;
	to->run_id_param = from->run_id_param;
	to->now_param = from->now_param;
}

/*
 * The objects of `plan` whose live value is not the one its last step
 * on them leaves, each as a line of msg (ten at most); their count.
 */
static size_t differences(struct cv_ctx *ctx, const struct cv_plan *plan,
			  struct cv_arena *a, const char *left,
			  struct cv_buf *msg)
{
	struct cv_buf was = CV_BUF_INIT, is = CV_BUF_INIT;
	/* An object a run touched twice must hold what its last step left:
	 * sorting by object finds those in n log n, not n². */
	size_t *order = by_object(plan);
	size_t n, changed = 0;

	for (n = 0; n < plan->nr; n++) {
		const struct cv_step *st = &plan->steps[order[n]];
		const struct cv_kind *kind;
		const char *now;

		if (n + 1 < plan->nr &&
		    key_cmp(st, &plan->steps[order[n + 1]]) == 0)
			continue;
		kind = cv_kind_find(st->kind);
		if (!kind || !kind->value || st->action == CV_ACT_CHECK)
			continue;
		now = kind->value(ctx, st->key, st->nkey, a);
		if (cv_streq0(now, st->after))
			continue;
		if (changed++ < 10)
			cv_buf_addf(msg, "\n  %s %s: %s %s, the database now has %s",
				    st->kind, st->object, left,
				    show(st->after, &was), show(now, &is));
	}
	if (changed > 10)
		cv_buf_addf(msg, "\n  … and %zu more", changed - 10);
	free(order);
	cv_buf_release(&was);
	cv_buf_release(&is);
	return changed;
}

static int check_unchanged(struct cv_ctx *ctx, const struct cv_plan *run,
			   struct cv_arena *a, struct cv_error *err)
{
	struct cv_buf msg = CV_BUF_INIT;
	size_t changed = differences(ctx, run, a, "the run left", &msg);
	int ret = 0;

	if (changed)
		ret = cv_error_set(err, CV_EREFUSED,
				   "rollback refused: %zu object%s changed since the run:%s\n"
				   "undo the later run that changed %s first (converge history), "
				   "or write the change into the manifests and apply them",
				   changed, changed == 1 ? "" : "s", msg.buf,
				   changed == 1 ? "it" : "them");
	cv_buf_release(&msg);
	return ret;
}

/* Whether step u of a rollback undoes step o of the run. */
static bool undoes_step(const struct cv_step *u, const struct cv_step *o)
{
	return u->action == cv_action_inverse((enum cv_action)o->action) &&
	       strcmp(u->object, o->object) == 0 && key_cmp(u, o) == 0;
}

/*
 * Marks in done[] the steps of `run` that a step of `by` undoes: each
 * found among run's steps sorted by object (n log n, not n × m), the
 * first of that object not marked yet.
 */
static void mark_done(const struct cv_plan *run, const struct cv_plan *by,
		      bool *done)
{
	size_t *order = by_object(run);
	size_t k, lo, hi, mid;

	for (k = 0; k < by->nr; k++) {
		const struct cv_step *u = &by->steps[k];

		for (lo = 0, hi = run->nr; lo < hi;) {
			mid = lo + (hi - lo) / 2;
			if (key_cmp(&run->steps[order[mid]], u) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < run->nr && key_cmp(&run->steps[order[lo]], u) == 0;
		     lo++)
			if (!done[order[lo]] &&
			    undoes_step(u, &run->steps[order[lo]])) {
				done[order[lo]] = true;
				break;
			}
	}
	free(order);
}

/*
 * The steps of run `id` that an earlier rollback of it undid already.  A
 * rollback that failed after it committed a segment (a revision outside
 * a transaction splits it) keeps those steps, journaled under its own
 * failed run; running rollback again resumes from there (SPEC §5), as
 * apply does.  A failed rollback that was itself undone since counts
 * for nothing.  done[] has one entry per step of `run`; *resumed says
 * whether there was such a rollback at all.
 */
static int undone_already(struct cv_ctx *ctx, const char *id,
			  const struct cv_plan *run, bool *done, bool *resumed,
			  struct cv_error *err)
{
	struct cv_arena a = CV_ARENA_INIT;
	struct cv_run *runs = NULL;
	size_t n = 0, i;
	int ret;

	ret = cv_journal_runs(ctx->db, &a, 0, &runs, &n, err);
	for (i = 0; i < n && !ret; i++) {
		struct cv_plan by;

		if (strcmp(runs[i].kind, "rollback") != 0 ||
		    strcmp(runs[i].status, "failed") != 0 ||
		    runs[i].undone_by || !cv_streq0(runs[i].undoes, id))
			continue;
		*resumed = true;
		if (!runs[i].nsteps)
			continue;
		cv_plan_init(&by);
		ret = cv_journal_steps(ctx->db, runs[i].id, &by, err);
		if (!ret)
			mark_done(run, &by, done);
		cv_plan_release(&by);
	}
	cv_arena_release(&a);
	return ret;
}

/*
 * The run's revisions that are undone already, as the version table says
 * (it is the authority, SPEC §3), when a rollback of the run is resumed:
 * one killed right after a revision outside a transaction ran, before it
 * could journal it, left the version moved with no record of it.  With
 * the live version on the run's chain, the revisions past it are done and
 * the others are not, and the run's last revision is expected at that
 * version.  False when the run has no revision, or the version is not on
 * its chain (which the check then reports as a change).
 */
static bool schema_done(struct cv_plan *run, const char *version, bool *done)
{
	size_t i, last = run->nr, from = run->nr;
	bool found = false;

	for (i = run->nr; i-- > 0 && !found;) {
		const struct cv_step *st = &run->steps[i];

		if (strcmp(st->kind, "schema") != 0)
			continue;
		if (last == run->nr)
			last = i;
		if (cv_streq0(st->after, version)) {
			found = true;
			break;
		}
		from = i;
		found = cv_streq0(st->before, version);
	}
	if (!found)
		return false;
	for (i = 0; i < run->nr; i++)
		if (strcmp(run->steps[i].kind, "schema") == 0)
			done[i] = i >= from;
	run->steps[last].after = version ?
				 cv_arena_strdup(&run->arena, version) : NULL;
	return true;
}

/* What an earlier rollback undid must hold what the run found. */
static void expect_undone(struct cv_plan *run, const char *version,
			  bool resumed, bool *done)
{
	bool chain = resumed && schema_done(run, version, done);
	size_t i;

	for (i = 0; i < run->nr; i++)
		if (done[i] && !(chain && strcmp(run->steps[i].kind, "schema") == 0))
			run->steps[i].after = run->steps[i].before;
}

int cv_rollback_verify(struct cv_ctx *ctx, const struct cv_plan *plan,
		       struct cv_error *err)
{
	struct cv_state live;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cv_buf msg = CV_BUF_INIT;
	struct cv_ctx c = *ctx;
	const char *fingerprint;
	size_t changed = 0;
	int ret;

	memset(&live, 0, sizeof(live));
	c.live = &live;
	c.live_arena = &arena;
	ret = cv_live_read(&c, plan->sections, &fingerprint, &arena, err);
	if (!ret)
		changed = differences(&c, plan, &arena,
				      "the run found", &msg);
	if (changed)
		ret = cv_error_set(err, CV_ERR,
				   "the run's recorded inverse did not put back %zu object%s:%s\n"
				   "the inverse SQL the journal holds for the undone run is incomplete; restore the snapshot that run took instead (converge snapshots)",
				   changed, changed == 1 ? "" : "s", msg.buf);
	cv_buf_release(&msg);
	cv_state_release(&live);
	cv_arena_release(&arena);
	return ret;
}

int cv_rollback_plan(struct cv_plan *out, struct cv_ctx *ctx,
		     const char *run_id, const char **chosen,
		     struct cv_error *err)
{
	struct cv_plan run;
	struct cv_run info;
	unsigned sections = 0, bit;
	bool *done = NULL, resumed = false;
	size_t i;
	int ret;

	cv_plan_init(&run);
	memset(&info, 0, sizeof(info));
	if (run_id) {
		ret = cv_journal_run(ctx->db, &run.arena, run_id, &info, err);
		/* A failed run changed nothing, unless it got past a
		 * revision that runs outside a transaction: those steps are
		 * journaled as applied and can be undone by naming the run. */
		if (!ret && strcmp(info.status, "applied") != 0 &&
		    info.nsteps == 0)
			ret = cv_error_set(err, CV_EREFUSED,
					   "run '%s' failed and changed nothing: nothing to undo",
					   info.id);
		if (!ret && strcmp(info.kind, "restore") == 0)
			ret = cv_error_set(err, CV_EREFUSED,
					   "run '%s' is a restore; to undo it, restore the snapshot it took: %s",
					   info.id, info.snapshot ? info.snapshot : "(none)");
		if (!ret && info.undone_by)
			ret = cv_error_set(err, CV_EREFUSED,
					   "run '%s' was already rolled back by run '%s'",
					   info.id, info.undone_by);
	} else {
		bool exists = false;

		ret = cv_journal_exists(ctx->db, &exists, err);
		if (!ret && !exists)
			ret = cv_error_set(err, CV_ENOTFOUND,
					   "nothing to roll back");
		if (!ret)
			ret = pick_run(ctx, &run.arena, &info, err);
		if (ret == CV_ENOTFOUND && info.id)
			*chosen = cv_arena_strdup(&out->arena, info.id);
	}
	if (ret)
		goto out;
	*chosen = cv_arena_strdup(&out->arena, info.id);
	ret = cv_journal_steps(ctx->db, info.id, &run, err);
	if (ret)
		goto out;
	cv_trace_perf("rollback: read the run");
	if (!run.nr) {
		ret = cv_error_set(err, CV_ENOTFOUND,
				   "run '%s' has no applied steps: nothing to roll back",
				   info.id);
		goto out;
	}
	for (i = 0; i < run.nr; i++) {
		const struct cv_step *st = &run.steps[i];

		/* Checks verified the run; they change nothing to undo. */
		if (st->action == CV_ACT_CHECK)
			continue;
		if (st->flags & CV_STEP_IRREVERSIBLE || !st->ninv) {
			ret = cv_error_set(err, CV_EREFUSED,
					   "run '%s' cannot be rolled back: step %u (%s %s) is irreversible; restore its snapshot instead: %s",
					   info.id, st->seq, st->kind, st->object,
					   info.snapshot ? info.snapshot : "(none taken)");
			goto out;
		}
		if (cv_section_parse(st->kind, &bit) == 0)
			sections |= bit;
	}

	done = cv_calloc(run.nr + 1, sizeof(*done));
	ret = undone_already(ctx, info.id, &run, done, &resumed, err);
	if (ret)
		goto out;

	ctx->schema_table = info.schema_table;
	ctx->grants_store = cv_grants_store_of(&run, &out->arena);
	ret = cv_live_read(ctx, cv_planner_sections(sections),
			   &out->fingerprint, &out->arena, err);
	if (ret)
		goto out;
	expect_undone(&run, ctx->live->schema_version, resumed, done);
	ret = check_unchanged(ctx, &run, &run.arena, err);
	if (ret)
		goto out;

	out->now = ctx->now ? cv_arena_strdup(&out->arena, ctx->now) : NULL;
	out->backend = ctx->be->name;
	out->recovery = true;
	out->sections = cv_planner_sections(sections);
	out->schema_table = cv_arena_strdup(&out->arena, info.schema_table);
	for (i = run.nr; i-- > 0;) {
		const struct cv_step *o = &run.steps[i];
		enum cv_action act = cv_action_inverse((enum cv_action)o->action);
		bool changes = act == CV_ACT_UPDATE || act == CV_ACT_ENABLE ||
			       act == CV_ACT_DISABLE;
		struct cv_step *st;
		uint32_t k;

		if (o->action == CV_ACT_CHECK || done[i])
			continue;
		st = cv_plan_add(out, phase_of(o, act), act,
				 cv_arena_strdup(&out->arena, o->kind),
				 cv_arena_strdup(&out->arena, o->object));
		/* A change's detail says what the run did; undoing it does
		 * the opposite, which the review must not misstate: a flag
		 * line says first where the flag ends ("reverts off" read
		 * as switching it off when it switched it on). */
		if (changes && st->phase == CV_PHASE_ENABLE_FLAGS && o->detail)
			st->detail = cv_arena_printf(&out->arena,
						     "on (undoes: %s)", o->detail);
		else if (changes && st->phase == CV_PHASE_DISABLE_FLAGS &&
			 o->detail)
			st->detail = cv_arena_printf(&out->arena,
						     "off (undoes: %s)", o->detail);
		else if (changes && o->detail)
			st->detail = cv_arena_printf(&out->arena, "reverts %s",
						     o->detail);
		/* Undoing a removal whose line says what the removal did
		 * ("override removed (back to on)", an org's "-crm"): a
		 * flag's override says where it ends, the rest that they
		 * revert it. */
		else if (act == CV_ACT_CREATE && o->detail &&
			 strcmp(o->kind, "flags") == 0 && o->before)
			st->detail = cv_arena_printf(&out->arena,
						     "%s (undoes: %s)",
						     strcmp(o->before, "1") == 0 ?
						     "on" : "off", o->detail);
		else if (act == CV_ACT_CREATE && o->detail)
			st->detail = cv_arena_printf(&out->arena, "reverts %s",
						     o->detail);
		else
			st->detail = cv_arena_strdup(&out->arena, o->detail);
		st->before = cv_arena_strdup(&out->arena, o->after);
		st->after = cv_arena_strdup(&out->arena, o->before);
		st->checksum = cv_arena_strdup(&out->arena, o->checksum);
		st->flags = o->flags & CV_STEP_NO_TXN;
		cv_step_set_key(out, st, o->key, o->nkey);
		/* The run's inverse is this step's forward, and back. */
		for (k = 0; k < o->ninv; k++)
			same_stmt(cv_step_fwd(out, st, o->inv[k].sql,
					      o->inv[k].params,
					      o->inv[k].nparams), &o->inv[k]);
		for (k = 0; k < o->nfwd; k++)
			same_stmt(cv_step_inv(out, st, o->fwd[k].sql,
					      o->fwd[k].params,
					      o->fwd[k].nparams), &o->fwd[k]);
		ret = cv_schema_mark_data_loss(ctx, out, st, st->fwd, st->nfwd,
					       err);
		if (ret)
			goto out;
	}
	for (i = 0; i < out->nr; i++)
		out->steps[i].seq = (uint32_t)i + 1;
	/*
	 * The rules of the kinds the rollback touches still hold (a role
	 * it removes must not be left named by grants).  Guards own no
	 * objects and so are never among them: rollback is how a team gets
	 * out of a lockout.
	 */
	for (i = 0; i < cv_nkinds && !ret; i++) {
		const struct cv_kind *k = cv_kinds[i];

		if (k->verify && (out->sections & k->section))
			ret = k->verify(ctx, out, err);
	}
	if (ret)
		goto out;
	if (info.schema_table) {
		/* The schema line of the review: where the rollback goes. */
		for (i = 0; i < run.nr; i++)
			if (strcmp(run.steps[i].kind, "schema") == 0) {
				out->schema_from = cv_arena_strdup(&out->arena,
					ctx->live->schema_version);
				out->schema_to = cv_arena_strdup(&out->arena,
					run.steps[i].before);
				break;
			}
	}
out:
	free(done);
	cv_plan_release(&run);
	return ret;
}
