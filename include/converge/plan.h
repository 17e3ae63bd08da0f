/*
 * Plans: ordered, reversible lists of steps, and their four renderings.
 *
 * A step carries the SQL that applies it and the SQL that undoes it, as
 * statements with bound parameters.  Statements marked `script` are SQL by
 * definition (migration up/down text) and run as they are, without
 * parameters.  Everything in a plan lives in the plan's arena.
 */
#ifndef CONVERGE_PLAN_H
#define CONVERGE_PLAN_H

#include <stdio.h>
#include "converge/error.h"

#define CV_PLAN_FORMAT "converge-plan/1"

struct cv_min_grant;

/* SPEC §4: phases run in this order. */
enum cv_phase {
	CV_PHASE_DISABLE_FLAGS = 1,
	CV_PHASE_REMOVE = 2,
	CV_PHASE_SCHEMA_DOWN = 3,
	CV_PHASE_SCHEMA_UP = 4,
	CV_PHASE_ADD = 5,
	CV_PHASE_CHECKS = 6,
	CV_PHASE_ENABLE_FLAGS = 7,
};

/* Step actions; each has its sign in the text form. */
enum cv_action {
	CV_ACT_CREATE,  /* + */
	CV_ACT_DELETE,  /* - */
	CV_ACT_UPDATE,  /* ~ */
	CV_ACT_UP,      /* ↑ */
	CV_ACT_DOWN,    /* ↓ */
	CV_ACT_ENABLE,  /* + */
	CV_ACT_DISABLE, /* - */
	CV_ACT_CHECK,   /* ? */
	CV_ACT__COUNT,
};

const char *cv_action_name(enum cv_action a);   /* "create", … */
const char *cv_action_sign(enum cv_action a);   /* "+", "↑", … */
int cv_action_parse(const char *name, enum cv_action *out);
/* The action that undoes `a` (create <-> delete, up <-> down, …). */
enum cv_action cv_action_inverse(enum cv_action a);

enum cv_step_flags {
	CV_STEP_DATA_LOSS = 1 << 0,   /* loses rows no inverse brings back */
	CV_STEP_NO_TXN = 1 << 1,      /* migration with transaction: false */
	CV_STEP_IRREVERSIBLE = 1 << 2,/* no inverse exists */
};

struct cv_stmt {
	const char *sql;
	const char **params;  /* NULL entries are SQL NULL */
	uint32_t nparams;
	bool script;          /* run as a script; no parameters */
	/*
	 * Values known only when the step runs, filled in by the executor:
	 * the 1-based parameter that gets the run's id, and the one that
	 * gets the time it runs at (RFC 3339 UTC); 0 for none.  Event logs
	 * (ent_events) record both.
	 */
	uint16_t run_id_param;
	uint16_t now_param;
};

/* The counts first, then the pointers: no padding (104 bytes, not 120;
 * a plan of 200,000 grant steps holds 200,000 of them). */
struct cv_step {
	uint32_t seq;          /* 1-based position in the plan */
	uint8_t phase;         /* enum cv_phase */
	uint8_t action;        /* enum cv_action */
	unsigned flags;        /* enum cv_step_flags */
	uint32_t nkey;
	uint32_t nfwd;
	uint32_t ninv;
	const char *kind;      /* "schema", "roles", "grants", … */
	const char *object;    /* human-readable name, unique within kind */
	const char *detail;    /* the rest of the review line; may be NULL */
	const char *note;      /* why it is flagged (data loss); may be NULL */
	/* Identity and values, for stale and rollback checks: the kind's
	 * canonical value of the object before and after (NULL = absent). */
	const char **key;      /* nkey entries */
	const char *before;
	const char *after;
	const char *checksum;  /* schema steps: checksum of the revision's up */
	struct cv_stmt *fwd;   /* nfwd entries */
	struct cv_stmt *inv;   /* ninv entries */
};

struct cv_plan {
	struct cv_arena arena;
	struct cv_step *steps;
	size_t nr, alloc;

	const char *format;           /* CV_PLAN_FORMAT */
	const char *created_at;       /* RFC 3339 UTC */
	const char *now;              /* the clock used for expiry */
	const char *database;         /* URL without password */
	const char *backend;          /* "sqlite", "postgres" */
	const char *fingerprint;      /* "sha256:…" of the live state read */
	const char *manifests_digest; /* "sha256:…" of the manifests */
	/* PostgreSQL --schema the plan was made with (converge's tables);
	 * NULL: the default, public. */
	const char *storage_schema;
	unsigned sections;            /* CV_SEC_* bits the plan covers */
	const char *schema_table;     /* version table, when schema is covered */
	const char *schema_from;      /* live version; NULL = base */
	const char *schema_to;        /* desired version; NULL = base */
	/* store.grants binding (cv_grants_store_encode), or NULL */
	const char *grants_store;
	/* A rollback's plan: recovery needs no --allow-data-loss, and the
	 * snapshot it takes first keeps what its steps drop. */
	bool recovery;
	/* Checks that plan could not run because steps affect them. */
	const char **deferred_checks;
	size_t ndeferred, deferred_alloc;
	/*
	 * The guards it was made under (guards.min_grants): a saved plan
	 * carries them, and `apply FILE` checks them again at its own clock.
	 * Marks name the manifest, or the plan file they were read from.
	 */
	struct cv_min_grant *min_grants;
	size_t nmin_grants, min_grants_alloc;
	/* Why converge refused the plan (a guard), or NULL: JSON shows it,
	 * since the exit code does not travel with the text.  Never saved:
	 * a refused plan is not written. */
	const char *refused;
	/* The last texts steps shared (statements, kind names), each copied
	 * into the arena once; ntexts counts them, the oldest is replaced. */
	const char *texts[4];
	unsigned ntexts;
};

void cv_plan_init(struct cv_plan *plan);
void cv_plan_release(struct cv_plan *plan);

/* Appends a zeroed step (phase, action, kind and object set); the plan
 * owns it.  Pointers into plan->steps are invalidated by the next add. */
struct cv_step *cv_plan_add(struct cv_plan *plan, enum cv_phase phase,
			    enum cv_action action, const char *kind,
			    const char *object);
/* Adds a statement to a step's forward or inverse list; `params` copied
 * into the plan arena.  Returns the statement for further setup.  A list
 * of n statements made elsewhere (the journal's reader) must have room for
 * cv_stmt_room(n) of them. */
size_t cv_stmt_room(size_t n);
struct cv_stmt *cv_step_fwd(struct cv_plan *plan, struct cv_step *step,
			    const char *sql, const char *const *params,
			    size_t nparams);
struct cv_stmt *cv_step_inv(struct cv_plan *plan, struct cv_step *step,
			    const char *sql, const char *const *params,
			    size_t nparams);
void cv_step_set_key(struct cv_plan *plan, struct cv_step *step,
		     const char *const *key, size_t nkey);
/* Records a check that plan could not run (deferred to apply); the name is
 * copied into the plan arena. */
void cv_plan_defer_check(struct cv_plan *plan, const char *name);
/* Records a guard the plan is made under; the role and the mark's file
 * are copied into the plan arena. */
void cv_plan_add_min_grant(struct cv_plan *plan, const char *role,
			   long long min, const struct cv_mark *mark);

/* "data_loss", "no_transaction", "irreversible" for one CV_STEP_* bit. */
const char *cv_step_flag_name(unsigned flag);
int cv_step_flag_parse(const char *name, unsigned *out);

/*
 * Sorts steps stably by phase, keeping the order kinds added them within
 * a phase, and numbers them from 1.
 */
void cv_plan_finish(struct cv_plan *plan);

struct cv_plan_counts {
	size_t add, change, remove, up, down, checks, data_loss;
};
void cv_plan_count(const struct cv_plan *plan, struct cv_plan_counts *out);

enum cv_format { CV_FORMAT_TEXT, CV_FORMAT_JSON, CV_FORMAT_MARKDOWN };
int cv_format_parse(const char *s, enum cv_format *out);

struct cv_render_opts {
	bool color;    /* ANSI colours in text */
	bool verbose;  /* text: also print each step's SQL */
};

/* The review forms: text, JSON (the plan file's fields) or Markdown.
 * Returns 0, or CV_EIO when writing fails.  `opts` may be NULL. */
int cv_plan_render(const struct cv_plan *plan, enum cv_format format,
		   const struct cv_render_opts *opts, FILE *fp);
/* A JSON string of user text (jansson's json_t): bytes that are not
 * UTF-8 become U+FFFD, so that nothing read from a database is dropped;
 * NULL gives JSON null. */
struct json_t *cv_json_text(const char *s);
/*
 * Writes `root`, an object whose last key holds an empty array, with that
 * array's n entries made one at a time by entry(i, arg) (a new reference),
 * each given back once written: the layout of json_dumpf with
 * JSON_INDENT(2), and a newline, without the whole tree held at once (a
 * plan of 200,000 steps was 1.3 GB as one).  Steals `root`.  Returns 0,
 * CV_ERR when the text cannot be made, or CV_EIO when writing fails.
 */
int cv_json_write_listing(FILE *fp, struct json_t *root, size_t n,
			  struct json_t *(*entry)(size_t i, const void *arg),
			  const void *arg);
/*
 * Appends user text to be shown on a terminal: control characters (C0 and
 * C1) and bytes that are not UTF-8 escaped (\xNN, \u{XXXX}), as are
 * invisible format characters; each ASCII character in `md` (NULL: none)
 * gets a backslash before it.
 */
void cv_display_add(struct cv_buf *b, const char *s, const char *md);
/* Appends `s` as a Markdown code span its text cannot break out of. */
void cv_md_code_span(struct cv_buf *b, const char *s);
/*
 * One step as the text plan shows it: "  + role viewer: detail", then its
 * "      ! data loss: …" notes, coloured when opts->color.  The executor
 * prints progress with it so that what runs reads like what was reviewed.
 * `opts` may be NULL.
 */
void cv_step_print(const struct cv_step *s, const struct cv_render_opts *opts,
		   FILE *fp);
/*
 * A run's steps as `history RUN_ID` shows them: each as the text plan
 * shows it, and with opts->verbose its "forward:" and "inverse:"
 * statements ("sql: …" and "params: […]", scripts line by line).
 * Markdown puts them in a fenced block, as the plan's.
 */
void cv_steps_print(const struct cv_plan *steps, enum cv_format format,
		    const struct cv_render_opts *opts, FILE *fp);
/* The converge-plan/1 YAML file, written with libyaml's emitter. */
int cv_plan_write_yaml(const struct cv_plan *plan, FILE *fp,
		       struct cv_error *err);
/*
 * Reads a converge-plan/1 file.  Anything malformed is an error naming
 * the file, line and column; returns 0 or CV_EINVAL (CV_EIO when the file
 * cannot be read).  `out` is initialised here; the caller releases it
 * whether or not the read succeeded.
 */
int cv_plan_read_yaml(struct cv_plan *out, const char *path,
		      struct cv_error *err);

#endif
