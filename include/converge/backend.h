/*
 * Database backends behind one table of function pointers.
 *
 * The planner and the executor never ask which database they talk to: the
 * backend answers through its descriptor (how to quote, how to write a
 * parameter, how to lock, how to snapshot).  Only the files of src/backend/ include
 * sqlite3.h or libpq-fe.h.
 *
 * Values always travel as bound parameters, as text: NULL pointers are SQL
 * NULLs.  Row callbacks get the columns of one row as text (NULL for SQL
 * NULL) with their lengths; the pointers are valid only during the call.
 */
#ifndef CONVERGE_BACKEND_H
#define CONVERGE_BACKEND_H

#include "converge/error.h"

/* A parsed database URL.  Strings are malloc'd; see cv_url_release. */
struct cv_url {
	const struct cv_backend *backend; /* NULL: no such backend built */
	const char *type;  /* "sqlite" or "postgres" (static string) */
	char *path;      /* SQLite: the file path as given (no scheme) */
	char *conninfo;  /* PostgreSQL: what libpq takes, password kept */
	char *display;   /* what may be printed or recorded: no password */
	char *name;      /* the database's name, for snapshot file names:
			    the file name without extension, or dbname */
	char *schema;    /* PostgreSQL: where converge keeps its tables
			    (--schema); NULL: the first of the search path */
};
#define CV_URL_INIT { NULL, NULL, NULL, NULL, NULL, NULL, NULL }

/*
 * Parses `sqlite:PATH`, `sqlite:///ABS/PATH`, a plain path ending in .db,
 * .sqlite or .sqlite3, `postgres://…`, `postgresql://…` or a libpq
 * key=value string.  Returns 0, or CV_EUSAGE with a message that never
 * contains the password.
 */
int cv_url_parse(struct cv_url *out, const char *text, struct cv_error *err);
void cv_url_release(struct cv_url *url);
/* Removes passwords from a URL or key=value string; malloc'd result. */
char *cv_url_redact(const char *text);

/* Every backend's connection starts with this header. */
struct cv_db {
	const struct cv_backend *backend;
};

enum cv_open_flags {
	CV_DB_READONLY = 1 << 0, /* plan: never write, never create */
	CV_DB_CREATE = 1 << 1,   /* apply: create the database if missing */
};

typedef int (*cv_row_fn)(void *ctx, const char *const *cols,
			 const size_t *lens, int ncols);

struct cv_backend {
	const char *name;          /* "sqlite", "postgres" */
	const char *snapshot_ext;  /* ".db", ".dump" */

	/*
	 * Opens a connection.  With CV_DB_READONLY a SQLite file that does not
	 * exist gives CV_ENOTFOUND and nothing is created.  The open waits
	 * for a lock at most lock_timeout_ms (SQLite reads its schema then).
	 */
	int (*open)(struct cv_db **out, const struct cv_url *url,
		    unsigned flags, long lock_timeout_ms,
		    struct cv_error *err);
	void (*close)(struct cv_db *db);  /* accepts NULL */

	/* How long to wait for locks, in milliseconds. */
	void (*set_lock_timeout)(struct cv_db *db, long ms);

	/*
	 * Takes the lock and starts the write transaction it goes with
	 * (SQLite: flock on the database file, then BEGIN IMMEDIATE;
	 * PostgreSQL: BEGIN, then a transaction advisory lock).  Commit and
	 * rollback let the lock go, unless hold_lock keeps it.  Gives
	 * CV_ELOCKED when the lock timeout passes.
	 */
	int (*begin)(struct cv_db *db, struct cv_error *err);
	/* A read-only transaction: a consistent view for plan. */
	int (*begin_read)(struct cv_db *db, struct cv_error *err);
	int (*commit)(struct cv_db *db, struct cv_error *err);
	int (*rollback)(struct cv_db *db);  /* best effort; accepts no txn */
	/*
	 * Optional: keeps the lock that begin took past the end of its
	 * transaction, until release_lock or the connection's end, so that
	 * a run whose revisions commit in segments (transaction: false), or
	 * a restore, holds it throughout.  Outside a transaction it takes
	 * the lock, waiting as begin does.  PostgreSQL: a session advisory
	 * lock; SQLite: the flock is kept.  NULL when the backend cannot.
	 */
	int (*hold_lock)(struct cv_db *db, struct cv_error *err);
	void (*release_lock)(struct cv_db *db);
	/*
	 * Optional: after a begin that gave CV_ELOCKED, who keeps the lock
	 * from this connection.  Returns true when it is converge's own lock
	 * (another apply, rollback or restore), false when it is some other
	 * program's (SQLite: an application's write transaction), and
	 * appends to `who` what the system tells of the holder, as
	 * "pid 4242 (…, since 2026-12-07T22:40:00Z)", or nothing.
	 */
	bool (*lock_holder)(struct cv_db *db, struct cv_buf *who);

	/* Runs a script of any number of statements, without parameters. */
	int (*exec_script)(struct cv_db *db, const char *sql,
			   struct cv_error *err);
	/*
	 * Runs one statement with bound text parameters.  Statements are
	 * prepared once and cached by their text for the life of the
	 * connection, so running the same SQL for many rows costs one prepare.
	 */
	int (*exec)(struct cv_db *db, const char *sql,
		    const char *const *params, size_t nparams,
		    struct cv_error *err);
	/*
	 * Optional (NULL where a statement costs no round trip, as with
	 * SQLite): from batch_begin to batch_end, exec sends its statement
	 * and returns without waiting for the result, so that a plan's rows
	 * reach the server in a few round trips, not one each.  The results
	 * are read every few hundred statements and at batch_end; the first
	 * failure is returned by the exec or batch_end that reads it, and
	 * batch_end sets *done to the number of the batch's statements that
	 * succeeded before it (the failing one is the next).  Any other
	 * call made inside a batch first waits for what was sent.
	 */
	void (*batch_begin)(struct cv_db *db);
	int (*batch_end)(struct cv_db *db, size_t *done,
			 struct cv_error *err);
	/* Runs a query and calls fn per row; fn returning nonzero stops it
	 * and that value is returned. */
	int (*query)(struct cv_db *db, const char *sql,
		     const char *const *params, size_t nparams,
		     cv_row_fn fn, void *ctx, struct cv_error *err);

	/*
	 * Where unqualified names go: converge's own tables (app = false,
	 * the default) or the application's (app = true: the SQL of
	 * revisions and checks, and the tables they name).  PostgreSQL with
	 * --schema puts that schema first or last in the search path; NULL
	 * when the backend has one place for both.
	 */
	int (*scope)(struct cv_db *db, bool app, struct cv_error *err);

	int (*table_exists)(struct cv_db *db, const char *table, bool *out,
			    struct cv_error *err);
	int (*table_has_rows)(struct cv_db *db, const char *table, bool *out,
			      struct cv_error *err);
	/*
	 * Does the table or view an unqualified `table` finds in a query
	 * (the application's as well as converge's, unlike table_exists)
	 * have `column`?  column NULL asks whether there is such a table at
	 * all.  Names are matched as the database does for quoted ones.
	 */
	int (*column_exists)(struct cv_db *db, const char *table,
			     const char *column, bool *out,
			     struct cv_error *err);
	/*
	 * Is `column` of the table or view column_exists finds declared NOT
	 * NULL (false when there is no such column)?  One query.
	 */
	int (*column_not_null)(struct cv_db *db, const char *table,
			       const char *column, bool *out,
			       struct cv_error *err);
	/*
	 * Does the table a statement of the application's naming
	 * [schema.]table finds (each part as the statement reads it; schema
	 * NULL: through the search path) exist and hold rows?
	 */
	int (*table_rows)(struct cv_db *db, const char *schema,
			  const char *table, bool *out, struct cv_error *err);
	/*
	 * Optional (NULL where a column's declared length is not enforced,
	 * as with SQLite): the characters a value of `column` in converge's
	 * table `table` may have, as table_exists finds the table; 0 for no
	 * limit, or when there is no such column.
	 */
	int (*column_width)(struct cv_db *db, const char *table,
			    const char *column, size_t *out,
			    struct cv_error *err);
	/* Ends with CV_EDB naming the violations when foreign keys broke. */
	int (*foreign_key_check)(struct cv_db *db, struct cv_error *err);

	/*
	 * Writes a consistent copy of the database to `path` (mode 0600,
	 * created exclusively).  May be called inside the write transaction
	 * before anything was written.  CV_ENOTFOUND, with nothing left at
	 * `path`, when the program it needs is not installed: apply then
	 * goes on without a snapshot (SPEC §5, "when available").
	 */
	int (*snapshot)(struct cv_db *db, const char *path,
			struct cv_error *err);
	/* Replaces the database's whole content with the snapshot's. */
	int (*restore)(struct cv_db *db, const char *path,
		       struct cv_error *err);
	/*
	 * The same, with `record` run on a connection to the snapshot's
	 * content before it replaces the database, so that the restore and
	 * what `record` writes (the journal's record of it) land together
	 * or not at all (optional: NULL when the backend cannot; the caller
	 * then records the restore once it is done).  `record` gets `arg`.
	 */
	int (*restore_recorded)(struct cv_db *db, const char *path,
				int (*record)(struct cv_db *into, void *arg,
					      struct cv_error *err),
				void *arg, struct cv_error *err);
	/*
	 * Refuses a file that is plainly not a snapshot (no database at all)
	 * before anything is done; restore still checks all of it (optional:
	 * NULL leaves it to restore).
	 */
	int (*check_snapshot)(struct cv_db *db, const char *path,
			      struct cv_error *err);

	/* Appends `name` quoted as an identifier ("a""b" / PQescapeIdentifier). */
	void (*quote_ident)(struct cv_buf *out, const char *name);
	/* Appends the placeholder for parameter n, 1-based (?1 / $1). */
	void (*param)(struct cv_buf *out, unsigned n);
	/* Table suffix for keyed storage tables (" WITHOUT ROWID" / ""). */
	const char *table_suffix;
	/* Column type for booleans stored by converge. */
	const char *bool_type;
	/*
	 * Rows the journal writes with one INSERT (0: one a statement).
	 * SQLite pays a statement's fixed cost (cursors, statement
	 * journal, reset) once for all its rows; PostgreSQL's batch turns
	 * a run of one-row INSERTs into one COPY, which this would defeat.
	 */
	unsigned insert_rows;
};

extern const struct cv_backend cv_sqlite_backend;
extern const struct cv_backend cv_postgres_backend;

#endif
