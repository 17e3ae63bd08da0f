/*
 * converge status: schema version, last runs, the lock, and (with -m) how
 * far the database has drifted from the manifests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "cli.h"
#include "converge/planner.h"

/* Several rows: the error that names them, as plan and apply give it. */
static void several_rows(const struct cli_version *v, struct cv_error *err)
{
	cv_schema_several_rows(err, v->table, v->nrows, cv_buf_str(&v->rows));
}

/* The drift summary of status -m: what a plan would change. */
struct drift {
	bool known;             /* -m given and planned */
	struct cv_plan plan;
	struct cv_plan_counts c;
	char *schema;           /* why the schema was left out, or NULL */
};

/*
 * Plans the manifests against db for the summary.  A schema that cannot
 * be planned (a revision changed after it was applied, several version
 * rows) is part of the answer, not a failure: the other sections are
 * planned without it and `schema` says why.  A broken guard is drift too.
 */
static int plan_drift(const struct cv_opts *o, const struct cv_manifest *m,
		      const struct cv_url *url, struct cv_db *db,
		      const char *schema_problem, struct drift *d,
		      struct cv_error *err)
{
	struct cv_manifest rest = *m;
	int ret = CV_EDRIFT;

	if (!schema_problem)
		ret = cli_plan(o, m, url, db, false, &d->plan, err);
	if (ret == CV_EDRIFT) {
		const char *why = schema_problem ? schema_problem : err->msg;

		/* The summary says "drift:" already. */
		if (cv_starts_with(why, "drift: "))
			why += strlen("drift: ");
		d->schema = cv_strdup(why);
		cv_error_release(err);
		cv_plan_release(&d->plan);
		cv_plan_init(&d->plan);
		/* A shallow copy: the planner only reads the desired state. */
		rest.want.sections &= ~(unsigned)CV_SEC_SCHEMA;
		ret = cli_plan(o, &rest, url, db, false, &d->plan, err);
	}
	if (ret == CV_EREFUSED) {
		cv_error_release(err);
		ret = 0;
	}
	if (!ret) {
		d->known = true;
		cv_plan_count(&d->plan, &d->c);
	}
	return ret;
}

static bool in_sync(const struct drift *d)
{
	return !d->plan.nr && !d->schema;
}

static json_t *drift_json(const struct drift *d)
{
	if (!d->known)
		return json_null();
	return json_pack("{s:b, s:I, s:I, s:I, s:o, s:o, s:s?}",
			 "in_sync", in_sync(d),
			 "add", (json_int_t)d->c.add,
			 "change", (json_int_t)d->c.change,
			 "remove", (json_int_t)d->c.remove,
			 "up", d->schema ? json_null() : json_integer((json_int_t)d->c.up),
			 "down", d->schema ? json_null() : json_integer((json_int_t)d->c.down),
			 "schema_drift", d->schema);
}

static void print_json(const struct cv_url *url, const struct cli_version *v,
		       const char *version_error, const char *lock,
		       const struct cv_buf *holder, const struct cv_run *runs,
		       size_t nruns, const struct drift *d)
{
	json_t *root = json_object(), *jr = json_array();
	size_t i;

	json_object_set_new(root, "database", cv_json_text(url->display));
	json_object_set_new(root, "schema", v->table ?
		json_pack("{s:o, s:o, s:o}", "table", cv_json_text(v->table),
			  "version", cv_json_text(version_error ? NULL : v->value),
			  "error", cv_json_text(version_error)) :
		json_null());
	json_object_set_new(root, "lock", json_string(lock));
	json_object_set_new(root, "lock_holder", holder->len ?
			    cv_json_text(cv_buf_str(holder)) : json_null());
	for (i = 0; i < nruns; i++)
		json_array_append_new(jr, cli_run_json(&runs[i]));
	json_object_set_new(root, "runs", jr);
	json_object_set_new(root, "drift", drift_json(d));
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(root);
}

static void print_drift(const char *li, const struct drift *d)
{
	if (in_sync(d)) {
		printf("%sdrift:    none, the database matches the manifests\n", li);
		return;
	}
	if (d->schema) {
		printf("%sdrift:    %zu to add, %zu to change, %zu to remove; schema not planned\n",
		       li, d->c.add, d->c.change, d->c.remove);
		printf("%s          %s\n", li, d->schema);
		return;
	}
	printf("%sdrift:    %zu to add, %zu to change, %zu to remove, %zu revision%s up, %zu down\n",
	       li, d->c.add, d->c.change, d->c.remove, d->c.up,
	       d->c.up == 1 ? "" : "s", d->c.down);
}

/* printf("%s", cli_display(text, md)) */
static void put_display(const char *text, bool md)
{
	char *t = cli_display(text, md);

	fputs(t, stdout);
	free(t);
}

/* One run of "last runs"; the journal's text escaped, as history has it. */
static void print_run_line(const struct cv_run *r, bool md)
{
	char *kind = cli_display(r->kind, md), *status = cli_display(r->status, md);

	fputs(md ? "- " : "  ", stdout);
	put_display(r->id, md);
	printf("  %-8s %-7s %3ld step%s  by ", kind, status, r->nsteps,
	       r->nsteps == 1 ? " " : "s");
	free(kind);
	free(status);
	put_display(r->actor ? r->actor : "unknown", md);
	fputs("  at ", stdout);
	put_display(r->started_at, md);
	if (r->undoes) {
		fputs(", undoes ", stdout);
		put_display(r->undoes, md);
	}
	if (r->undone_by) {
		fputs(", undone by ", stdout);
		put_display(r->undone_by, md);
	}
	putchar('\n');
}

/* Text and markdown: the same lines, list items in markdown. */
static void print_text(const struct cv_opts *o, const struct cv_url *url,
		       const struct cli_version *v, const char *version_error,
		       const char *lock, const struct cv_buf *holder,
		       const struct cv_run *runs, size_t nruns,
		       const struct drift *d)
{
	bool md = o->format == CV_FORMAT_MARKDOWN;
	const char *li = md ? "- " : "";
	size_t i;

	if (md)
		cli_md_heading("status", url->display);
	else
		printf("database: %s\n", url->display);
	if (version_error) {
		printf("%sschema:   error: ", li);
		put_display(version_error, false);
		putchar('\n');
	} else if (v->table) {
		/* The version table is written by whatever migrates the
		 * database, not only by converge: its text is escaped. */
		printf("%sschema:   ", li);
		put_display(v->value ? v->value : "base, no revision applied",
			    md);
		fputs(" (", stdout);
		put_display(v->table, md);
		fputs(")\n", stdout);
	} else {
		printf("%sschema:   no version table\n", li);
	}
	if (holder->len) {
		char *h = cli_display(cv_buf_str(holder), md);

		printf("%slock:     %s: %s\n", li, lock, h);
		free(h);
	} else {
		printf("%slock:     %s\n", li, lock);
	}
	if (d->known)
		print_drift(li, d);
	printf("%s", nruns ? "\nlast runs:\n" : "\nno runs recorded\n");
	for (i = 0; i < nruns; i++)
		print_run_line(&runs[i], md);
}

int cmd_status(struct cv_opts *o)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT, verr = CV_ERROR_INIT;
	struct cv_manifest m;
	struct cv_db *db = NULL;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cv_run *runs = NULL;
	struct cli_version v = CLI_VERSION_INIT;
	struct drift d;
	size_t nruns = 0;
	const char *lock = "free";
	struct cv_buf holder = CV_BUF_INIT;
	int ret, code = 0;

	cv_manifest_init(&m);
	memset(&d, 0, sizeof(d));
	cv_plan_init(&d.plan);
	if (o->nmanifests) {
		code = cli_manifests(o, &m);
		if (code)
			goto out;
	}
	ret = cli_open_read(o, &url, &db, &err);
	if (!ret && db)
		ret = cv_journal_runs(db, &arena, 5, &runs, &nruns, &err);
	if (!ret && db)
		ret = cli_read_version(db, o->nmanifests ? m.want.schema_table :
				   nruns ? runs[0].schema_table : NULL,
				   &v, &err);
	if (!ret && v.nrows > 1)
		several_rows(&v, &verr);
	if (!ret && o->nmanifests)
		ret = plan_drift(o, &m, &url, db,
				 m.want.sections & CV_SEC_SCHEMA ? verr.msg : NULL,
				 &d, &err);
	if (db) {
		cli_close(&url, &db);
		lock = cli_lock_state(o, &url, &holder);
	}
	if (nruns)
		cli_show_running(o, &url, &runs[0], lock);
	if (ret) {
		code = cli_fail(&err);
		goto out;
	}
	if (o->format == CV_FORMAT_JSON)
		print_json(&url, &v, verr.msg, lock, &holder, runs, nruns, &d);
	else
		print_text(o, &url, &v, verr.msg, lock, &holder, runs, nruns,
			   &d);
	/* Drift is not an error of status (plan --detailed-exitcode is the
	 * gate), but a version table it cannot read is. */
	if (verr.msg) {
		fflush(stdout);
		code = cli_fail(&verr);
	}
out:
	if (db)
		url.backend->close(db);
	cli_version_release(&v);
	cv_arena_release(&arena);
	cv_plan_release(&d.plan);
	free(d.schema);
	cv_manifest_release(&m);
	cv_url_release(&url);
	cv_error_release(&err);
	cv_error_release(&verr);
	cv_buf_release(&holder);
	return code;
}
