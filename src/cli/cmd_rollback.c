/*
 * converge rollback [RUN_ID]: apply a run's recorded inverse steps in
 * reverse order, as a new run, after checking that what it left is still
 * there.  Not subject to guards: it is how a team gets out of a lockout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int make_plan(struct cv_opts *o, const struct cv_url *url,
		     struct cv_db *db, const char *want_id, struct cv_plan *plan,
		     const char **chosen, struct cv_error *err)
{
	struct cv_state live;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cv_ctx ctx;
	int ret;

	memset(&live, 0, sizeof(live));
	cli_ctx(o, &ctx, db, url->backend, NULL, &live, &arena);
	plan->database = cv_arena_strdup(&plan->arena, url->display);
	plan->created_at = cv_arena_strdup(&plan->arena, o->now);
	*chosen = NULL;
	ret = cv_rollback_plan(plan, &ctx, want_id, chosen, err);
	/* Every apply is undone: how to redo what the newest rollback undid. */
	if (ret == CV_ENOTFOUND && !want_id && *chosen) {
		char *cmd = cli_rollback_command(o, url->display, *chosen);
		char *msg = cv_strdup(err->msg);

		cv_error_set(err, CV_ENOTFOUND, "%s: %s", msg, cmd);
		free(msg);
		free(cmd);
		*chosen = NULL;
	}
	cv_state_release(&live);
	cv_arena_release(&arena);
	return ret;
}

static size_t data_loss_steps(const struct cv_plan *plan)
{
	size_t i, n = 0;

	for (i = 0; i < plan->nr; i++)
		if (plan->steps[i].flags & CV_STEP_DATA_LOSS)
			n++;
	return n;
}

/*
 * Nothing to roll back, read without the lock: an apply may be writing
 * the database's first run right now (its journal is not committed yet).
 * Wait for the lock as --lock-timeout says, as for any other rollback,
 * and look once more; a lock still held is exit 4, as it is then.
 */
static int look_again(struct cv_opts *o, struct cv_url *url,
		      const char *run_id, struct cv_plan *plan,
		      const char **chosen, struct cv_error *err)
{
	struct cv_error again = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	int ret;

	ret = cli_open(o, url, false, false, &db, &again);
	if (!ret)
		ret = url->backend->begin(db, &again);
	if (!ret) {
		cv_plan_release(plan);
		cv_plan_init(plan);
		ret = make_plan(o, url, db, run_id, plan, chosen, &again);
		url->backend->rollback(db);
	}
	cli_close(url, &db);
	/* Still nothing, or no way to look (a file this user cannot
	 * write): the first answer stands. */
	if (ret && ret != CV_ELOCKED) {
		cv_error_release(&again);
		return err->code;
	}
	cv_error_release(err);
	*err = again;
	return ret;
}

/*
 * The plan for the review, made without the lock (a person reading it at
 * the prompt must not keep the application's writers waiting).
 */
static int review_plan(struct cv_opts *o, struct cv_url *url,
		       const char *run_id, struct cv_plan *plan,
		       const char **chosen, struct cv_error *err)
{
	struct cv_db *db = NULL;
	bool existed;
	int ret;

	ret = cli_open_read(o, url, &db, err);
	if (!ret && !db)
		ret = cv_error_set(err, CV_ENOTFOUND,
				   "nothing to roll back: '%s' does not exist",
				   url->display);
	if (!ret)
		ret = make_plan(o, url, db, run_id, plan, chosen, err);
	existed = db != NULL;
	cli_close(url, &db);
	if (ret == CV_ENOTFOUND && existed)
		ret = look_again(o, url, run_id, plan, chosen, err);
	return ret;
}

/* What is about to be undone, as the review and the log show it. */
static void show(const struct cv_opts *o, const char *target,
		 const struct cv_plan *plan)
{
	if (!o->quiet && o->format == CV_FORMAT_TEXT)
		printf("Rollback of run %s:\n", target);
	cli_show_plan(o, plan);
}

int cmd_rollback(struct cv_opts *o)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	struct cv_plan plan;
	struct cv_state live;
	struct cv_arena live_arena = CV_ARENA_INIT;
	struct cv_apply_result res;
	struct cv_apply_opts ao;
	struct cv_ctx ctx;
	const char *chosen = NULL, *run_id = o->nargs ? o->args[0] : NULL;
	char *target = NULL;
	size_t lossy = 0;
	int ret, code = 0;

	cv_plan_init(&plan);
	memset(&live, 0, sizeof(live));
	memset(&res, 0, sizeof(res));
	/*
	 * With --auto-approve nobody reads a review: the plan is made once,
	 * under the lock, as apply does, and a command kept out by the lock
	 * shows no plan it will not run.
	 */
	if (o->auto_approve)
		ret = cli_url(o, &url, &err);
	else
		ret = review_plan(o, &url, run_id, &plan, &chosen, &err);
	if (ret)
		goto fail;
	if (!o->auto_approve) {
		target = cv_strdup(chosen);
		show(o, target, &plan);
		lossy = data_loss_steps(&plan);
		code = cli_confirm(o, "Do you want to roll back this run?");
		if (code)
			goto out;
	}

	ret = cli_open(o, &url, false, false, &db, &err);
	if (ret == CV_ENOTFOUND && !target)
		cv_error_prefix(&err, "nothing to roll back");
	if (!ret)
		ret = url.backend->begin(db, &err);
	if (!ret) {
		/*
		 * Under the lock: the run, and what it left, once more.  The
		 * run is chosen again too: another apply or rollback may
		 * have ended while this one waited for the lock.
		 */
		cv_plan_release(&plan);
		cv_plan_init(&plan);
		ret = make_plan(o, &url, db, run_id, &plan, &chosen, &err);
	}
	if (!ret && !target) {
		target = cv_strdup(chosen);
		show(o, target, &plan);
	} else if (!ret && strcmp(chosen, target) != 0) {
		cli_note(o, "\nThe history changed while converge waited for the lock; the newest run to undo is now %s:\n",
			 chosen);
		free(target);
		target = cv_strdup(chosen);
		cli_show_plan(o, &plan);
		if (!o->auto_approve &&
		    cli_confirm(o, "Roll back this run instead?"))
			ret = cv_error_set(&err, CV_EREFUSED,
					   "rollback cancelled");
	}
	if (ret) {
		if (db)
			url.backend->rollback(db);
		goto fail;
	}
	cli_ctx(o, &ctx, db, url.backend, NULL, &live, &live_arena);
	ctx.grants_store = cv_grants_store_of(&plan, &live_arena);
	cli_apply_opts(o, "rollback", &url, &ao);
	ao.undoes = target;
	ao.verify = cv_rollback_verify;
	ret = cv_apply_plan(&ctx, &plan, &ao, &res, &err);
	if (ret) {
		/* The error first, then what it left. */
		code = cli_fail(&err);
		cli_run_failed(&res, "rolling back",
			       "the rollback failed and changed nothing",
			       "run the rollback again to go on");
		goto out;
	}
	if (!o->quiet) {
		printf("\nRollback complete: run %s undone by run %s (%zu step%s).\n",
		       target, res.run_id, res.applied,
		       res.applied == 1 ? "" : "s");
		if (res.snapshot)
			printf("Snapshot of the database before the rollback: %s\n",
			       res.snapshot);
	}
	if (lossy || data_loss_steps(&plan)) {
		size_t i;

		for (i = 0; i < plan.nr; i++)
			if (plan.steps[i].flags & CV_STEP_DATA_LOSS)
				fprintf(stderr, "converge: step %u (%s %s) %s; %s%s\n",
					plan.steps[i].seq, plan.steps[i].kind,
					plan.steps[i].object, plan.steps[i].note,
					res.snapshot ? "the rows are kept in the snapshot " :
					"no snapshot was taken (--no-snapshot)",
					res.snapshot ? res.snapshot : "");
	}
	goto out;
fail:
	code = cli_fail(&err);
out:
	if (db)
		url.backend->close(db);
	free(target);
	free(res.snapshot);
	cv_plan_release(&plan);
	cv_state_release(&live);
	cv_arena_release(&live_arena);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
