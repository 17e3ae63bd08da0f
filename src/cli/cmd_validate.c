/*
 * converge validate: check manifests offline.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* ", 2 flags", ", 1 policy", ", 3 policies" */
static void count(const char *what, size_t n)
{
	size_t len = strlen(what);

	if (n != 1 && len && what[len - 1] == 'y')
		printf(", %zu %.*sies", n, (int)(len - 1), what);
	else
		printf(", %zu %s%s", n, what, n == 1 ? "" : "s");
}

int cmd_validate(struct cv_opts *o)
{
	const struct cv_state *w;
	struct cv_manifest m;
	int ret;

	cv_manifest_init(&m);
	ret = cli_manifests(o, &m);
	w = &m.want;
	if (!ret && !o->quiet) {
		/* Sources are manifests and the revisions they name. */
		printf("ok: %zu file%s valid (%zu role%s", m.nsources,
		       m.nsources == 1 ? "" : "s", w->nroles,
		       w->nroles == 1 ? "" : "s");
		count("grant", w->ngrants);
		count("revision", w->nchain);
		/* The other sections are counted when the manifests have them. */
		if (w->sections & CV_SEC_FLAGS)
			count("flag", w->nflags);
		if (w->sections & CV_SEC_CHECKS)
			count("check", w->nchecks);
		if (w->sections & CV_SEC_ENTITLEMENTS) {
			count("module", w->nent_modules);
			count("plan", w->nent_plans);
			count("org", w->nent_orgs);
		}
		if (w->sections & CV_SEC_POSTGRES) {
			size_t i, npolicies = 0;

			for (i = 0; i < w->pg.ntables; i++)
				npolicies += w->pg.tables[i].npolicies;
			count("PostgreSQL role", w->pg.nroles);
			count("RLS table", w->pg.ntables);
			count("policy", npolicies);
		}
		printf(")\n");
	}
	cv_manifest_release(&m);
	return ret;
}
