/*
 * The backends' prepared-statement cache (cache.h).
 */
#include <stdlib.h>
#include <string.h>

#include "cache.h"

#define CACHE_MIN 64

/* FNV-1a: short keys, no need for anything stronger. */
uint64_t cv_stmt_cache_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static const struct cv_stmt_slot *find_slot(const struct cv_stmt_cache *c,
					    const char *sql, uint64_t h)
{
	size_t mask = c->nslots - 1, i;

	if (!c->nslots)
		return NULL;
	for (i = (size_t)h & mask;; i = (i + 1) & mask) {
		const struct cv_stmt_slot *s = &c->slots[i];

		if (!s->sql)
			return NULL;
		if (s->hash == h && strcmp(s->sql, sql) == 0)
			return s;
	}
}

void *cv_stmt_cache_lookup(struct cv_stmt_cache *c, const char *sql,
			   uint64_t *h)
{
	const struct cv_stmt_slot *s = c->last;

	if (s && strcmp(s->sql, sql) == 0) {
		*h = s->hash;
		return s->stmt;
	}
	*h = cv_stmt_cache_hash(sql);
	s = find_slot(c, sql, *h);
	if (s)
		c->last = s;
	return s ? s->stmt : NULL;
}

static void place(struct cv_stmt_slot *slots, size_t nslots,
		  const struct cv_stmt_slot *from)
{
	size_t mask = nslots - 1, i = (size_t)from->hash & mask;

	while (slots[i].sql)
		i = (i + 1) & mask;
	slots[i] = *from;
}

/* Moves the entries keep() accepts into a table of nslots slots. */
static void rebuild(struct cv_stmt_cache *c, size_t nslots,
		    bool (*keep)(void *stmt), void (*drop)(void *stmt),
		    bool prune)
{
	struct cv_stmt_slot *slots = cv_calloc(nslots, sizeof(*slots));
	size_t i, nused = 0;

	for (i = 0; i < c->nslots; i++) {
		struct cv_stmt_slot *s = &c->slots[i];

		if (!s->sql)
			continue;
		if (prune && !(keep && keep(s->stmt))) {
			if (drop)
				drop(s->stmt);
			free(s->sql);
			continue;
		}
		place(slots, nslots, s);
		nused++;
	}
	free(c->slots);
	c->slots = slots;
	c->nslots = nslots;
	c->nused = nused;
	c->last = NULL;
}

void cv_stmt_cache_add(struct cv_stmt_cache *c, const char *sql, uint64_t h,
		       void *stmt)
{
	struct cv_stmt_slot slot;

	/* Keep the load under 3/4 so that probes stay short. */
	if ((c->nused + 1) * 4 > c->nslots * 3)
		rebuild(c, c->nslots ? c->nslots * 2 : CACHE_MIN, NULL, NULL,
			false);
	slot.sql = cv_strdup(sql);
	slot.hash = h;
	slot.stmt = stmt;
	place(c->slots, c->nslots, &slot);
	c->nused++;
}

void cv_stmt_cache_prune(struct cv_stmt_cache *c, bool (*keep)(void *stmt),
			 void (*drop)(void *stmt))
{
	if (c->nslots)
		rebuild(c, c->nslots, keep, drop, true);
}

void cv_stmt_cache_clear(struct cv_stmt_cache *c, void (*drop)(void *stmt))
{
	size_t i;

	for (i = 0; i < c->nslots; i++) {
		if (!c->slots[i].sql)
			continue;
		if (drop)
			drop(c->slots[i].stmt);
		free(c->slots[i].sql);
	}
	free(c->slots);
	c->slots = NULL;
	c->nslots = c->nused = 0;
	c->last = NULL;
}
