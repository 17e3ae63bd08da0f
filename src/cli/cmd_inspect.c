/*
 * converge inspect: the live state printed as a manifest, so that a team
 * adopting converge starts from what the database holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "converge/emit.h"
#include "converge/planner.h"

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
	ret = cli_url(o, &url, &err);
	if (!ret)
		ret = cli_open(o, &url, true, false, &db, &err);
	if (!ret && !db)
		ret = cv_error_set(&err, CV_ENOTFOUND, "'%s' does not exist",
				   url.display);
	if (!ret)
		ret = url.backend->begin_read(db, &err);
	for (i = 0; i < cv_nkinds; i++)
		if (cv_kinds[i]->inspect)
			sections |= cv_kinds[i]->section;
	cli_ctx(o, &ctx, db, url.backend, NULL, &live, &arena);
	if (!ret)
		ret = cv_live_read(&ctx, sections, &fp, &arena, &err);
	if (ret)
		goto fail;

	printf("# converge inspect of %s at %s\n", url.display, o->now);
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
	if (db) {
		url.backend->rollback(db);
		url.backend->close(db);
	}
	cv_state_release(&live);
	cv_arena_release(&arena);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
