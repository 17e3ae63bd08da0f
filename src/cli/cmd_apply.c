/*
 * converge apply: plan (or read a saved plan), confirm, take the lock,
 * plan again under it, snapshot, apply in one transaction.
 *
 * The review happens before the lock is taken, so that a person reading a
 * plan at a prompt never blocks the application's writers; once the lock
 * is held the live state is read again, and the plan is made again when
 * it changed (a saved plan is refused then).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/*
 * A saved plan's data-loss marks say what was true when it was made: a
 * table empty then may hold rows now (the fingerprint covers the state
 * converge manages, not the application's tables), and anyone can delete
 * a mark from the file.  So under the lock, every step that runs SQL
 * scripts is scanned again, as planning it now would scan it.
 */
static int mark_data_loss_again(const struct cv_opts *o, struct cv_db *db,
				const struct cv_backend *be,
				struct cv_plan *plan, struct cv_error *err)
{
	struct cv_state live;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cv_ctx ctx;
	size_t i;
	int ret = 0;

	memset(&live, 0, sizeof(live));
	cli_ctx(o, &ctx, db, be, NULL, &live, &arena);
	ctx.schema_table = plan->schema_table;
	/* It looks at SQL scripts only: steps without are passed over. */
	for (i = 0; i < plan->nr && !ret; i++)
		ret = cv_schema_mark_data_loss(&ctx, plan, &plan->steps[i],
					       plan->steps[i].fwd,
					       plan->steps[i].nfwd, err);
	cv_state_release(&live);
	cv_arena_release(&arena);
	return ret;
}

/* Takes the lock and checks or remakes the plan under it. */
static int lock_and_replan(struct cv_opts *o, const struct cv_manifest *m,
			   const struct cv_url *url, struct cv_db *db,
			   struct cv_plan *plan, bool saved,
			   struct cv_error *err)
{
	struct cv_plan again;
	int ret;

	ret = url->backend->begin(db, err);
	if (ret)
		return ret;
	/*
	 * The plan is a function of the manifests and the live state: when
	 * the state read under the lock has the reviewed plan's fingerprint,
	 * the reviewed plan is the plan, and only the read is done again.
	 */
	ret = cli_check_fresh(o, plan, db, url->backend, saved, err);
	if (saved || ret != CV_ESTALE)
		return ret;
	cv_error_release(err);

	cv_plan_init(&again);
	/* The review's plan gave the warnings already. */
	ret = cli_plan(o, m, url, db, false, &again, err);
	if (ret) {
		cv_plan_release(&again);
		return ret;
	}
	if (strcmp(again.fingerprint, plan->fingerprint) != 0) {
		cli_note(o, "\nThe database changed while converge waited for the lock; the plan was made again:\n");
		cv_plan_release(plan);
		*plan = again;
		if (plan->nr) {
			cli_show_plan(o, plan);
			if (!o->auto_approve &&
			    cli_confirm(o, "Apply the new plan?"))
				return cv_error_set(err, CV_EREFUSED,
						    "apply cancelled");
		}
		return 0;
	}
	cv_plan_release(&again);
	return 0;
}

static void report(const struct cv_opts *o, const struct cv_plan *plan,
		   const struct cv_apply_result *res)
{
	struct cv_plan_counts c;
	char *undo;

	if (o->quiet)
		return;
	cv_plan_count(plan, &c);
	printf("\nApply complete: %zu step%s in run %s (%zu added, %zu changed, %zu removed",
	       res->applied, res->applied == 1 ? "" : "s", res->run_id,
	       c.add, c.change, c.remove);
	if (c.up || c.down)
		printf(", %zu revision%s up, %zu down", c.up,
		       c.up == 1 ? "" : "s", c.down);
	printf(").\n");
	if (res->snapshot)
		printf("Snapshot of the database before the run: %s\n",
		       res->snapshot);
	undo = cli_rollback_command(o, plan->database ? plan->database : "URL",
				    res->run_id);
	printf("Undo it with: %s\n", undo);
	free(undo);
}

/*
 * A saved plan goes where it was made: converge's tables in the schema of
 * plan's --schema.  Without --schema, apply takes the plan's; a different
 * one is refused, since the journal, the storage tables and the
 * fingerprint would be another schema's (two empty schemas have the same
 * fingerprint, so staleness alone would not tell).
 */
static int storage_schema(struct cv_opts *o, const struct cv_plan *plan)
{
	const char *want = plan->storage_schema;

	if (!o->schema) {
		o->schema = want;
		return 0;
	}
	if (want && strcmp(want, o->schema) == 0)
		return 0;
	if (want)
		return cli_usage(o, "the plan was made with --schema %s; apply it with the same --schema, or none (the plan's is used)",
				 cv_shorten(want));
	return cli_usage(o, "the plan was made without --schema (converge's tables in public); apply it without --schema too");
}

/*
 * A stale plan applied to another database than the one it was made
 * against: most often the wrong --db, which "the database changed" alone
 * does not tell the one who runs it.
 */
static void made_elsewhere(struct cv_error *err, const char *made_on,
			   const char *here)
{
	char *msg;

	if (!made_on || !err->msg || strcmp(made_on, here) == 0)
		return;
	msg = cv_asprintf("%s\nthe plan was made against %s, not %s: is --db the database it was reviewed for?",
			  err->msg, made_on, here);
	free(err->msg);
	err->msg = msg;
}

int cmd_apply(struct cv_opts *o)
{
	struct cv_manifest m;
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	struct cv_plan plan;
	struct cv_state live;
	struct cv_arena live_arena = CV_ARENA_INIT;
	struct cv_apply_result res;
	struct cv_apply_opts ao;
	struct cv_ctx ctx;
	bool saved = o->nargs == 1, direct = false;
	const char *made_on = NULL;
	int ret = 0, code = 0;

	cv_manifest_init(&m);
	cv_plan_init(&plan);
	memset(&live, 0, sizeof(live));
	memset(&res, 0, sizeof(res));
	if (saved && o->nmanifests)
		return cli_usage(o, "give manifests (-m) or a saved plan, not both");
	if (!saved && !o->nmanifests)
		return cli_usage(o, "give manifests (-m PATH) or a saved plan FILE");
	if (saved) {
		ret = cv_plan_read_yaml(&plan, o->args[0], &err);
		if (ret) {
			code = cli_fail(&err);
			goto out;
		}
		code = storage_schema(o, &plan);
		if (code)
			goto out;
	} else {
		code = cli_manifests(o, &m);
		if (code)
			goto out;
	}
	ret = cli_url(o, &url, &err);
	if (ret)
		goto fail;
	/* What is shown from here on (the plan's header, the command that
	 * undoes the run) names the database being changed, not the one
	 * the plan was made against (staging, or a path in another
	 * checkout); the fingerprint says whether they hold the same. */
	if (saved) {
		made_on = plan.database;
		plan.database = cv_arena_strdup(&plan.arena, url.display);
	}

	/*
	 * With --auto-approve nobody reads the plan before the lock is taken,
	 * so an existing database is planned once, under the lock, on the
	 * connection opened for writing at once (opened read-only first only
	 * to see that it exists, SQLite read a 200-table schema twice).  One
	 * that does not exist yet is planned first, read-only: a plan with
	 * no changes, or a refused one, must not create it.
	 */
	if (o->auto_approve) {
		ret = cli_open(o, &url, false, false, &db, &err);
		direct = !ret;
		if (direct)
			goto locked;
		if (ret != CV_ENOTFOUND)
			goto fail;
		cv_error_release(&err);
	}
	ret = cli_open(o, &url, true, false, &db, &err);

	/* The review: read-only, no lock, nothing created. */
	if (!ret && db)
		ret = url.backend->begin_read(db, &err);
	if (!ret) {
		if (saved)
			ret = cli_check_fresh(o, &plan, db, url.backend, true,
					      &err);
		else
			ret = cli_plan(o, &m, &url, db, true, &plan, &err);
	}
	cli_close(&url, &db);
	/* Shown refused too: the review says what would break. */
	if (ret == CV_EREFUSED)
		cli_show_plan(o, &plan);
	if (ret)
		goto fail;
	cli_show_plan(o, &plan);
	if (!plan.nr)
		goto out;
	code = cli_check_data_loss(o, &plan);
	if (code)
		goto out;
	code = cli_confirm(o, "Do you want to apply these changes?");
	if (code)
		goto out;

locked:
	if (!direct)
		ret = cli_open(o, &url, false, true, &db, &err);
	if (!ret && direct) {
		ret = url.backend->begin(db, &err);
		if (!ret && saved)
			ret = cli_check_fresh(o, &plan, db, url.backend, true,
					      &err);
		else if (!ret)
			ret = cli_plan(o, &m, &url, db, true, &plan, &err);
		/* Shown refused too: the review says what would break. */
		if (!ret || ret == CV_EREFUSED)
			cli_show_plan(o, &plan);
	} else if (!ret) {
		ret = lock_and_replan(o, &m, &url, db, &plan, saved, &err);
	}
	if (!ret && saved)
		ret = mark_data_loss_again(o, db, url.backend, &plan, &err);
	if (ret) {
		if (db)
			url.backend->rollback(db);
		goto fail;
	}
	if (!plan.nr) {
		url.backend->rollback(db);
		goto out;
	}
	code = cli_check_data_loss(o, &plan);
	if (code) {
		url.backend->rollback(db);
		goto out;
	}

	cli_ctx(o, &ctx, db, url.backend, saved ? NULL : &m.want, &live,
		&live_arena);
	if (saved)
		ctx.grants_store = cv_grants_store_of(&plan, &live_arena);
	cli_apply_opts(o, "apply", &url, &ao);
	ao.manifests_digest = plan.manifests_digest;
	ret = cv_apply_plan(&ctx, &plan, &ao, &res, &err);
	if (ret) {
		/* The error first, then what it left: the reader starts
		 * with the cause. */
		if (ret == CV_ESTALE)
			made_elsewhere(&err, made_on, url.display);
		code = cli_fail(&err);
		cli_run_failed(&res, "applying", "nothing was changed",
			       "apply again to go on");
		goto out;
	}
	report(o, &plan, &res);
	goto out;

fail:
	if (ret == CV_ESTALE)
		made_elsewhere(&err, made_on, url.display);
	code = cli_fail(&err);
out:
	if (db)
		url.backend->close(db);
	free(res.snapshot);
	cv_plan_release(&plan);
	cv_state_release(&live);
	cv_arena_release(&live_arena);
	cv_manifest_release(&m);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
