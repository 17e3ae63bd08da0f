/*
 * The planner: reads the live state of the sections a plan covers, takes
 * its fingerprint, and asks each kind for its steps (SPEC §4).
 */
#ifndef CONVERGE_PLANNER_H
#define CONVERGE_PLANNER_H

#include "converge/kind.h"

/* The sections read for a desired state: its own and what kinds need. */
unsigned cv_planner_sections(unsigned want_sections);

/*
 * Reads the live state of `sections` into ctx->live and returns its
 * fingerprint ("sha256:…", in `arena`) in *fingerprint.  ctx->db NULL
 * reads an empty database.
 */
int cv_live_read(struct cv_ctx *ctx, unsigned sections,
		 const char **fingerprint, struct cv_arena *arena,
		 struct cv_error *err);

/*
 * Plans ctx->want against the database: reads, diffs, orders the steps
 * and checks the guards (CV_EREFUSED when one is broken).  plan must be
 * initialised; its metadata (sections, fingerprint, now, backend) is set.
 */
int cv_planner_run(struct cv_plan *plan, struct cv_ctx *ctx,
		   struct cv_error *err);

#endif
