/*
 * Loading manifests: files and directories in, one desired state out.
 *
 * Every file is read whole (it is hashed for the plan's manifests digest
 * and kept for error carets), parsed into a YAML tree, and its sections
 * handed to the kinds.  Errors are collected, not stopped at.
 */
#ifndef CONVERGE_MANIFEST_H
#define CONVERGE_MANIFEST_H

#include "converge/model.h"

/* The largest manifest or migration file read (bad input is refused). */
#define CV_MANIFEST_MAX_BYTES ((size_t)256 << 20)

struct cv_manifest {
	struct cv_arena strings;   /* the desired state's strings */
	struct cv_source *sources; /* every file read; texts malloc'd */
	size_t nsources, sources_alloc;
	struct cv_state want;
	const char *digest;        /* "sha256:…" over the manifest files */
};

void cv_manifest_init(struct cv_manifest *m);
/*
 * Loads `paths` (files, directories, "-" for standard input).  Returns 0,
 * or CV_EINVAL with every problem in diags (whose sources are set so that
 * it can print carets), or CV_EIO/CV_EUSAGE for unreadable arguments.
 */
int cv_manifest_load(struct cv_manifest *m, const char *const *paths,
		     size_t npaths, struct cv_diags *diags);
/*
 * Reads one file and registers it as a source; "-" is standard input.
 * `from` places the error when the file is named by a manifest.
 */
int cv_manifest_read(struct cv_manifest *m, const char *path,
		     const struct cv_mark *from, struct cv_diags *diags,
		     const struct cv_source **out);
/*
 * Every .yaml or .yml file below dir, recursively, hidden ones skipped,
 * sorted by path; the caller frees each path and the array.
 */
int cv_yaml_files_below(const char *dir, char ***paths, size_t *n,
			struct cv_diags *diags);
/* Frees the texts, the strings and the desired state (want). */
void cv_manifest_release(struct cv_manifest *m);

#endif
