/*
 * The -h/--help texts (help.h): the top-level usage and one per verb.
 *
 * Each text is one string literal built from shared pieces, so that the
 * global options and the exit codes read the same on every verb.  The
 * texts say what docs/verbs/<verb>.md says; tests/unit/test_help.c holds
 * the two to the same options.  Lines stay within 79 columns.
 */
#include <string.h>

#include "converge/help.h"

/* The options every verb takes, but --db, which verbs list themselves. */
#define GLOBAL_OPTIONS \
	"  -q, --quiet             print errors only\n" \
	"  -v, --verbose           say more (plans: each step's SQL)\n" \
	"  --no-color              no colours (also when NO_COLOR is not empty)\n" \
	"  --now TIMESTAMP         the clock for expiry, RFC 3339; a date alone\n" \
	"                          is midnight UTC (or $CONVERGE_NOW; default:\n" \
	"                          the system clock)\n" \
	"  --actor NAME            who is recorded in the journal, not empty\n" \
	"                          (default: $CONVERGE_ACTOR, the CI user, else\n" \
	"                          $USER)\n" \
	"  --lock-timeout SECONDS  how long to wait for the database lock\n" \
	"                          before giving up with exit 4 (default 0:\n" \
	"                          do not wait)\n" \
	"  --schema NAME           PostgreSQL: the schema for converge's own\n" \
	"                          tables (default: public)\n" \
	"  -h, --help              show this help and exit\n" \
	"  --version               print the version and exit\n"

#define EXIT_CODES \
	"Exit codes: 0 success (plan: no changes), 1 error, 2 changes found\n" \
	"(plan --detailed-exitcode), 3 stale saved plan, 4 lock not acquired,\n" \
	"5 a check failed (rolled back), 64 usage error.\n"

#define OPT_MANIFESTS \
	"  -m, --manifests PATH    a manifest file or directory; repeatable.\n" \
	"                          A directory means every *.yaml/*.yml below\n" \
	"                          it, in sorted path order; '-' reads stdin\n"

#define OPT_DB \
	"  --db URL                the database: sqlite:PATH, a path ending in\n" \
	"                          .db or .sqlite, postgres://..., or a libpq\n" \
	"                          key=value string (or $CONVERGE_DATABASE_URL)\n"

#define OPT_FORMAT \
	"  --format FORMAT         text (default), json or markdown\n"

#define OPT_AUTO_APPROVE \
	"  --auto-approve          do not ask for confirmation; without it a\n" \
	"                          terminal is asked, and no terminal refuses\n"

#define OPT_SNAPSHOT_DIR \
	"  --snapshot-dir DIR      where snapshots are kept (default:\n" \
	"                          .converge/snapshots beside a SQLite file,\n" \
	"                          ./.converge/snapshots for PostgreSQL)\n"

#define OPT_NO_SNAPSHOT \
	"  --no-snapshot           do not take a snapshot first\n"

#define TAIL \
	"\n" "Global options:\n" GLOBAL_OPTIONS "\n" EXIT_CODES

static const char usage_text[] =
	"usage: converge VERB [OPTIONS] [ARGS]\n"
	"\n"
	"Reconciles an application database (SQLite or PostgreSQL) with YAML\n"
	"manifests: schema version, roles, grants, entitlements, feature flags,\n"
	"and PostgreSQL roles, privileges and row-level security.\n"
	"\n"
	"Verbs:\n"
	"  validate   -m PATH...                     check manifests offline\n"
	"  plan       -m PATH... --db URL [-o FILE]  diff and print the plan\n"
	"  apply      -m PATH... --db URL            plan, confirm, apply\n"
	"  apply      FILE --db URL                  apply a saved plan exactly\n"
	"  rollback   --db URL [RUN_ID]              undo a run (default: the last)\n"
	"  restore    --db URL SNAPSHOT              put a snapshot back\n"
	"  status     --db URL                       version, last runs, lock, drift\n"
	"  history    --db URL [RUN_ID]              applied runs and their steps\n"
	"  snapshots  --db URL [--prune N]           list (or prune) snapshots\n"
	"  inspect    --db URL [--orgs-from SQL]     print live state as a manifest\n"
	"\n"
	"Global options (every verb):\n"
	OPT_DB
	GLOBAL_OPTIONS
	"\n"
	EXIT_CODES
	"\n"
	"'converge VERB -h' shows a verb's options; 'man converge' and docs/\n"
	"have the manifest reference.\n";

static const char validate_text[] =
	"usage: converge validate -m PATH...\n"
	"\n"
	"Checks manifests offline, without a database: YAML syntax and types,\n"
	"unknown keys, references between sections (roles, inherits, grants,\n"
	"plans, flags, checks), cycles, and the migration chain that\n"
	"schema.migrations names.  Reports every error, each as FILE:LINE:COL,\n"
	"and exits 1 if there was any.\n"
	"\n"
	"Options:\n"
	OPT_MANIFESTS
	"  --db URL                accepted, as by every verb, and ignored:\n"
	"                          validate opens no database\n"
	TAIL;

static const char plan_text[] =
	"usage: converge plan -m PATH... --db URL [-o FILE] [--format FORMAT]\n"
	"                     [--detailed-exitcode]\n"
	"\n"
	"Reads the live database, diffs it against the manifests and prints the\n"
	"ordered, reversible plan: + add, - remove, ~ change, and schema\n"
	"revisions up or down, then a summary line.  Strictly read-only: the\n"
	"database is never written, and a SQLite file that does not exist is\n"
	"planned as empty and not created.  Guards are checked (exit 1).\n"
	"\n"
	"Options:\n"
	OPT_MANIFESTS
	OPT_DB
	"  -o, --out FILE          also write the plan to FILE as YAML\n"
	"                          (converge-plan/1), for 'converge apply FILE';\n"
	"                          '-' writes it to stdout instead of the text\n"
	"                          plan.  Never one of the -m manifests,\n"
	"                          nor the database\n"
	OPT_FORMAT
	"  --detailed-exitcode     exit 0 when there are no changes, 2 when\n"
	"                          there are, 1 on error\n"
	TAIL;

static const char apply_text[] =
	"usage: converge apply -m PATH... --db URL [--auto-approve]\n"
	"       converge apply FILE --db URL [--auto-approve]\n"
	"\n"
	"Plans as 'converge plan' does, shows the plan, asks for confirmation,\n"
	"takes a snapshot and applies every step, with the journal, in one\n"
	"transaction.  With FILE, a plan saved by 'plan -o', it applies exactly\n"
	"those steps, and refuses with exit 3 when the database is no longer in\n"
	"the state the plan was made from, and with exit 1 when the state it\n"
	"leaves would break the guards it recorded, counted at this --now (a\n"
	"grant may have expired since).  FILE '-' reads the plan from standard\n"
	"input ('plan -o -' writes it there); it then needs --auto-approve.\n"
	"Nothing to change: no run recorded.\n"
	"\n"
	"Options:\n"
	OPT_MANIFESTS
	OPT_DB
	OPT_AUTO_APPROVE
	"  --allow-data-loss       allow steps that lose data no inverse can\n"
	"                          bring back (dropping a table or column that\n"
	"                          holds rows)\n"
	OPT_SNAPSHOT_DIR
	OPT_NO_SNAPSHOT
	TAIL;

static const char rollback_text[] =
	"usage: converge rollback --db URL [RUN_ID] [--auto-approve]\n"
	"\n"
	"Undoes a run: applies its recorded inverse steps in reverse order, as a\n"
	"new run, after a snapshot.  Without RUN_ID, the newest successful run\n"
	"that had changes, is not a rollback and was not rolled back, so that\n"
	"repeated calls walk back through history.  Refuses (exit 1) when an\n"
	"object the run touched has changed since, and names every object it\n"
	"drops that holds rows.  Guards do not apply.\n"
	"\n"
	"Options:\n"
	OPT_DB
	OPT_AUTO_APPROVE
	OPT_SNAPSHOT_DIR
	OPT_NO_SNAPSHOT
	TAIL;

static const char restore_text[] =
	"usage: converge restore --db URL SNAPSHOT [--auto-approve]\n"
	"\n"
	"Replaces the database with SNAPSHOT, the path of a snapshot file as\n"
	"'converge snapshots' lists it, after taking a snapshot of the current\n"
	"state.  The restore is recorded in the journal.  Guards do not apply.\n"
	"\n"
	"Options:\n"
	OPT_DB
	OPT_AUTO_APPROVE
	OPT_SNAPSHOT_DIR
	TAIL;

static const char status_text[] =
	"usage: converge status --db URL [-m PATH...] [--format FORMAT]\n"
	"\n"
	"Shows where the database stands: the schema version (from the version\n"
	"table), the last runs, whether the lock is held, and, given manifests,\n"
	"a drift summary (what a plan would change, and revisions changed since\n"
	"they were applied).  Read-only.  Drift exits 0; a version table with\n"
	"several rows is an error naming them (exit 1).\n"
	"\n"
	"Options:\n"
	OPT_DB
	OPT_FORMAT
	OPT_MANIFESTS
	TAIL;

static const char history_text[] =
	"usage: converge history --db URL [RUN_ID] [--limit N] [--format FORMAT]\n"
	"\n"
	"Lists the runs in the journal, newest first: id, kind (apply, rollback,\n"
	"restore), status, steps, actor and start time (with -v, the snapshot\n"
	"too), and under each its first ten steps.  With RUN_ID, that run and\n"
	"each of its steps; with -v, also each step's forward and inverse SQL.\n"
	"Read-only.\n"
	"\n"
	"Options:\n"
	OPT_DB
	OPT_FORMAT
	"  --limit N               show the newest N runs (default 20)\n"
	TAIL;

static const char snapshots_text[] =
	"usage: converge snapshots --db URL [--snapshot-dir DIR] [--prune N]\n"
	"\n"
	"Lists the snapshots of the database in the snapshot directory, newest\n"
	"first: path (named after the run that took it), size and time.  With\n"
	"--prune N, deletes all but the newest N of them.\n"
	"\n"
	"Options:\n"
	OPT_DB
	OPT_SNAPSHOT_DIR
	"  --prune N               keep the newest N snapshots, delete the rest\n"
	TAIL;

static const char inspect_text[] =
	"usage: converge inspect --db URL [--orgs-from SQL]\n"
	"\n"
	"Prints the live state of the database as a manifest (YAML, version 1):\n"
	"the sections converge finds stored there, and the schema version in a\n"
	"comment that says which schema: section to write.  A starting point\n"
	"for manifests of a database converge did not manage before.\n"
	"Read-only.\n"
	"\n"
	"With --orgs-from, prints instead the entitlements.orgs section that a\n"
	"query over the application's own tables describes, to adopt the\n"
	"entitlements an application kept itself.\n"
	"\n"
	"Options:\n"
	OPT_DB
	"  --orgs-from SQL         a query returning (org, module) or (org,\n"
	"                          module, plan) rows: each org gets the modules\n"
	"                          its rows list, as its plan plus overrides\n"
	"                          against the modules and plans the database\n"
	"                          holds (else every module as an override)\n"
	TAIL;

static const struct {
	const char *verb;
	const char *text;
} texts[] = {
	{ "validate", validate_text },
	{ "plan", plan_text },
	{ "apply", apply_text },
	{ "rollback", rollback_text },
	{ "restore", restore_text },
	{ "status", status_text },
	{ "history", history_text },
	{ "snapshots", snapshots_text },
	{ "inspect", inspect_text },
};

const char *cv_help_text(const char *verb)
{
	size_t i;

	if (!verb || strcmp(verb, "converge") == 0)
		return usage_text;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcmp(texts[i].verb, verb) == 0)
			return texts[i].text;
	return NULL;
}

void cv_help_print(const char *verb, FILE *fp)
{
	const char *text = cv_help_text(verb);

	fputs(text ? text : usage_text, fp);
}
