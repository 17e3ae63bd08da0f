/*
 * The prepared-statement cache the backends share: statements keyed by
 * their SQL text, in an open-addressing table.  What a statement is (a
 * sqlite3_stmt, the name of a server-side prepared statement) is the
 * backend's business: the cache holds it as a pointer and hands it back to
 * the backend's drop function when it lets it go.
 */
#ifndef CONVERGE_BACKEND_CACHE_H
#define CONVERGE_BACKEND_CACHE_H

#include "converge/util.h"

struct cv_stmt_slot {
	char *sql;         /* NULL: empty slot */
	uint64_t hash;
	void *stmt;
};

struct cv_stmt_cache {
	struct cv_stmt_slot *slots;
	size_t nslots;     /* a power of two, or 0 */
	size_t nused;
	const struct cv_stmt_slot *last;  /* the last one looked up, or NULL */
};

uint64_t cv_stmt_cache_hash(const char *sql);
/*
 * The statement cached for sql, or NULL; *h is set to sql's hash either
 * way, for cv_stmt_cache_add.  The statement found last is tried first,
 * with a string compare that costs less than hashing: a plan runs the
 * same statement for step after step.
 */
void *cv_stmt_cache_lookup(struct cv_stmt_cache *c, const char *sql,
			   uint64_t *h);
/* Caches stmt for sql (copied); the table grows to keep probes short. */
void cv_stmt_cache_add(struct cv_stmt_cache *c, const char *sql, uint64_t h,
		       void *stmt);
/*
 * Lets go of every statement keep() refuses (keep NULL: of all), passing
 * each to drop() (which may be NULL).
 */
void cv_stmt_cache_prune(struct cv_stmt_cache *c, bool (*keep)(void *stmt),
			 void (*drop)(void *stmt));
/* Lets go of everything and frees the table. */
void cv_stmt_cache_clear(struct cv_stmt_cache *c, void (*drop)(void *stmt));

#endif
