/*
 * converge inspect: the live state printed as a manifest, so that a team
 * adopting converge starts from what the database holds.
 *
 * With --orgs-from SQL it prints instead the `entitlements.orgs` section
 * that a query over the application's own tables describes: the adoption
 * of entitlements an application kept itself (an `enabled_modules` JSON
 * array per organisation, say).  The query returns (org, module) rows,
 * or (org, module, plan).  When the database already holds converge's
 * module and plan definitions, each org is written as its plan plus the
 * overrides that give it exactly the modules the query lists; without
 * them, every module and submodule listed is an `enabled` override,
 * as written: validate judges the names once the definitions exist.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "converge/emit.h"
#include "converge/journal.h"
#include "converge/planner.h"

/* One (org, module, plan) row of the adoption query. */
struct app_row {
	const char *org;
	const char *module;   /* NULL: an org listed without modules */
	const char *plan;
};

struct app_rows {
	struct cv_arena *arena;
	struct app_row *items;
	size_t nr, alloc;
	int ncols;
	size_t seen;          /* rows read, for messages */
	char *bad;            /* why a row is refused (malloc'd) */
};

/*
 * A name the manifests could not hold (SPEC §6: empty, or with a control
 * character), or a row without its org: refused with the row's number,
 * rather than printed for validate to refuse, or dropped.  An org left
 * out of the printed section would be deleted by the next apply, the
 * manifests being the whole truth for a section they define.
 */
static bool bad_value(struct app_rows *rd, const char *what, const char *s,
		      size_t len)
{
	size_t i;

	if (!s)
		rd->bad = cv_asprintf("row %zu has no %s (NULL)", rd->seen, what);
	else if (!len)
		rd->bad = cv_asprintf("row %zu: the %s is empty", rd->seen, what);
	for (i = 0; s && i < len && !rd->bad; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			rd->bad = cv_asprintf("row %zu: the %s contains a control character",
					      rd->seen, what);
	return rd->bad != NULL;
}

static int read_app_row(void *p, const char *const *cols, const size_t *lens,
			int ncols)
{
	struct app_rows *rd = p;
	struct app_row *r;

	rd->ncols = ncols;
	rd->seen++;
	if (ncols < 2 || ncols > 3)
		return CV_EINVAL;
	if (bad_value(rd, "org", cols[0], lens[0]) ||
	    (cols[1] && bad_value(rd, "module", cols[1], lens[1])) ||
	    (ncols > 2 && cols[2] && bad_value(rd, "plan", cols[2], lens[2])))
		return CV_EINVAL;
	CV_GROW(rd->items, rd->nr + 1, rd->alloc);
	r = &rd->items[rd->nr++];
	r->org = cv_arena_strndup(rd->arena, cols[0], lens[0]);
	r->module = cols[1] ? cv_arena_strndup(rd->arena, cols[1], lens[1]) :
		    NULL;
	r->plan = ncols > 2 && cols[2] ?
		  cv_arena_strndup(rd->arena, cols[2], lens[2]) : NULL;
	return 0;
}

static int app_row_cmp(const void *a, const void *b)
{
	const struct app_row *x = a, *y = b;
	int c = strcmp(x->org, y->org);

	return c ? c : cv_strcmp0(x->module, y->module);
}

static bool has(const char *const *set, size_t n, const char *key)
{
	return n && bsearch(&key, set, n, sizeof(*set), cv_strptr_cmp);
}

static int module_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cv_ent_module *)elem)->key);
}

static const struct cv_ent_module *live_module(const struct cv_state *live,
					       const char *key)
{
	if (!live->nent_modules)
		return NULL;
	return bsearch(key, live->ent_modules, live->nent_modules,
		       sizeof(*live->ent_modules), module_key_cmp);
}

static int plan_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cv_ent_plan *)elem)->key);
}

/* What converge's definitions give an org on `plan` before overrides. */
struct keys {
	const char **items;
	size_t nr, alloc;
};

static void keys_add(struct keys *k, const char *key)
{
	CV_GROW(k->items, k->nr + 1, k->alloc);
	k->items[k->nr++] = key;
}

static void keys_add_module(struct keys *k, const struct cv_state *live,
			    const char *key)
{
	const struct cv_ent_module *m = live_module(live, key);
	size_t i;

	keys_add(k, key);
	for (i = 0; m && !m->parent && i < m->nsubs; i++)
		keys_add(k, m->subs[i]);
}

static void keys_sort(struct keys *k)
{
	size_t i, n = 0;

	if (k->nr)
		cv_sort(k->items, k->nr, sizeof(*k->items), cv_strptr_cmp);
	for (i = 0; i < k->nr; i++)
		if (!n || strcmp(k->items[n - 1], k->items[i]) != 0)
			k->items[n++] = k->items[i];
	k->nr = n;
}

static void base_keys(struct keys *out, const struct cv_state *live,
		      const char *plan)
{
	const struct cv_ent_plan *p = NULL;
	size_t i;

	out->nr = 0;
	for (i = 0; i < live->nent_modules; i++)
		if (!live->ent_modules[i].parent &&
		    live->ent_modules[i].always_on)
			keys_add_module(out, live, live->ent_modules[i].key);
	if (plan && live->nent_plans)
		p = bsearch(plan, live->ent_plans, live->nent_plans,
			    sizeof(*live->ent_plans), plan_key_cmp);
	for (i = 0; p && i < p->nmodules; i++)
		keys_add_module(out, live, p->modules[i]);
	keys_sort(out);
}

struct adoption {
	const struct cv_opts *o;
	struct cv_state out;     /* ent_orgs and ent_rows: the overrides */
	struct keys base, app;
	size_t warnings;
};

static void override(struct adoption *ad, const char *org, const char *module,
		     bool enabled)
{
	struct cv_ent_row *r;

	CV_GROW(ad->out.ent_rows, ad->out.nent_rows + 1,
		ad->out.ent_rows_alloc);
	r = &ad->out.ent_rows[ad->out.nent_rows++];
	r->org = org;
	r->module = module;
	r->status = enabled ? "enabled" : "disabled";
	r->source = "override";
}

static void warn(struct adoption *ad, const char *fmt, ...) CV_PRINTF(2, 3);
static void warn(struct adoption *ad, const char *fmt, ...)
{
	va_list ap;

	ad->warnings++;
	if (ad->o->quiet)
		return;
	fputs("converge: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * A submodule the application lists while the org's plan brings its
 * module and the application does not: the module's override disables
 * the submodule with it.  Each name is shortened once: cv_shorten has
 * only a few buffers, and naming five would overwrite the first.
 */
static void warn_lost_submodule(struct adoption *ad, const char *org,
				const char *module, const char *sub)
{
	const char *o = cv_shorten(org), *m = cv_shorten(module),
		   *s = cv_shorten(sub);

	warn(ad, "org '%s': '%s' is listed without its module '%s', which its plan brings; disabling '%s' disables '%s' too",
	     o, s, m, m, s);
}

/*
 * The overrides that take an org from what its plan and the always-on
 * modules give (base) to exactly the modules the application lists (app):
 * a module enabled brings its submodules, so the ones the application
 * does not list are disabled; a module disabled takes its submodules
 * with it, so one the application lists under it cannot be kept.
 */
static void adopt_relative(struct adoption *ad, const struct cv_state *live,
			   const char *org)
{
	const struct keys *b = &ad->base, *a = &ad->app;
	size_t i, k;

	for (i = 0; i < live->nent_modules; i++) {
		const struct cv_ent_module *m = &live->ent_modules[i];
		bool in_a = has(a->items, a->nr, m->key);
		bool in_b = has(b->items, b->nr, m->key);

		if (m->parent)
			continue;
		if (in_a != in_b)
			override(ad, org, m->key, in_a);
		for (k = 0; k < m->nsubs; k++) {
			const char *s = m->subs[k];
			bool sa = has(a->items, a->nr, s);
			bool sb = in_a || (!in_b && has(b->items, b->nr, s));

			if (in_b && !in_a && sa)
				warn_lost_submodule(ad, org, m->key, s);
			else if (sa != sb)
				override(ad, org, s, sa);
		}
	}
	for (i = 0; i < a->nr; i++)
		if (!live_module(live, a->items[i])) {
			warn(ad, "org '%s': module '%s' is not defined in the database",
			     cv_shorten(org), cv_shorten(a->items[i]));
			override(ad, org, a->items[i], true);
		}
}

static int row_cmp(const void *a, const void *b)
{
	const struct cv_ent_row *x = a, *y = b;

	return strcmp(x->module, y->module);
}

static int adopt(struct adoption *ad, const struct cv_state *live,
		 struct app_row *rows, size_t n, struct cv_error *err)
{
	bool defined = live->nent_modules > 0;
	size_t i, j, k;

	cv_sort(rows, n, sizeof(*rows), app_row_cmp);
	for (i = 0; i < n; i = j) {
		struct cv_ent_org *o;
		const char *plan = rows[i].plan;
		size_t first = ad->out.nent_rows;

		ad->app.nr = 0;
		for (j = i; j < n && strcmp(rows[j].org, rows[i].org) == 0; j++) {
			if (!cv_streq0(rows[j].plan, plan))
				return cv_error_set(err, CV_EINVAL,
						    "--orgs-from: org '%s' has two plans, '%s' and '%s'",
						    cv_shorten(rows[i].org),
						    plan ? plan : "none",
						    rows[j].plan ? rows[j].plan : "none");
			if (rows[j].module)
				keys_add(&ad->app, rows[j].module);
		}
		keys_sort(&ad->app);
		if (defined && plan && (!live->nent_plans ||
					!bsearch(plan, live->ent_plans,
						 live->nent_plans,
						 sizeof(*live->ent_plans),
						 plan_key_cmp)))
			warn(ad, "org '%s': plan '%s' is not defined in the database",
			     cv_shorten(rows[i].org), cv_shorten(plan));
		if (defined) {
			base_keys(&ad->base, live, plan);
			adopt_relative(ad, live, rows[i].org);
		} else {
			for (k = 0; k < ad->app.nr; k++)
				override(ad, rows[i].org, ad->app.items[k], true);
		}
		cv_sort(ad->out.ent_rows + first, ad->out.nent_rows - first,
		      sizeof(*ad->out.ent_rows), row_cmp);
		CV_GROW(ad->out.ent_orgs, ad->out.nent_orgs + 1,
			ad->out.ent_orgs_alloc);
		o = &ad->out.ent_orgs[ad->out.nent_orgs++];
		memset(o, 0, sizeof(*o));
		o->org = rows[i].org;
		o->plan = plan;
		o->listed = true;
		o->first_row = first;
		o->nrows = ad->out.nent_rows - first;
	}
	return 0;
}

/*
 * Grants expired at --now are absent (SPEC §7): printed, they would make
 * the output plan a change (their revocation) and warn about each.  Left
 * out, with a comment that says how many and when; the next apply
 * revokes them.
 */
static void drop_expired(const struct cv_opts *o, struct cv_state *live)
{
	size_t i, k = 0;

	for (i = 0; i < live->ngrants; i++)
		if (!cv_grant_expired(&live->grants[i], o->now))
			live->grants[k++] = live->grants[i];
	if (k < live->ngrants)
		printf("# %zu grant%s expired at %s %s left out: the next apply revokes %s\n",
		       live->ngrants - k, live->ngrants - k == 1 ? "" : "s",
		       o->now, live->ngrants - k == 1 ? "is" : "are",
		       live->ngrants - k == 1 ? "it" : "them");
	live->ngrants = k;
}

/* inspect --orgs-from: the entitlements.orgs section the query gives. */
static int print_adoption(struct cv_opts *o, struct cv_ctx *ctx,
			  const struct cv_url *url, struct cv_error *err)
{
	struct app_rows rd;
	struct adoption ad;
	struct cv_emit *e;
	int ret;

	memset(&rd, 0, sizeof(rd));
	memset(&ad, 0, sizeof(ad));
	rd.arena = ctx->live_arena;
	ad.o = o;
	ret = ctx->be->query(ctx->db, o->orgs_from, NULL, 0, read_app_row,
			     &rd, err);
	if (ret == CV_EINVAL && rd.bad)
		ret = cv_error_set(err, CV_EINVAL, "--orgs-from: %s", rd.bad);
	else if (ret == CV_EINVAL && (rd.ncols < 2 || rd.ncols > 3))
		ret = cv_error_set(err, CV_EUSAGE,
				   "--orgs-from: the query returns %d column%s; it must return (org, module) or (org, module, plan) rows",
				   rd.ncols, rd.ncols == 1 ? "" : "s");
	else if (ret)
		cv_error_prefix(err, "--orgs-from");
	if (!ret)
		ret = adopt(&ad, ctx->live, rd.items, rd.nr, err);
	if (ret)
		goto out;
	printf("# converge inspect --orgs-from of %s at %s: %zu org%s\n",
	       url->display, o->now, ad.out.nent_orgs,
	       ad.out.nent_orgs == 1 ? "" : "s");
	if (!ctx->live->nent_modules)
		printf("# no modules are defined in the database yet: every module listed is an override\n");
	e = cv_emit_new(stdout);
	cv_emit_map(e, false);
	cv_emit_str(e, "version");
	cv_emit_int(e, 1);
	cv_ent_inspect_adopted(&ad.out, e);
	cv_emit_end(e);
	ret = cv_emit_finish(e, err);
out:
	free(rd.items);
	free(rd.bad);
	free(ad.base.items);
	free(ad.app.items);
	cv_state_release(&ad.out);
	return ret;
}

/*
 * The schema version, as a comment: a `schema:` section needs
 * `migrations:`, a directory of revision files that the database cannot
 * give, so a section printed without it would not load, let alone plan
 * as no changes.  The comment says what to write instead.
 */
static int print_schema_note(struct cv_db *db, struct cv_arena *arena,
			     struct cv_error *err)
{
	struct cli_version v = CLI_VERSION_INIT;
	struct cv_run *runs = NULL;
	size_t nruns = 0;
	const char *table, *at;
	bool dflt;
	int ret;

	ret = cv_journal_runs(db, arena, 1, &runs, &nruns, err);
	if (!ret)
		ret = cli_read_version(db, nruns ? runs[0].schema_table : NULL,
				       &v, err);
	if (ret || !v.table)
		goto out;
	/* Shortened, so that no newline in a value ends the comment. */
	table = cv_shorten(v.table);
	if (v.nrows > 1) {
		printf("# schema: %s holds several versions (%s), branches converge does not plan from\n",
		       table, cv_shorten(cv_buf_str(&v.rows)));
		goto out;
	}
	at = v.value ? cv_shorten(v.value) : "base";
	dflt = strcmp(v.table, "converge_schema_version") == 0;
	if (v.value)
		printf("# schema: at revision %s in %s", at, table);
	else
		printf("# schema: no revision applied (base) in %s", table);
	printf("; add a schema: section with migrations: DIR%s version: %s%s%s to manage it\n",
	       dflt ? " and" : ",", at, dflt ? "" : " and table: ",
	       dflt ? "" : table);
out:
	cli_version_release(&v);
	return ret;
}

int cmd_inspect(struct cv_opts *o)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	struct cv_db *db = NULL;
	struct cv_state live;
	struct cv_arena arena = CV_ARENA_INIT;
	struct cv_ctx ctx;
	struct cv_emit *e;
	unsigned sections = 0;
	const char *fp;
	size_t i;
	int ret, code = 0;

	memset(&live, 0, sizeof(live));
	ret = cli_open_read(o, &url, &db, &err);
	if (!ret && !db)
		ret = cv_error_set(&err, CV_ENOTFOUND, "'%s' does not exist",
				   url.display);
	for (i = 0; i < cv_nkinds; i++)
		if (cv_kinds[i]->inspect)
			sections |= cv_kinds[i]->section;
	/* Adoption reads converge's definitions of modules and plans, the
	 * ones it writes overrides against. */
	if (o->orgs_from)
		sections = CV_SEC_ENTITLEMENTS;
	cli_ctx(o, &ctx, db, url.backend, NULL, &live, &arena);
	if (!ret)
		ret = cv_live_read(&ctx, sections, &fp, &arena, &err);
	if (ret)
		goto fail;
	if (o->orgs_from) {
		ret = print_adoption(o, &ctx, &url, &err);
		if (ret)
			goto fail;
		goto out;
	}

	printf("# converge inspect of %s\n", url.display);
	drop_expired(o, &live);
	ret = print_schema_note(db, &arena, &err);
	if (ret)
		goto fail;
	e = cv_emit_new(stdout);
	cv_emit_map(e, false);
	cv_emit_str(e, "version");
	cv_emit_int(e, 1);
	for (i = 0; i < cv_nkinds; i++)
		if ((live.stored & cv_kinds[i]->section) &&
		    cv_kinds[i]->inspect)
			cv_kinds[i]->inspect(&live, e);
	cv_emit_end(e);
	ret = cv_emit_finish(e, &err);
	if (ret)
		goto fail;
	goto out;
fail:
	code = cli_fail(&err);
out:
	cli_close(&url, &db);
	cv_state_release(&live);
	cv_arena_release(&arena);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
