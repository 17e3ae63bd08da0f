/*
 * Error codes, error details and manifest diagnostics.
 *
 * A fallible function returns 0 or a negative CV_E* code and fills a
 * struct cv_error that its caller owns.  Manifest validation does not stop
 * at the first problem: it appends to a struct cv_diags and fails once at
 * the end, so that a user sees every error in one run.
 */
#ifndef CONVERGE_ERROR_H
#define CONVERGE_ERROR_H

#include <stdio.h>
#include "converge/util.h"

enum cv_code {
	CV_OK = 0,
	CV_ERR = -1,        /* generic failure: exit 1 */
	CV_EUSAGE = -2,     /* bad command line: exit 64 */
	CV_EINVAL = -3,     /* invalid manifest or input: exit 1 */
	CV_EDB = -4,        /* database error: exit 1 */
	CV_EIO = -5,        /* file system error: exit 1 */
	CV_ESTALE = -6,     /* saved plan is stale: exit 3 */
	CV_ELOCKED = -7,    /* lock not acquired in time: exit 4 */
	CV_ECHECK = -8,     /* a check failed after applying: exit 5 */
	CV_EREFUSED = -9,   /* refused: guard, data loss, no terminal: exit 1 */
	CV_ENOTFOUND = -10, /* no such run, snapshot, table: exit 1 */
	CV_EDRIFT = -11,    /* applied revision edited, or a live version
			     * not in the chain: exit 1 */
	CV_EINTERRUPTED = -12, /* a crashed write to roll back first: exit 1 */
	CV_EREADONLY = -13, /* a statement wrote in a read-only transaction
			     * (SQLSTATE 25006, SQLITE_READONLY): exit 1 */
};

/* Maps a CV_E* code to the process exit code of SPEC §1. */
int cv_exit_code(int code);

struct cv_error {
	int code;
	char *msg;      /* malloc'd; lowercase, no full stop */
	char *file;     /* manifest file, when the error has a place */
	unsigned line;  /* 1-based; 0 when unknown */
	unsigned col;   /* 1-based; 0 when unknown */
	char *step;     /* the plan step being applied, for database errors */
	char *sql;      /* the SQL that failed */
};
#define CV_ERROR_INIT { 0, NULL, NULL, 0, 0, NULL, NULL }

/* Sets code and message (replacing any earlier ones); returns code. */
int cv_error_set(struct cv_error *err, int code, const char *fmt, ...)
	CV_PRINTF(3, 4);
/* Prepends "context: " to the message; returns err->code. */
int cv_error_prefix(struct cv_error *err, const char *fmt, ...)
	CV_PRINTF(2, 3);
void cv_error_set_sql(struct cv_error *err, const char *step, const char *sql);
/* Places the error in a manifest or revision file (FILE:LINE:COL). */
struct cv_mark;
void cv_error_set_mark(struct cv_error *err, const struct cv_mark *mark);
void cv_error_release(struct cv_error *err);
/* Prints "converge: error: msg" and the step and SQL when known. */
void cv_error_print(const struct cv_error *err, FILE *fp);
/*
 * The error as the journal records it: the message, then "in step: …"
 * and "sql: …" lines when it has them (the SQL whole); malloc'd.
 */
char *cv_error_text(const struct cv_error *err);

/* A place in a manifest. */
struct cv_mark {
	const char *file;  /* borrowed: lives as long as the manifest set */
	unsigned line;     /* 1-based */
	unsigned col;      /* 1-based */
};

enum cv_diag_level { CV_DIAG_ERROR, CV_DIAG_WARNING, CV_DIAG_NOTE };

struct cv_diag {
	enum cv_diag_level level;
	struct cv_mark mark;
	char *msg;
	bool secret;   /* its line may hold a secret: not shown */
};

/*
 * Source texts, so that a diagnostic can show its line with a caret.
 * Registered by the manifest loader; borrowed, not copied.
 */
struct cv_source {
	const char *path;
	const char *text;
	size_t len;
};

struct cv_diags {
	struct cv_diag *items;
	size_t nr, alloc;
	size_t errors;
	const struct cv_source *sources;
	size_t nsources;
};
#define CV_DIAGS_INIT { NULL, 0, 0, 0, NULL, 0 }

void cv_diags_add(struct cv_diags *d, enum cv_diag_level level,
		  const struct cv_mark *mark, const char *fmt, ...)
	CV_PRINTF(4, 5);
#define cv_diag_error(d, mark, ...) \
	cv_diags_add((d), CV_DIAG_ERROR, (mark), __VA_ARGS__)
/* The diagnostic added last is printed without its source line: the
 * line may hold a secret (a password written in a manifest). */
void cv_diags_secret(struct cv_diags *d);
/* Appends *g, which another list held: d owns its message from now on. */
void cv_diags_push(struct cv_diags *d, const struct cv_diag *g);
/* Keeps, of the diagnostics from index `first` on, those keep(g, arg)
 * says to, in their order; the others are freed. */
void cv_diags_keep(struct cv_diags *d, size_t first,
		   bool (*keep)(const struct cv_diag *g, const void *arg),
		   const void *arg);
/*
 * Prints every diagnostic in the order found, each as
 * "FILE:LINE:COL: error: msg" followed by the source line and a caret.
 */
void cv_diags_print(const struct cv_diags *d, FILE *fp);
void cv_diags_release(struct cv_diags *d);

/* Cuts user text for messages: at most 60 bytes, control bytes escaped.
 * Returns a pointer to a static buffer (one of a small rotation). */
const char *cv_shorten(const char *s);

#endif
