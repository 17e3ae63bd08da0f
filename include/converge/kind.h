/*
 * Resource kinds: one descriptor per manifest section, one file each in
 * src/kinds/ (postgres, the largest, has one more per object type:
 * pg_roles.c, pg_privileges.c, pg_rls.c).  The loader, planner, executor
 * and `inspect` walk the table in cv_kinds[]; none of them knows what a
 * grant or a revision is.
 *
 * Adding a kind means writing src/kinds/NAME.c with its descriptor and one
 * line in cv_kinds[] (src/kinds/table.c).  Hooks a kind has no use for
 * are NULL.
 */
#ifndef CONVERGE_KIND_H
#define CONVERGE_KIND_H

#include "converge/backend.h"
#include "converge/model.h"
#include "converge/plan.h"
#include "converge/yaml.h"

#include <time.h>

struct cv_digest;
struct cv_emit;
struct cv_manifest;

/* What a kind's load hook gets besides its section. */
struct cv_loader {
	struct cv_arena *strings;  /* where everything loaded lives */
	struct cv_diags *diags;
	const char *path;          /* the manifest file being loaded */
	const char *dir;           /* its directory, for relative paths */
	struct cv_manifest *manifest;
};

/* Everything the hooks may need; owned by the caller of the planner. */
struct cv_ctx {
	struct cv_db *db;                 /* NULL: database does not exist yet */
	const struct cv_backend *be;      /* never NULL */
	const struct cv_state *want;      /* desired (manifests) */
	struct cv_state *live;            /* live, filled by read hooks */
	struct cv_arena *live_arena;      /* where live strings go */
	const char *now;                  /* RFC 3339 UTC, the expiry clock */
	time_t now_t;
	const char *schema_table;         /* version table in use */
	bool dry_run;                     /* `plan`: nothing will be applied */
	/* Where grants live when an application table keeps them (from the
	 * manifests, or from a saved plan's or a run's steps). */
	const struct cv_grants_store *grants_store;
	/* Where diff hooks add warnings about the manifests (a grant that
	 * has expired), placed as the loader's diagnostics; NULL: none are
	 * wanted.  Owned by the caller. */
	struct cv_diags *warnings;
};

struct cv_kind {
	const char *name;   /* step kind and manifest section: "grants" */
	unsigned section;   /* CV_SEC_* bit */
	unsigned needs;     /* other sections whose live state diff reads */

	/*
	 * Loads one file's section node into `want` (strings in `strings`).
	 * Called once per file that has the section; merging across files
	 * and "defined twice" errors are the kind's business.
	 */
	int (*load)(struct cv_state *want, const struct cv_node *node,
		    struct cv_loader *ld);
	/* After every file is loaded: references, cycles, sorting. */
	int (*validate)(struct cv_state *want, struct cv_arena *strings,
			struct cv_diags *diags);

	/* Reads the live objects of this kind (db may be NULL: empty). */
	int (*read)(struct cv_ctx *ctx, struct cv_error *err);
	/* Feeds a canonical form of the live objects to the fingerprint. */
	void (*digest)(const struct cv_state *live, struct cv_digest *d);
	/* Adds the steps that take live to want. */
	int (*diff)(struct cv_ctx *ctx, struct cv_plan *plan,
		    struct cv_error *err);
	/* Refuses a plan whose result breaks a rule (guards). */
	int (*verify)(struct cv_ctx *ctx, const struct cv_plan *plan,
		      struct cv_error *err);
	/*
	 * The canonical value of the object named by `key` in live, or NULL
	 * when absent; compared with a step's `after` before a rollback.
	 */
	const char *(*value)(struct cv_ctx *ctx, const char *const *key,
			     size_t nkey, struct cv_arena *arena);
	/* Bookkeeping after a step of this kind was applied in run_id. */
	int (*journal)(struct cv_ctx *ctx, const struct cv_step *step,
		       const char *run_id, struct cv_error *err);
	/* Creates the storage tables the kind's steps write to. */
	int (*ensure)(struct cv_ctx *ctx, struct cv_error *err);
	/* Their names, tables and views (NULL-terminated; NULL for none):
	 * converge's own, which applications read (SPEC §2). */
	const char *const *tables;
	/* Emits the live objects as a manifest section (key and value). */
	void (*inspect)(const struct cv_state *live, struct cv_emit *e);
};

extern const struct cv_kind *const cv_kinds[];
extern const size_t cv_nkinds;
const struct cv_kind *cv_kind_find(const char *name);
/*
 * Is `name` one of converge's tables (SPEC §7): the journal (converge_*),
 * a version table (alembic_version, or `version_table` when not NULL), or
 * a table or view some kind keeps its state in?  `nocase`: compared
 * without case, as SQLite finds tables.
 */
bool cv_own_table(const char *name, const char *version_table, bool nocase);

extern const struct cv_kind cv_kind_schema;
extern const struct cv_kind cv_kind_postgres;
extern const struct cv_kind cv_kind_roles;
extern const struct cv_kind cv_kind_grants;
extern const struct cv_kind cv_kind_entitlements;
extern const struct cv_kind cv_kind_flags;
extern const struct cv_kind cv_kind_guards;
extern const struct cv_kind cv_kind_checks;
extern const struct cv_kind cv_kind_store;

/*
 * Switches unqualified names to the application's tables (app) or back to
 * converge's (backend scope hook; nothing to do without one or without a
 * database).  Revisions, checks and the tables they name are the
 * application's.
 */
int cv_db_scope(struct cv_ctx *ctx, bool app, struct cv_error *err);

/*
 * Runs a check's query on ctx->db and compares its rows with `expect`
 * (canonical form).  CV_ECHECK with "check 'name' failed: expected …, got
 * …" when they differ.
 */
int cv_check_eval(struct cv_ctx *ctx, const char *name, const char *sql,
		  const char *expect, struct cv_error *err);

/*
 * Canonical encoding of values for `before`/`after` and fingerprints:
 * each string as "<len>:<bytes>", NULL as "~".  Unambiguous for any text.
 */
void cv_canon_add(struct cv_buf *out, const char *s);
/*
 * The "<len>:" that starts a string's canonical form, written at the end
 * of `head`; returns where it starts, its length in *n.  Without printf:
 * values and fingerprints encode millions of short strings, and
 * formatting the lengths cost more than the rest.
 */
#define CV_CANON_HEAD 24
const char *cv_canon_head(char head[CV_CANON_HEAD], size_t len, size_t *n);
/*
 * Names and subjects are text: anything but empty strings, control
 * characters and NUL (SPEC §6).  Adds a located error and returns
 * CV_EINVAL otherwise.
 */
int cv_check_name(const char *s, const char *what, const struct cv_mark *mark,
		  struct cv_diags *diags);
/*
 * A role named by `who` ("grant", "store.grants default") is one the
 * manifests define, when they have a roles section (else the planner
 * checks it against the database) that could be read whole (else what
 * is missing may define it).  Adds a located error and returns
 * CV_EINVAL otherwise.
 */
/*
 * The name closest to `name` (cv_suggest) among n entries of `size` bytes
 * whose name (const char *) is at offset `name_at`; NULL when none is.
 */
const char *cv_suggest_among(const char *name, const void *defs, size_t n,
			     size_t size, size_t name_at);
/* An error at `mark`, ending " (did you mean 'HINT'?)" when hint is set. */
void cv_report_undefined(struct cv_diags *diags, const struct cv_mark *mark,
			 const char *hint, const char *fmt, ...)
	CV_PRINTF(4, 5);
int cv_check_role(const struct cv_state *want, const char *role,
		  const char *who, const struct cv_mark *mark,
		  struct cv_diags *diags);

/*
 * Reports every later definition of a name at its place, naming the first
 * one's: "WHAT 'NAME' is defined twice (first at FILE:LINE:COL)".  `defs`
 * holds n entries of `size` bytes, sorted by name with cv_sort_stable (the
 * first read stays first); `name_at` and `mark_at` are the offsets of an
 * entry's name (const char *) and place (struct cv_mark).  Returns
 * CV_EINVAL when a name was defined twice.
 */
int cv_report_twice(const void *defs, size_t n, size_t size, size_t name_at,
		    size_t mark_at, const char *what, struct cv_diags *diags);

/*
 * Reads a list of names (`what` in messages, each an `item`): every one a
 * valid name (cv_check_name) and, when `check` is given, whatever else it
 * requires; a name listed twice is an error.  The result is sorted, in
 * ld->strings.
 */
/*
 * One entry of a `grants` list into want->grants: what the kind's load
 * does for each, for a parse that streams them (cv_yaml_stream).
 */
int cv_grants_load_item(struct cv_state *want, const struct cv_node *g,
			struct cv_loader *ld);

int cv_load_names(const struct cv_node *n, const char *what, const char *item,
		  int (*check)(const char *s, const struct cv_mark *mark,
			       struct cv_diags *diags),
		  struct cv_loader *ld, const char ***out, size_t *nout);
/* The same, and where each name is written, in *marks (in name order;
 * in ld->strings), for errors about one of them later. */
int cv_load_names_at(const struct cv_node *n, const char *what,
		     const char *item,
		     int (*check)(const char *s, const struct cv_mark *mark,
				  struct cv_diags *diags),
		     struct cv_loader *ld, const char ***out,
		     const struct cv_mark **marks, size_t *nout);

/*
 * SQL builders: identifiers quoted by the backend, values as parameters
 * ?1…?n in column order (UPDATE: the SET columns first, then the keys).
 * Build each once per plan and share the text between steps: the backend
 * prepares each distinct text once.
 */
const char *cv_sql_insert(const struct cv_backend *be, struct cv_arena *a,
			  const char *table, const char *const *cols,
			  size_t ncols);
/* nrows rows in one INSERT: row r's values are ?(r*ncols+1)…. */
const char *cv_sql_insert_rows(const struct cv_backend *be,
			       struct cv_arena *a, const char *table,
			       const char *const *cols, size_t ncols,
			       size_t nrows);
const char *cv_sql_delete(const struct cv_backend *be, struct cv_arena *a,
			  const char *table, const char *const *keys,
			  size_t nkeys);
const char *cv_sql_update(const struct cv_backend *be, struct cv_arena *a,
			  const char *table, const char *const *sets,
			  size_t nsets, const char *const *keys, size_t nkeys);
/* "SELECT c1, c2 FROM t ORDER BY o1, o2" with everything quoted. */
char *cv_sql_select(const struct cv_backend *be, const char *table,
		    const char *const *cols, size_t ncols,
		    const char *const *order, size_t norder);

/* The version table's column: version_num for alembic_version (as
 * Alembic keeps it), else version. */
const char *cv_schema_version_column(const char *table);
/* The error for a version table with several rows (SPEC §3), naming
 * them (`rows`: their versions, comma-separated); returns CV_EINVAL. */
int cv_schema_several_rows(struct cv_error *err, const char *table,
			   size_t n, const char *rows);
/*
 * Marks step st as losing data when its scripts drop a table or column
 * that holds rows in ctx->db (schema.c; used for rollbacks too).
 */
int cv_schema_mark_data_loss(struct cv_ctx *ctx, struct cv_plan *plan,
			     struct cv_step *st, const struct cv_stmt *stmts,
			     size_t n, struct cv_error *err);

/*
 * inspect --orgs-from: the `entitlements.orgs` section of the orgs in
 * `adopted`, every override row written as it is (none is implied by its
 * module's: without the catalogue, converge cannot tell a submodule's).
 */
void cv_ent_inspect_adopted(const struct cv_state *adopted,
			    struct cv_emit *e);

/*
 * A grants store binding in one string (canonical encoding), as plans and
 * the keys of steps carry it: saved plans and rollbacks have no manifests.
 */
const char *cv_grants_store_encode(const struct cv_grants_store *gs,
				   struct cv_arena *a);
const struct cv_grants_store *cv_grants_store_decode(const char *enc,
						     struct cv_arena *a);
/* The binding a plan's steps were made with, or NULL. */
const struct cv_grants_store *cv_grants_store_of(const struct cv_plan *plan,
						 struct cv_arena *a);
/*
 * The grants ctx->live holds once plan's grant steps have run, in
 * out->grants (a malloc'd array, unsorted; strings borrowed from live and
 * the plan, or put in `a`).  CV_EINVAL when a step's value is not a
 * grant's.
 */
int cv_grants_after_plan(const struct cv_ctx *ctx, const struct cv_plan *plan,
			 struct cv_state *out, struct cv_arena *a,
			 struct cv_error *err);
/*
 * apply FILE: the guards a saved plan recorded, checked against the state
 * it leaves (ctx->live, read under the lock, with its grant steps applied)
 * at ctx->now, by the planner's own check.  CV_EREFUSED when one breaks.
 */
int cv_guards_verify_saved(const struct cv_ctx *ctx,
			   const struct cv_plan *plan, struct cv_error *err);

/* Fingerprints: SHA-256 through OpenSSL's EVP. */
struct cv_digest *cv_digest_new(void);
void cv_digest_add(struct cv_digest *d, const void *data, size_t n);
/* Adds a string with its length, so "ab","c" and "a","bc" differ; NULL
 * and "" differ too. */
void cv_digest_str(struct cv_digest *d, const char *s);
/* Finishes and frees; returns "sha256:<hex>" in arena. */
const char *cv_digest_finish(struct cv_digest *d, struct cv_arena *arena);
const char *cv_sha256_hex(const void *data, size_t n, struct cv_arena *arena);

#endif
