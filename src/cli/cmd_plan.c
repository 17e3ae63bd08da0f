/*
 * converge plan: diff the manifests against the live database, strictly
 * read-only, and print the plan (or save it with -o).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "converge/planner.h"

int cli_plan(const struct cv_opts *o, const struct cv_manifest *m,
	     const struct cv_url *url, struct cv_db *db, bool warn,
	     struct cv_plan *plan, struct cv_error *err)
{
	struct cv_state live;
	struct cv_arena live_arena = CV_ARENA_INIT;
	struct cv_diags warnings = CV_DIAGS_INIT;
	struct cv_ctx ctx;
	int ret;

	memset(&live, 0, sizeof(live));
	cli_ctx(o, &ctx, db, url->backend, &m->want, &live, &live_arena);
	ctx.dry_run = strcmp(o->verb, "plan") == 0;
	/* Warnings are chatter: on stderr, so that a JSON or markdown plan
	 * on stdout stays clean, and not at all with --quiet. */
	if (warn && !o->quiet)
		ctx.warnings = &warnings;
	plan->database = cv_arena_strdup(&plan->arena, url->display);
	if (url->schema)
		plan->storage_schema = cv_arena_strdup(&plan->arena,
						       url->schema);
	plan->created_at = cv_arena_strdup(&plan->arena, o->now);
	plan->manifests_digest = cv_arena_strdup(&plan->arena, m->digest);
	ret = cv_planner_run(plan, &ctx, err);
	warnings.sources = m->sources;
	warnings.nsources = m->nsources;
	cv_diags_print(&warnings, stderr);
	cv_diags_release(&warnings);
	cv_state_release(&live);
	cv_arena_release(&live_arena);
	return ret;
}

int cli_check_fresh(const struct cv_opts *o, const struct cv_plan *plan,
		    struct cv_db *db, const struct cv_backend *be, bool guards,
		    struct cv_error *err)
{
	struct cv_state live;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cv_ctx ctx;
	const char *fp = NULL;
	int ret;

	memset(&live, 0, sizeof(live));
	cli_ctx(o, &ctx, db, be, NULL, &live, &arena);
	ctx.schema_table = plan->schema_table;
	ctx.grants_store = cv_grants_store_of(plan, &arena);
	if (strcmp(plan->backend, be->name) != 0) {
		ret = cv_error_set(err, CV_ESTALE,
				   "the plan was made against a %s database, not %s",
				   plan->backend, be->name);
		goto out;
	}
	ret = cv_live_read(&ctx, plan->sections, &fp, &arena, err);
	if (!ret && strcmp(fp, plan->fingerprint) != 0)
		ret = cv_error_set(err, CV_ESTALE,
				   "the saved plan is stale: the database changed since it was made (fingerprint %.19s…, plan has %.19s…); make a new plan",
				   fp, plan->fingerprint);
	if (!ret && guards)
		ret = cv_guards_verify_saved(&ctx, plan, err);
out:
	cv_state_release(&live);
	cv_arena_release(&arena);
	return ret;
}

/*
 * The file plan -o writes first, beside its target: made afresh under a
 * random name (O_EXCL, so never opened through a symlink planted there,
 * as a name derived from the pid could be), with the mode a plain
 * fopen() would have given it.
 */
static FILE *open_temp(const char *path, char **tmp)
{
	mode_t mask = umask(077);
	FILE *fp = NULL;
	int fd, e;

	umask(mask);
	*tmp = cv_asprintf("%s.XXXXXX", path);
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd >= 0 && fchmod(fd, 0666 & ~mask) == 0)
		fp = fdopen(fd, "w");
	if (fp)
		return fp;
	e = errno;
	if (fd >= 0) {
		close(fd);
		unlink(*tmp);
	}
	free(*tmp);
	*tmp = NULL;
	errno = e;
	return NULL;
}

int cli_write_plan(const struct cv_plan *plan, const char *path,
		   struct cv_error *err)
{
	char *tmp;
	FILE *fp = open_temp(path, &tmp);
	int ret;

	if (!fp)
		return cv_error_set(err, CV_EIO, "cannot write '%s': %s", path,
				    strerror(errno));
	ret = cv_plan_write_yaml(plan, fp, err);
	if (fclose(fp) != 0 && !ret)
		ret = cv_error_set(err, CV_EIO, "cannot write '%s': %s", path,
				   strerror(errno));
	if (!ret && rename(tmp, path) != 0)
		ret = cv_error_set(err, CV_EIO, "cannot write '%s': %s", path,
				   strerror(errno));
	if (ret)
		unlink(tmp);
	free(tmp);
	return ret;
}

/* Is `out` the file `m`, or (m a directory) a YAML file below it? */
static bool out_is_manifest(const char *out, const char *m)
{
	struct stat sm;
	char *dir = cv_dirname(out), *rdir = realpath(dir, NULL);
	char *rm = realpath(m, NULL);
	bool hit = cv_same_file(out, m);

	if (!hit && rdir && rm && stat(m, &sm) == 0 && S_ISDIR(sm.st_mode) &&
	    (cv_ends_with(out, ".yaml") || cv_ends_with(out, ".yml")))
		hit = strcmp(rdir, rm) == 0 ||
		      (cv_starts_with(rdir, rm) && rdir[strlen(rm)] == '/');
	free(dir);
	free(rdir);
	free(rm);
	return hit;
}

/*
 * -o must not overwrite an input: a plan written over a manifest (or into
 * a manifest directory, where the next run would read it as one) loses
 * or corrupts the desired state.  "-" is standard output.
 */
static int check_out(const struct cv_opts *o)
{
	size_t i;

	if (o->out && strcmp(o->out, "-") == 0 && o->format != CV_FORMAT_TEXT)
		return cli_usage(o, "-o - writes the plan file (YAML) to standard output; --format %s would write there too: give one of them",
				 o->format == CV_FORMAT_JSON ? "json" : "markdown");
	if (!o->out || strcmp(o->out, "-") == 0)
		return 0;
	for (i = 0; i < o->nmanifests; i++)
		if (strcmp(o->manifests[i], "-") != 0 &&
		    (strcmp(o->out, o->manifests[i]) == 0 ||
		     out_is_manifest(o->out, o->manifests[i])))
			return cli_usage(o, "-o '%s' would overwrite or join the manifests given with -m '%s'; write the plan elsewhere",
					 cv_shorten(o->out),
					 cv_shorten(o->manifests[i]));
	return 0;
}

/*
 * -o must not be the SQLite file being planned: plan is read-only, and a
 * plan written over the database would destroy it.
 */
static int check_out_db(const struct cv_opts *o, const struct cv_url *url)
{
	if (!o->out || strcmp(o->out, "-") == 0 || !url->path ||
	    strcmp(url->type, "sqlite") != 0 ||
	    !cv_same_file(o->out, url->path))
		return 0;
	return cli_usage(o, "-o '%s' is the database being planned; write the plan elsewhere",
			 cv_shorten(o->out));
}

/*
 * A plan that could not be made, on standard output in the format asked
 * for: a pull-request comment is made of stdout and shows no exit code,
 * and a program that parses the JSON must get JSON.  The messages
 * themselves are on stderr, as always.  Text needs nothing more.
 */
static void show_failure(const struct cv_opts *o, const char *why, int code)
{
	if (o->format == CV_FORMAT_MARKDOWN) {
		char *msg = cli_md_escape(why);

		printf("**converge could not make a plan** (exit %d): %s\n",
		       code, msg);
		free(msg);
	} else if (o->format == CV_FORMAT_JSON) {
		json_t *j = json_object();
		char *s;

		json_object_set_new(j, "error", json_string(why));
		json_object_set_new(j, "exit_code", json_integer(code));
		s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(j);
	}
	fflush(stdout);
}

int cmd_plan(struct cv_opts *o)
{
	struct cv_manifest m;
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	struct cv_plan plan;
	int ret, code = 0;

	cv_manifest_init(&m);
	cv_plan_init(&plan);
	code = check_out(o);
	if (!code) {
		code = cli_manifests(o, &m);
		if (code && code != 64)
			show_failure(o, "the manifests have errors; converge printed each with its place on standard error", code);
	}
	if (code)
		goto out;
	ret = cli_open_read(o, &url, &db, &err);
	if (!ret && (code = check_out_db(o, &url)))
		goto out;
	if (!ret)
		ret = cli_plan(o, &m, &url, db, true, &plan, &err);
	if (ret == CV_EREFUSED) {
		/*
		 * A broken guard: show what would break it, then refuse.  A
		 * pull-request comment or a program reading the JSON has
		 * stdout alone: the refusal is part of what is shown.
		 */
		plan.refused = cv_arena_strdup(&plan.arena,
					       err.msg ? err.msg : "refused");
		cli_show_plan(o, &plan);
		if (o->format == CV_FORMAT_MARKDOWN) {
			char *why = cli_md_escape(plan.refused);

			printf("\n**converge refused this plan** (exit 1): %s\n",
			       why);
			free(why);
		}
		code = cli_fail(&err);
		goto out;
	}
	if (ret) {
		code = cli_fail(&err);
		if (code != 64)
			show_failure(o, err.msg ? err.msg : "error", code);
		goto out;
	}
	if (o->out && strcmp(o->out, "-") == 0) {
		/* Standard output is the plan file, as -m - reads stdin. */
		ret = cv_plan_write_yaml(&plan, stdout, &err);
		if (!ret && fflush(stdout) != 0)
			ret = cv_error_set(&err, CV_EIO, "cannot write the plan to standard output: %s",
					   strerror(errno));
		if (ret) {
			code = cli_fail(&err);
			goto out;
		}
	} else {
		cli_show_plan(o, &plan);
	}
	if (o->out && strcmp(o->out, "-") != 0) {
		char *qfile, *qdb;

		ret = cli_write_plan(&plan, o->out, &err);
		if (ret) {
			code = cli_fail(&err);
			goto out;
		}
		qfile = cli_shell_quote(o->out);
		qdb = cli_shell_quote(url.display);
		cli_note(o, "Saved the plan to %s; apply it with: converge apply %s --db %s",
			 o->out, qfile, qdb);
		free(qfile);
		free(qdb);
	}
	if (o->detailed_exitcode && plan.nr)
		code = 2;
out:
	cli_close(&url, &db);
	cv_plan_release(&plan);
	cv_manifest_release(&m);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
