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

struct version {
	const char *table;
	const char *value;
	bool found;
};

static int first_col(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	char **out = p;

	(void)lens;
	(void)ncols;
	if (!*out)
		*out = cv_strdup(cols[0] ? cols[0] : "");
	return 0;
}

/* The version table: the manifests', the last run's, or whichever of
 * converge's and Alembic's exists. */
static int read_version(struct cv_db *db, const char *hint, char **table,
			char **value, struct cv_error *err)
{
	const char *candidates[3] = { hint, "converge_schema_version",
				      "alembic_version" };
	size_t i;
	int ret = 0;

	*table = *value = NULL;
	for (i = 0; i < 3 && db; i++) {
		struct cv_buf sql = CV_BUF_INIT;
		bool exists = false;

		if (!candidates[i])
			continue;
		ret = db->backend->table_exists(db, candidates[i], &exists, err);
		if (ret)
			return ret;
		if (!exists)
			continue;
		cv_buf_adds(&sql, "SELECT ");
		db->backend->quote_ident(&sql, strcmp(candidates[i], "alembic_version") ?
					 "version" : "version_num");
		cv_buf_adds(&sql, " FROM ");
		db->backend->quote_ident(&sql, candidates[i]);
		ret = db->backend->query(db, sql.buf, NULL, 0, first_col, value, err);
		cv_buf_release(&sql);
		*table = cv_strdup(candidates[i]);
		return ret;
	}
	return ret;
}

static const char *lock_state(const struct cv_opts *o, const struct cv_url *url)
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
		if (ret == CV_ELOCKED)
			state = "held by another apply";
		else if (ret)
			state = "unknown";
		url->backend->rollback(db);
	} else {
		state = "unknown";
	}
	url->backend->close(db);
	cv_error_release(&err);
	return state;
}

int cmd_status(struct cv_opts *o)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_manifest m;
	struct cv_db *db = NULL;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cv_run *runs = NULL;
	struct cv_plan plan;
	struct cv_plan_counts c;
	size_t nruns = 0, i;
	char *table = NULL, *version = NULL;
	const char *lock = "free";
	bool drift = false;
	int ret, code = 0;

	cv_manifest_init(&m);
	cv_plan_init(&plan);
	memset(&c, 0, sizeof(c));
	if (o->nmanifests) {
		code = cli_manifests(o, &m);
		if (code)
			goto out;
	}
	ret = cli_open_read(o, &url, &db, &err);
	if (!ret && db)
		ret = cv_journal_runs(db, &arena, 5, &runs, &nruns, &err);
	if (!ret && db)
		ret = read_version(db, o->nmanifests ? m.want.schema_table :
				   nruns ? runs[0].schema_table : NULL,
				   &table, &version, &err);
	if (!ret && o->nmanifests) {
		ret = cli_plan(o, &m, &url, db, &plan, &err);
		if (ret == CV_EREFUSED) {
			cv_error_release(&err);
			ret = 0;
		}
		drift = true;
		cv_plan_count(&plan, &c);
	}
	if (db) {
		cli_close(&url, &db);
		lock = lock_state(o, &url);
	}
	if (ret)
		goto fail;

	if (o->format == CV_FORMAT_JSON) {
		json_t *root = json_object(), *jr = json_array();

		json_object_set_new(root, "database", json_string(url.display));
		json_object_set_new(root, "schema", table ?
			json_pack("{s:s, s:s?}", "table", table, "version", version) :
			json_null());
		json_object_set_new(root, "lock", json_string(lock));
		for (i = 0; i < nruns; i++)
			json_array_append_new(jr, json_pack(
				"{s:s, s:s, s:s?, s:s, s:s?, s:s, s:I, s:s?, s:s?, s:s?}",
				"id", runs[i].id, "kind", runs[i].kind,
				"actor", runs[i].actor, "started_at", runs[i].started_at,
				"finished_at", runs[i].finished_at,
				"status", runs[i].status, "steps", (json_int_t)runs[i].nsteps,
				"undoes", runs[i].undoes, "undone_by", runs[i].undone_by,
				"error", runs[i].error));
		json_object_set_new(root, "runs", jr);
		json_object_set_new(root, "drift", drift ? json_pack(
			"{s:b, s:I, s:I, s:I, s:I, s:I}", "in_sync", plan.nr == 0,
			"add", (json_int_t)c.add, "change", (json_int_t)c.change,
			"remove", (json_int_t)c.remove, "up", (json_int_t)c.up,
			"down", (json_int_t)c.down) : json_null());
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
		goto out;
	}
	if (o->format == CV_FORMAT_MARKDOWN)
		printf("### converge status for `%s`\n\n", url.display);
	else
		printf("database: %s\n", url.display);
	if (table)
		printf("%sschema:   %s (%s)\n", o->format == CV_FORMAT_MARKDOWN ? "- " : "",
		       version ? version : "base, no revision applied", table);
	else
		printf("%sschema:   no version table\n", o->format == CV_FORMAT_MARKDOWN ? "- " : "");
	printf("%slock:     %s\n", o->format == CV_FORMAT_MARKDOWN ? "- " : "", lock);
	if (drift) {
		if (!plan.nr)
			printf("%sdrift:    none, the database matches the manifests\n",
			       o->format == CV_FORMAT_MARKDOWN ? "- " : "");
		else
			printf("%sdrift:    %zu to add, %zu to change, %zu to remove, %zu revision%s up, %zu down\n",
			       o->format == CV_FORMAT_MARKDOWN ? "- " : "",
			       c.add, c.change, c.remove, c.up, c.up == 1 ? "" : "s",
			       c.down);
	}
	printf("%s", nruns ? "\nlast runs:\n" : "\nno runs recorded\n");
	for (i = 0; i < nruns; i++)
		printf("%s%s  %-8s %-7s %3ld step%s  by %s%s%s%s%s\n",
		       o->format == CV_FORMAT_MARKDOWN ? "- " : "  ",
		       runs[i].id, runs[i].kind, runs[i].status, runs[i].nsteps,
		       runs[i].nsteps == 1 ? " " : "s",
		       runs[i].actor ? runs[i].actor : "unknown",
		       runs[i].undoes ? ", undoes " : "",
		       runs[i].undoes ? runs[i].undoes : "",
		       runs[i].undone_by ? ", undone by " : "",
		       runs[i].undone_by ? runs[i].undone_by : "");
	goto out;
fail:
	code = cli_fail(&err);
out:
	if (db)
		url.backend->close(db);
	free(table);
	free(version);
	cv_arena_release(&arena);
	cv_plan_release(&plan);
	cv_manifest_release(&m);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
