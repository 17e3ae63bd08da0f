/*
 * The executor (apply.h): one transaction for the storage tables, the
 * journal rows and every step; a failure leaves nothing behind but the
 * record that it failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "converge/apply.h"
#include "converge/timeutil.h"

static int mkdirs(const char *path, struct cv_error *err)
{
	char *p = cv_strdup(path), *s;
	int ret = 0;

	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				ret = cv_error_set(err, CV_EIO,
						   "cannot create snapshot directory '%s': %s",
						   p, strerror(errno));
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return ret;
}

char *cv_snapshot_dir(const struct cv_url *url, const char *dir)
{
	char *base, *out;

	if (dir)
		return cv_strdup(dir);
	if (!url->path)
		return cv_strdup(".converge/snapshots");
	base = cv_dirname(url->path);
	out = cv_asprintf("%s/.converge/snapshots", base);
	free(base);
	return out;
}

int cv_snapshot_path(const struct cv_url *url, const char *dir,
		     const char *run_id, char **out, struct cv_error *err)
{
	char *d = cv_snapshot_dir(url, dir), *abs = NULL;
	int ret;

	*out = NULL;
	ret = mkdirs(d, err);
	/*
	 * The journal records the path: absolute, so that `restore` finds
	 * the file from whatever directory the on-call engineer is in.
	 */
	if (!ret && !(abs = realpath(d, NULL)))
		ret = cv_error_set(err, CV_EIO, "cannot resolve '%s': %s", d,
				   strerror(errno));
	if (!ret)
		*out = cv_asprintf("%s/%s-%s%s", abs,
				   url->name ? url->name : "db", run_id,
				   url->backend->snapshot_ext);
	free(abs);
	free(d);
	return ret;
}

static const char *step_label(const struct cv_step *st, struct cv_buf *b)
{
	cv_buf_reset(b);
	cv_buf_addf(b, "%u: %s %s %s", st->seq, cv_action_sign(st->action),
		    st->kind, st->object);
	return b->buf;
}

/*
 * Names the failing step in err, keeping the SQL the failure recorded
 * (copied first: cv_error_set_sql frees the old text before it copies).
 */
static void name_step(struct cv_error *err, const struct cv_step *st,
		      struct cv_buf *label)
{
	char *sql = err->sql ? cv_strdup(err->sql) : NULL;

	cv_error_set_sql(err, step_label(st, label), sql);
	free(sql);
}

/* Parameters with the values known only now filled in. */
static const char *const *fill(const struct cv_stmt *s, const char *run_id,
			       const char *now, const char ***buf,
			       size_t *alloc)
{
	if (!s->run_id_param && !s->now_param)
		return s->params;
	CV_GROW(*buf, s->nparams, *alloc);
	memcpy(*buf, s->params, s->nparams * sizeof(**buf));
	if (s->run_id_param)
		(*buf)[s->run_id_param - 1] = run_id;
	if (s->now_param)
		(*buf)[s->now_param - 1] = now;
	return *buf;
}

/*
 * The steps sent in a batch (backend.h: batch_begin), one entry per
 * statement, so that a failure read later is put on the step it belongs
 * to.
 */
struct batch {
	bool on;
	size_t *owner;      /* the plan index of each statement's step */
	size_t n, alloc;
};

/*
 * A step that only writes rows with bound parameters, which a batch can
 * send without waiting: not a script, check or revision, nothing that
 * runs in the application's search path or outside the transaction.
 */
static bool batchable(const struct cv_step *st)
{
	uint32_t i;

	if ((st->flags & CV_STEP_NO_TXN) || st->action == CV_ACT_CHECK ||
	    strcmp(st->kind, "schema") == 0 || strcmp(st->kind, "checks") == 0)
		return false;
	for (i = 0; i < st->nfwd; i++)
		if (st->fwd[i].script)
			return false;
	return true;
}

static void batch_begin(struct cv_ctx *ctx, struct batch *b)
{
	if (b->on || !ctx->be->batch_begin)
		return;
	ctx->be->batch_begin(ctx->db);
	b->on = true;
	b->n = 0;
}

/* Starts a batch if none is on, for the nstmts statements of step i. */
static void batch_own(struct cv_ctx *ctx, struct batch *b, size_t i,
		      uint32_t nstmts)
{
	batch_begin(ctx, b);
	if (!b->on)
		return;
	CV_GROW(b->owner, b->n + nstmts, b->alloc);
	while (nstmts--)
		b->owner[b->n++] = i;
}

/* Ends the batch; a failure read now is named after its step. */
static int batch_end(struct cv_ctx *ctx, const struct cv_plan *plan,
		     struct batch *b, struct cv_buf *label,
		     struct cv_error *err)
{
	size_t done = 0;
	int ret;

	if (!b->on)
		return 0;
	b->on = false;
	ret = ctx->be->batch_end(ctx->db, &done, err);
	if (ret && plan && done < b->n)
		name_step(err, &plan->steps[b->owner[done]], label);
	return ret;
}

static int run_stmts(struct cv_ctx *ctx, const struct cv_step *st,
		     const char *run_id, const char *now, struct cv_error *err)
{
	static const char **filled;
	static size_t filled_alloc;
	bool app = strcmp(st->kind, "schema") == 0 ||
		   strcmp(st->kind, "checks") == 0;
	uint32_t i;
	int ret = app ? cv_db_scope(ctx, true, err) : 0;

	for (i = 0; i < st->nfwd && !ret; i++) {
		const struct cv_stmt *s = &st->fwd[i];

		if (s->script)
			ret = ctx->be->exec_script(ctx->db, s->sql, err);
		else if (st->action == CV_ACT_CHECK)
			ret = cv_check_eval(ctx, st->object, s->sql,
					    st->after ? st->after : "", err);
		else
			ret = ctx->be->exec(ctx->db, s->sql,
					    fill(s, run_id, now, &filled,
						 &filled_alloc),
					    s->nparams, err);
		if (ret && !err->sql)
			cv_error_set_sql(err, NULL, s->sql);
	}
	/* After a failure the rollback puts the search path back. */
	if (app && !ret)
		ret = cv_db_scope(ctx, false, err);
	return ret;
}

/* Creates the storage of every kind the plan writes to. */
static int ensure_storage(struct cv_ctx *ctx, const struct cv_plan *plan,
			  struct cv_error *err)
{
	size_t i, k;
	int ret;

	ret = cv_journal_ensure(ctx->db, err);
	for (i = 0; i < cv_nkinds && !ret; i++) {
		const struct cv_kind *kind = cv_kinds[i];

		if (!kind->ensure)
			continue;
		for (k = 0; k < plan->nr; k++)
			if (strcmp(plan->steps[k].kind, kind->name) == 0)
				break;
		if (k < plan->nr)
			ret = kind->ensure(ctx, err);
	}
	return ret;
}

/* Journals steps [from, to) of the plan, applied in run run_id, in one
 * batch: a row each, not a round trip each. */
static int journal_steps(struct cv_ctx *ctx, const struct cv_plan *plan,
			 size_t from, size_t to, const char *run_id,
			 struct cv_error *err)
{
	struct batch b = { false, NULL, 0, 0 };
	size_t i;
	int ret = 0, end;

	batch_begin(ctx, &b);
	ret = cv_journal_add_steps(ctx->db, run_id, plan->steps + from,
				   to - from, "applied", err);
	for (i = from; i < to && !ret; i++) {
		const struct cv_step *st = &plan->steps[i];
		const struct cv_kind *kind = cv_kind_find(st->kind);

		if (kind && kind->journal)
			ret = kind->journal(ctx, st, run_id, err);
	}
	end = batch_end(ctx, NULL, &b, NULL, err);
	return ret ? ret : end;
}


static void record_failure(struct cv_ctx *ctx, const struct cv_run *run,
			   bool run_committed, const struct cv_error *cause)
{
	struct cv_error e2 = CV_ERROR_INIT;
	struct cv_run failed = *run;
	char now[CV_TIME_LEN];
	char *text = cv_error_text(cause);
	int ret;

	cv_time_format(cv_time_now(), now);
	failed.status = "failed";
	failed.finished_at = now;
	failed.error = text;
	ret = ctx->be->begin(ctx->db, &e2);
	/*
	 * A step that failed outside a transaction (a revision with
	 * transaction: false) may leave the application's search path set
	 * (no rollback undoes a SET made outside one): converge's tables
	 * are written in their own schema, not beside the application's.
	 */
	if (!ret)
		ret = cv_db_scope(ctx, false, &e2);
	if (!ret)
		ret = cv_journal_ensure(ctx->db, &e2);
	if (!ret)
		ret = run_committed ?
		      cv_journal_finish_run(ctx->db, run->id, "failed",
					    text, &e2) :
		      cv_journal_insert_run(ctx->db, &failed, &e2);
	if (!ret)
		ret = ctx->be->commit(ctx->db, &e2);
	if (ret) {
		ctx->be->rollback(ctx->db);
		fprintf(stderr, "converge: warning: could not record the failed run: %s\n",
			e2.msg ? e2.msg : "unknown error");
	}
	cv_error_release(&e2);
	free(text);
}

/*
 * The snapshot before the first change, its path in res->snapshot.  A
 * backend whose snapshot program is not installed takes none (SPEC §5:
 * "when available"): the run goes on, says so, and records no snapshot.
 */
static int take_snapshot(struct cv_ctx *ctx, const struct cv_apply_opts *opts,
			 struct cv_apply_result *res, struct cv_error *err)
{
	int ret;

	ret = cv_snapshot_path(opts->url, opts->snapshot_dir, res->run_id,
			       &res->snapshot, err);
	if (!ret)
		ret = ctx->be->snapshot(ctx->db, res->snapshot, err);
	if (!ret)
		return 0;
	free(res->snapshot);
	res->snapshot = NULL;
	if (ret != CV_ENOTFOUND)
		return cv_error_prefix(err, "cannot take the snapshot");
	fprintf(stderr, "converge: warning: no snapshot: %s, or pass "
		"--no-snapshot\n", err->msg);
	cv_error_release(err);
	return 0;
}

int cv_apply_plan(struct cv_ctx *ctx, const struct cv_plan *plan,
		  const struct cv_apply_opts *opts,
		  struct cv_apply_result *res, struct cv_error *err)
{
	struct cv_buf label = CV_BUF_INIT;
	struct cv_run run;
	char started[CV_TIME_LEN];
	bool in_txn = true, run_committed = false, schema_steps = false;
	bool held = false;
	struct batch b = { false, NULL, 0, 0 };
	size_t i, journaled = 0;
	int ret;

	memset(&run, 0, sizeof(run));
	res->applied = 0;
	res->committed = 0;
	res->snapshot = NULL;
	ctx->schema_table = plan->schema_table;
	ret = cv_journal_new_run_id(ctx->db, res->run_id, err);
	if (ret)
		goto fail_early;
	if (!opts->no_snapshot) {
		ret = take_snapshot(ctx, opts, res, err);
		if (ret)
			goto fail_early;
	}
	cv_time_format(cv_time_now(), started);
	run.id = res->run_id;
	run.kind = opts->kind;
	run.actor = opts->actor;
	run.started_at = started;
	run.status = "applied";
	run.fingerprint = plan->fingerprint;
	run.snapshot = res->snapshot;
	run.undoes = opts->undoes;
	run.database = opts->url->display;
	run.schema_table = plan->schema_table;
	run.manifests_digest = opts->manifests_digest;

	cv_trace_perf("apply: snapshot");
	ret = ensure_storage(ctx, plan, err);
	if (!ret)
		ret = cv_journal_insert_run(ctx->db, &run, err);
	if (ret)
		goto fail;

	for (i = 0; i < plan->nr; i++) {
		const struct cv_step *st = &plan->steps[i];

		if (strcmp(st->kind, "schema") == 0)
			schema_steps = true;
		if (!batchable(st)) {
			ret = batch_end(ctx, plan, &b, &label, err);
			if (ret)
				goto fail;
		}
		/* A revision that cannot run in a transaction ends the
		 * current one, runs alone, and a new one starts after it. */
		if (st->flags & CV_STEP_NO_TXN) {
			ret = journal_steps(ctx, plan, journaled, i, res->run_id,
					    err);
			/*
			 * From here the run's record is committed before the
			 * run ends: until it does, the record says it did not,
			 * so that a process killed while the revision runs
			 * leaves a failed run, never an applied one.
			 */
			if (!ret && !run_committed)
				ret = cv_journal_finish_run(ctx->db, res->run_id,
							    "failed", CV_RUN_UNFINISHED,
							    err);
			/* The lock must outlive this transaction: the
			 * revision runs outside any. */
			if (!ret && !held && ctx->be->hold_lock) {
				ret = ctx->be->hold_lock(ctx->db, err);
				held = !ret;
			}
			if (!ret)
				ret = ctx->be->commit(ctx->db, err);
			if (ret)
				goto fail;
			journaled = i;
			in_txn = false;
			run_committed = true;
			res->committed = res->applied;
			ret = run_stmts(ctx, st, res->run_id, started, err);
			if (ret) {
				name_step(err, st, &label);
				res->partial = true;
				goto fail;
			}
			/* Done and kept: journaled at once, in a transaction
			 * of its own, so that a later failure cannot lose the
			 * record of a change that stays. */
			ret = ctx->be->begin(ctx->db, err);
			if (!ret)
				ret = journal_steps(ctx, plan, i, i + 1,
						    res->run_id, err);
			if (!ret)
				ret = ctx->be->commit(ctx->db, err);
			if (!ret)
				ret = ctx->be->begin(ctx->db, err);
			if (ret)
				goto fail;
			journaled = i + 1;
			in_txn = true;
			res->applied++;
			res->committed = res->applied;
		} else {
			if (batchable(st))
				batch_own(ctx, &b, i, st->nfwd);
			ret = run_stmts(ctx, st, res->run_id, started, err);
			/* In a batch, the failure may be an earlier step's. */
			if (ret && !batch_end(ctx, plan, &b, &label, err))
				name_step(err, st, &label);
			if (ret)
				goto fail;
			res->applied++;
		}
		if (opts->verbose && !opts->quiet) {
			struct cv_render_opts ro = { opts->color, false };

			cv_step_print(st, &ro, stdout);
		}
	}
	/*
	 * The journal rows go in after the steps, in the same transaction:
	 * the same outcome, and the cached journal statements are prepared
	 * once rather than again after every schema change.
	 */
	ret = batch_end(ctx, plan, &b, &label, err);
	if (ret)
		goto fail;
	cv_trace_perf("apply: steps");
	if (opts->verify) {
		ret = opts->verify(ctx, plan, err);
		if (ret)
			goto fail;
	}
	ret = journal_steps(ctx, plan, journaled, plan->nr, res->run_id, err);
	if (ret)
		goto fail;
	cv_trace_perf("apply: journal");
	if (schema_steps) {
		ret = ctx->be->foreign_key_check(ctx->db, err);
		if (ret)
			goto fail;
	}
	ret = cv_journal_finish_run(ctx->db, res->run_id, "applied", NULL, err);
	if (!ret && opts->undoes)
		ret = cv_journal_set_undone(ctx->db, opts->undoes, res->run_id,
					    err);
	if (!ret)
		ret = ctx->be->commit(ctx->db, err);
	if (ret)
		goto fail;
	cv_trace_perf("apply: commit");
	if (held)
		ctx->be->release_lock(ctx->db);
	free(b.owner);
	cv_buf_release(&label);
	return 0;

fail:
	if (in_txn)
		ctx->be->rollback(ctx->db);
	record_failure(ctx, &run, run_committed, err);
	if (held)
		ctx->be->release_lock(ctx->db);
	res->applied = 0;
	free(b.owner);
	cv_buf_release(&label);
	return ret ? ret : CV_ERR;

fail_early:
	ctx->be->rollback(ctx->db);
	cv_buf_release(&label);
	return ret;
}
