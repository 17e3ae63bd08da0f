/*
 * What the verbs share: parsed options, and the steps every verb takes
 * (find the database, the clock, the actor; load manifests; ask).
 */
#ifndef CONVERGE_CLI_H
#define CONVERGE_CLI_H

#include <time.h>

#include <jansson.h>

#include "converge/apply.h"
#include "converge/backend.h"
#include "converge/journal.h"
#include "converge/manifest.h"
#include "converge/plan.h"
#include "converge/timeutil.h"

/* Options a verb accepts besides the global ones (bit mask). */
enum cv_opt {
	OPT_MANIFESTS = 1 << 0,
	OPT_OUT = 1 << 1,
	OPT_FORMAT = 1 << 2,
	OPT_DETAILED = 1 << 3,
	OPT_AUTO_APPROVE = 1 << 4,
	OPT_ALLOW_DATA_LOSS = 1 << 5,
	OPT_SNAPSHOT_DIR = 1 << 6,
	OPT_NO_SNAPSHOT = 1 << 7,
	OPT_PRUNE = 1 << 8,
	OPT_LIMIT = 1 << 9,
	OPT_ORGS_FROM = 1 << 10,
};

struct cv_opts {
	const char *verb;
	const char **manifests;
	size_t nmanifests, manifests_alloc;
	const char *db;
	const char *out;
	enum cv_format format;
	bool detailed_exitcode;
	bool auto_approve;
	bool allow_data_loss;
	bool no_snapshot;
	bool quiet;
	bool verbose;
	bool color;
	const char *snapshot_dir;
	const char *now_arg;
	const char *actor;
	long lock_timeout_ms;
	long prune;          /* -1: not given */
	long limit;
	const char *schema;  /* PostgreSQL schema for converge's tables */
	const char *orgs_from; /* inspect: the adoption query */
	char **args;         /* positional arguments */
	int nargs;

	/* Derived by cli_setup. */
	char now[CV_TIME_LEN];
	time_t now_t;
};

struct cv_verb {
	const char *name;
	int (*run)(struct cv_opts *o);
	unsigned opts;        /* enum cv_opt accepted */
	int min_args, max_args;
};

int cmd_validate(struct cv_opts *o);
int cmd_plan(struct cv_opts *o);
int cmd_apply(struct cv_opts *o);
int cmd_rollback(struct cv_opts *o);
int cmd_restore(struct cv_opts *o);
int cmd_status(struct cv_opts *o);
int cmd_history(struct cv_opts *o);
int cmd_snapshots(struct cv_opts *o);
int cmd_inspect(struct cv_opts *o);

/* Prints "converge: error: …" and returns the exit code for err. */
int cli_fail(const struct cv_error *err);
/* Prints a usage error for the verb and returns 64. */
int cli_usage(const struct cv_opts *o, const char *fmt, ...)
	CV_PRINTF(2, 3);
/* Informational line on stderr unless --quiet. */
void cli_note(const struct cv_opts *o, const char *fmt, ...) CV_PRINTF(2, 3);
/*
 * `s` as one word of a POSIX shell command, for the commands converge
 * suggests (a URL's '&' or '?' must survive a paste); malloc'd.
 */
char *cli_shell_quote(const char *s);
/* "converge rollback --db DB [--schema S] RUN_ID", quoted for a shell,
 * for `db` (a URL without password) and o's --schema.  Freed by the
 * caller. */
char *cli_rollback_command(const struct cv_opts *o, const char *db,
			   const char *run_id);
/* A run as JSON, with every field the journal records (status, history). */
json_t *cli_run_json(const struct cv_run *r);
/* Text a user wrote (an actor), escaped for markdown; malloc'd. */
char *cli_md_escape(const char *s);
/* s for a terminal or markdown: control characters as \xNN (and the
 * markdown escapes when md).  The caller frees it. */
char *cli_display(const char *s, bool md);
/* "### converge VERB for `DB`": the database as a code span its name
 * cannot break out of. */
void cli_md_heading(const char *verb, const char *db);
/*
 * Whether another apply holds the lock now: "held by another apply",
 * "held by another program" (SQLite: an application's write
 * transaction), "free" or "unknown" (it is asked for without waiting).
 * When held, `who` (may be NULL) gets what the system tells of the
 * holder, as "pid 4242 (…)", or nothing.
 */
const char *cli_lock_state(const struct cv_opts *o, const struct cv_url *url,
			   struct cv_buf *who);
/* Shows r, the newest run, as running when it is recorded as not
 * finished (a revision outside a transaction) and the lock is held:
 * `lock` as cli_lock_state said it, or NULL to ask it when needed. */
void cli_show_running(const struct cv_opts *o, const struct cv_url *url,
		      struct cv_run *r, const char *lock);
/* A name fit to record as the actor: not blank, no control characters. */
bool cli_actor_ok(const char *s);

/* The database URL from --db or CONVERGE_DATABASE_URL. */
int cli_url(const struct cv_opts *o, struct cv_url *url, struct cv_error *err);
/*
 * Opens the database.  `readonly`: a missing SQLite file gives *db NULL
 * and 0 (planned as empty).  Otherwise with `create` it is created.
 */
int cli_open(const struct cv_opts *o, const struct cv_url *url, bool readonly,
	     bool create, struct cv_db **db, struct cv_error *err);
/*
 * What a verb that only reads does first: the URL (cli_url), the database
 * opened read-only (cli_open), and a read transaction on it, so that all
 * it reads comes from one state.  *db stays NULL for a missing SQLite file.
 */
int cli_open_read(const struct cv_opts *o, struct cv_url *url,
		  struct cv_db **db, struct cv_error *err);
/* Rolls back what is open on *db and closes it; *db may be NULL, and is
 * NULL after. */
void cli_close(const struct cv_url *url, struct cv_db **db);
/*
 * What a database's version table holds (SPEC §3): normally one row;
 * several are an error (Alembic branches) that callers name rather than
 * pick from.
 */
struct cli_version {
	char *table;         /* NULL: no version table */
	char *value;         /* the first row; NULL: base, no revision */
	struct cv_buf rows;  /* every row, ", "-separated */
	size_t nrows;
};
#define CLI_VERSION_INIT { NULL, NULL, CV_BUF_INIT, 0 }
/*
 * Reads the version table: `hint` (the manifests' or the last run's) when
 * it exists, else whichever of converge's and Alembic's exists.  v->table
 * stays NULL when there is none, or no database (db NULL).
 */
int cli_read_version(struct cv_db *db, const char *hint,
		     struct cli_version *v, struct cv_error *err);
void cli_version_release(struct cli_version *v);
/* Loads -m manifests; prints every diagnostic; returns an exit code. */
int cli_manifests(const struct cv_opts *o, struct cv_manifest *m);
/* The actor recorded in the journal. */
const char *cli_actor(const struct cv_opts *o);
/*
 * Asks for "yes" on the terminal.  Without --auto-approve and without a
 * terminal, refuses.  Returns 0 to go on, else an exit code.
 */
int cli_confirm(const struct cv_opts *o, const char *question);
/* Prints the plan in the chosen format on stdout (text: unless --quiet). */
void cli_show_plan(const struct cv_opts *o, const struct cv_plan *plan);
/*
 * The options of a run (kind "apply" or "rollback") as the command line
 * set them; the caller adds what is its own (undoes, manifests digest).
 */
void cli_apply_opts(const struct cv_opts *o, const char *kind,
		    const struct cv_url *url, struct cv_apply_opts *ao);
/*
 * Says on stderr what a failed run left: `nothing` when all was rolled
 * back, else which steps stay applied (revisions run outside a
 * transaction), followed by `next` (may be NULL), or what to repair before
 * `again` ("applying") when a step failed half-way; then the snapshot.
 */
void cli_run_failed(const struct cv_apply_result *res, const char *again,
		    const char *nothing, const char *next);
/* The context for planning against db (db may be NULL). */
void cli_ctx(const struct cv_opts *o, struct cv_ctx *ctx, struct cv_db *db,
	     const struct cv_backend *be, const struct cv_state *want,
	     struct cv_state *live, struct cv_arena *live_arena);
/*
 * Plans manifests m against db (NULL: an empty database): the plan gets
 * its metadata (database, created_at, manifests digest).  Everything the
 * plan needs is copied into it.  A broken guard gives CV_EREFUSED with the
 * plan complete, so that callers can show it.  With `warn`, what planning
 * finds worth a warning (grants expired at --now) is printed on stderr,
 * placed in the manifests, unless --quiet: once per run, by the plan that
 * is shown first.
 */
int cli_plan(const struct cv_opts *o, const struct cv_manifest *m,
	     const struct cv_url *url, struct cv_db *db, bool warn,
	     struct cv_plan *plan, struct cv_error *err);
/*
 * Reads the live state of a saved plan's sections and compares its
 * fingerprint: CV_ESTALE when the database is not the one it was made
 * from.  With `guards` (apply FILE, whose plan was checked at another
 * clock), then checks the guards the plan recorded against the state it
 * leaves: CV_EREFUSED when one would break.
 */
int cli_check_fresh(const struct cv_opts *o, const struct cv_plan *plan,
		    struct cv_db *db, const struct cv_backend *be, bool guards,
		    struct cv_error *err);
/* Writes the plan file (atomically: a temporary file, then rename). */
int cli_write_plan(const struct cv_plan *plan, const char *path,
		   struct cv_error *err);
/* Data-loss refusal without --allow-data-loss: 0 or an exit code. */
int cli_check_data_loss(const struct cv_opts *o, const struct cv_plan *plan);

#endif
