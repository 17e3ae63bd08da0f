/*
 * Section names and lookups over the sorted arrays of a state (model.h).
 */
#include <stdlib.h>
#include <string.h>

#include "converge/model.h"

static const struct {
	unsigned bit;
	const char *name;
} sections[] = {
	{ CV_SEC_VERSION, "version" },
	{ CV_SEC_SCHEMA, "schema" },
	{ CV_SEC_ROLES, "roles" },
	{ CV_SEC_GRANTS, "grants" },
	{ CV_SEC_ENTITLEMENTS, "entitlements" },
	{ CV_SEC_FLAGS, "flags" },
	{ CV_SEC_CHECKS, "checks" },
	{ CV_SEC_GUARDS, "guards" },
	{ CV_SEC_POSTGRES, "postgres" },
	{ CV_SEC_STORE, "store" },
};

const char *cv_section_name(unsigned bit)
{
	size_t i;

	for (i = 0; i < CV_ARRAY_SIZE(sections); i++)
		if (sections[i].bit == bit)
			return sections[i].name;
	return NULL;
}

int cv_section_parse(const char *name, unsigned *bit)
{
	size_t i;

	for (i = 0; i < CV_ARRAY_SIZE(sections); i++)
		if (strcmp(sections[i].name, name) == 0) {
			*bit = sections[i].bit;
			return 0;
		}
	return CV_EINVAL;
}

static int role_name_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cv_role *)elem)->name);
}

const struct cv_role *cv_state_role(const struct cv_state *s, const char *name)
{
	if (!s->nroles)
		return NULL;
	return bsearch(name, s->roles, s->nroles, sizeof(*s->roles),
		       role_name_cmp);
}

bool cv_grant_expired(const struct cv_grant *g, const char *now)
{
	return g->expires && now && strcmp(g->expires, now) <= 0;
}

int cv_grant_cmp(const struct cv_grant *a, const struct cv_grant *b)
{
	int c = strcmp(a->subject, b->subject);

	if (c)
		return c;
	c = strcmp(a->role, b->role);
	if (c)
		return c;
	return strcmp(a->scope, b->scope);
}

const char *cv_sql_text_for(const struct cv_sql_text *t, const char *name)
{
	if (strcmp(name, "sqlite") == 0 && t->sqlite)
		return t->sqlite;
	if (strcmp(name, "postgres") == 0 && t->postgres)
		return t->postgres;
	return t->any;
}

bool cv_sql_text_empty(const struct cv_sql_text *t)
{
	return !t->any && !t->sqlite && !t->postgres;
}

void cv_state_release(struct cv_state *s)
{
	if (!s)
		return;
	free(s->chain);
	free(s->applied);
	free(s->roles);
	free(s->grants);
	free(s->min_grants);
	free(s->flags);
	free(s->checks);
	free(s->ent_modules);
	free(s->ent_plans);
	free(s->ent_orgs);
	free(s->ent_rows);
	free(s->pg.roles);
	free(s->pg.privs);
	free(s->pg.passed);
	free(s->pg.defaults);
	free(s->pg.tables);
	free(s->pg.created);
	free(s->pg.schemas);
	free(s->pg.schema_owners);
	memset(s, 0, sizeof(*s));
}

static int flag_name_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cv_flag *)elem)->name);
}

const struct cv_flag *cv_state_flag(const struct cv_state *s, const char *name)
{
	if (!s->nflags)
		return NULL;
	return bsearch(name, s->flags, s->nflags, sizeof(*s->flags),
		       flag_name_cmp);
}
