/*
 * The `postgres` kind: native PostgreSQL objects (SPEC §2, §7) — roles
 * and their memberships, privileges on tables and schemas, default
 * privileges, and row-level security with its policies.
 *
 * This file is the kind: the `postgres:` section's dispatch, validation,
 * one read of the catalogues, the fingerprint, the order of the diff,
 * values, the journal hook, storage and inspect.  What is particular to
 * one object type lives in a file of its own, from manifest to SQL:
 * pg_roles.c (roles and memberships), pg_privileges.c (privileges and
 * default privileges) and pg_rls.c (row-level security and policies);
 * pg.h has what they share.
 *
 * Ownership.  `roles` manages the roles it declares and those converge
 * created earlier (converge_pg_roles, kept by the journal hook); a created
 * role no longer declared is dropped.  Other roles, superusers and pg_*
 * roles are never dropped, and a superuser's attributes, memberships and
 * privileges are never changed, even when it is declared.  Privileges are
 * managed for managed roles only (declared, named by a privilege, or
 * created by converge), and an owner's own privileges are never looked
 * at.  `rls` manages the tables it names: their flags and every policy on
 * them; a table it does not name keeps whatever row-level security it
 * has, because switching RLS off where nobody said so would open data.
 *
 * Order (phases keep the order steps are added in, see planner.c): the
 * removals go policies, privileges, default privileges, memberships,
 * roles; the additions roles, memberships, privileges, default
 * privileges, row-level security, policies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "converge/emit.h"
#include "converge/journal.h"
#include "converge/kind.h"

#include "pg.h"

static const char T_CREATED[] = "converge_pg_roles";
static const char *const tables[] = { T_CREATED, NULL };
static const char KIND[] = "postgres";

/* ---- names ----------------------------------------------------------- */

const char *cv_pg_find_word(const char *const *words, const char *s)
{
	size_t i;

	for (i = 0; words[i]; i++)
		if (strcasecmp(words[i], s) == 0)
			return words[i];
	return NULL;
}

/*
 * PostgreSQL cuts names at NAMEDATALEN - 1 bytes (with a notice): a longer
 * one in a manifest would never match what the catalogue holds.
 */
#define PG_NAME_MAX 63

int cv_pg_long_name(const char *s, const char *what,
		    const struct cv_mark *mark, struct cv_diags *diags)
{
	if (strlen(s) <= PG_NAME_MAX)
		return 0;
	cv_diag_error(diags, mark,
		      "%s '%s' is longer than PostgreSQL's %d bytes for a name",
		      what, cv_shorten(s), PG_NAME_MAX);
	return CV_EINVAL;
}

/* "schema.table" (or "table", in public) into its two parts. */
static void split_table(const char *s, struct cv_arena *a,
			const char **schema, const char **name)
{
	const char *dot = strchr(s, '.');

	if (!dot) {
		*schema = "public";
		*name = s;
		return;
	}
	*schema = cv_arena_strndup(a, s, (size_t)(dot - s));
	*name = dot + 1;
}

/* A table name as manifests write it, into its two parts, checked. */
int cv_pg_table_parts(const char *s, const struct cv_mark *mark,
		      struct cv_loader *ld, const char **schema,
		      const char **name)
{
	if (cv_check_name(s, "table", mark, ld->diags))
		return CV_EINVAL;
	split_table(s, ld->strings, schema, name);
	if (!**schema || !**name) {
		cv_diag_error(ld->diags, mark,
			      "table '%s': expected 'schema.table' or 'table'",
			      cv_shorten(s));
		return CV_EINVAL;
	}
	if (cv_pg_long_name(*schema, "schema", mark, ld->diags) ||
	    cv_pg_long_name(*name, "table", mark, ld->diags))
		return CV_EINVAL;
	return 0;
}

/* ---- load ------------------------------------------------------------ */

static int role_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_pg_role *)a)->name,
		      ((const struct cv_pg_role *)b)->name);
}

static int load_list(struct cv_pg *pg, const struct cv_node *n,
		     const char *what, struct cv_loader *ld,
		     int (*one)(struct cv_pg *, const struct cv_node *,
				struct cv_loader *))
{
	int ret = 0;

	if (cv_yaml_is_null(n))
		return 0;
	if (cv_yaml_expect(n, CV_NODE_SEQ, what, ld->diags))
		return CV_EINVAL;
	cv_yaml_each(e, n)
		if (one(pg, e, ld))
			ret = CV_EINVAL;
	return ret;
}

static int postgres_load(struct cv_state *want, const struct cv_node *node,
			 struct cv_loader *ld)
{
	static const char *const keys[] = {
		"roles", "privileges", "default_privileges", "rls", NULL
	};
	struct cv_pg *pg = &want->pg;
	const struct cv_node *v;
	int ret = 0;

	if (cv_yaml_is_null(node))
		return 0;
	if (cv_yaml_expect(node, CV_NODE_MAP, "postgres", ld->diags))
		return CV_EINVAL;
	if (cv_yaml_check_keys(node, keys, "the postgres section", ld->diags))
		ret = CV_EINVAL;
	if ((v = cv_yaml_get(node, "roles"))) {
		pg->parts |= CV_PG_ROLES;
		ret |= cv_pg_load_roles(pg, v, ld);
	}
	if ((v = cv_yaml_get(node, "privileges"))) {
		pg->parts |= CV_PG_PRIVILEGES;
		ret |= load_list(pg, v, "privileges", ld, cv_pg_load_grant);
	}
	if ((v = cv_yaml_get(node, "default_privileges"))) {
		pg->parts |= CV_PG_DEFAULTS;
		ret |= load_list(pg, v, "default_privileges", ld,
				 cv_pg_load_default);
	}
	if ((v = cv_yaml_get(node, "rls"))) {
		pg->parts |= CV_PG_RLS;
		ret |= cv_pg_load_rls(pg, v, ld);
	}
	return ret ? CV_EINVAL : 0;
}

/* ---- validate -------------------------------------------------------- */

static int table_cmp(const void *a, const void *b)
{
	const struct cv_pg_table *x = a, *y = b;
	int c = strcmp(x->schema, y->schema);

	return c ? c : strcmp(x->name, y->name);
}

const struct cv_pg_role *cv_pg_find_role(const struct cv_pg *pg,
					 const char *name)
{
	struct cv_pg_role key = { 0 };

	if (!pg->nroles)
		return NULL;
	key.name = name;
	return bsearch(&key, pg->roles, pg->nroles, sizeof(*pg->roles),
		       role_cmp);
}

/* 0 white, 1 on the path, 2 done: a member_of cycle among declared roles. */
static bool member_cycle(const struct cv_pg *pg, size_t i, unsigned char *color)
{
	const struct cv_pg_role *r = &pg->roles[i];
	size_t k;

	if (color[i] == 1)
		return true;
	if (color[i] == 2)
		return false;
	color[i] = 1;
	for (k = 0; k < r->nmember_of; k++) {
		const struct cv_pg_role *p =
			cv_pg_find_role(pg, r->member_of[k]);

		if (p && p != r && member_cycle(pg, (size_t)(p - pg->roles), color))
			return true;
	}
	color[i] = 2;
	return false;
}

static int postgres_validate(struct cv_state *want, struct cv_arena *strings,
			     struct cv_diags *diags)
{
	struct cv_pg *pg = &want->pg;
	size_t i, k, first;
	int ret;

	(void)strings;
	cv_sort_stable(pg->roles, pg->nroles, sizeof(*pg->roles), role_cmp);
	ret = cv_report_twice(pg->roles, pg->nroles, sizeof(*pg->roles),
			      offsetof(struct cv_pg_role, name),
			      offsetof(struct cv_pg_role, mark),
			      "PostgreSQL role", diags);
	for (i = 0; i < pg->nroles; i++)
		for (k = 0; k < pg->roles[i].nmember_of; k++)
			if (strcmp(pg->roles[i].member_of[k],
				   pg->roles[i].name) == 0) {
				cv_diag_error(diags, &pg->roles[i].mark,
					      "PostgreSQL role '%s' cannot be a member of itself",
					      cv_shorten(pg->roles[i].name));
				ret = CV_EINVAL;
			}
	{
		unsigned char *color = cv_calloc(pg->nroles + 1, 1);

		for (i = 0; i < pg->nroles; i++)
			if (member_cycle(pg, i, color)) {
				cv_diag_error(diags, &pg->roles[i].mark,
					      "PostgreSQL role '%s' is part of a cycle of 'member_of'",
					      cv_shorten(pg->roles[i].name));
				ret = CV_EINVAL;
				memset(color, 0, pg->nroles + 1);
			}
		free(color);
	}
	cv_sort_stable(pg->tables, pg->ntables, sizeof(*pg->tables),
		       table_cmp);
	for (i = 1, first = 0; i < pg->ntables; i++)
		if (table_cmp(&pg->tables[first], &pg->tables[i]) != 0) {
			first = i;
		} else {
			const struct cv_mark *m = &pg->tables[first].mark;

			cv_diag_error(diags, &pg->tables[i].mark,
				      "rls: table '%s.%s' is defined twice (first at %s:%u:%u)",
				      cv_shorten(pg->tables[i].schema),
				      cv_shorten(pg->tables[i].name), m->file,
				      m->line, m->col);
			ret = CV_EINVAL;
		}
	for (i = 0; i < pg->ntables; i++) {
		const struct cv_pg_table *t = &pg->tables[i];

		for (k = 1; k < t->npolicies; k++)
			if (strcmp(t->policies[k - 1].name, t->policies[k].name) == 0) {
				cv_diag_error(diags, &t->policies[k].mark,
					      "policy '%s' is defined twice on %s.%s",
					      cv_shorten(t->policies[k].name),
					      cv_shorten(t->schema), cv_shorten(t->name));
				ret = CV_EINVAL;
			}
	}
	cv_pg_sort_privs(pg->privs, &pg->nprivs);
	cv_pg_sort_privs(pg->defaults, &pg->ndefaults);
	return ret;
}

/* ---- read ------------------------------------------------------------ */

bool cv_pg_true(const char *s)
{
	return s && (strcmp(s, "t") == 0 || strcmp(s, "true") == 0);
}

const char *cv_pg_dup_col(struct reader *rd, const char *const *cols,
			  const size_t *lens, int i)
{
	return cols[i] ? cv_arena_strndup(rd->ctx->live_arena, cols[i],
					  lens[i]) : NULL;
}

static int read_pair(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct reader *rd = p;

	(void)ncols;
	CV_GROW(rd->pairs, rd->npairs + 2, rd->pairs_alloc);
	rd->pairs[rd->npairs++] = cv_pg_dup_col(rd, cols, lens, 0);
	rd->pairs[rd->npairs++] = cv_pg_dup_col(rd, cols, lens, 1);
	return 0;
}

static int read_table(void *p, const char *const *cols, const size_t *lens,
		      int ncols)
{
	struct reader *rd = p;
	struct cv_pg_table *t;

	(void)ncols;
	CV_GROW(rd->pg->tables, rd->pg->ntables + 1, rd->pg->tables_alloc);
	t = &rd->pg->tables[rd->pg->ntables++];
	memset(t, 0, sizeof(*t));
	t->schema = cv_pg_dup_col(rd, cols, lens, 0);
	t->name = cv_pg_dup_col(rd, cols, lens, 1);
	t->owner = cv_pg_dup_col(rd, cols, lens, 2);
	t->rls = cv_pg_true(cols[3]);
	t->force = cv_pg_true(cols[4]);
	t->sequence = cv_pg_true(cols[5]);
	t->relkind = cols[6] ? cols[6][0] : 0;
	return 0;
}

struct cv_pg_table *cv_pg_find_table(const struct cv_pg *pg,
				     const char *schema, const char *name)
{
	struct cv_pg_table key;

	if (!pg->ntables)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.schema = schema;
	key.name = name;
	return bsearch(&key, pg->tables, pg->ntables, sizeof(*pg->tables),
		       table_cmp);
}

static struct cv_pg_role *find_live_role(struct cv_pg *pg, const char *name)
{
	return (struct cv_pg_role *)cv_pg_find_role(pg, name);
}

/* Memberships and policy roles, gathered sorted, into their owners. */
static void attach(struct reader *rd)
{
	struct cv_arena *a = rd->ctx->live_arena;
	struct cv_pg *pg = rd->pg;
	size_t i, j, k;

	for (i = 0; i < rd->npairs; i = j) {
		struct cv_pg_role *r = find_live_role(pg, rd->pairs[i]);

		for (j = i; j < rd->npairs &&
			    strcmp(rd->pairs[j], rd->pairs[i]) == 0; j += 2)
			;
		if (!r)
			continue;
		r->nmember_of = (j - i) / 2;
		r->member_of = cv_arena_alloc(a, r->nmember_of * sizeof(char *));
		for (k = 0; k < r->nmember_of; k++)
			r->member_of[k] = rd->pairs[i + 2 * k + 1];
	}
	/* Policies arrive sorted by schema, table, name. */
	for (i = 0; i < rd->npols; i++) {
		struct cv_pg_policy *pol = &rd->pols[i];

		pol->to = cv_arena_memdup(a, rd->tos + rd->first_to[i],
					  pol->nto * sizeof(*pol->to));
	}
	for (i = 0; i < rd->npols; i = j) {
		struct cv_pg_table *t =
			cv_pg_find_table(pg, rd->pol_keys[2 * i],
					 rd->pol_keys[2 * i + 1]);

		for (j = i; j < rd->npols &&
			    strcmp(rd->pol_keys[2 * j], rd->pol_keys[2 * i]) == 0 &&
			    strcmp(rd->pol_keys[2 * j + 1],
				   rd->pol_keys[2 * i + 1]) == 0; j++)
			;
		if (!t)
			continue;
		t->policies = cv_arena_memdup(a, rd->pols + i,
					      (j - i) * sizeof(*rd->pols));
		t->npolicies = j - i;
	}
}

static int read_created(void *p, const char *const *cols, const size_t *lens,
			int ncols)
{
	struct reader *rd = p;

	(void)ncols;
	if (!cols[0])
		return 0;
	CV_GROW(rd->pg->created, rd->pg->ncreated + 1, rd->pg->created_alloc);
	rd->pg->created[rd->pg->ncreated++] = cv_pg_dup_col(rd, cols, lens, 0);
	return 0;
}

static int read_schema(void *p, const char *const *cols, const size_t *lens,
		       int ncols)
{
	struct reader *rd = p;

	(void)ncols;
	CV_GROW(rd->pg->schemas, rd->pg->nschemas + 1, rd->pg->schemas_alloc);
	CV_GROW(rd->pg->schema_owners, rd->pg->nschemas + 1,
		rd->pg->schema_owners_alloc);
	rd->pg->schemas[rd->pg->nschemas] = cv_pg_dup_col(rd, cols, lens, 0);
	rd->pg->schema_owners[rd->pg->nschemas++] =
		cv_pg_dup_col(rd, cols, lens, 1);
	return 0;
}

#define USER_SCHEMAS \
	"n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
#define USER_RELS "c.relkind IN ('r', 'p', 'v', 'm', 'f') AND " USER_SCHEMAS
#define USER_RELS_AND_SEQS \
	"c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND " USER_SCHEMAS

static const char Q_SCHEMAS[] =
	"SELECT n.nspname COLLATE \"C\", "
	"pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n "
	"WHERE " USER_SCHEMAS " ORDER BY 1";
static const char Q_ROLES[] =
	"SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, "
	"rolinherit, rolreplication, rolbypassrls FROM pg_catalog.pg_roles "
	"WHERE rolname !~ '^pg_' ORDER BY rolname COLLATE \"C\"";
static const char Q_MEMBERS[] =
	"SELECT DISTINCT m.rolname COLLATE \"C\", g.rolname COLLATE \"C\" "
	"FROM pg_catalog.pg_auth_members a "
	"JOIN pg_catalog.pg_roles m ON m.oid = a.member "
	"JOIN pg_catalog.pg_roles g ON g.oid = a.roleid "
	"WHERE m.rolname !~ '^pg_' ORDER BY 1, 2";
static const char Q_TABLES[] =
	"SELECT n.nspname COLLATE \"C\", c.relname COLLATE \"C\", "
	"pg_catalog.pg_get_userbyid(c.relowner), c.relrowsecurity, "
	"c.relforcerowsecurity, c.relkind = 'S', c.relkind "
	"FROM pg_catalog.pg_class c "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"WHERE " USER_RELS_AND_SEQS " ORDER BY 1, 2";
static const char Q_TABLE_PRIVS[] =
	"SELECT DISTINCT CASE WHEN c.relkind = 'S' THEN 's' ELSE 't' END, "
	"n.nspname, c.relname, "
	"pg_catalog.pg_get_userbyid(a.grantee), a.privilege_type "
	"FROM pg_catalog.pg_class c "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, "
	"LATERAL pg_catalog.aclexplode(c.relacl) a "
	"WHERE " USER_RELS_AND_SEQS " AND a.grantee <> 0 "
	"AND a.grantee <> c.relowner";
static const char Q_SCHEMA_PRIVS[] =
	"SELECT DISTINCT 'n', n.nspname, "
	"pg_catalog.pg_get_userbyid(a.grantee), "
	"a.privilege_type FROM pg_catalog.pg_namespace n, "
	"LATERAL pg_catalog.aclexplode(n.nspacl) a "
	"WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' "
	"AND a.grantee <> 0 AND a.grantee <> n.nspowner";
/* What a role other than the owner granted: the grant options used. */
static const char Q_PASSED[] =
	"SELECT CASE WHEN c.relkind = 'S' THEN 's' ELSE 't' END, n.nspname, "
	"c.relname, pg_catalog.pg_get_userbyid(a.grantor), "
	"CASE WHEN a.grantee = 0 THEN 'public' "
	"ELSE pg_catalog.pg_get_userbyid(a.grantee) END, a.privilege_type "
	"FROM pg_catalog.pg_class c "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, "
	"LATERAL pg_catalog.aclexplode(c.relacl) a "
	"WHERE " USER_RELS_AND_SEQS " AND a.grantor <> c.relowner "
	"UNION ALL SELECT 'n', n.nspname, NULL, "
	"pg_catalog.pg_get_userbyid(a.grantor), "
	"CASE WHEN a.grantee = 0 THEN 'public' "
	"ELSE pg_catalog.pg_get_userbyid(a.grantee) END, a.privilege_type "
	"FROM pg_catalog.pg_namespace n, "
	"LATERAL pg_catalog.aclexplode(n.nspacl) a "
	"WHERE " USER_SCHEMAS " AND a.grantor <> n.nspowner";
static const char Q_DEFAULTS[] =
	"SELECT DISTINCT pg_catalog.pg_get_userbyid(d.defaclrole), "
	"COALESCE(n.nspname, ''), d.defaclobjtype::text, "
	"pg_catalog.pg_get_userbyid(a.grantee), a.privilege_type "
	"FROM pg_catalog.pg_default_acl d "
	"LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace, "
	"LATERAL pg_catalog.aclexplode(d.defaclacl) a "
	"WHERE a.grantee <> 0 AND a.grantee <> d.defaclrole";
static const char Q_POLICIES[] =
	"SELECT n.nspname COLLATE \"C\", c.relname COLLATE \"C\", "
	"p.polname COLLATE \"C\", p.polcmd::text, p.polpermissive, "
	"pg_catalog.pg_get_expr(p.polqual, p.polrelid), "
	"pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), "
	"CASE WHEN r.oid = 0 THEN 'public' "
	"ELSE pg_catalog.pg_get_userbyid(r.oid) END COLLATE \"C\" "
	"FROM pg_catalog.pg_policy p "
	"JOIN pg_catalog.pg_class c ON c.oid = p.polrelid "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, "
	"LATERAL unnest(p.polroles) AS r(oid) ORDER BY 1, 2, 3, 8";

static int postgres_read(struct cv_ctx *ctx, struct cv_error *err)
{
	struct cv_pg *pg = &ctx->live->pg;
	static const struct {
		const char *sql;
		cv_row_fn fn;
	} reads[] = {
		{ Q_ROLES, cv_pg_read_role },
		{ Q_MEMBERS, read_pair },
		{ Q_SCHEMAS, read_schema },
		{ Q_TABLES, read_table },
		{ Q_TABLE_PRIVS, cv_pg_read_priv },
		{ Q_SCHEMA_PRIVS, cv_pg_read_priv },
		{ Q_DEFAULTS, cv_pg_read_default },
		{ Q_PASSED, cv_pg_read_passed },
		{ Q_POLICIES, cv_pg_read_policy },
	};
	struct reader rd;
	bool exists = false;
	size_t i;
	int ret = 0;

	if (strcmp(ctx->be->name, "postgres") != 0) {
		if (!ctx->want)
			return 0;	/* inspect: SQLite has none */
		return cv_error_set(err, CV_EINVAL,
				    "the postgres: section manages native PostgreSQL objects; the database is %s",
				    ctx->be->name);
	}
	ctx->live->sections |= CV_SEC_POSTGRES;
	if (!ctx->db)
		return 0;
	/* The catalogues are always there: inspect prints the section. */
	ctx->live->stored |= CV_SEC_POSTGRES;
	memset(&rd, 0, sizeof(rd));
	rd.ctx = ctx;
	rd.pg = pg;
	for (i = 0; i < CV_ARRAY_SIZE(reads) && !ret; i++)
		ret = ctx->be->query(ctx->db, reads[i].sql, NULL, 0,
				     reads[i].fn, &rd, err);
	if (!ret)
		ret = ctx->be->table_exists(ctx->db, T_CREATED, &exists, err);
	if (!ret && exists) {
		char *sql;
		static const char *const cols[] = { "name" };

		sql = cv_sql_select(ctx->be, T_CREATED, cols, 1, cols, 1);
		ret = ctx->be->query(ctx->db, sql, NULL, 0, read_created, &rd,
				     err);
		free(sql);
	}
	if (!ret)
		ret = cv_journal_version_tables(ctx->db, ctx->live_arena,
						&pg->version_tables, err);
	if (!ret) {
		/* The server's sort order is "C" for names; the privilege
		 * rows come unsorted (DISTINCT over several columns). */
		cv_sort(pg->roles, pg->nroles, sizeof(*pg->roles), role_cmp);
		cv_sort(pg->tables, pg->ntables, sizeof(*pg->tables), table_cmp);
		cv_sort(pg->created, pg->ncreated, sizeof(*pg->created),
			cv_strptr_cmp);
		cv_pg_sort_privs(pg->privs, &pg->nprivs);
		cv_pg_sort_privs(pg->defaults, &pg->ndefaults);
		cv_pg_sort_passed(pg->passed, pg->npassed);
		attach(&rd);
	}
	free(rd.pairs);
	free(rd.pols);
	free(rd.pol_keys);
	free(rd.tos);
	free(rd.first_to);
	return ret;
}

/* ---- canonical values and the fingerprint ------------------------------ */

/* The owner of schema `name` in the live state, or NULL if it has none. */
const char *cv_pg_schema_owner(const struct cv_pg *pg, const char *name)
{
	const char **s = pg->nschemas ?
		bsearch(&name, pg->schemas, pg->nschemas, sizeof(*pg->schemas),
			cv_strptr_cmp) : NULL;

	return s ? pg->schema_owners[s - pg->schemas] : NULL;
}

bool cv_pg_has_schema(const struct cv_pg *pg, const char *name)
{
	return cv_pg_schema_owner(pg, name) != NULL;
}

bool cv_pg_has_name(const char *const *list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static void digest_priv(struct cv_digest *d, const struct cv_pg_priv *p)
{
	char t[2] = { p->objtype, 0 };

	cv_digest_str(d, t);
	cv_digest_str(d, p->owner);
	cv_digest_str(d, p->schema);
	cv_digest_str(d, p->name);
	cv_digest_str(d, p->role);
	cv_digest_str(d, p->priv);
}

static void postgres_digest(const struct cv_state *live, struct cv_digest *d)
{
	const struct cv_pg *pg = &live->pg;
	size_t i, k, n;

	for (i = 0; i < pg->nroles; i++) {
		const struct cv_pg_role *r = &pg->roles[i];
		char bits[16];

		snprintf(bits, sizeof(bits), "%u", r->attrs);
		cv_digest_str(d, r->name);
		cv_digest_str(d, bits);
		for (k = 0; k < r->nmember_of; k++)
			cv_digest_str(d, r->member_of[k]);
		cv_digest_str(d, "");
	}
	for (i = 0; i < pg->ncreated; i++)
		cv_digest_str(d, pg->created[i]);
	for (i = 0; i < pg->nprivs; i++)
		digest_priv(d, &pg->privs[i]);
	for (i = 0; i < pg->ndefaults; i++)
		digest_priv(d, &pg->defaults[i]);
	for (i = 0; i < pg->ntables; i++) {
		const struct cv_pg_table *t = &pg->tables[i];

		cv_digest_str(d, t->schema);
		cv_digest_str(d, t->name);
		cv_digest_str(d, t->owner);
		cv_digest_str(d, t->rls ? "1" : "0");
		cv_digest_str(d, t->force ? "1" : "0");
		for (k = 0; k < t->npolicies; k++) {
			const struct cv_pg_policy *p = &t->policies[k];

			cv_digest_str(d, p->name);
			cv_digest_str(d, p->command);
			cv_digest_str(d, p->permissive ? "1" : "0");
			for (n = 0; n < p->nto; n++)
				cv_digest_str(d, p->to[n]);
			cv_digest_str(d, p->using_expr);
			cv_digest_str(d, p->check_expr);
		}
		cv_digest_str(d, "");
	}
}

/* ---- SQL ---------------------------------------------------------------- */

void cv_pg_qname(const struct cv_ctx *ctx, struct cv_buf *b, const char *s)
{
	ctx->be->quote_ident(b, s);
}

void cv_pg_qtable(const struct cv_ctx *ctx, struct cv_buf *b,
		  const char *schema, const char *name)
{
	cv_pg_qname(ctx, b, schema);
	cv_buf_addch(b, '.');
	cv_pg_qname(ctx, b, name);
}

/* Adds a statement to the step's forward (inv = false) or inverse list. */
void cv_pg_add_sql(struct cv_plan *plan, struct cv_step *st, bool inv,
		   struct cv_buf *b)
{
	struct cv_stmt *s = inv ? cv_step_inv(plan, st, b->buf, NULL, 0) :
				  cv_step_fwd(plan, st, b->buf, NULL, 0);

	s->script = true;
	cv_buf_reset(b);
}

/* ---- the diff ------------------------------------------------------------ */

struct cv_step *cv_pg_add_step(struct differ *df, enum cv_phase phase,
			       enum cv_action act, const char *object,
			       const char *const *key, size_t nkey)
{
	struct cv_step *st = cv_plan_add(df->plan, phase, act, KIND, object);

	cv_step_set_key(df->plan, st, key, nkey);
	return st;
}

/*
 * Every role the manifests name must exist or be declared: PostgreSQL
 * would refuse the step at apply, after the review said yes.
 */
static int check_roles_named(const struct differ *df)
{
	const struct cv_pg *w = df->want, *l = df->live;
	const char *missing = NULL, *what = NULL;
	size_t i, k;

#define KNOWN(r) (cv_pg_find_role(w, (r)) || cv_pg_find_role(l, (r)))
	for (i = 0; !missing && i < w->nprivs; i++)
		if (!KNOWN(w->privs[i].role))
			missing = w->privs[i].role, what = "a privilege";
	for (i = 0; !missing && i < w->ndefaults; i++)
		if (!KNOWN(w->defaults[i].role))
			missing = w->defaults[i].role, what = "a default privilege";
		else if (!KNOWN(w->defaults[i].owner))
			missing = w->defaults[i].owner,
			what = "a default privilege's owner";
	for (i = 0; !missing && i < w->ntables; i++)
		for (k = 0; !missing && k < w->tables[i].npolicies; k++) {
			const struct cv_pg_policy *p = &w->tables[i].policies[k];
			size_t n;

			for (n = 0; !missing && n < p->nto; n++)
				if (strcmp(p->to[n], "public") != 0 &&
				    !KNOWN(p->to[n]))
					missing = p->to[n], what = "a policy";
		}
#undef KNOWN
	if (!missing)
		return 0;
	return cv_error_set(df->err, CV_EINVAL,
			    "%s names PostgreSQL role '%s', which neither exists nor is declared in postgres.roles",
			    what, missing);
}

static int postgres_diff(struct cv_ctx *ctx, struct cv_plan *plan,
			 struct cv_error *err)
{
	struct differ df;
	struct cv_pg_priv *privs = NULL, *defaults = NULL;
	size_t nprivs = 0, ndefaults = 0;
	unsigned parts = ctx->want->pg.parts;
	int ret = 0, pass;

	memset(&df, 0, sizeof(df));
	df.ctx = ctx;
	df.plan = plan;
	df.want = &ctx->want->pg;
	df.live = &ctx->live->pg;
	df.err = err;
	ret = check_roles_named(&df);
	if (!ret)
		ret = cv_pg_check_tables_named(&df);
	if (!ret)
		ret = cv_pg_check_rls_tables(&df);
	if (ret)
		return ret;
	cv_pg_managed_roles(&df);
	cv_pg_dropping_roles(&df);
	ret = cv_pg_read_blockers(&df);
	if (parts & CV_PG_PRIVILEGES)
		cv_pg_expand_privs(&df, &privs, &nprivs);
	if (parts & CV_PG_DEFAULTS)
		cv_pg_expand_defaults(&df, &defaults, &ndefaults);
	/* Removals first, in the reverse of the order things are added. */
	for (pass = 0; pass < 2 && !ret; pass++) {
		bool removing = pass == 0;

		if (!removing && (parts & CV_PG_ROLES))
			ret = cv_pg_diff_roles(&df, false);
		if (ret)
			break;
		if (removing && (parts & CV_PG_RLS))
			ret = cv_pg_diff_rls(&df, true);
		if (ret)
			break;
		ret = cv_pg_diff_privs(&df, privs, nprivs, df.live->privs,
				       df.live->nprivs, removing,
				       parts & CV_PG_PRIVILEGES);
		if (!ret)
			ret = cv_pg_diff_privs(&df, defaults, ndefaults,
					       df.live->defaults,
					       df.live->ndefaults, removing,
					       parts & CV_PG_DEFAULTS);
		if (ret)
			break;
		if (removing && (parts & CV_PG_ROLES))
			ret = cv_pg_diff_roles(&df, true);
		if (!removing && (parts & CV_PG_RLS))
			ret = cv_pg_diff_rls(&df, false);
	}
	free(privs);
	free(defaults);
	free(df.managed);
	free(df.dropping);
	free(df.blocked);
	cv_buf_release(&df.sql);
	return ret;
}

/* ---- values, journal, storage ----------------------------------------------- */

static const char *postgres_value(struct cv_ctx *ctx, const char *const *key,
				  size_t nkey, struct cv_arena *arena)
{
	const struct cv_pg *l = &ctx->live->pg;
	const struct cv_pg_table *t;

	if (nkey == 2 && strcmp(key[0], "role") == 0)
		return cv_pg_role_value(cv_pg_find_role(l, key[1]), arena);
	if (nkey == 3 && strcmp(key[0], "member") == 0) {
		const struct cv_pg_role *r = cv_pg_find_role(l, key[1]);

		return r && cv_pg_has_name(r->member_of, r->nmember_of,
					   key[2]) ? "1" : NULL;
	}
	if (nkey == 6 && (strcmp(key[0], "privileges") == 0 ||
			  strcmp(key[0], "default") == 0))
		return cv_pg_privs_value(l, key, arena);
	if (nkey == 3 && strcmp(key[0], "rls") == 0)
		return cv_pg_rls_value(cv_pg_find_table(l, key[1], key[2]),
				       arena);
	if (nkey == 4 && strcmp(key[0], "policy") == 0) {
		t = cv_pg_find_table(l, key[1], key[2]);
		return cv_pg_policy_value(ctx, t, cv_pg_find_policy(t, key[3]),
					  arena);
	}
	return NULL;
}

/* converge_pg_roles: the roles converge created (SPEC §7, ownership). */
static int postgres_journal(struct cv_ctx *ctx, const struct cv_step *st,
			    const char *run_id, struct cv_error *err)
{
	static const char *const cols[] = { "name", "run_id" };
	struct cv_arena a = CV_ARENA_INIT;
	const char *p[2] = { NULL, run_id };
	int ret;

	if (st->nkey != 2 || strcmp(st->key[0], "role") != 0 ||
	    (st->action != CV_ACT_CREATE && st->action != CV_ACT_DELETE))
		return 0;
	p[0] = st->key[1];
	ret = ctx->be->exec(ctx->db, cv_sql_delete(ctx->be, &a, T_CREATED,
						    cols, 1), p, 1, err);
	if (!ret && st->action == CV_ACT_CREATE)
		ret = ctx->be->exec(ctx->db, cv_sql_insert(ctx->be, &a,
							    T_CREATED, cols, 2),
				    p, 2, err);
	cv_arena_release(&a);
	return ret;
}

static int postgres_ensure(struct cv_ctx *ctx, struct cv_error *err)
{
	return ctx->be->exec_script(ctx->db,
				    "CREATE TABLE IF NOT EXISTS converge_pg_roles (\n"
				    "  name TEXT NOT NULL PRIMARY KEY,\n"
				    "  run_id TEXT NOT NULL\n"
				    ")", err);
}

/* ---- inspect ------------------------------------------------------------------ */

/*
 * The roles that are not superusers (converge never touches those), their
 * privileges and default privileges, and the tables with row-level
 * security or policies.  Planned with these manifests, the database has
 * nothing to change.
 */
static void postgres_inspect(const struct cv_state *live, struct cv_emit *e)
{
	const struct cv_pg *pg = &live->pg;

	cv_emit_str(e, "postgres");
	cv_emit_map(e, false);
	cv_emit_str(e, "roles");
	cv_emit_map(e, false);
	cv_pg_emit_roles(e, pg);
	cv_emit_end(e);
	cv_emit_str(e, "privileges");
	cv_emit_seq(e, false);
	cv_pg_emit_privs(e, pg, pg->privs, pg->nprivs);
	cv_emit_end(e);
	cv_emit_str(e, "default_privileges");
	cv_emit_seq(e, false);
	cv_pg_emit_privs(e, pg, pg->defaults, pg->ndefaults);
	cv_emit_end(e);
	cv_emit_str(e, "rls");
	cv_emit_map(e, false);
	cv_pg_emit_rls(e, pg);
	cv_emit_end(e);
	cv_emit_end(e);
}

const struct cv_kind cv_kind_postgres = {
	.name = KIND,
	.section = CV_SEC_POSTGRES,
	.load = postgres_load,
	.validate = postgres_validate,
	.read = postgres_read,
	.digest = postgres_digest,
	.diff = postgres_diff,
	.value = postgres_value,
	.journal = postgres_journal,
	.ensure = postgres_ensure,
	.inspect = postgres_inspect,
	.tables = tables,
};
