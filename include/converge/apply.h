/*
 * The executor: snapshot, storage, journal and every step of a plan in one
 * transaction (SPEC §5), and the rollback planner that turns a recorded
 * run into its undo.
 */
#ifndef CONVERGE_APPLY_H
#define CONVERGE_APPLY_H

#include "converge/journal.h"
#include "converge/kind.h"

struct cv_apply_opts {
	const char *kind;          /* "apply" or "rollback" */
	const char *actor;
	const struct cv_url *url;  /* recorded without password */
	const char *snapshot_dir;  /* NULL: the default beside the database */
	bool no_snapshot;
	const char *undoes;        /* rollback: the run it undoes */
	const char *manifests_digest;
	bool verbose;
	bool quiet;
	bool color;
	/* Run after the steps, in their transaction: refuses (and so rolls
	 * back) a result that is not what the plan says.  NULL: none. */
	int (*verify)(struct cv_ctx *ctx, const struct cv_plan *plan,
		      struct cv_error *err);
};

struct cv_apply_result {
	char run_id[CV_RUN_ID_MAX];
	size_t applied;            /* steps applied */
	/* Steps that stay applied even though the run failed: those up to
	 * and including the last revision run outside a transaction. */
	size_t committed;
	/* The step that failed runs outside a transaction: what its
	 * statements did before the failing one stays too. */
	bool partial;
	char *snapshot;            /* malloc'd path, or NULL; caller frees */
};

/*
 * Applies `plan` on ctx->db, which must hold the write transaction begun
 * by ctx->be->begin (the lock) with nothing written yet.  On success the
 * transaction is committed.  On failure everything is rolled back, the
 * run is recorded as failed in a transaction of its own, and the error
 * names the step and its SQL.  A check failure gives CV_ECHECK.
 */
int cv_apply_plan(struct cv_ctx *ctx, const struct cv_plan *plan,
		  const struct cv_apply_opts *opts,
		  struct cv_apply_result *res, struct cv_error *err);

/*
 * The snapshot path for a run: <dir>/<db file name without extension>-
 * <run id><ext>; dir defaults to .converge/snapshots beside a SQLite file
 * (or under the current directory).  Creates dir (mode 0700).
 */
int cv_snapshot_path(const struct cv_url *url, const char *dir,
		     const char *run_id, char **out, struct cv_error *err);
/* The snapshot directory in use (malloc'd). */
char *cv_snapshot_dir(const struct cv_url *url, const char *dir);

/*
 * Builds the plan that undoes run `run_id` (NULL: the newest applied run
 * that is not a rollback and was not rolled back).  Refuses (CV_EREFUSED)
 * when an object the run touched no longer holds the value it left, or a
 * step is irreversible; CV_ENOTFOUND with "nothing to roll back".
 * *chosen gets the run id (in plan's arena); with CV_ENOTFOUND, the
 * rollback to name to redo what it undid, when every apply is undone.
 */
int cv_rollback_plan(struct cv_plan *out, struct cv_ctx *ctx,
		     const char *run_id, const char **chosen,
		     struct cv_error *err);

/*
 * After a rollback's steps, in their transaction: every object holds the
 * value it had before the undone run (each step's `after`).  An inverse
 * that the journal holds incomplete (a truncated or edited plan file)
 * would otherwise report success and leave the object half undone.
 */
int cv_rollback_verify(struct cv_ctx *ctx, const struct cv_plan *plan,
		       struct cv_error *err);

#endif
