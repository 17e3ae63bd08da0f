/*
 * converge validate: check manifests offline.
 */
#include <stdio.h>

#include "cli.h"

int cmd_validate(struct cv_opts *o)
{
	struct cv_manifest m;
	size_t i, files = 0;
	int ret;

	cv_manifest_init(&m);
	ret = cli_manifests(o, &m);
	if (!ret && !o->quiet) {
		/* Sources are manifests and the revisions they name. */
		for (i = 0; i < m.nsources; i++)
			files++;
		printf("ok: %zu file%s valid (%zu role%s, %zu grant%s, %zu revision%s)\n",
		       files, files == 1 ? "" : "s",
		       m.want.nroles, m.want.nroles == 1 ? "" : "s",
		       m.want.ngrants, m.want.ngrants == 1 ? "" : "s",
		       m.want.nchain, m.want.nchain == 1 ? "" : "s");
	}
	cv_state_release(&m.want);
	cv_manifest_release(&m);
	return ret;
}
