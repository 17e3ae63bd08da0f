/*
 * Steps every verb shares (cli.h).
 */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "converge/help.h"

int cli_fail(const struct cv_error *err)
{
	cv_error_print(err, stderr);
	return cv_exit_code(err->code ? err->code : CV_ERR);
}

int cli_usage(const struct cv_opts *o, const char *fmt, ...)
{
	va_list ap;

	fputs("converge: usage error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'converge %s -h')\n",
		strcmp(o->verb, "converge") ? o->verb : "");
	return 64;
}

void cli_note(const struct cv_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_url(const struct cv_opts *o, struct cv_url *url, struct cv_error *err)
{
	const char *text = o->db ? o->db : getenv("CONVERGE_DATABASE_URL");
	int ret;

	if (!text || !*text)
		return cv_error_set(err, CV_EUSAGE,
				    "no database: pass --db URL or set CONVERGE_DATABASE_URL");
	ret = cv_url_parse(url, text, err);
	if (ret)
		return ret;
	if (!url->backend)
		return cv_error_set(err, CV_ERR,
				    "'%s': this build of converge has no %s backend",
				    url->display, url->type);
	if (o->schema && strcmp(url->type, "postgres") != 0)
		return cv_error_set(err, CV_EUSAGE,
				    "--schema is for PostgreSQL: a SQLite database keeps converge's tables in its one schema");
	if (o->schema && !*o->schema)
		return cv_error_set(err, CV_EUSAGE, "--schema needs a schema name");
	if (o->schema)
		url->schema = cv_strdup(o->schema);
	return 0;
}

/*
 * How long a connection waits for a lock.  The verbs that take the lock
 * (apply, rollback, restore), and any connection opened to write, wait
 * exactly --lock-timeout for every lock they meet, a writer's lock that
 * keeps them from reading included.  Connections of the verbs that only
 * read wait at least READ_WAIT_MS for a writer to commit (a commit holds
 * its lock for milliseconds, a large run spilling its cache longer), so
 * that a plan in CI does not fail because the application wrote then.
 */
#define READ_WAIT_MS 5000L

static bool takes_lock(const struct cv_opts *o)
{
	static const char *const lockers[] = { "apply", "rollback", "restore" };
	size_t i;

	for (i = 0; i < CV_ARRAY_SIZE(lockers); i++)
		if (o->verb && strcmp(o->verb, lockers[i]) == 0)
			return true;
	return false;
}

static long lock_wait_ms(const struct cv_opts *o, bool readonly)
{
	if (takes_lock(o))
		readonly = false;
	if (!readonly || o->lock_timeout_ms > READ_WAIT_MS)
		return o->lock_timeout_ms;
	return READ_WAIT_MS;
}

int cli_open(const struct cv_opts *o, const struct cv_url *url, bool readonly,
	     bool create, struct cv_db **db, struct cv_error *err)
{
	unsigned flags = readonly ? CV_DB_READONLY : create ? CV_DB_CREATE : 0;
	long wait = lock_wait_ms(o, readonly);
	int ret;

	*db = NULL;
	ret = url->backend->open(db, url, flags, wait, err);
	/*
	 * A process killed mid-transaction left SQLite's journal behind: a
	 * read-only connection cannot roll it back, a writing one does so
	 * when it first reads.  The verbs that write are allowed to.
	 */
	if (ret == CV_EINTERRUPTED && takes_lock(o)) {
		cv_error_release(err);
		*db = NULL;
		ret = url->backend->open(db, url, flags & ~CV_DB_READONLY,
					 wait, err);
	}
	if (ret == CV_ENOTFOUND && readonly) {
		cv_error_release(err);
		*db = NULL;
		return 0;
	}
	if (ret)
		return ret;
	url->backend->set_lock_timeout(*db, wait);
	return 0;
}

int cli_open_read(const struct cv_opts *o, struct cv_url *url,
		  struct cv_db **db, struct cv_error *err)
{
	int ret = cli_url(o, url, err);

	*db = NULL;
	if (!ret)
		ret = cli_open(o, url, true, false, db, err);
	if (!ret && *db)
		ret = url->backend->begin_read(*db, err);
	return ret;
}

void cli_close(const struct cv_url *url, struct cv_db **db)
{
	if (!*db)
		return;
	url->backend->rollback(*db);
	url->backend->close(*db);
	*db = NULL;
}

int cli_manifests(const struct cv_opts *o, struct cv_manifest *m)
{
	struct cv_diags diags = CV_DIAGS_INIT;
	int ret;

	if (!o->nmanifests) {
		cli_usage(o, "no manifests given (use -m PATH)");
		return 64;
	}
	ret = cv_manifest_load(m, o->manifests, o->nmanifests, &diags);
	cv_diags_print(&diags, stderr);
	if (ret && diags.errors)
		fprintf(stderr, "converge: %zu error%s in the manifests; nothing was changed\n",
			diags.errors, diags.errors == 1 ? "" : "s");
	cv_diags_release(&diags);
	if (ret == CV_EUSAGE)
		return 64;
	return ret ? 1 : 0;
}

json_t *cli_run_json(const struct cv_run *r)
{
	json_t *j = json_object();

	json_object_set_new(j, "id", cv_json_text(r->id));
	json_object_set_new(j, "kind", cv_json_text(r->kind));
	json_object_set_new(j, "actor", cv_json_text(r->actor));
	json_object_set_new(j, "started_at", cv_json_text(r->started_at));
	json_object_set_new(j, "finished_at", cv_json_text(r->finished_at));
	json_object_set_new(j, "status", cv_json_text(r->status));
	json_object_set_new(j, "steps", json_integer((json_int_t)r->nsteps));
	json_object_set_new(j, "snapshot", cv_json_text(r->snapshot));
	json_object_set_new(j, "undoes", cv_json_text(r->undoes));
	json_object_set_new(j, "undone_by", cv_json_text(r->undone_by));
	json_object_set_new(j, "fingerprint", cv_json_text(r->fingerprint));
	json_object_set_new(j, "database", cv_json_text(r->database));
	json_object_set_new(j, "schema_table", cv_json_text(r->schema_table));
	json_object_set_new(j, "manifests_digest",
			    cv_json_text(r->manifests_digest));
	json_object_set_new(j, "error", cv_json_text(r->error));
	return j;
}

char *cli_md_escape(const char *s)
{
	return cli_display(s, true);
}

/*
 * Control characters as \xNN (cv_display_add): a name stored by another
 * tool (or by an older converge) must not end a line early and forge the
 * next one, nor send a terminal escape sequence.  Mid-line in Markdown,
 * the characters that markdown (or its HTML) acts on are escaped too.
 */
char *cli_display(const char *s, bool md)
{
	struct cv_buf b = CV_BUF_INIT;

	cv_display_add(&b, s ? s : "", md ? "\\`*_[]<>|~&" : NULL);
	return cv_buf_detach(&b);
}

void cli_md_heading(const char *verb, const char *db)
{
	struct cv_buf h = CV_BUF_INIT;
	char *name = cli_display(db, false);

	cv_md_code_span(&h, name);
	printf("### converge %s for %s\n\n", verb, h.buf);
	cv_buf_release(&h);
	free(name);
}

const char *cli_lock_state(const struct cv_opts *o, const struct cv_url *url,
			   struct cv_buf *who)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	const char *state = "free";
	struct cv_opts quick = *o;
	int ret;

	quick.lock_timeout_ms = 0;
	ret = cli_open(&quick, url, false, false, &db, &err);
	if (!ret) {
		ret = url->backend->begin(db, &err);
		url->backend->rollback(db);
		if (ret == CV_ELOCKED) {
			struct cv_buf ignored = CV_BUF_INIT;
			bool ours = !url->backend->lock_holder ||
				url->backend->lock_holder(db, who ? who : &ignored);

			state = ours ? "held by another apply" :
				       "held by another program";
			cv_buf_release(&ignored);
		} else if (ret) {
			state = "unknown";
		}
	} else {
		state = "unknown";
	}
	url->backend->close(db);
	cv_error_release(&err);
	return state;
}

/*
 * A run inside a revision outside a transaction is recorded as one that
 * did not finish until it ends (a process killed there leaves a failed
 * run); while the lock is held, it is running, and "apply again" would
 * only meet the lock.
 */
void cli_show_running(const struct cv_opts *o, const struct cv_url *url,
		      struct cv_run *r, const char *lock)
{
	if (strcmp(r->status, "failed") != 0 ||
	    !cv_streq0(r->error, CV_RUN_UNFINISHED))
		return;
	/* Asked only now: the probe opens a connection to write. */
	if (!lock)
		lock = cli_lock_state(o, url, NULL);
	if (strcmp(lock, "held by another apply") != 0)
		return;
	r->status = "running";
	r->finished_at = NULL;
	r->error = NULL;
}

/* An actor is a name (SPEC §6): not blank, no control characters. */
bool cli_actor_ok(const char *s)
{
	const char *p;

	if (!s || !s[strspn(s, " \t")])
		return false;
	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

char *cli_shell_quote(const char *s)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *p;

	if (*s && !s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-")])
		return cv_strdup(s);
	cv_buf_addch(&b, '\'');
	for (p = s; *p; p++) {
		if (*p == '\'')
			cv_buf_adds(&b, "'\\''");
		else
			cv_buf_addch(&b, *p);
	}
	cv_buf_addch(&b, '\'');
	return cv_buf_detach(&b);
}

char *cli_rollback_command(const struct cv_opts *o, const char *db,
			   const char *run_id)
{
	struct cv_buf b = CV_BUF_INIT;
	char *q = cli_shell_quote(db);

	cv_buf_addf(&b, "converge rollback --db %s", q);
	free(q);
	/* The journal is in that schema: without it, rollback finds no run. */
	if (o->schema) {
		q = cli_shell_quote(o->schema);
		cv_buf_addf(&b, " --schema %s", q);
		free(q);
	}
	cv_buf_addf(&b, " %s", run_id);
	return cv_buf_detach(&b);
}

const char *cli_actor(const struct cv_opts *o)
{
	static const char *const vars[] = {
		"CONVERGE_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN",
		"BUILDKITE_BUILD_CREATOR", "USER", "LOGNAME",
	};
	const struct passwd *pw;
	size_t i;

	if (o->actor && *o->actor)
		return o->actor;
	for (i = 0; i < CV_ARRAY_SIZE(vars); i++) {
		const char *v = getenv(vars[i]);

		if (cli_actor_ok(v))
			return v;
	}
	/* A cron job or a container may set none of them: the account. */
	pw = getpwuid(geteuid());
	if (pw && pw->pw_name && *pw->pw_name)
		return pw->pw_name;
	return "unknown";
}

int cli_confirm(const struct cv_opts *o, const char *question)
{
	char line[64];

	if (o->auto_approve)
		return 0;
	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr,
			"converge: error: refusing to %s without confirmation: standard input is not a terminal; pass --auto-approve\n",
			o->verb);
		return 1;
	}
	fprintf(stderr, "\n%s\n  Only 'yes' will be accepted.\n\n  Enter a value: ",
		question);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin) ||
	    strcmp(line, "yes\n") != 0) {
		fprintf(stderr, "converge: %s cancelled; nothing was changed\n",
			o->verb);
		return 1;
	}
	return 0;
}

void cli_show_plan(const struct cv_opts *o, const struct cv_plan *plan)
{
	struct cv_render_opts ro = { o->color, o->verbose };

	/* JSON and markdown are what was asked for, not chatter. */
	if (o->quiet && o->format == CV_FORMAT_TEXT)
		return;
	cv_trace_perf(NULL);
	cv_plan_render(plan, o->format, &ro, stdout);
	fflush(stdout);
	cv_trace_perf("plan: print");
}

void cli_apply_opts(const struct cv_opts *o, const char *kind,
		    const struct cv_url *url, struct cv_apply_opts *ao)
{
	memset(ao, 0, sizeof(*ao));
	ao->kind = kind;
	ao->actor = cli_actor(o);
	ao->url = url;
	ao->snapshot_dir = o->snapshot_dir;
	ao->no_snapshot = o->no_snapshot;
	ao->verbose = o->verbose;
	ao->quiet = o->quiet;
	ao->color = o->color;
}

void cli_run_failed(const struct cv_apply_result *res, const char *again,
		    const char *nothing, const char *next)
{
	/*
	 * A revision outside a transaction that fails half-way leaves what
	 * ran before its failing statement: applying again would most
	 * likely fail on it ("index … already exists"), so say what to do.
	 */
	if (res->partial) {
		char *kept = res->committed ?
			cv_asprintf(", and so do the %zu step%s before it (journaled in run %s)",
				    res->committed,
				    res->committed == 1 ? "" : "s",
				    res->run_id) :
			cv_asprintf(" (run %s is recorded as failed)",
				    res->run_id);

		fprintf(stderr, "converge: the failing step runs outside a transaction: what its statements did before the failing one stays applied%s; repair the database by hand, or restore the snapshot, before %s again (on PostgreSQL, a CREATE INDEX CONCURRENTLY that failed leaves its index behind, marked invalid)\n",
			kept, again);
		free(kept);
	} else if (res->committed) {
		fprintf(stderr, "converge: the first %zu step%s stay applied: they include a revision that runs outside a transaction (journaled in run %s); the rest was rolled back%s%s\n",
			res->committed, res->committed == 1 ? "" : "s",
			res->run_id, next ? "; " : "", next ? next : "");
	} else {
		fprintf(stderr, "converge: %s\n", nothing);
	}
	if (res->snapshot)
		fprintf(stderr, "converge: the snapshot taken before the run is %s\n",
			res->snapshot);
}

void cli_ctx(const struct cv_opts *o, struct cv_ctx *ctx, struct cv_db *db,
	     const struct cv_backend *be, const struct cv_state *want,
	     struct cv_state *live, struct cv_arena *live_arena)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->db = db;
	ctx->be = be;
	ctx->want = want;
	ctx->live = live;
	ctx->live_arena = live_arena;
	ctx->now = o->now;
	ctx->now_t = o->now_t;
	ctx->schema_table = want ? want->schema_table : NULL;
	ctx->grants_store = want ? want->grants_store : NULL;
}

int cli_check_data_loss(const struct cv_opts *o, const struct cv_plan *plan)
{
	size_t i, n = 0;

	if (o->allow_data_loss)
		return 0;
	for (i = 0; i < plan->nr; i++)
		if (plan->steps[i].flags & CV_STEP_DATA_LOSS) {
			if (!n++)
				fprintf(stderr, "converge: error: the plan loses data that no inverse can bring back:\n");
			fprintf(stderr, "  step %u (%s %s): %s\n",
				plan->steps[i].seq, plan->steps[i].kind,
				plan->steps[i].object,
				plan->steps[i].note ? plan->steps[i].note : "");
		}
	if (!n)
		return 0;
	fprintf(stderr, "converge: nothing was changed; pass --allow-data-loss to apply it anyway (a snapshot is taken first)\n");
	return 1;
}

static int add_version_row(void *p, const char *const *cols,
			   const size_t *lens, int ncols)
{
	struct cli_version *v = p;
	const char *val = cols[0] ? cols[0] : "";

	(void)lens;
	(void)ncols;
	if (!v->value)
		v->value = cv_strdup(val);
	cv_buf_addf(&v->rows, "%s%s", v->nrows++ ? ", " : "", val);
	return 0;
}

void cli_version_release(struct cli_version *v)
{
	free(v->table);
	free(v->value);
	cv_buf_release(&v->rows);
}

int cli_read_version(struct cv_db *db, const char *hint,
		     struct cli_version *v, struct cv_error *err)
{
	const char *candidates[3] = { hint, "converge_schema_version",
				      "alembic_version" };
	const char *col;
	size_t i;
	int ret = 0;

	for (i = 0; i < 3 && db; i++) {
		bool exists = false;
		char *sql;

		if (!candidates[i])
			continue;
		ret = db->backend->table_exists(db, candidates[i], &exists, err);
		if (ret)
			return ret;
		if (!exists)
			continue;
		col = cv_schema_version_column(candidates[i]);
		sql = cv_sql_select(db->backend, candidates[i], &col, 1, &col, 1);
		ret = db->backend->query(db, sql, NULL, 0, add_version_row, v,
					 err);
		free(sql);
		v->table = cv_strdup(candidates[i]);
		return ret;
	}
	return ret;
}
