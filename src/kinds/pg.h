/*
 * What the files of the `postgres` kind share: postgres.c (the kind and
 * its descriptor), pg_roles.c, pg_privileges.c and pg_rls.c (one object
 * type each).  The reader that gathers the catalogues, the differ that
 * plans, and the helpers more than one of them calls.  Private to
 * src/kinds/: nothing else needs the kind's insides.
 *
 * Names and strings returned point into the state they were found in, or
 * into the arena passed (`a`, `arena`); none is the caller's to free.
 */
#ifndef CONVERGE_KINDS_PG_H
#define CONVERGE_KINDS_PG_H

#include "converge/kind.h"

struct reader {
	struct cv_ctx *ctx;
	struct cv_pg *pg;
	/* memberships and policy roles, gathered before they are attached */
	const char **pairs;
	size_t npairs, pairs_alloc;
	struct cv_pg_policy *pols;
	size_t npols, pols_alloc;
	const char **pol_keys;     /* schema, table per policy */
	size_t pol_keys_alloc;
	const char **tos;          /* the policies' roles, in order */
	size_t ntos, tos_alloc;
	size_t *first_to;          /* per policy: its first in tos */
	size_t first_to_alloc;
};

struct differ {
	struct cv_ctx *ctx;
	struct cv_plan *plan;
	const struct cv_pg *want, *live;
	const char **managed;      /* sorted */
	size_t nmanaged;
	const char **dropping;     /* created roles to drop, sorted */
	size_t ndropping;
	/* Of those, the ones DROP ROLE would refuse: role, what is in the
	 * way, pairs sorted by role (strings in the plan's arena). */
	const char **blocked;
	size_t nblocked, blocked_alloc;
	struct cv_buf sql;
	struct cv_error *err;
};

/* postgres.c: names, lookups, reading columns, SQL and steps. */
bool cv_pg_has_schema(const struct cv_pg *pg, const char *name);
const char *cv_pg_schema_owner(const struct cv_pg *pg, const char *name);
const char *cv_pg_find_word(const char *const *words, const char *s);
int cv_pg_long_name(const char *s, const char *what,
		    const struct cv_mark *mark, struct cv_diags *diags);
int cv_pg_table_parts(const char *s, const struct cv_mark *mark,
		      struct cv_loader *ld, const char **schema,
		      const char **name);
const struct cv_pg_role *cv_pg_find_role(const struct cv_pg *pg,
					 const char *name);
struct cv_pg_table *cv_pg_find_table(const struct cv_pg *pg,
				     const char *schema, const char *name);
bool cv_pg_has_name(const char *const *list, size_t n, const char *s);
bool cv_pg_true(const char *s);
const char *cv_pg_dup_col(struct reader *rd, const char *const *cols,
			  const size_t *lens, int i);
void cv_pg_qname(const struct cv_ctx *ctx, struct cv_buf *b, const char *s);
void cv_pg_qtable(const struct cv_ctx *ctx, struct cv_buf *b,
		  const char *schema, const char *name);
void cv_pg_add_sql(struct cv_plan *plan, struct cv_step *st, bool inv,
		   struct cv_buf *b);
struct cv_step *cv_pg_add_step(struct differ *df, enum cv_phase phase,
			       enum cv_action act, const char *object,
			       const char *const *key, size_t nkey);

/* pg_roles.c */
int cv_pg_reserved_role(const char *s, const struct cv_mark *mark,
			struct cv_diags *diags);
int cv_pg_load_roles(struct cv_pg *pg, const struct cv_node *n,
		     struct cv_loader *ld);
int cv_pg_read_role(void *p, const char *const *cols, const size_t *lens,
		    int ncols);
const char *cv_pg_role_value(const struct cv_pg_role *r, struct cv_arena *a);
void cv_pg_managed_roles(struct differ *df);
void cv_pg_dropping_roles(struct differ *df);
int cv_pg_read_blockers(struct differ *df);
bool cv_pg_is_managed(const struct differ *df, const char *name);
bool cv_pg_is_dropping(const struct differ *df, const char *name);
bool cv_pg_is_superuser(const struct differ *df, const char *name);
int cv_pg_diff_roles(struct differ *df, bool removing);
void cv_pg_emit_roles(struct cv_emit *e, const struct cv_pg *pg);

/* pg_privileges.c */
int cv_pg_load_grant(struct cv_pg *pg, const struct cv_node *e,
		     struct cv_loader *ld);
int cv_pg_load_default(struct cv_pg *pg, const struct cv_node *e,
		       struct cv_loader *ld);
void cv_pg_sort_privs(struct cv_pg_priv *p, size_t *n);
int cv_pg_read_priv(void *p, const char *const *cols, const size_t *lens,
		    int ncols);
int cv_pg_read_default(void *p, const char *const *cols, const size_t *lens,
		       int ncols);
int cv_pg_check_tables_named(const struct differ *df);
/* pg_rls.c: an rls table that does not exist, or is not a table (a
 * view, …), refused at plan. */
int cv_pg_check_rls_tables(const struct differ *df);
/* *out is malloc'd: the caller frees it (its strings are borrowed). */
void cv_pg_expand_defaults(const struct differ *df, struct cv_pg_priv **out,
			   size_t *nout);
void cv_pg_expand_privs(const struct differ *df, struct cv_pg_priv **out,
			size_t *nout);
int cv_pg_read_passed(void *p, const char *const *cols, const size_t *lens,
		      int ncols);
void cv_pg_sort_passed(struct cv_pg_priv *p, size_t n);
int cv_pg_diff_privs(struct differ *df, const struct cv_pg_priv *w,
		     size_t nw, const struct cv_pg_priv *l, size_t nl,
		     bool removing, bool whole);
bool cv_pg_has_schema_steps(const struct cv_plan *plan);
const char *cv_pg_privs_value(const struct cv_pg *l, const char *const *key,
			      struct cv_arena *arena);
void cv_pg_emit_privs(struct cv_emit *e, const struct cv_pg *pg,
		      const struct cv_pg_priv *list, size_t n);

/* pg_rls.c */
int cv_pg_load_rls(struct cv_pg *pg, const struct cv_node *n,
		   struct cv_loader *ld);
int cv_pg_read_policy(void *p, const char *const *cols, const size_t *lens,
		      int ncols);
const struct cv_pg_policy *cv_pg_find_policy(const struct cv_pg_table *t,
					     const char *name);
const char *cv_pg_policy_value(struct cv_ctx *ctx,
			       const struct cv_pg_table *t,
			       const struct cv_pg_policy *p,
			       struct cv_arena *a);
const char *cv_pg_rls_value(const struct cv_pg_table *t, struct cv_arena *a);
int cv_pg_diff_rls(struct differ *df, bool removing);
void cv_pg_emit_rls(struct cv_emit *e, const struct cv_pg *pg);

#endif
