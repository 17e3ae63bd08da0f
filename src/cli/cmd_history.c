/*
 * converge history [RUN_ID]: the runs recorded in the journal, or one run
 * with its steps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "cli.h"

/*
 * A failed run's error: its message, then "in step:" and "sql:" lines,
 * each shown escaped (cli_display).  Text indents them under the first;
 * markdown fences them, SQL and all, with a fence longer than any run of
 * backticks in them, so that none closes it early.
 */
static void print_error(bool md, const char *sub, const char *error)
{
	size_t run = 0, fence = 3;
	const char *p, *nl;

	for (p = error; md && *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run >= fence)
			fence = run + 1;
	}
	if (md)
		printf("%serror:\n\n      %.*s\n", sub, (int)fence,
		       "````````````````````````````````");
	for (p = error; *p; p = nl + 1) {
		char *line, *shown;

		nl = strchr(p, '\n');
		line = cv_strndup(p, nl ? (size_t)(nl - p) : strlen(p));
		shown = cli_display(line, false);
		if (md)
			fputs("      ", stdout);
		else
			printf("%s%s", sub, p == error ? "error: " : "       ");
		puts(shown);
		free(shown);
		free(line);
		if (!nl)
			break;
	}
	if (md)
		printf("      %.*s\n", (int)fence,
		       "````````````````````````````````");
}

/* One detail line of a run: `label` and the journal's text, escaped. */
static void print_detail(const char *sub, const char *label, const char *text,
			 bool md)
{
	char *t = cli_display(text, md);

	printf("%s%s%s\n", sub, label, t);
	free(t);
}

/* Steps a run shows in the list of runs; `history RUN_ID` shows all. */
#define HEAD_STEPS 10

/*
 * The first steps of run r, under its line, as the plan showed them: text
 * indents them with its details, markdown fences them inside the run's
 * item.  Then how many more there are, and how to see them.
 */
static int print_head(const struct cv_opts *o, struct cv_db *db,
		      const struct cv_run *r, struct cv_error *err)
{
	bool md = o->format == CV_FORMAT_MARKDOWN;
	struct cv_render_opts ro = { o->color, false };
	struct cv_plan steps;
	char *text = NULL;
	size_t len = 0;
	FILE *fp;
	int ret;

	if (r->nsteps <= 0)
		return 0;
	cv_plan_init(&steps);
	ret = cv_journal_steps_head(db, r->id, HEAD_STEPS, &steps, err);
	fp = ret ? NULL : open_memstream(&text, &len);
	if (fp) {
		const char *p, *nl;

		cv_steps_print(&steps, o->format, &ro, fp);
		fclose(fp);
		for (p = text; *p; p = nl + 1) {
			nl = strchr(p, '\n');
			printf("  %.*s\n", nl ? (int)(nl - p) : (int)strlen(p),
			       p);
			if (!nl)
				break;
		}
		if ((size_t)r->nsteps > steps.nr)
			printf("%s… and %zu more: converge history %s\n",
			       md ? "  - " : "    ", (size_t)r->nsteps - steps.nr,
			       r->id);
	}
	free(text);
	cv_plan_release(&steps);
	return ret;
}

static void print_run(const struct cv_opts *o, const struct cv_run *r)
{
	bool md = o->format == CV_FORMAT_MARKDOWN;
	/* Markdown: the run a list item, its details nested items. */
	const char *li = md ? "- " : "", *sub = md ? "  - " : "    ";
	/* Journal text may have been written by another tool: escaped. */
	char *id = cli_display(r->id, md), *kind = cli_display(r->kind, md);
	char *status = cli_display(r->status, md);
	char *actor = cli_display(r->actor ? r->actor : "unknown", md);
	char *at = cli_display(r->started_at, md);

	printf("%s%s  %-8s %-7s %3ld step%s  by %s  at %s\n", li, id, kind,
	       status, r->nsteps, r->nsteps == 1 ? " " : "s", actor, at);
	free(at);
	free(id);
	free(kind);
	free(status);
	free(actor);
	if (r->undoes)
		print_detail(sub, "undoes ", r->undoes, md);
	if (r->undone_by)
		print_detail(sub, "undone by ", r->undone_by, md);
	if (r->error)
		print_error(md, sub, r->error);
	if (r->snapshot && o->verbose)
		print_detail(sub, "snapshot: ", r->snapshot, md);
}

/* Step i of a run's steps (a cv_plan) as `history RUN_ID` gives it. */
static json_t *step_json(size_t i, const void *arg)
{
	const struct cv_step *s = &((const struct cv_plan *)arg)->steps[i];
	struct cv_buf f = CV_BUF_INIT, v = CV_BUF_INIT;
	json_t *j;

	cv_stmts_text(&f, s->fwd, s->nfwd);
	cv_stmts_text(&v, s->inv, s->ninv);
	/* cv_journal_steps reads the applied steps only: a failed run
	 * records none. */
	j = json_pack("{s:I, s:I, s:o, s:s, s:o, s:o, s:s, s:o, s:o}",
		      "seq", (json_int_t)s->seq, "phase", (json_int_t)s->phase,
		      "kind", cv_json_text(s->kind),
		      "action", cv_action_name(s->action),
		      "object", cv_json_text(s->object),
		      "detail", cv_json_text(s->detail),
		      "status", "applied",
		      "forward_sql", cv_json_text(cv_buf_str(&f)),
		      "inverse_sql", cv_json_text(cv_buf_str(&v)));
	cv_buf_release(&f);
	cv_buf_release(&v);
	return j;
}

int cmd_history(struct cv_opts *o)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cv_run *runs = NULL, one;
	struct cv_plan steps;
	size_t nruns = 0, i;
	int ret, code = 0;

	cv_plan_init(&steps);
	ret = cli_open_read(o, &url, &db, &err);
	if (!ret && o->nargs) {
		if (!db)
			ret = cv_error_set(&err, CV_ENOTFOUND, "no run '%s': '%s' does not exist",
					   cv_shorten(o->args[0]), url.display);
		else
			ret = cv_journal_run(db, &arena, o->args[0], &one, &err);
		if (!ret)
			ret = cv_journal_steps(db, one.id, &steps, &err);
		runs = &one;
		nruns = 1;
	} else if (!ret && db) {
		ret = cv_journal_runs(db, &arena, (size_t)o->limit, &runs,
				      &nruns, &err);
	}
	if (ret)
		goto fail;
	/* The newest run may still be running (see status). */
	if (!o->nargs && nruns)
		cli_show_running(o, &url, &runs[0], NULL);

	if (o->format == CV_FORMAT_JSON) {
		json_t *root;

		if (o->nargs) {
			/* A run of 200,000 steps: written one at a time. */
			root = cli_run_json(&one);
			json_object_set_new(root, "steps_applied", json_array());
			/* A write that fails is main's to report. */
			ret = cv_json_write_listing(stdout, root, steps.nr,
						    step_json, &steps);
			if (ret != CV_ERR)
				goto out;
			cv_error_set(&err, ret, "cannot make the run's steps as JSON");
			goto fail;
		}
		root = json_array();
		for (i = 0; i < nruns; i++)
			json_array_append_new(root, cli_run_json(&runs[i]));
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
		goto out;
	}
	if (o->format == CV_FORMAT_MARKDOWN)
		cli_md_heading("history", url.display);
	if (!nruns)
		printf("no runs recorded in %s\n", url.display);
	for (i = 0; i < nruns && !ret; i++) {
		/* Text: a blank line between runs that list their steps. */
		if (i && !o->nargs && o->format != CV_FORMAT_MARKDOWN)
			printf("\n");
		print_run(o, &runs[i]);
		if (!o->nargs)
			ret = print_head(o, db, &runs[i], &err);
	}
	if (ret)
		goto fail;
	if (o->nargs) {
		struct cv_render_opts ro = { o->color, o->verbose };

		printf("\n");
		cv_steps_print(&steps, o->format, &ro, stdout);
	}
	goto out;
fail:
	code = cli_fail(&err);
out:
	cli_close(&url, &db);
	cv_plan_release(&steps);
	cv_arena_release(&arena);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
