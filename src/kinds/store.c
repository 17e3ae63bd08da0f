/*
 * The `store` kind: binds a kind to an application's existing table
 * instead of converge's own.  Today that is `grants`: one role per subject
 * kept in a column, as TMWS keeps agents.role.  The binding owns no
 * storage; the grants kind reads and writes through it.
 */
#include <string.h>

#include "converge/kind.h"

/*
 * Reads one name of the binding into *out, with its place; a missing
 * key is an error only when `required`.
 */
static int load_name(const struct cv_node *g, const char *key,
		     const char *what, bool required, const char **out,
		     struct cv_mark *mark, struct cv_loader *ld)
{
	const struct cv_node *v = cv_yaml_get(g, key);

	if (!v && required) {
		cv_diag_error(ld->diags, &g->mark, "store.grants has no '%s'",
			      key);
		return CV_EINVAL;
	}
	if (!v || (!required && cv_yaml_is_null(v)))
		return 0;
	*mark = v->mark;
	if (cv_yaml_as_string(v, key, ld->diags, out) ||
	    cv_check_name(*out, what, &v->mark, ld->diags))
		return CV_EINVAL;
	return 0;
}

static int store_load(struct cv_state *want, const struct cv_node *node,
		      struct cv_loader *ld)
{
	static const char *const kinds[] = { "grants", NULL };
	static const char *const keys[] = {
		"table", "subject", "role", "default", NULL
	};
	struct cv_grants_store *gs;
	const struct cv_node *g;
	int ret = 0;

	if (cv_yaml_is_null(node))
		return 0;
	if (cv_yaml_expect(node, CV_NODE_MAP, "store", ld->diags))
		return CV_EINVAL;
	if (cv_yaml_check_keys(node, kinds, "store", ld->diags))
		ret = CV_EINVAL;
	g = cv_yaml_get(node, "grants");
	if (!g)
		return ret;
	/* A second binding is reported, and checked for what it says, but
	 * not kept: the grants are in one place. */
	if (want->grants_store) {
		const struct cv_mark *m = &want->grants_store->mark;

		cv_diag_error(ld->diags, &g->key_mark,
			      "store for 'grants' is defined twice (first at %s:%u:%u)",
			      m->file, m->line, m->col);
		ret = CV_EINVAL;
	}
	if (cv_yaml_expect(g, CV_NODE_MAP, "store.grants", ld->diags))
		return CV_EINVAL;
	if (cv_yaml_check_keys(g, keys, "store.grants", ld->diags))
		ret = CV_EINVAL;
	gs = cv_arena_alloc(ld->strings, sizeof(*gs));
	gs->mark = g->key_mark;
	if (load_name(g, "table", "table", true, &gs->table, &gs->table_mark,
		      ld))
		ret = CV_EINVAL;
	if (load_name(g, "subject", "subject column", true, &gs->subject,
		      &gs->subject_mark, ld))
		ret = CV_EINVAL;
	if (load_name(g, "role", "role column", true, &gs->role,
		      &gs->role_mark, ld))
		ret = CV_EINVAL;
	if (load_name(g, "default", "default role", false, &gs->dflt,
		      &gs->dflt_mark, ld))
		ret = CV_EINVAL;
	if (!gs->table || !gs->subject || !gs->role || want->grants_store)
		return CV_EINVAL;
	want->grants_store = gs;
	return ret;
}

/*
 * The binding itself: a table of the application (converge's own are
 * compared without case, as SQLite finds tables, and because no
 * application table should come that close to one), a role that exists.
 */
static int check_binding(struct cv_state *want, struct cv_diags *diags)
{
	const struct cv_grants_store *gs = want->grants_store;
	int ret = 0;

	if (cv_own_table(gs->table, want->schema_table, true)) {
		cv_diag_error(diags, &gs->table_mark,
			      "store.grants cannot bind '%s', one of converge's own tables: it binds an application's table",
			      cv_shorten(gs->table));
		ret = CV_EINVAL;
	}
	/* As a grant's role; without a roles section, grants_diff checks
	 * it against the database's. */
	if (gs->dflt && cv_check_role(want, gs->dflt, "store.grants default",
				      &gs->dflt_mark, diags))
		ret = CV_EINVAL;
	return ret;
}

/* The grants a binding cannot keep: several roles, scopes, expiry. */
static int store_validate(struct cv_state *want, struct cv_arena *strings,
			  struct cv_diags *diags)
{
	const struct cv_grants_store *gs = want->grants_store;
	size_t i;
	int ret = 0;

	(void)strings;
	if (!gs)
		return 0;
	if (!(want->sections & CV_SEC_GRANTS)) {
		/* A manifest that could not be read may have one. */
		if (want->unknown & CV_SEC_GRANTS)
			return check_binding(want, diags);
		cv_diag_error(diags, &gs->mark,
			      "store.grants binds the grants, but no manifest has a 'grants' section");
		return CV_EINVAL;
	}
	ret = check_binding(want, diags);
	for (i = 0; i < want->ngrants; i++) {
		const struct cv_grant *g = &want->grants[i];

		if (*g->scope || g->expires || g->reason) {
			cv_diag_error(diags, &g->mark,
				      "grants are stored in %s.%s, one role per subject: 'scope', 'expires' and 'reason' cannot be kept there",
				      gs->table, gs->role);
			ret = CV_EINVAL;
		}
		if (i && strcmp(want->grants[i - 1].subject, g->subject) == 0) {
			const struct cv_mark *m = &want->grants[i - 1].mark;

			cv_diag_error(diags, &g->mark,
				      "'%s' is granted a second role, but %s.%s keeps one role per subject (the other at %s:%u:%u)",
				      cv_shorten(g->subject), gs->table, gs->role,
				      m->file, m->line, m->col);
			ret = CV_EINVAL;
		}
	}
	return ret;
}

const struct cv_kind cv_kind_store = {
	.name = "store",
	.section = CV_SEC_STORE,
	.load = store_load,
	.validate = store_validate,
};
