/*
 * The journal, kept in the target database (SPEC §5, §7):
 *   converge_runs        one row per apply, rollback or restore
 *   converge_steps       each step of a run, forward and inverse SQL
 *   converge_migrations  applied revisions and the checksums of their up
 *
 * A step's statements are stored in two columns each: their texts in
 * forward_sql and inverse_sql (readable), and their shape and parameters
 * in forward_stmts and inverse_stmts, in the encoding of cv_stmts_encode.
 */
#ifndef CONVERGE_JOURNAL_H
#define CONVERGE_JOURNAL_H

#include "converge/backend.h"
#include "converge/plan.h"

#define CV_RUN_ID_MAX 64

/*
 * The error a run is recorded with before it runs a revision outside a
 * transaction, until it ends: a process killed meanwhile leaves a failed
 * run, never an applied one.  While the run still holds the lock, status
 * shows it as running.
 */
#define CV_RUN_UNFINISHED "the run did not finish: it ended while a " \
	"revision ran outside a transaction (its steps journaled as applied " \
	"stay applied); apply again to go on"

struct cv_run {
	const char *id;
	const char *kind;        /* "apply", "rollback", "restore" */
	const char *actor;
	const char *started_at;
	const char *finished_at;
	const char *status;      /* "applied", "failed" */
	const char *fingerprint;
	const char *snapshot;
	const char *undoes;
	const char *undone_by;
	const char *database;    /* URL without password */
	const char *schema_table;
	const char *manifests_digest;
	const char *error;
	long nsteps;
};

/* Creates the journal tables when missing. */
int cv_journal_ensure(struct cv_db *db, struct cv_error *err);
/* Whether the journal exists at all. */
int cv_journal_exists(struct cv_db *db, bool *out, struct cv_error *err);

/*
 * A new run id: UTC time to the microsecond plus a random suffix, made
 * greater than every id already in the journal.
 */
int cv_journal_new_run_id(struct cv_db *db, char out[CV_RUN_ID_MAX],
			  struct cv_error *err);
/*
 * The length of the run id s starts with ("20261123T191519.776002Z-e9f463",
 * perhaps extended by more "-xxxxxx" after a clock went back), or 0.
 */
size_t cv_journal_run_id_len(const char *s);

int cv_journal_insert_run(struct cv_db *db, const struct cv_run *run,
			  struct cv_error *err);
int cv_journal_finish_run(struct cv_db *db, const char *id,
			  const char *status, const char *error,
			  struct cv_error *err);
int cv_journal_set_undone(struct cv_db *db, const char *id,
			  const char *undone_by, struct cv_error *err);
/* A converge_steps row for each of the n steps (several in one INSERT
 * where the backend says so: insert_rows). */
int cv_journal_add_steps(struct cv_db *db, const char *run_id,
			 const struct cv_step *steps, size_t n,
			 const char *status, struct cv_error *err);

/*
 * Runs, newest first (at most `limit`, 0 for all); strings in arena.
 * A database without a journal has no runs.
 */
int cv_journal_runs(struct cv_db *db, struct cv_arena *arena, size_t limit,
		    struct cv_run **out, size_t *nout, struct cv_error *err);
/*
 * Every version table the runs recorded (schema_table), once each, as a
 * NULL-terminated array in arena; NULL without a journal.
 */
int cv_journal_version_tables(struct cv_db *db, struct cv_arena *arena,
			      const char ***out, struct cv_error *err);
/*
 * The store.grants binding (cv_grants_store_encode) of the newest step
 * made through one, into arena; NULL when there is none.
 */
int cv_journal_grants_store(struct cv_db *db, struct cv_arena *arena,
			    const char **out, struct cv_error *err);
/* One run by id: CV_ENOTFOUND when there is none. */
int cv_journal_run(struct cv_db *db, struct cv_arena *arena, const char *id,
		   struct cv_run *out, struct cv_error *err);
/* The steps of a run, in order, into plan (which must be initialised). */
int cv_journal_steps(struct cv_db *db, const char *run_id,
		     struct cv_plan *plan, struct cv_error *err);
/* The first `limit` (at least one) of them, for a listing. */
int cv_journal_steps_head(struct cv_db *db, const char *run_id, size_t limit,
			  struct cv_plan *plan, struct cv_error *err);

/* Statement lists to and from their stored form (texts, and code). */
void cv_stmts_encode(struct cv_buf *sql, struct cv_buf *code,
		     const struct cv_stmt *stmts, size_t n);
int cv_stmts_decode(struct cv_arena *arena, const char *sql, const char *code,
		    struct cv_stmt **out, uint32_t *nout);
/* Readable form: the texts joined, one statement per line group. */
void cv_stmts_text(struct cv_buf *out, const struct cv_stmt *stmts,
		   size_t n);

#endif
