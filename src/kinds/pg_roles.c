/*
 * PostgreSQL roles, for the `postgres` kind (postgres.c): the names a role
 * may have, its attributes, postgres.roles as manifests write it and as
 * pg_roles reads back, CREATE/ALTER/DROP ROLE and memberships, which roles
 * converge manages and which it drops, their diff, and the roles part of
 * inspect.  One file per object type, so that where roles are planned can
 * be found from file names alone.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "converge/emit.h"
#include "converge/kind.h"

#include "pg.h"

/* ---- names and attributes -------------------------------------------- */

static const struct {
	const char *key;     /* manifest key */
	const char *yes, *no;/* SQL keywords */
	unsigned bit;
} attrs[] = {
	{ "login", "LOGIN", "NOLOGIN", CV_PG_LOGIN },
	{ "superuser", "SUPERUSER", "NOSUPERUSER", CV_PG_SUPERUSER },
	{ "createdb", "CREATEDB", "NOCREATEDB", CV_PG_CREATEDB },
	{ "createrole", "CREATEROLE", "NOCREATEROLE", CV_PG_CREATEROLE },
	{ "inherit", "INHERIT", "NOINHERIT", CV_PG_INHERIT },
	{ "replication", "REPLICATION", "NOREPLICATION", CV_PG_REPLICATION },
	{ "bypassrls", "BYPASSRLS", "NOBYPASSRLS", CV_PG_BYPASSRLS },
};

/* A role a membership may name: anything but PUBLIC and its kin;
 * PostgreSQL's predefined roles (pg_read_all_data, …) included. */
static int keyword_role(const char *s, const struct cv_mark *mark,
			struct cv_diags *diags)
{
	if (cv_pg_long_name(s, "role", mark, diags))
		return CV_EINVAL;
	if (strcasecmp(s, "public") == 0 || strcasecmp(s, "none") == 0 ||
	    strcasecmp(s, "current_user") == 0 ||
	    strcasecmp(s, "session_user") == 0 ||
	    strcasecmp(s, "current_role") == 0) {
		cv_diag_error(diags, mark, "role '%s': the name is reserved",
			      cv_shorten(s));
		return CV_EINVAL;
	}
	return 0;
}

/* A role converge may manage: not a keyword, not one of PostgreSQL's. */
int cv_pg_reserved_role(const char *s, const struct cv_mark *mark,
			struct cv_diags *diags)
{
	if (strncmp(s, "pg_", 3) == 0) {
		cv_diag_error(diags, mark,
			      "role '%s': names starting with pg_ belong to PostgreSQL; converge never manages them",
			      cv_shorten(s));
		return CV_EINVAL;
	}
	return keyword_role(s, mark, diags);
}

/* ---- load ------------------------------------------------------------ */

int cv_pg_load_roles(struct cv_pg *pg, const struct cv_node *n,
		     struct cv_loader *ld)
{
	static const char *const keys[] = {
		"login", "superuser", "createdb", "createrole", "inherit",
		"replication", "bypassrls", "member_of", NULL
	};
	/* The same, and "password": refused on its own, not as unknown. */
	static const char *const with_password[] = {
		"login", "superuser", "createdb", "createrole", "inherit",
		"replication", "bypassrls", "member_of", "password", NULL
	};
	int ret = 0;

	if (cv_yaml_is_null(n))
		return 0;
	if (cv_yaml_expect(n, CV_NODE_MAP, "roles", ld->diags))
		return CV_EINVAL;
	cv_yaml_each(e, n) {
		struct cv_pg_role *r;
		size_t i;

		if (cv_check_name(e->key, "role", &e->key_mark, ld->diags) ||
		    cv_pg_reserved_role(e->key, &e->key_mark, ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		/*
		 * Refused without its line: the line shows the password.
		 * The entry's other errors are still reported (one error
		 * hides none).
		 */
		if (cv_yaml_get(e, "password")) {
			cv_diag_error(ld->diags,
				      &cv_yaml_get(e, "password")->key_mark,
				      "role '%s': passwords are not kept in manifests; set them with ALTER ROLE … PASSWORD outside converge",
				      cv_shorten(e->key));
			cv_diags_secret(ld->diags);
			ret = CV_EINVAL;
		}
		if (!cv_yaml_is_null(e) &&
		    (cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags) ||
		     cv_yaml_check_keys(e, cv_yaml_get(e, "password") ?
					with_password : keys,
					"a PostgreSQL role", ld->diags))) {
			ret = CV_EINVAL;
			continue;
		}
		CV_GROW(pg->roles, pg->nroles + 1, pg->roles_alloc);
		r = &pg->roles[pg->nroles++];
		memset(r, 0, sizeof(*r));
		r->name = e->key;
		r->mark = e->key_mark;
		r->attrs = CV_PG_INHERIT;
		if (cv_yaml_is_null(e))
			continue;
		for (i = 0; i < CV_ARRAY_SIZE(attrs); i++) {
			const struct cv_node *v = cv_yaml_get(e, attrs[i].key);
			bool on;

			if (!v)
				continue;
			if (cv_yaml_as_bool(v, attrs[i].key, ld->diags, &on)) {
				ret = CV_EINVAL;
				continue;
			}
			r->attrs = on ? r->attrs | attrs[i].bit :
					r->attrs & ~attrs[i].bit;
		}
		if (cv_load_names(cv_yaml_get(e, "member_of"), "member_of",
				  "role", keyword_role, ld, &r->member_of,
				  &r->nmember_of))
			ret = CV_EINVAL;
	}
	return ret;
}

/* ---- read ------------------------------------------------------------ */

int cv_pg_read_role(void *p, const char *const *cols, const size_t *lens,
		    int ncols)
{
	struct reader *rd = p;
	struct cv_pg_role *r;
	size_t i;

	(void)ncols;
	CV_GROW(rd->pg->roles, rd->pg->nroles + 1, rd->pg->roles_alloc);
	r = &rd->pg->roles[rd->pg->nroles++];
	memset(r, 0, sizeof(*r));
	r->name = cv_pg_dup_col(rd, cols, lens, 0);
	for (i = 0; i < CV_ARRAY_SIZE(attrs); i++)
		if (cv_pg_true(cols[1 + i]))
			r->attrs |= attrs[i].bit;
	return 0;
}

/* ---- canonical values ------------------------------------------------ */

/* A role's attributes: the keywords of those it has, comma-separated. */
static void attrs_text(struct cv_buf *b, unsigned bits)
{
	size_t i;
	bool first = true;

	for (i = 0; i < CV_ARRAY_SIZE(attrs); i++)
		if (bits & attrs[i].bit) {
			cv_buf_addf(b, "%s%s", first ? "" : ",", attrs[i].key);
			first = false;
		}
	if (first)
		cv_buf_adds(b, "-");
}

const char *cv_pg_role_value(const struct cv_pg_role *r, struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;

	if (!r)
		return NULL;
	attrs_text(&b, r->attrs);
	s = cv_arena_strdup(a, b.buf);
	cv_buf_release(&b);
	return s;
}

/* ---- SQL ---------------------------------------------------------------- */

static void create_role_sql(const struct cv_ctx *ctx, struct cv_buf *b,
			    const char *name, unsigned bits)
{
	size_t i;

	cv_buf_adds(b, "CREATE ROLE ");
	cv_pg_qname(ctx, b, name);
	cv_buf_adds(b, " WITH");
	for (i = 0; i < CV_ARRAY_SIZE(attrs); i++)
		cv_buf_addf(b, " %s", bits & attrs[i].bit ? attrs[i].yes :
							   attrs[i].no);
}

static void alter_role_sql(const struct cv_ctx *ctx, struct cv_buf *b,
			   const char *name, unsigned from, unsigned to)
{
	size_t i;

	cv_buf_adds(b, "ALTER ROLE ");
	cv_pg_qname(ctx, b, name);
	cv_buf_adds(b, " WITH");
	for (i = 0; i < CV_ARRAY_SIZE(attrs); i++)
		if ((from ^ to) & attrs[i].bit)
			cv_buf_addf(b, " %s", to & attrs[i].bit ? attrs[i].yes :
								 attrs[i].no);
}

static void member_sql(const struct cv_ctx *ctx, struct cv_buf *b,
		       bool grant, const char *role, const char *parent)
{
	cv_buf_adds(b, grant ? "GRANT " : "REVOKE ");
	cv_pg_qname(ctx, b, parent);
	cv_buf_adds(b, grant ? " TO " : " FROM ");
	cv_pg_qname(ctx, b, role);
}

/* ---- the diff ------------------------------------------------------------ */

static bool is_created(const struct cv_pg *live, const char *name)
{
	return live->ncreated &&
	       bsearch(&name, live->created, live->ncreated,
		       sizeof(*live->created), cv_strptr_cmp);
}

bool cv_pg_is_dropping(const struct differ *df, const char *name)
{
	return df->ndropping &&
	       bsearch(&name, df->dropping, df->ndropping,
		       sizeof(*df->dropping), cv_strptr_cmp);
}

/* Created by converge, no longer declared: dropped, unless it became a
 * superuser since (never touched).  Only when `roles` is defined. */
void cv_pg_dropping_roles(struct differ *df)
{
	const struct cv_pg *w = df->want, *l = df->live;
	size_t i;

	df->dropping = cv_calloc(l->nroles + 1, sizeof(*df->dropping));
	if (!(w->parts & CV_PG_ROLES))
		return;
	for (i = 0; i < l->nroles; i++) {
		const struct cv_pg_role *lr = &l->roles[i];

		if (!cv_pg_find_role(w, lr->name) && is_created(l, lr->name) &&
		    !(lr->attrs & CV_PG_SUPERUSER))
			df->dropping[df->ndropping++] = lr->name;
	}
}

/*
 * What DROP ROLE would refuse, for the roles to drop, in one query:
 * every shared dependency on them (pg_shdepend, all databases) but those
 * the plan removes itself before the drop.  Those are: privileges on
 * tables, sequences and schemas in this database (revoked, when they are
 * privileges converge knows), default privileges the role gets (revoked)
 * or owns (revoked, and the entry goes when what is left is PostgreSQL's
 * default), and policies (dropped and made again, or refused by
 * policy_on).  The rest is in the way: objects it owns, privileges on
 * functions, columns, the database, and anything in another database,
 * where only a count can be told.  At most 5 per role come back, other
 * databases first, with the role's total.
 */
#define KNOWN_PRIV(kind, priv) \
	priv " = ANY (CASE " kind " WHEN 'S' THEN " \
	"ARRAY['SELECT', 'UPDATE', 'USAGE'] " \
	"WHEN 'n' THEN ARRAY['CREATE', 'USAGE'] " \
	"WHEN 'f' THEN ARRAY['EXECUTE'] WHEN 'T' THEN ARRAY['USAGE'] " \
	"ELSE ARRAY['DELETE', 'INSERT', 'REFERENCES', 'SELECT', 'TRIGGER', " \
	"'TRUNCATE', 'UPDATE'] END)"
/* aclexplode's rows of an ACL, for set comparisons */
#define ACL_ROWS(acl, where) \
	"SELECT x.grantee, x.privilege_type, x.is_grantable " \
	"FROM pg_catalog.aclexplode(" acl ") x " where
/* PostgreSQL's default for an entry: none in one schema (aclexplode
 * takes no empty array, so its rows are filtered out instead) */
#define DEFAULT_ACL \
	"pg_catalog.acldefault(CASE a.defaclobjtype WHEN 'S' THEN 's' " \
	"ELSE a.defaclobjtype END, a.defaclrole)"
#define DEFAULT_ROWS "WHERE a.defaclnamespace = 0"
#define LEFT_ACL "WHERE x.grantee IN (0, a.defaclrole)"

static const char Q_BLOCKERS[] =
	"WITH dep AS ("
	" SELECT r.oid AS roleid, r.rolname, s.dbid, s.classid, s.objid,"
	" s.objsubid, s.deptype FROM pg_catalog.pg_shdepend s"
	" JOIN pg_catalog.pg_roles r ON r.oid = s.refobjid"
	" WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass"
	" AND r.rolname = ANY ($1::text[])), "
	"here AS (SELECT oid FROM pg_catalog.pg_database"
	" WHERE datname = pg_catalog.current_database()), "
	"handled AS ("
	/* privileges on a table or sequence converge reads */
	" SELECT d.* FROM dep d JOIN pg_catalog.pg_class c ON c.oid = d.objid"
	" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	" WHERE d.dbid = (SELECT oid FROM here) AND d.deptype = 'a'"
	" AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
	" AND d.objsubid = 0"
	" AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
	" AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
	" AND EXISTS (SELECT 1 FROM pg_catalog.aclexplode(c.relacl) x"
	"  WHERE x.grantee = d.roleid)"
	" AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(c.relacl) x"
	"  WHERE x.grantee = d.roleid AND NOT "
	KNOWN_PRIV("CASE c.relkind WHEN 'S' THEN 'S' ELSE 'r' END",
		   "x.privilege_type") ")"
	/* privileges on a schema */
	" UNION ALL SELECT d.* FROM dep d"
	" JOIN pg_catalog.pg_namespace n ON n.oid = d.objid"
	" WHERE d.dbid = (SELECT oid FROM here) AND d.deptype = 'a'"
	" AND d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass"
	" AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
	/* default privileges it gets */
	" UNION ALL SELECT d.* FROM dep d"
	" JOIN pg_catalog.pg_default_acl a ON a.oid = d.objid"
	" WHERE d.dbid = (SELECT oid FROM here) AND d.deptype = 'a'"
	" AND d.classid = 'pg_catalog.pg_default_acl'::pg_catalog.regclass"
	" AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(a.defaclacl) x"
	"  WHERE x.grantee = d.roleid AND NOT "
	KNOWN_PRIV("a.defaclobjtype", "x.privilege_type") ")"
	/* default privileges it owns: what is left once the others' are
	 * revoked (its own and PUBLIC's) must be PostgreSQL's default */
	" UNION ALL SELECT d.* FROM dep d"
	" JOIN pg_catalog.pg_default_acl a ON a.oid = d.objid"
	" WHERE d.dbid = (SELECT oid FROM here) AND d.deptype = 'o'"
	" AND d.classid = 'pg_catalog.pg_default_acl'::pg_catalog.regclass"
	" AND NOT EXISTS (" ACL_ROWS("a.defaclacl", LEFT_ACL)
	" EXCEPT " ACL_ROWS(DEFAULT_ACL, DEFAULT_ROWS) ")"
	" AND NOT EXISTS (" ACL_ROWS(DEFAULT_ACL, DEFAULT_ROWS)
	" EXCEPT " ACL_ROWS("a.defaclacl", LEFT_ACL) ")"
	/* policies: planned by the rls diff, or refused by name */
	" UNION ALL SELECT d.* FROM dep d"
	" WHERE d.dbid = (SELECT oid FROM here) AND d.deptype = 'r'), "
	"blockers AS ("
	" SELECT rolname, 1 AS later, 1::bigint AS n,"
	" CASE deptype WHEN 'o' THEN 'owner of ' WHEN 'a' THEN"
	" 'privileges for ' ELSE '' END ||"
	" pg_catalog.pg_describe_object(classid, objid, objsubid) AS what"
	" FROM (SELECT * FROM dep d WHERE d.dbid IN (0, (SELECT oid FROM here))"
	"  EXCEPT ALL SELECT * FROM handled) b"
	" UNION ALL SELECT d.rolname, 0, count(*),"
	" pg_catalog.format('%s object%s in database %s', count(*),"
	" CASE WHEN count(*) = 1 THEN '' ELSE 's' END, db.datname)"
	" FROM dep d JOIN pg_catalog.pg_database db ON db.oid = d.dbid"
	" WHERE d.dbid <> (SELECT oid FROM here) GROUP BY d.rolname, db.datname) "
	"SELECT rolname, what, n, total FROM ("
	" SELECT b.*, sum(n) OVER (PARTITION BY rolname) AS total,"
	" row_number() OVER (PARTITION BY rolname"
	"  ORDER BY later, what COLLATE \"C\") AS k FROM blockers b) x "
	"WHERE k <= 5 ORDER BY rolname COLLATE \"C\", k";

/* The roles as a text[] literal: each quoted, with \ and " escaped. */
static void text_array(struct cv_buf *b, const char *const *v, size_t n)
{
	size_t i;
	const char *p;

	cv_buf_addch(b, '{');
	for (i = 0; i < n; i++) {
		cv_buf_adds(b, i ? ",\"" : "\"");
		for (p = v[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				cv_buf_addch(b, '\\');
			cv_buf_addch(b, *p);
		}
		cv_buf_addch(b, '"');
	}
	cv_buf_addch(b, '}');
}

struct blockers {
	struct differ *df;
	struct cv_buf what;
	const char *role;          /* the role being gathered, or NULL */
	long long shown, total;
};

/* The role gathered so far, with "…" when more are in the way. */
static void end_blocked(struct blockers *bl)
{
	struct differ *df = bl->df;

	if (!bl->role)
		return;
	if (bl->shown < bl->total)
		cv_buf_addf(&bl->what, ", … (%lld in all)", bl->total);
	CV_GROW(df->blocked, df->nblocked + 2, df->blocked_alloc);
	df->blocked[df->nblocked++] = bl->role;
	df->blocked[df->nblocked++] =
		cv_arena_strdup(&df->plan->arena, cv_buf_str(&bl->what));
	cv_buf_reset(&bl->what);
	bl->role = NULL;
}

/* rolname, what, n (objects it stands for), total */
static int read_blocker(void *p, const char *const *cols, const size_t *lens,
			int ncols)
{
	struct blockers *bl = p;

	(void)lens;
	(void)ncols;
	if (!cols[0] || !cols[1])
		return 0;
	if (bl->role && strcmp(bl->role, cols[0]) != 0)
		end_blocked(bl);
	if (!bl->role) {
		bl->role = cv_arena_strdup(&bl->df->plan->arena, cols[0]);
		bl->shown = 0;
		bl->total = cols[3] ? strtoll(cols[3], NULL, 10) : 0;
	} else {
		cv_buf_adds(&bl->what, ", ");
	}
	cv_buf_adds(&bl->what, cols[1]);
	bl->shown += cols[2] ? strtoll(cols[2], NULL, 10) : 1;
	return 0;
}

int cv_pg_read_blockers(struct differ *df)
{
	struct blockers bl;
	struct cv_buf roles = CV_BUF_INIT;
	const char *param;
	int ret;

	if (!df->ndropping || !df->ctx->db)
		return 0;
	memset(&bl, 0, sizeof(bl));
	bl.df = df;
	text_array(&roles, df->dropping, df->ndropping);
	param = cv_buf_str(&roles);
	ret = df->ctx->be->query(df->ctx->db, Q_BLOCKERS, &param, 1,
				 read_blocker, &bl, df->err);
	if (!ret)
		end_blocked(&bl);
	cv_buf_release(&bl.what);
	cv_buf_release(&roles);
	return ret;
}

/* What is in the way of dropping `name` (see cv_pg_read_blockers), or
 * NULL. */
static const char *blocked(const struct differ *df, const char *name)
{
	size_t i;

	for (i = 0; i < df->nblocked; i += 2)
		if (strcmp(df->blocked[i], name) == 0)
			return df->blocked[i + 1];
	return NULL;
}

/* A superuser now: converge never alters one (SPEC §7), so neither its
 * memberships nor its privileges are planned, even when it is declared. */
bool cv_pg_is_superuser(const struct differ *df, const char *name)
{
	const struct cv_pg_role *lr = cv_pg_find_role(df->live, name);

	return lr && (lr->attrs & CV_PG_SUPERUSER);
}

bool cv_pg_is_managed(const struct differ *df, const char *name)
{
	return df->nmanaged &&
	       bsearch(&name, df->managed, df->nmanaged, sizeof(*df->managed),
		       cv_strptr_cmp);
}

/* Declared roles, roles converge created, and every grantee named. */
void cv_pg_managed_roles(struct differ *df)
{
	const struct cv_pg *w = df->want, *l = df->live;
	size_t n = w->nroles + l->ncreated + w->nprivs + w->ndefaults, i, k = 0;
	const char **m = cv_calloc(n + 1, sizeof(*m));

	for (i = 0; i < w->nroles; i++)
		m[k++] = w->roles[i].name;
	for (i = 0; i < l->ncreated; i++)
		m[k++] = l->created[i];
	for (i = 0; i < w->nprivs; i++)
		m[k++] = w->privs[i].role;
	for (i = 0; i < w->ndefaults; i++)
		m[k++] = w->defaults[i].role;
	cv_sort(m, k, sizeof(*m), cv_strptr_cmp);
	for (i = 0, n = 0; i < k; i++)
		if (!n || strcmp(m[n - 1], m[i]) != 0)
			m[n++] = m[i];
	df->managed = m;
	df->nmanaged = n;
}

/* What in the manifests names role `name`, or NULL. */
static const char *referenced(const struct cv_pg *w, const char *name)
{
	size_t i, k;

	for (i = 0; i < w->nroles; i++)
		if (cv_pg_has_name(w->roles[i].member_of,
				   w->roles[i].nmember_of, name))
			return "a member_of";
	for (i = 0; i < w->nprivs; i++)
		if (strcmp(w->privs[i].role, name) == 0)
			return "a privilege";
	for (i = 0; i < w->ndefaults; i++)
		if (strcmp(w->defaults[i].role, name) == 0 ||
		    strcmp(w->defaults[i].owner, name) == 0)
			return "a default privilege";
	for (i = 0; i < w->ntables; i++)
		for (k = 0; k < w->tables[i].npolicies; k++)
			if (cv_pg_has_name(w->tables[i].policies[k].to,
					   w->tables[i].policies[k].nto, name))
				return "a policy";
	return NULL;
}

/* A live policy naming `role` on a table postgres.rls does not manage:
 * "policy p on s.t" (in the plan's arena), or NULL. */
static const char *policy_on(const struct differ *df, const char *role)
{
	const struct cv_pg *l = df->live;
	size_t i, k;

	for (i = 0; i < l->ntables; i++) {
		const struct cv_pg_table *t = &l->tables[i];

		if ((df->want->parts & CV_PG_RLS) &&
		    cv_pg_find_table(df->want, t->schema, t->name))
			continue;
		for (k = 0; k < t->npolicies; k++)
			if (cv_pg_has_name(t->policies[k].to,
					   t->policies[k].nto, role))
				return cv_arena_printf(&df->plan->arena,
						       "policy %s on %s.%s",
						       t->policies[k].name,
						       t->schema, t->name);
	}
	return NULL;
}

/* A step revoking `member`'s membership in `parent`, which the live state
 * has; its inverse grants it again. */
static void revoke_member(struct differ *df, struct cv_buf *obj,
			  const char *member, const char *parent)
{
	const char *key[3] = { "member", member, parent };
	struct cv_step *st;

	cv_buf_reset(obj);
	cv_buf_addf(obj, "membership %s in %s", member, parent);
	st = cv_pg_add_step(df, CV_PHASE_REMOVE, CV_ACT_DELETE, obj->buf,
			    key, 3);
	st->before = "1";
	member_sql(df->ctx, &df->sql, false, member, parent);
	cv_pg_add_sql(df->plan, st, false, &df->sql);
	member_sql(df->ctx, &df->sql, true, member, parent);
	cv_pg_add_sql(df->plan, st, true, &df->sql);
}

/*
 * Every membership of a role about to be dropped, as a member or as the
 * role others are members of, that the loop over declared roles did not
 * revoke already: DROP ROLE would take them silently, and the rollback
 * could not give them back (nor grant one between two dropped roles
 * before it had made both).  Revoked first, each is granted again after
 * the roles are made again.
 */
static void revoke_dropped_members(struct differ *df, struct cv_buf *obj)
{
	const struct cv_pg *w = df->want, *l = df->live;
	size_t i, k;

	for (i = 0; i < l->nroles; i++) {
		const struct cv_pg_role *lr = &l->roles[i];

		if (cv_pg_find_role(w, lr->name) &&
		    !cv_pg_is_superuser(df, lr->name))
			continue;	/* done with the declared roles */
		for (k = 0; k < lr->nmember_of; k++)
			if (cv_pg_is_dropping(df, lr->name) ||
			    cv_pg_is_dropping(df, lr->member_of[k]))
				revoke_member(df, obj, lr->name,
					      lr->member_of[k]);
	}
}

int cv_pg_diff_roles(struct differ *df, bool removing)
{
	const struct cv_pg *w = df->want, *l = df->live;
	struct cv_plan *plan = df->plan;
	struct cv_buf obj = CV_BUF_INIT;
	const char *why;
	size_t i, k;

	if (removing) {
		/* Memberships of declared roles that the manifests dropped. */
		for (i = 0; i < w->nroles; i++) {
			const struct cv_pg_role *wr = &w->roles[i];
			const struct cv_pg_role *lr =
				cv_pg_find_role(l, wr->name);

			if (cv_pg_is_superuser(df, wr->name))
				continue;
			for (k = 0; lr && k < lr->nmember_of; k++)
				if (!cv_pg_has_name(wr->member_of,
						    wr->nmember_of,
						    lr->member_of[k]))
					revoke_member(df, &obj, wr->name,
						      lr->member_of[k]);
		}
		revoke_dropped_members(df, &obj);
		for (i = 0; i < l->nroles; i++) {
			const struct cv_pg_role *lr = &l->roles[i];
			const char *key[2] = { "role", lr->name };
			struct cv_step *st;

			if (!cv_pg_is_dropping(df, lr->name))
				continue;
			if ((why = referenced(w, lr->name))) {
				cv_buf_release(&obj);
				return cv_error_set(df->err, CV_EINVAL,
						    "PostgreSQL role '%s' was created by converge and is no longer declared in postgres.roles, so it would be dropped, but %s names it: declare it again or stop naming it",
						    lr->name, why);
			}
			if ((why = policy_on(df, lr->name))) {
				cv_buf_release(&obj);
				return cv_error_set(df->err, CV_EINVAL,
						    "PostgreSQL role '%s' was created by converge and is no longer declared in postgres.roles, so it would be dropped, but %s applies to it and postgres.rls does not manage that table: declare the role again or the table's policies",
						    lr->name, why);
			}
			if ((why = blocked(df, lr->name))) {
				cv_buf_release(&obj);
				return cv_error_set(df->err, CV_EINVAL,
						    "PostgreSQL role '%s' was created by converge and is no longer declared in postgres.roles, so it would be dropped, but DROP ROLE would fail: it owns or holds what converge does not manage: %s; declare it again, or move or drop them by hand first (REASSIGN OWNED BY %s TO …, then DROP OWNED BY %s, in each database)",
						    lr->name, why, lr->name,
						    lr->name);
			}
			cv_buf_reset(&obj);
			cv_buf_addf(&obj, "role %s", lr->name);
			st = cv_pg_add_step(df, CV_PHASE_REMOVE, CV_ACT_DELETE,
					    obj.buf, key, 2);
			st->before = cv_pg_role_value(lr, &plan->arena);
			cv_buf_adds(&df->sql, "DROP ROLE ");
			cv_pg_qname(df->ctx, &df->sql, lr->name);
			cv_pg_add_sql(plan, st, false, &df->sql);
			create_role_sql(df->ctx, &df->sql, lr->name, lr->attrs);
			cv_pg_add_sql(plan, st, true, &df->sql);
		}
		cv_buf_release(&obj);
		return 0;
	}
	for (i = 0; i < w->nroles; i++) {
		const struct cv_pg_role *wr = &w->roles[i];
		const struct cv_pg_role *lr = cv_pg_find_role(l, wr->name);
		const char *key[2] = { "role", wr->name };
		struct cv_step *st;
		struct cv_buf det = CV_BUF_INIT;

		if (lr && lr->attrs == wr->attrs)
			continue;
		if (lr && (lr->attrs & CV_PG_SUPERUSER)) {
			cv_buf_release(&obj);
			return cv_error_set(df->err, CV_EINVAL,
					    "PostgreSQL role '%s' is a superuser, and converge never alters superusers: declare it with superuser: true and its other attributes as they are, or leave it out",
					    wr->name);
		}
		cv_buf_reset(&obj);
		cv_buf_addf(&obj, "role %s", wr->name);
		st = cv_pg_add_step(df, CV_PHASE_ADD,
				    lr ? CV_ACT_UPDATE : CV_ACT_CREATE,
				    obj.buf, key, 2);
		st->after = cv_pg_role_value(wr, &plan->arena);
		if (!lr) {
			create_role_sql(df->ctx, &df->sql, wr->name, wr->attrs);
			cv_pg_add_sql(plan, st, false, &df->sql);
			cv_buf_adds(&df->sql, "DROP ROLE ");
			cv_pg_qname(df->ctx, &df->sql, wr->name);
			cv_pg_add_sql(plan, st, true, &df->sql);
			attrs_text(&det, wr->attrs);
		} else {
			st->before = cv_pg_role_value(lr, &plan->arena);
			alter_role_sql(df->ctx, &df->sql, wr->name, lr->attrs,
				       wr->attrs);
			cv_pg_add_sql(plan, st, false, &df->sql);
			alter_role_sql(df->ctx, &df->sql, wr->name, wr->attrs,
				       lr->attrs);
			cv_pg_add_sql(plan, st, true, &df->sql);
			attrs_text(&det, lr->attrs);
			cv_buf_adds(&det, " -> ");
			attrs_text(&det, wr->attrs);
		}
		st->detail = cv_arena_strdup(&plan->arena, det.buf);
		cv_buf_release(&det);
	}
	for (i = 0; i < w->nroles; i++) {
		const struct cv_pg_role *wr = &w->roles[i];
		const struct cv_pg_role *lr = cv_pg_find_role(l, wr->name);

		if (cv_pg_is_superuser(df, wr->name))
			continue;
		for (k = 0; k < wr->nmember_of; k++) {
			const char *parent = wr->member_of[k];
			const char *key[3] = { "member", wr->name, parent };
			struct cv_step *st;

			if (lr && cv_pg_has_name(lr->member_of, lr->nmember_of,
						 parent))
				continue;
			if (!cv_pg_find_role(w, parent) &&
			    !cv_pg_find_role(l, parent) &&
			    strncmp(parent, "pg_", 3) != 0) {
				cv_buf_release(&obj);
				return cv_error_set(df->err, CV_EINVAL,
						    "PostgreSQL role '%s' is to be a member of '%s', which neither exists nor is declared in postgres.roles",
						    wr->name, parent);
			}
			cv_buf_reset(&obj);
			cv_buf_addf(&obj, "membership %s in %s", wr->name, parent);
			st = cv_pg_add_step(df, CV_PHASE_ADD, CV_ACT_CREATE,
					    obj.buf, key, 3);
			st->after = "1";
			member_sql(df->ctx, &df->sql, true, wr->name, parent);
			cv_pg_add_sql(plan, st, false, &df->sql);
			member_sql(df->ctx, &df->sql, false, wr->name, parent);
			cv_pg_add_sql(plan, st, true, &df->sql);
		}
	}
	cv_buf_release(&obj);
	return 0;
}

/* ---- inspect --------------------------------------------------------- */

/* postgres.roles as inspect prints it: every role but the superusers
 * (converge never touches those), with the attributes that differ from
 * PostgreSQL's defaults and the roles it is a member of. */
void cv_pg_emit_roles(struct cv_emit *e, const struct cv_pg *pg)
{
	size_t i, k;

	for (i = 0; i < pg->nroles; i++) {
		const struct cv_pg_role *r = &pg->roles[i];

		if (r->attrs & CV_PG_SUPERUSER)
			continue;
		cv_emit_str(e, r->name);
		cv_emit_map(e, true);
		for (k = 0; k < CV_ARRAY_SIZE(attrs); k++)
			if ((r->attrs ^ CV_PG_INHERIT) & attrs[k].bit) {
				cv_emit_str(e, attrs[k].key);
				cv_emit_bool(e, r->attrs & attrs[k].bit);
			}
		if (r->nmember_of) {
			cv_emit_str(e, "member_of");
			cv_emit_seq(e, true);
			for (k = 0; k < r->nmember_of; k++)
				cv_emit_str(e, r->member_of[k]);
			cv_emit_end(e);
		}
		cv_emit_end(e);
	}
}
