/*
 * converge restore SNAPSHOT: put a snapshot back, after taking a snapshot
 * of the current state, and record the restore in the restored journal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Snapshots taken before giving up, when other writers keep committing. */
#define RESTORE_ATTEMPTS 3

/* The journal's record of the restore, in `into` (cv_backend.restore_recorded). */
static int record(struct cv_db *into, void *arg, struct cv_error *err)
{
	const struct cv_run *run = arg;
	int ret = into->backend->begin(into, err);

	if (!ret)
		ret = cv_journal_ensure(into, err);
	if (!ret)
		ret = cv_journal_insert_run(into, run, err);
	if (!ret)
		ret = cv_journal_finish_run(into, run->id, "applied", NULL, err);
	if (!ret)
		ret = into->backend->commit(into, err);
	if (ret)
		into->backend->rollback(into);
	return ret;
}

/*
 * Restores snap, recording the restore in the same stroke where the
 * backend can (*recorded set then): a run killed in between must not
 * leave the database restored with no record of it.
 */
static int restore(const struct cv_backend *be, struct cv_db *db,
		   const char *snap, struct cv_run *run, bool *recorded,
		   struct cv_error *err)
{
	*recorded = be->restore_recorded != NULL;
	if (*recorded)
		return be->restore_recorded(db, snap, record, run, err);
	return be->restore(db, snap, err);
}

/*
 * What a SQLite database holds, for the question before a restore: its
 * schema version and its newest run, as status shows them.  Nothing when
 * it cannot be read (the restore itself says why).
 */
static void describe(const struct cv_opts *o, const char *what,
		     const char *path)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cli_version v = CLI_VERSION_INIT;
	struct cv_opts quiet = *o;
	struct cv_db *db = NULL;
	struct cv_run *runs = NULL;
	size_t nruns = 0;
	char *text = cv_asprintf("sqlite:%s", path);
	int ret;

	quiet.db = text;
	ret = cli_open_read(&quiet, &url, &db, &err);
	if (!ret && db)
		ret = cv_journal_runs(db, &arena, 1, &runs, &nruns, &err);
	if (!ret && db)
		ret = cli_read_version(db, nruns ? runs[0].schema_table : NULL,
				       &v, &err);
	/* What a database holds is shown escaped, as status shows it. */
	if (!ret && db) {
		fprintf(stderr, "\n%s:\n", what);
		if (!v.table) {
			fprintf(stderr, "  schema:   no version table\n");
		} else {
			char *value = cli_display(v.nrows > 1 ?
				cv_buf_str(&v.rows) : v.value ? v.value :
				"base, no revision applied", false);
			char *table = cli_display(v.table, false);

			fprintf(stderr, "  schema:   %s (%s)\n", value, table);
			free(value);
			free(table);
		}
		if (nruns) {
			const struct cv_run *r = &runs[0];
			char *id = cli_display(r->id, false);
			char *kind = cli_display(r->kind, false);
			char *status = cli_display(r->status, false);
			char *actor = cli_display(r->actor ? r->actor :
						  "unknown", false);
			char *at = cli_display(r->started_at, false);

			fprintf(stderr, "  last run: %s  %s %s, %ld step%s, by %s at %s\n",
				id, kind, status, r->nsteps,
				r->nsteps == 1 ? "" : "s", actor, at);
			free(id);
			free(kind);
			free(status);
			free(actor);
			free(at);
		} else {
			fprintf(stderr, "  last run: none recorded\n");
		}
	}
	cli_close(&url, &db);
	cli_version_release(&v);
	cv_arena_release(&arena);
	cv_url_release(&url);
	cv_error_release(&err);
	free(text);
}

int cmd_restore(struct cv_opts *o)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	const char *snap = o->args[0];
	char run_id[CV_RUN_ID_MAX], started[CV_TIME_LEN];
	char *before = NULL, *question = NULL;
	struct cv_run run;
	struct stat st;
	bool held = false, recorded = false;
	int ret, code = 0, attempt;

	ret = cli_url(o, &url, &err);
	if (ret)
		goto fail;
	/* st is only looked at once stat has filled it. */
	if (stat(snap, &st) < 0) {
		ret = cv_error_set(&err, CV_ENOTFOUND, "cannot read snapshot '%s': %s",
				   snap, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = cv_error_set(&err, CV_ENOTFOUND, "cannot read snapshot '%s': %s",
				   snap, S_ISDIR(st.st_mode) ? "is a directory" :
				   "not a regular file");
		goto fail;
	}
	/* Someone about to answer sees what each file holds: the wrong
	 * snapshot, or the wrong database, shows at a glance. */
	if (!o->auto_approve && isatty(STDIN_FILENO) &&
	    strcmp(url.type, "sqlite") == 0) {
		char *what = cv_asprintf("The snapshot %s holds", snap);

		describe(o, what, snap);
		free(what);
		what = cv_asprintf("%s holds now", url.path);
		describe(o, what, url.path);
		free(what);
	}
	question = cv_asprintf("Replace the whole content of %s with %s?",
			       url.display, snap);
	code = cli_confirm(o, question);
	if (code)
		goto out;

	ret = cli_open(o, &url, false, true, &db, &err);
	/* A file that cannot be restored needs no snapshot taken first. */
	if (!ret && url.backend->check_snapshot &&
	    url.backend->check_snapshot(db, snap, &err))
		goto fail;
	/*
	 * The current state first: a restore must itself be undoable.  The
	 * backend refuses to restore (CV_ESTALE) when another connection
	 * committed after that snapshot, since the restore would overwrite
	 * it unsaved; then the snapshot is taken again.  The lock is kept
	 * from the first snapshot to the journal's commit, so that no other
	 * apply, rollback or restore runs in between.
	 */
	for (attempt = 0; !ret; attempt++) {
		ret = url.backend->begin(db, &err);
		if (!ret && !held && url.backend->hold_lock) {
			ret = url.backend->hold_lock(db, &err);
			held = !ret;
		}
		if (!ret)
			ret = cv_journal_new_run_id(db, run_id, &err);
		if (!ret) {
			free(before);
			before = NULL;
			ret = cv_snapshot_path(&url, o->snapshot_dir, run_id,
					       &before, &err);
		}
		if (!ret)
			ret = url.backend->snapshot(db, before, &err);
		url.backend->rollback(db);
		if (ret)
			goto fail;
		cv_time_format(cv_time_now(), started);
		memset(&run, 0, sizeof(run));
		run.id = run_id;
		run.kind = "restore";
		run.actor = cli_actor(o);
		run.started_at = started;
		run.status = "applied";
		run.snapshot = before;
		run.database = url.display;
		ret = restore(url.backend, db, snap, &run, &recorded, &err);
		if (ret != CV_ESTALE || attempt == RESTORE_ATTEMPTS - 1)
			break;
		/* That snapshot is not the state being replaced. */
		unlink(before);
		cv_error_release(&err);
		ret = 0;
	}
	/* Without a snapshot of the current state, nothing was begun: the
	 * error (the lock, most often) says all there is. */
	if (ret && before)
		cv_error_prefix(&err, "restore failed; the database is as it was (its snapshot: %s)",
				before);
	if (ret)
		goto fail;
	if (!recorded && record(db, &run, &err)) {
		cv_error_prefix(&err, "the snapshot was restored, but the restore could not be recorded");
		goto fail;
	}
	if (!o->quiet) {
		printf("Restored %s from %s (run %s).\n", url.display, snap, run_id);
		printf("The state before the restore is in %s\n", before);
	}
	goto out;
fail:
	code = cli_fail(&err);
out:
	if (held)
		url.backend->release_lock(db);
	if (db)
		url.backend->close(db);
	free(before);
	free(question);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
