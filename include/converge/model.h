/*
 * The model: what manifests say the database must hold (desired), and what
 * it holds now (live), in one shape so that kinds diff them by sorted merge
 * and `inspect` prints the live side as manifests.
 *
 * Arrays of keyed objects are sorted by their key (strcmp order, which is
 * the order of SQLite's BINARY collation and PostgreSQL's "C" collation).
 * Strings are borrowed from the owning arena.
 */
#ifndef CONVERGE_MODEL_H
#define CONVERGE_MODEL_H

#include "converge/error.h"

/* Manifest sections.  A section absent from every manifest is untouched. */
enum cv_section {
	CV_SEC_VERSION = 1 << 0,
	CV_SEC_SCHEMA = 1 << 1,
	CV_SEC_ROLES = 1 << 2,
	CV_SEC_GRANTS = 1 << 3,
	CV_SEC_ENTITLEMENTS = 1 << 4,
	CV_SEC_FLAGS = 1 << 5,
	CV_SEC_CHECKS = 1 << 6,
	CV_SEC_GUARDS = 1 << 7,
	CV_SEC_POSTGRES = 1 << 8,
	CV_SEC_STORE = 1 << 9,
};
const char *cv_section_name(unsigned bit);
int cv_section_parse(const char *name, unsigned *bit);

struct cv_role {
	const char *name;
	const char *description;   /* "" when none */
	const char **parents;      /* sorted */
	size_t nparents;
	const char **perms;        /* direct permissions, sorted */
	size_t nperms;
	struct cv_mark mark;
};

struct cv_grant {
	const char *subject;
	const char *role;
	const char *scope;         /* "" when none */
	const char *expires;       /* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ", or NULL */
	const char *reason;        /* or NULL */
	struct cv_mark mark;
};

struct cv_migration {
	const char *id;
	const char *parent;        /* NULL for the first revision */
	const char *description;
	const char *up;            /* for the backend in use */
	const char *down;          /* NULL: irreversible */
	const char *verify;        /* or NULL */
	bool transaction;
	const char *checksum;      /* "sha256:…" of `up` */
	const char *path;
	struct cv_mark mark;
};

struct cv_applied {
	const char *id;
	const char *checksum;
};

struct cv_min_grant {
	const char *role;
	long long min;
	struct cv_mark mark;
};

/* The contents of the sections, desired or live. */
struct cv_state {
	unsigned sections;          /* CV_SEC_* present (desired) or read (live) */

	/* schema */
	const char *schema_table;   /* version table */
	const char *schema_version; /* NULL = base (no revision applied) */
	struct cv_migration *chain; /* desired: base -> head order */
	size_t nchain;
	struct cv_applied *applied; /* live: journal checksums, sorted by id */
	size_t napplied;

	struct cv_role *roles;
	size_t nroles;
	struct cv_grant *grants;
	size_t ngrants;

	struct cv_min_grant *min_grants;
	size_t nmin_grants;
};

/* Lookups by binary search over the sorted arrays. */
const struct cv_role *cv_state_role(const struct cv_state *s,
				    const char *name);
int cv_grant_cmp(const struct cv_grant *a, const struct cv_grant *b);

#endif
