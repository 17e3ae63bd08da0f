/*
 * The `postgres` kind: native PostgreSQL objects (SPEC §2, §7) — roles
 * and their memberships, privileges on tables and schemas, default
 * privileges, and row-level security with its policies.
 *
 * Ownership.  `roles` manages the roles it declares and those converge
 * created earlier (converge_pg_roles, kept by the journal hook); a created
 * role no longer declared is dropped.  Other roles, superusers and pg_*
 * roles are never dropped, and a superuser's attributes, memberships and
 * privileges are never changed, even when it is declared.  Privileges are managed for managed roles
 * only (declared, named by a privilege, or created by converge), and an
 * owner's own privileges are never looked at.  `rls` manages the tables
 * it names: their flags and every policy on them; a table it does not
 * name keeps whatever row-level security it has, because switching RLS
 * off where nobody said so would open data.
 *
 * Policies are compared as PostgreSQL deparses them: each expression, the
 * manifest's and pg_get_expr's of the live policy alike, is put through
 * EXPLAIN (VERBOSE) of a one-table SELECT, which prints it in
 * PostgreSQL's own spelling, so "a=1" and "(a = 1)" are the same; with a
 * subquery the whole plan is compared (see normalize).
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

static const char T_CREATED[] = "converge_pg_roles";
static const char *const tables[] = { T_CREATED, NULL };
static const char KIND[] = "postgres";

/* ---- names and privileges ------------------------------------------ */

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

static const char *const table_privs[] = {
	"DELETE", "INSERT", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE",
	"UPDATE", NULL
};
static const char *const schema_privs[] = { "CREATE", "USAGE", NULL };
static const char *const sequence_privs[] = { "SELECT", "UPDATE", "USAGE", NULL };
static const char *const function_privs[] = { "EXECUTE", NULL };
static const char *const type_privs[] = { "USAGE", NULL };

/* Default privileges: the `on:` word, pg_default_acl's letter, the SQL. */
static const struct {
	const char *on;
	char objtype;
	const char *sql;
	const char *const *privs;
} default_kinds[] = {
	{ "tables", 'r', "TABLES", table_privs },
	{ "sequences", 'S', "SEQUENCES", sequence_privs },
	{ "functions", 'f', "FUNCTIONS", function_privs },
	{ "types", 'T', "TYPES", type_privs },
	{ "schemas", 'n', "SCHEMAS", schema_privs },
};

static const char *const policy_commands[] = {
	"ALL", "SELECT", "INSERT", "UPDATE", "DELETE", NULL
};

static int default_kind(char objtype)
{
	size_t i;

	for (i = 0; i < CV_ARRAY_SIZE(default_kinds); i++)
		if (default_kinds[i].objtype == objtype)
			return (int)i;
	return -1;
}

static const char *const *privs_of(char objtype)
{
	int k;

	if (objtype == 't' || objtype == 'A')
		return table_privs;
	if (objtype == 's' || objtype == 'B')
		return sequence_privs;
	if (objtype == 'n')
		return schema_privs;
	k = default_kind(objtype);
	return k < 0 ? NULL : default_kinds[k].privs;
}

static const char *find_word(const char *const *words, const char *s)
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

static int long_name(const char *s, const char *what,
		     const struct cv_mark *mark, struct cv_diags *diags)
{
	if (strlen(s) <= PG_NAME_MAX)
		return 0;
	cv_diag_error(diags, mark,
		      "%s '%s' is longer than PostgreSQL's %d bytes for a name",
		      what, cv_shorten(s), PG_NAME_MAX);
	return CV_EINVAL;
}

/* A role a membership may name: anything but PUBLIC and its kin;
 * PostgreSQL's predefined roles (pg_read_all_data, …) included. */
static int keyword_role(const char *s, const struct cv_mark *mark,
			struct cv_diags *diags)
{
	if (long_name(s, "role", mark, diags))
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
static int reserved_role(const char *s, const struct cv_mark *mark,
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
static int table_parts(const char *s, const struct cv_mark *mark,
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
	if (long_name(*schema, "schema", mark, ld->diags) ||
	    long_name(*name, "table", mark, ld->diags))
		return CV_EINVAL;
	return 0;
}

static int table_name(const struct cv_node *n, struct cv_loader *ld,
		      const char **schema, const char **name)
{
	const char *s;

	if (cv_yaml_as_string(n, "table", ld->diags, &s))
		return CV_EINVAL;
	return table_parts(s, &n->mark, ld, schema, name);
}

/* ---- load ------------------------------------------------------------ */

static int role_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_pg_role *)a)->name,
		      ((const struct cv_pg_role *)b)->name);
}

static int load_roles(struct cv_pg *pg, const struct cv_node *n,
		      struct cv_loader *ld)
{
	static const char *const keys[] = {
		"login", "superuser", "createdb", "createrole", "inherit",
		"replication", "bypassrls", "member_of", NULL
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
		    reserved_role(e->key, &e->key_mark, ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		if (cv_yaml_get(e, "password")) {
			cv_diag_error(ld->diags, &e->key_mark,
				      "role '%s': passwords are not kept in manifests; set them with ALTER ROLE … PASSWORD outside converge",
				      cv_shorten(e->key));
			ret = CV_EINVAL;
			continue;
		}
		if (!cv_yaml_is_null(e) &&
		    (cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags) ||
		     cv_yaml_check_keys(e, keys, "a PostgreSQL role", ld->diags))) {
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

/* privileges: [SELECT, …] for objects of objtype; upper case, no twice. */
static int load_privs(const struct cv_node *n, char objtype,
		      struct cv_loader *ld, const char ***out, size_t *nout)
{
	const char *const *known = privs_of(objtype);
	const char **items;
	size_t i = 0, j;
	int ret = 0;

	*nout = 0;
	if (!n) {
		*out = NULL;
		return 0;
	}
	if (cv_yaml_expect(n, CV_NODE_SEQ, "privileges", ld->diags))
		return CV_EINVAL;
	items = cv_arena_alloc(ld->strings, (n->count + 8) * sizeof(*items));
	cv_yaml_each(e, n) {
		const char *s, *w;

		if (cv_yaml_as_string(e, "privilege", ld->diags, &s)) {
			ret = CV_EINVAL;
			continue;
		}
		if (strcasecmp(s, "ALL") == 0 ||
		    strcasecmp(s, "ALL PRIVILEGES") == 0) {
			for (j = 0; known[j]; j++)
				items[i++] = known[j];
			continue;
		}
		if (!(w = find_word(known, s))) {
			struct cv_buf b = CV_BUF_INIT;

			for (j = 0; known[j]; j++)
				cv_buf_addf(&b, "%s%s", j ? ", " : "", known[j]);
			cv_diag_error(ld->diags, &e->mark,
				      "privilege '%s' does not apply here (expected ALL or %s)",
				      cv_shorten(s), b.buf);
			cv_buf_release(&b);
			ret = CV_EINVAL;
			continue;
		}
		items[i++] = w;
	}
	if (!i && !ret) {
		cv_diag_error(ld->diags, &n->mark, "'privileges' is empty");
		ret = CV_EINVAL;
	}
	*out = items;
	*nout = i;
	return ret;
}

static void add_priv(struct cv_pg_priv **list, size_t *nr, size_t *alloc,
		     const struct cv_pg_priv *p)
{
	CV_GROW(*list, *nr + 1, *alloc);
	(*list)[(*nr)++] = *p;
}

static int load_grant(struct cv_pg *pg, const struct cv_node *e,
		      struct cv_loader *ld)
{
	static const char *const keys[] = { "role", "privileges", "on", NULL };
	static const char *const on_keys[] = {
		"tables", "all_tables_in_schema", "schemas", "sequences",
		"all_sequences_in_schema", NULL
	};
	/* objtype per key of on_keys */
	static const char on_types[] = { 't', 'A', 'n', 's', 'B' };
	const struct cv_node *on, *v;
	struct cv_pg_priv p;
	const char **privs = NULL;
	size_t nprivs = 0, k;
	int ret = 0;

	memset(&p, 0, sizeof(p));
	p.mark = e->mark;
	if (cv_yaml_expect(e, CV_NODE_MAP, "a privilege", ld->diags) ||
	    cv_yaml_check_keys(e, keys, "a privilege", ld->diags))
		return CV_EINVAL;
	if (!(v = cv_yaml_get(e, "role"))) {
		cv_diag_error(ld->diags, &e->mark, "privilege has no 'role'");
		ret = CV_EINVAL;
	} else if (cv_yaml_as_string(v, "role", ld->diags, &p.role) ||
		   cv_check_name(p.role, "role", &v->mark, ld->diags) ||
		   reserved_role(p.role, &v->mark, ld->diags)) {
		ret = CV_EINVAL;
	}
	if (!(on = cv_yaml_get(e, "on"))) {
		cv_diag_error(ld->diags, &e->mark,
			      "privilege has no 'on' (tables, all_tables_in_schema, schemas, sequences or all_sequences_in_schema)");
		return CV_EINVAL;
	}
	if (!cv_yaml_get(e, "privileges")) {
		cv_diag_error(ld->diags, &e->mark, "privilege has no 'privileges'");
		return CV_EINVAL;
	}
	if (cv_yaml_expect(on, CV_NODE_MAP, "on", ld->diags) ||
	    cv_yaml_check_keys(on, on_keys, "'on'", ld->diags) || ret)
		return CV_EINVAL;
	if (!on->count) {
		cv_diag_error(ld->diags, &on->mark,
			      "'on' is empty (tables, all_tables_in_schema, schemas, sequences or all_sequences_in_schema)");
		return CV_EINVAL;
	}
	cv_yaml_each(o, on) {
		size_t kk = 0;
		char objtype;

		while (strcmp(on_keys[kk], o->key) != 0)
			kk++;
		objtype = on_types[kk];

		if (load_privs(cv_yaml_get(e, "privileges"), objtype, ld,
			       &privs, &nprivs)) {
			ret = CV_EINVAL;
			continue;
		}
		p.objtype = objtype;
		p.mark = o->mark;
		if (objtype == 'A' || objtype == 'B') {
			if (cv_yaml_as_string(o, o->key, ld->diags, &p.schema) ||
			    cv_check_name(p.schema, "schema", &o->mark, ld->diags) ||
			    long_name(p.schema, "schema", &o->mark, ld->diags)) {
				ret = CV_EINVAL;
				continue;
			}
			p.name = NULL;
			for (k = 0; k < nprivs; k++) {
				p.priv = privs[k];
				add_priv(&pg->privs, &pg->nprivs,
					 &pg->privs_alloc, &p);
			}
			continue;
		}
		if (cv_yaml_expect(o, CV_NODE_SEQ, o->key, ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		cv_yaml_each(t, o) {
			p.mark = t->mark;
			if (objtype == 't' || objtype == 's') {
				if (table_name(t, ld, &p.schema, &p.name)) {
					ret = CV_EINVAL;
					continue;
				}
			} else if (cv_yaml_as_string(t, "schema", ld->diags,
						     &p.schema) ||
				   cv_check_name(p.schema, "schema", &t->mark,
						 ld->diags) ||
				   long_name(p.schema, "schema", &t->mark,
					     ld->diags)) {
				ret = CV_EINVAL;
				continue;
			}
			for (k = 0; k < nprivs; k++) {
				p.priv = privs[k];
				add_priv(&pg->privs, &pg->nprivs,
					 &pg->privs_alloc, &p);
			}
		}
	}
	return ret;
}

static int load_default(struct cv_pg *pg, const struct cv_node *e,
			struct cv_loader *ld)
{
	static const char *const keys[] = {
		"owner", "schema", "role", "privileges", "on", NULL
	};
	static const char *const ons[] = {
		"tables", "sequences", "functions", "types", "schemas", NULL
	};
	const struct cv_node *v;
	struct cv_pg_priv p;
	const char **privs;
	const char *on = NULL;
	size_t nprivs, k;
	int ret = 0, kind;

	memset(&p, 0, sizeof(p));
	p.mark = e->mark;
	p.schema = "";
	if (cv_yaml_expect(e, CV_NODE_MAP, "a default privilege", ld->diags) ||
	    cv_yaml_check_keys(e, keys, "a default privilege", ld->diags))
		return CV_EINVAL;
	for (k = 0; k < 3; k++) {
		static const char *const who[] = { "owner", "role", "on" };
		const char **dst = k == 0 ? &p.owner : k == 1 ? &p.role : &on;

		if (!(v = cv_yaml_get(e, who[k]))) {
			cv_diag_error(ld->diags, &e->mark,
				      "default privilege has no '%s'", who[k]);
			ret = CV_EINVAL;
		} else if (cv_yaml_as_string(v, who[k], ld->diags, dst) ||
			   (k < 2 && (cv_check_name(*dst, "role", &v->mark,
						    ld->diags) ||
				      reserved_role(*dst, &v->mark, ld->diags)))) {
			ret = CV_EINVAL;
		}
	}
	if ((v = cv_yaml_get(e, "schema")) && !cv_yaml_is_null(v) &&
	    (cv_yaml_as_string(v, "schema", ld->diags, &p.schema) ||
	     cv_check_name(p.schema, "schema", &v->mark, ld->diags) ||
	     long_name(p.schema, "schema", &v->mark, ld->diags)))
		ret = CV_EINVAL;
	if (ret)
		return ret;
	for (kind = 0; ons[kind] && strcmp(ons[kind], on) != 0; kind++)
		;
	if (!ons[kind]) {
		const char *s = cv_suggest(on, ons);

		v = cv_yaml_get(e, "on");
		cv_diag_error(ld->diags, &v->mark,
			      "'on' is '%s': expected tables, sequences, functions, types or schemas%s%s%s",
			      cv_shorten(on), s ? " (did you mean '" : "",
			      s ? s : "", s ? "'?)" : "");
		return CV_EINVAL;
	}
	if (kind == 4 && *p.schema) {
		cv_diag_error(ld->diags, &e->mark,
			      "default privileges on schemas cannot name a 'schema'");
		return CV_EINVAL;
	}
	p.objtype = default_kinds[kind].objtype;
	if (!cv_yaml_get(e, "privileges")) {
		cv_diag_error(ld->diags, &e->mark,
			      "default privilege has no 'privileges'");
		return CV_EINVAL;
	}
	if (load_privs(cv_yaml_get(e, "privileges"), p.objtype, ld, &privs,
		       &nprivs))
		return CV_EINVAL;
	for (k = 0; k < nprivs; k++) {
		p.priv = privs[k];
		add_priv(&pg->defaults, &pg->ndefaults, &pg->defaults_alloc, &p);
	}
	return 0;
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

static int policy_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_pg_policy *)a)->name,
		      ((const struct cv_pg_policy *)b)->name);
}

static int load_policy(struct cv_pg_policy *p, const struct cv_node *e,
		       struct cv_loader *ld)
{
	static const char *const keys[] = {
		"command", "to", "using", "with_check", "permissive", NULL
	};
	const struct cv_node *v;
	const char *s;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	p->name = e->key;
	p->mark = e->key_mark;
	p->command = "ALL";
	p->permissive = true;
	if (cv_check_name(e->key, "policy", &e->key_mark, ld->diags) ||
	    long_name(e->key, "policy", &e->key_mark, ld->diags) ||
	    cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags) ||
	    cv_yaml_check_keys(e, keys, "a policy", ld->diags))
		return CV_EINVAL;
	if ((v = cv_yaml_get(e, "command"))) {
		if (cv_yaml_as_string(v, "command", ld->diags, &s))
			ret = CV_EINVAL;
		else if (!(p->command = find_word(policy_commands, s))) {
			cv_diag_error(ld->diags, &v->mark,
				      "policy command '%s': expected ALL, SELECT, INSERT, UPDATE or DELETE",
				      cv_shorten(s));
			ret = CV_EINVAL;
		}
	}
	if ((v = cv_yaml_get(e, "permissive")) &&
	    cv_yaml_as_bool(v, "permissive", ld->diags, &p->permissive))
		ret = CV_EINVAL;
	if (cv_load_names(cv_yaml_get(e, "to"), "to", "role", NULL, ld,
			  &p->to, &p->nto))
		ret = CV_EINVAL;
	if ((v = cv_yaml_get(e, "using")) && !cv_yaml_is_null(v) &&
	    cv_yaml_as_string(v, "using", ld->diags, &p->using_expr))
		ret = CV_EINVAL;
	if ((v = cv_yaml_get(e, "with_check")) && !cv_yaml_is_null(v) &&
	    cv_yaml_as_string(v, "with_check", ld->diags, &p->check_expr))
		ret = CV_EINVAL;
	if (!ret && !p->using_expr && !p->check_expr) {
		cv_diag_error(ld->diags, &e->key_mark,
			      "policy '%s' has neither 'using' nor 'with_check'",
			      cv_shorten(p->name));
		ret = CV_EINVAL;
	}
	if (!ret && strcmp(p->command, "INSERT") == 0 && p->using_expr) {
		cv_diag_error(ld->diags, &e->key_mark,
			      "policy '%s': an INSERT policy takes 'with_check' only",
			      cv_shorten(p->name));
		ret = CV_EINVAL;
	}
	if (!ret && (strcmp(p->command, "SELECT") == 0 ||
		     strcmp(p->command, "DELETE") == 0) && p->check_expr) {
		cv_diag_error(ld->diags, &e->key_mark,
			      "policy '%s': a %s policy takes 'using' only",
			      cv_shorten(p->name), p->command);
		ret = CV_EINVAL;
	}
	/* The roles, "public" for everyone, as PostgreSQL lists them. */
	if (!ret && !p->nto) {
		p->to = cv_arena_alloc(ld->strings, sizeof(*p->to));
		p->to[0] = "public";
		p->nto = 1;
	}
	for (size_t i = 0; i < p->nto; i++)
		if (strcasecmp(p->to[i], "public") == 0)
			p->to[i] = "public";
	return ret;
}

static int load_rls(struct cv_pg *pg, const struct cv_node *n,
		    struct cv_loader *ld)
{
	static const char *const keys[] = { "enabled", "force", "policies", NULL };
	int ret = 0;

	if (cv_yaml_is_null(n))
		return 0;
	if (cv_yaml_expect(n, CV_NODE_MAP, "rls", ld->diags))
		return CV_EINVAL;
	cv_yaml_each(e, n) {
		struct cv_pg_table *t;
		const struct cv_node *v, *pols;
		const char *schema, *name;
		size_t i = 0;

		if (table_parts(e->key, &e->key_mark, ld, &schema, &name) ||
		    cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags) ||
		    cv_yaml_check_keys(e, keys, "a table's rls", ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		CV_GROW(pg->tables, pg->ntables + 1, pg->tables_alloc);
		t = &pg->tables[pg->ntables++];
		memset(t, 0, sizeof(*t));
		t->schema = schema;
		t->name = name;
		t->mark = e->key_mark;
		t->rls = true;
		if ((v = cv_yaml_get(e, "enabled")) &&
		    cv_yaml_as_bool(v, "enabled", ld->diags, &t->rls))
			ret = CV_EINVAL;
		if ((v = cv_yaml_get(e, "force")) &&
		    cv_yaml_as_bool(v, "force", ld->diags, &t->force))
			ret = CV_EINVAL;
		pols = cv_yaml_get(e, "policies");
		if (!pols || cv_yaml_is_null(pols))
			continue;
		if (cv_yaml_expect(pols, CV_NODE_MAP, "policies", ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		t->policies = cv_arena_alloc(ld->strings,
					     (pols->count + 1) * sizeof(*t->policies));
		cv_yaml_each(p, pols) {
			if (load_policy(&t->policies[i], p, ld))
				ret = CV_EINVAL;
			else
				i++;
		}
		t->npolicies = i;
		cv_sort(t->policies, i, sizeof(*t->policies), policy_cmp);
	}
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
		ret |= load_roles(pg, v, ld);
	}
	if ((v = cv_yaml_get(node, "privileges"))) {
		pg->parts |= CV_PG_PRIVILEGES;
		ret |= load_list(pg, v, "privileges", ld, load_grant);
	}
	if ((v = cv_yaml_get(node, "default_privileges"))) {
		pg->parts |= CV_PG_DEFAULTS;
		ret |= load_list(pg, v, "default_privileges", ld, load_default);
	}
	if ((v = cv_yaml_get(node, "rls"))) {
		pg->parts |= CV_PG_RLS;
		ret |= load_rls(pg, v, ld);
	}
	return ret ? CV_EINVAL : 0;
}

/* ---- validate -------------------------------------------------------- */

static int priv_cmp(const void *a, const void *b)
{
	const struct cv_pg_priv *x = a, *y = b;
	int c;

	if (x->objtype != y->objtype)
		return x->objtype < y->objtype ? -1 : 1;
	if ((c = strcmp(x->owner ? x->owner : "", y->owner ? y->owner : "")))
		return c;
	if ((c = strcmp(x->schema, y->schema)))
		return c;
	if ((c = strcmp(x->name ? x->name : "", y->name ? y->name : "")))
		return c;
	if ((c = strcmp(x->role, y->role)))
		return c;
	return strcmp(x->priv, y->priv);
}

static int table_cmp(const void *a, const void *b)
{
	const struct cv_pg_table *x = a, *y = b;
	int c = strcmp(x->schema, y->schema);

	return c ? c : strcmp(x->name, y->name);
}

/* Sorts and drops exact repeats (two entries may give one privilege). */
static void sort_privs(struct cv_pg_priv *p, size_t *n)
{
	size_t i, k = 0;

	cv_sort(p, *n, sizeof(*p), priv_cmp);
	for (i = 0; i < *n; i++)
		if (!k || priv_cmp(&p[k - 1], &p[i]) != 0)
			p[k++] = p[i];
	*n = k;
}

static const struct cv_pg_role *find_role(const struct cv_pg *pg,
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
		const struct cv_pg_role *p = find_role(pg, r->member_of[k]);

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
	size_t i, k;
	int ret = 0;

	(void)strings;
	cv_sort(pg->roles, pg->nroles, sizeof(*pg->roles), role_cmp);
	for (i = 1; i < pg->nroles; i++)
		if (strcmp(pg->roles[i - 1].name, pg->roles[i].name) == 0) {
			const struct cv_mark *m = &pg->roles[i - 1].mark;

			cv_diag_error(diags, &pg->roles[i].mark,
				      "PostgreSQL role '%s' is defined twice (first at %s:%u:%u)",
				      cv_shorten(pg->roles[i].name), m->file,
				      m->line, m->col);
			ret = CV_EINVAL;
		}
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
	cv_sort(pg->tables, pg->ntables, sizeof(*pg->tables), table_cmp);
	for (i = 1; i < pg->ntables; i++)
		if (table_cmp(&pg->tables[i - 1], &pg->tables[i]) == 0) {
			const struct cv_mark *m = &pg->tables[i - 1].mark;

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
	sort_privs(pg->privs, &pg->nprivs);
	sort_privs(pg->defaults, &pg->ndefaults);
	return ret;
}

/* ---- read ------------------------------------------------------------ */

static bool pg_true(const char *s)
{
	return s && (strcmp(s, "t") == 0 || strcmp(s, "true") == 0);
}

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

static const char *dup_col(struct reader *rd, const char *const *cols,
			   const size_t *lens, int i)
{
	return cols[i] ? cv_arena_strndup(rd->ctx->live_arena, cols[i],
					  lens[i]) : NULL;
}

static int read_role(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct reader *rd = p;
	struct cv_pg_role *r;
	size_t i;

	(void)ncols;
	CV_GROW(rd->pg->roles, rd->pg->nroles + 1, rd->pg->roles_alloc);
	r = &rd->pg->roles[rd->pg->nroles++];
	memset(r, 0, sizeof(*r));
	r->name = dup_col(rd, cols, lens, 0);
	for (i = 0; i < CV_ARRAY_SIZE(attrs); i++)
		if (pg_true(cols[1 + i]))
			r->attrs |= attrs[i].bit;
	return 0;
}

static int read_pair(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct reader *rd = p;

	(void)ncols;
	CV_GROW(rd->pairs, rd->npairs + 2, rd->pairs_alloc);
	rd->pairs[rd->npairs++] = dup_col(rd, cols, lens, 0);
	rd->pairs[rd->npairs++] = dup_col(rd, cols, lens, 1);
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
	t->schema = dup_col(rd, cols, lens, 0);
	t->name = dup_col(rd, cols, lens, 1);
	t->owner = dup_col(rd, cols, lens, 2);
	t->rls = pg_true(cols[3]);
	t->force = pg_true(cols[4]);
	t->sequence = pg_true(cols[5]);
	return 0;
}

/* schema, name, role, privilege (tables); schema, role, privilege. */
static int read_priv(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct reader *rd = p;
	struct cv_pg_priv v;

	memset(&v, 0, sizeof(v));
	v.objtype = cols[0] ? cols[0][0] : 0;
	v.schema = dup_col(rd, cols, lens, 1);
	v.name = ncols == 5 ? dup_col(rd, cols, lens, 2) : NULL;
	v.role = dup_col(rd, cols, lens, ncols - 2);
	v.priv = find_word(privs_of(v.objtype), cols[ncols - 1]);
	if (v.priv)
		add_priv(&rd->pg->privs, &rd->pg->nprivs, &rd->pg->privs_alloc,
			 &v);
	return 0;
}

/* owner, schema, objtype, role, privilege */
static int read_default(void *p, const char *const *cols, const size_t *lens,
			int ncols)
{
	struct reader *rd = p;
	struct cv_pg_priv v;
	const char *const *known;

	(void)ncols;
	memset(&v, 0, sizeof(v));
	v.objtype = cols[2] ? cols[2][0] : 0;
	if (!(known = privs_of(v.objtype)) || v.objtype == 't')
		return 0;
	v.owner = dup_col(rd, cols, lens, 0);
	v.schema = dup_col(rd, cols, lens, 1);
	v.role = dup_col(rd, cols, lens, 3);
	v.priv = find_word(known, cols[4]);
	if (v.priv)
		add_priv(&rd->pg->defaults, &rd->pg->ndefaults,
			 &rd->pg->defaults_alloc, &v);
	return 0;
}

static const char *command_of(const char *polcmd)
{
	switch (polcmd ? polcmd[0] : '*') {
	case 'r': return "SELECT";
	case 'a': return "INSERT";
	case 'w': return "UPDATE";
	case 'd': return "DELETE";
	default: return "ALL";
	}
}

/*
 * schema, table, name, polcmd, permissive, using, with check, then one of
 * its roles: a policy comes as one row per role, in order.
 */
static int read_policy(void *p, const char *const *cols, const size_t *lens,
		       int ncols)
{
	struct reader *rd = p;
	struct cv_pg_policy *pol = rd->npols ? &rd->pols[rd->npols - 1] : NULL;

	(void)ncols;
	if (!pol || strcmp(pol->name, cols[2]) != 0 ||
	    strcmp(rd->pol_keys[2 * rd->npols - 1], cols[1]) != 0 ||
	    strcmp(rd->pol_keys[2 * rd->npols - 2], cols[0]) != 0) {
		CV_GROW(rd->pols, rd->npols + 1, rd->pols_alloc);
		CV_GROW(rd->pol_keys, 2 * rd->npols + 2, rd->pol_keys_alloc);
		CV_GROW(rd->first_to, rd->npols + 1, rd->first_to_alloc);
		rd->pol_keys[2 * rd->npols] = dup_col(rd, cols, lens, 0);
		rd->pol_keys[2 * rd->npols + 1] = dup_col(rd, cols, lens, 1);
		rd->first_to[rd->npols] = rd->ntos;
		pol = &rd->pols[rd->npols++];
		memset(pol, 0, sizeof(*pol));
		pol->name = dup_col(rd, cols, lens, 2);
		pol->command = command_of(cols[3]);
		pol->permissive = pg_true(cols[4]);
		pol->using_expr = dup_col(rd, cols, lens, 5);
		pol->check_expr = dup_col(rd, cols, lens, 6);
	}
	CV_GROW(rd->tos, rd->ntos + 1, rd->tos_alloc);
	rd->tos[rd->ntos++] = dup_col(rd, cols, lens, 7);
	pol->nto++;
	return 0;
}

static struct cv_pg_table *find_table(const struct cv_pg *pg,
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
	return (struct cv_pg_role *)find_role(pg, name);
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
		struct cv_pg_table *t = find_table(pg, rd->pol_keys[2 * i],
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
	rd->pg->created[rd->pg->ncreated++] = dup_col(rd, cols, lens, 0);
	return 0;
}

#define USER_SCHEMAS \
	"n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
#define USER_RELS "c.relkind IN ('r', 'p', 'v', 'm', 'f') AND " USER_SCHEMAS
#define USER_RELS_AND_SEQS \
	"c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND " USER_SCHEMAS

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
	"c.relforcerowsecurity, c.relkind = 'S' FROM pg_catalog.pg_class c "
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
		{ Q_ROLES, read_role },
		{ Q_MEMBERS, read_pair },
		{ Q_TABLES, read_table },
		{ Q_TABLE_PRIVS, read_priv },
		{ Q_SCHEMA_PRIVS, read_priv },
		{ Q_DEFAULTS, read_default },
		{ Q_POLICIES, read_policy },
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
		sort_privs(pg->privs, &pg->nprivs);
		sort_privs(pg->defaults, &pg->ndefaults);
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

static const char *role_value(const struct cv_pg_role *r, struct cv_arena *a)
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

static bool has_name(const char *const *list, size_t n, const char *s)
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

static void qname(const struct cv_ctx *ctx, struct cv_buf *b, const char *s)
{
	ctx->be->quote_ident(b, s);
}

static void qtable(const struct cv_ctx *ctx, struct cv_buf *b,
		   const char *schema, const char *name)
{
	qname(ctx, b, schema);
	cv_buf_addch(b, '.');
	qname(ctx, b, name);
}

/* Adds a statement to the step's forward (inv = false) or inverse list. */
static void add_sql(struct cv_plan *plan, struct cv_step *st, bool inv,
		    struct cv_buf *b)
{
	struct cv_stmt *s = inv ? cv_step_inv(plan, st, b->buf, NULL, 0) :
				  cv_step_fwd(plan, st, b->buf, NULL, 0);

	s->script = true;
	cv_buf_reset(b);
}

static void create_role_sql(const struct cv_ctx *ctx, struct cv_buf *b,
			    const char *name, unsigned bits)
{
	size_t i;

	cv_buf_adds(b, "CREATE ROLE ");
	qname(ctx, b, name);
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
	qname(ctx, b, name);
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
	qname(ctx, b, parent);
	cv_buf_adds(b, grant ? " TO " : " FROM ");
	qname(ctx, b, role);
}

/* ---- the diff ------------------------------------------------------------ */

struct differ {
	struct cv_ctx *ctx;
	struct cv_plan *plan;
	const struct cv_pg *want, *live;
	const char **managed;      /* sorted */
	size_t nmanaged;
	const char **dropping;     /* created roles to drop, sorted */
	size_t ndropping;
	struct cv_buf sql;
	struct cv_error *err;
};

static struct cv_step *add_step(struct differ *df, enum cv_phase phase,
				enum cv_action act, const char *object,
				const char *const *key, size_t nkey)
{
	struct cv_step *st = cv_plan_add(df->plan, phase, act, KIND, object);

	cv_step_set_key(df->plan, st, key, nkey);
	return st;
}

static bool is_created(const struct cv_pg *live, const char *name)
{
	return live->ncreated &&
	       bsearch(&name, live->created, live->ncreated,
		       sizeof(*live->created), cv_strptr_cmp);
}

static bool is_dropping(const struct differ *df, const char *name)
{
	return df->ndropping &&
	       bsearch(&name, df->dropping, df->ndropping,
		       sizeof(*df->dropping), cv_strptr_cmp);
}

/* Created by converge, no longer declared: dropped, unless it became a
 * superuser since (never touched).  Only when `roles` is defined. */
static void dropping_roles(struct differ *df)
{
	const struct cv_pg *w = df->want, *l = df->live;
	size_t i;

	df->dropping = cv_calloc(l->nroles + 1, sizeof(*df->dropping));
	if (!(w->parts & CV_PG_ROLES))
		return;
	for (i = 0; i < l->nroles; i++) {
		const struct cv_pg_role *lr = &l->roles[i];

		if (!find_role(w, lr->name) && is_created(l, lr->name) &&
		    !(lr->attrs & CV_PG_SUPERUSER))
			df->dropping[df->ndropping++] = lr->name;
	}
}

/* A superuser now: converge never alters one (SPEC §7), so neither its
 * memberships nor its privileges are planned, even when it is declared. */
static bool is_superuser(const struct differ *df, const char *name)
{
	const struct cv_pg_role *lr = find_role(df->live, name);

	return lr && (lr->attrs & CV_PG_SUPERUSER);
}

static bool is_managed(const struct differ *df, const char *name)
{
	return df->nmanaged &&
	       bsearch(&name, df->managed, df->nmanaged, sizeof(*df->managed),
		       cv_strptr_cmp);
}

/* Declared roles, roles converge created, and every grantee named. */
static void managed_roles(struct differ *df)
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
		if (has_name(w->roles[i].member_of, w->roles[i].nmember_of, name))
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
			if (has_name(w->tables[i].policies[k].to,
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
		    find_table(df->want, t->schema, t->name))
			continue;
		for (k = 0; k < t->npolicies; k++)
			if (has_name(t->policies[k].to, t->policies[k].nto, role))
				return cv_arena_printf(&df->plan->arena,
						       "policy %s on %s.%s",
						       t->policies[k].name,
						       t->schema, t->name);
	}
	return NULL;
}

static int diff_roles(struct differ *df, bool removing)
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
			const struct cv_pg_role *lr = find_role(l, wr->name);

			if (is_superuser(df, wr->name))
				continue;
			for (k = 0; lr && k < lr->nmember_of; k++) {
				const char *key[3] = { "member", wr->name,
						       lr->member_of[k] };
				struct cv_step *st;

				if (has_name(wr->member_of, wr->nmember_of,
					     lr->member_of[k]))
					continue;
				cv_buf_reset(&obj);
				cv_buf_addf(&obj, "membership %s in %s", wr->name,
					    lr->member_of[k]);
				st = add_step(df, CV_PHASE_REMOVE, CV_ACT_DELETE,
					      obj.buf, key, 3);
				st->before = "1";
				member_sql(df->ctx, &df->sql, false, wr->name,
					   lr->member_of[k]);
				add_sql(plan, st, false, &df->sql);
				member_sql(df->ctx, &df->sql, true, wr->name,
					   lr->member_of[k]);
				add_sql(plan, st, true, &df->sql);
			}
		}
		for (i = 0; i < l->nroles; i++) {
			const struct cv_pg_role *lr = &l->roles[i];
			const char *key[2] = { "role", lr->name };
			struct cv_step *st;

			if (!is_dropping(df, lr->name))
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
			cv_buf_reset(&obj);
			cv_buf_addf(&obj, "role %s", lr->name);
			st = add_step(df, CV_PHASE_REMOVE, CV_ACT_DELETE, obj.buf,
				      key, 2);
			st->before = role_value(lr, &plan->arena);
			cv_buf_adds(&df->sql, "DROP ROLE ");
			qname(df->ctx, &df->sql, lr->name);
			add_sql(plan, st, false, &df->sql);
			create_role_sql(df->ctx, &df->sql, lr->name, lr->attrs);
			add_sql(plan, st, true, &df->sql);
			for (k = 0; k < lr->nmember_of; k++) {
				member_sql(df->ctx, &df->sql, true, lr->name,
					   lr->member_of[k]);
				add_sql(plan, st, true, &df->sql);
			}
		}
		cv_buf_release(&obj);
		return 0;
	}
	for (i = 0; i < w->nroles; i++) {
		const struct cv_pg_role *wr = &w->roles[i];
		const struct cv_pg_role *lr = find_role(l, wr->name);
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
		st = add_step(df, CV_PHASE_ADD, lr ? CV_ACT_UPDATE : CV_ACT_CREATE,
			      obj.buf, key, 2);
		st->after = role_value(wr, &plan->arena);
		if (!lr) {
			create_role_sql(df->ctx, &df->sql, wr->name, wr->attrs);
			add_sql(plan, st, false, &df->sql);
			cv_buf_adds(&df->sql, "DROP ROLE ");
			qname(df->ctx, &df->sql, wr->name);
			add_sql(plan, st, true, &df->sql);
			attrs_text(&det, wr->attrs);
		} else {
			st->before = role_value(lr, &plan->arena);
			alter_role_sql(df->ctx, &df->sql, wr->name, lr->attrs,
				       wr->attrs);
			add_sql(plan, st, false, &df->sql);
			alter_role_sql(df->ctx, &df->sql, wr->name, wr->attrs,
				       lr->attrs);
			add_sql(plan, st, true, &df->sql);
			attrs_text(&det, lr->attrs);
			cv_buf_adds(&det, " -> ");
			attrs_text(&det, wr->attrs);
		}
		st->detail = cv_arena_strdup(&plan->arena, det.buf);
		cv_buf_release(&det);
	}
	for (i = 0; i < w->nroles; i++) {
		const struct cv_pg_role *wr = &w->roles[i];
		const struct cv_pg_role *lr = find_role(l, wr->name);

		if (is_superuser(df, wr->name))
			continue;
		for (k = 0; k < wr->nmember_of; k++) {
			const char *parent = wr->member_of[k];
			const char *key[3] = { "member", wr->name, parent };
			struct cv_step *st;

			if (lr && has_name(lr->member_of, lr->nmember_of, parent))
				continue;
			if (!find_role(w, parent) && !find_role(l, parent) &&
			    strncmp(parent, "pg_", 3) != 0) {
				cv_buf_release(&obj);
				return cv_error_set(df->err, CV_EINVAL,
						    "PostgreSQL role '%s' is to be a member of '%s', which neither exists nor is declared in postgres.roles",
						    wr->name, parent);
			}
			cv_buf_reset(&obj);
			cv_buf_addf(&obj, "membership %s in %s", wr->name, parent);
			st = add_step(df, CV_PHASE_ADD, CV_ACT_CREATE, obj.buf,
				      key, 3);
			st->after = "1";
			member_sql(df->ctx, &df->sql, true, wr->name, parent);
			add_sql(plan, st, false, &df->sql);
			member_sql(df->ctx, &df->sql, false, wr->name, parent);
			add_sql(plan, st, true, &df->sql);
		}
	}
	cv_buf_release(&obj);
	return 0;
}

/* Same object and grantee (everything but the privilege). */
static int group_cmp(const struct cv_pg_priv *x, const struct cv_pg_priv *y)
{
	struct cv_pg_priv a = *x, b = *y;

	a.priv = b.priv = "";
	return priv_cmp(&a, &b);
}

/*
 * Is this one of converge's tables (SPEC §7: the journal, the version
 * table, and the tables and views the kinds keep their state in)?  They
 * are never part of all_tables_in_schema: converge makes some of them in
 * the same run, and their readers are granted by name.  The version table
 * is any of them: the manifests' (converge_schema_version by default),
 * alembic_version, and every one a run recorded, because manifests
 * without a schema: section still leave the table a chain used.
 */
static bool own_table(const struct cv_ctx *ctx, const char *name)
{
	const char *const *v = (const char *const *)ctx->live->pg.version_tables;

	if (cv_own_table(name, ctx->schema_table, false))
		return true;
	for (; v && *v; v++)
		if (strcmp(name, *v) == 0)
			return true;
	return false;
}

/*
 * The desired table and schema privileges, concrete: every table of a
 * schema for all_tables_in_schema (converge's own excepted), and nothing
 * a role would hold as the owner.
 */
static void expand_privs(const struct differ *df, struct cv_pg_priv **out,
			 size_t *nout)
{
	const struct cv_pg *w = df->want, *l = df->live;
	struct cv_pg_priv *list = NULL;
	size_t nr = 0, alloc = 0, i, k;

	for (i = 0; i < w->nprivs; i++) {
		const struct cv_pg_priv *p = &w->privs[i];

		if (p->objtype == 'A' || p->objtype == 'B') {
			bool seqs = p->objtype == 'B';

			for (k = 0; k < l->ntables; k++) {
				const struct cv_pg_table *t = &l->tables[k];
				struct cv_pg_priv e = *p;

				if (t->sequence != seqs ||
				    strcmp(t->schema, p->schema) != 0 ||
				    own_table(df->ctx, t->name) ||
				    cv_streq0(t->owner, p->role))
					continue;
				e.objtype = seqs ? 's' : 't';
				e.name = t->name;
				add_priv(&list, &nr, &alloc, &e);
			}
			continue;
		}
		if (p->objtype == 't' || p->objtype == 's') {
			const struct cv_pg_table *t = find_table(l, p->schema,
								 p->name);

			if (t && cv_streq0(t->owner, p->role))
				continue;
		}
		add_priv(&list, &nr, &alloc, p);
	}
	sort_privs(list, &nr);
	*out = list;
	*nout = nr;
}

static const char *privs_text(const struct cv_pg_priv *p, size_t n,
			      struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;
	size_t i;

	if (!n)
		return NULL;
	for (i = 0; i < n; i++)
		cv_buf_addf(&b, "%s%s", i ? "," : "", p[i].priv);
	s = cv_arena_strdup(a, b.buf);
	cv_buf_release(&b);
	return s;
}

/* "GRANT SELECT, INSERT ON TABLE s.t TO r" and its kin. */
static void priv_sql(const struct cv_ctx *ctx, struct cv_buf *b, bool grant,
		     const struct cv_pg_priv *g, const char *const *privs,
		     size_t n)
{
	size_t i;

	if (g->owner) {
		cv_buf_adds(b, "ALTER DEFAULT PRIVILEGES FOR ROLE ");
		qname(ctx, b, g->owner);
		if (*g->schema) {
			cv_buf_adds(b, " IN SCHEMA ");
			qname(ctx, b, g->schema);
		}
		cv_buf_addch(b, ' ');
	}
	cv_buf_adds(b, grant ? "GRANT " : "REVOKE ");
	for (i = 0; i < n; i++)
		cv_buf_addf(b, "%s%s", i ? ", " : "", privs[i]);
	cv_buf_adds(b, " ON ");
	if (g->owner) {
		cv_buf_adds(b, default_kinds[default_kind(g->objtype)].sql);
	} else if (g->objtype == 'n') {
		cv_buf_adds(b, "SCHEMA ");
		qname(ctx, b, g->schema);
	} else if (g->objtype == 's') {
		cv_buf_adds(b, "SEQUENCE ");
		qtable(ctx, b, g->schema, g->name);
	} else {
		cv_buf_adds(b, "TABLE ");
		qtable(ctx, b, g->schema, g->name);
	}
	cv_buf_adds(b, grant ? " TO " : " FROM ");
	qname(ctx, b, g->role);
}

static void priv_object(struct cv_buf *b, const struct cv_pg_priv *g)
{
	cv_buf_reset(b);
	if (g->owner)
		cv_buf_addf(b, "default privileges on %s of %s%s%s for %s",
			    default_kinds[default_kind(g->objtype)].on, g->owner,
			    *g->schema ? " in " : "", g->schema, g->role);
	else if (g->objtype == 'n')
		cv_buf_addf(b, "privileges on schema %s for %s", g->schema,
			    g->role);
	else if (g->objtype == 's')
		cv_buf_addf(b, "privileges on sequence %s.%s for %s", g->schema,
			    g->name, g->role);
	else
		cv_buf_addf(b, "privileges on %s.%s for %s", g->schema, g->name,
			    g->role);
}

/* The key of a group: what, owner, schema, name, grantee. */
static size_t priv_key(const struct cv_pg_priv *g, char *type,
		       const char **key)
{
	type[0] = g->objtype;
	type[1] = 0;
	key[0] = g->owner ? "default" : "privileges";
	key[1] = type;
	key[2] = g->owner ? g->owner : "";
	key[3] = g->schema;
	key[4] = g->name ? g->name : "";
	key[5] = g->role;
	return 6;
}

/* The names joined by `sep`, after `prefix`; NULL when there are none. */
static const char *join(struct cv_arena *a, const char *const *v, size_t n,
			const char *sep, const char *prefix)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;
	size_t i;

	if (!n)
		return NULL;
	cv_buf_adds(&b, prefix);
	for (i = 0; i < n; i++)
		cv_buf_addf(&b, "%s%s", i ? sep : "", v[i]);
	s = cv_arena_strdup(a, b.buf);
	cv_buf_release(&b);
	return s;
}

/* One step that grants (or revokes) `privs` on g's object to its role. */
static struct cv_step *privs_step(struct differ *df,
				  const struct cv_pg_priv *g, bool grant,
				  bool some_stay, const char *const *privs,
				  size_t n)
{
	struct cv_plan *plan = df->plan;
	struct cv_buf obj = CV_BUF_INIT;
	const char *key[6];
	char type[2];
	struct cv_step *st;

	priv_object(&obj, g);
	priv_key(g, type, key);
	st = add_step(df, grant ? CV_PHASE_ADD : CV_PHASE_REMOVE,
		      some_stay ? CV_ACT_UPDATE : grant ? CV_ACT_CREATE :
		      CV_ACT_DELETE, obj.buf, key, 6);
	/* The sign says it all unless some privileges stay. */
	st->detail = join(&plan->arena, privs, n, ", ",
			  !some_stay ? "" : grant ? "grant " : "revoke ");
	priv_sql(df->ctx, &df->sql, grant, g, privs, n);
	add_sql(plan, st, false, &df->sql);
	priv_sql(df->ctx, &df->sql, !grant, g, privs, n);
	add_sql(plan, st, true, &df->sql);
	cv_buf_release(&obj);
	return st;
}

/*
 * One object and grantee: the privileges to revoke go in a removal step,
 * those to grant in an addition; the last one leaves what `want` says.
 */
static void diff_group(struct differ *df, const struct cv_pg_priv *w,
		       size_t nw, const struct cv_pg_priv *l, size_t nl,
		       bool removing)
{
	struct cv_arena *a = &df->plan->arena;
	const struct cv_pg_priv *g = nw ? w : l;
	const char **add = cv_calloc(nw + 1, sizeof(*add));
	const char **del = cv_calloc(nl + 1, sizeof(*del));
	const char **keep = cv_calloc(nl + 1, sizeof(*keep));
	size_t i = 0, j = 0, nadd = 0, ndel = 0, nkeep = 0;
	struct cv_step *st;

	while (i < nw || j < nl) {
		int c = i >= nw ? 1 : j >= nl ? -1 : strcmp(w[i].priv, l[j].priv);

		if (c < 0) {
			add[nadd++] = w[i++].priv;
		} else if (c > 0) {
			del[ndel++] = l[j++].priv;
		} else {
			keep[nkeep++] = l[j++].priv;
			i++;
		}
	}
	if (removing && ndel) {
		st = privs_step(df, g, false, nkeep, del, ndel);
		st->before = privs_text(l, nl, a);
		st->after = join(a, keep, nkeep, ",", "");
	}
	if (!removing && nadd) {
		st = privs_step(df, g, true, nkeep, add, nadd);
		st->before = join(a, keep, nkeep, ",", "");
		st->after = privs_text(w, nw, a);
	}
	free(add);
	free(del);
	free(keep);
}

/*
 * Sorted merge of two privilege lists, a group (object, grantee) at a
 * time; live groups of roles converge does not manage are left alone,
 * and so is every group of a superuser.
 * Not `whole` (the manifests do not define this part): only the
 * privileges of the roles about to be dropped are revoked, because
 * PostgreSQL drops no role that still holds any.
 */
static void diff_privs(struct differ *df, const struct cv_pg_priv *w,
		       size_t nw, const struct cv_pg_priv *l, size_t nl,
		       bool removing, bool whole)
{
	size_t i = 0, j = 0;

	while (i < nw || j < nl) {
		int c = i >= nw ? 1 : j >= nl ? -1 : group_cmp(&w[i], &l[j]);
		size_t i2 = i, j2 = j;

		if (c <= 0)
			while (i2 < nw && group_cmp(&w[i2], &w[i]) == 0)
				i2++;
		if (c >= 0)
			while (j2 < nl && group_cmp(&l[j2], &l[j]) == 0)
				j2++;
		if (!is_superuser(df, c <= 0 ? w[i].role : l[j].role) &&
		    (c <= 0 || (whole ? is_managed(df, l[j].role) :
					is_dropping(df, l[j].role))))
			diff_group(df, w + i, i2 - i, l + j, j2 - j, removing);
		i = i2;
		j = j2;
	}
}

/* ---- row-level security -------------------------------------------------- */

struct explain {
	struct cv_buf plan; /* every line, trimmed, joined by single spaces */
	const char *out;    /* the first Output: line, in the arena */
	bool subplan;       /* the expression has a subquery */
	struct cv_arena *a;
};

static int explain_row(void *p, const char *const *cols, const size_t *lens,
		       int ncols)
{
	struct explain *x = p;
	const char *s = cols[0], *o;

	(void)ncols;
	(void)lens;
	if (!s)
		return 0;
	if (strstr(s, "SubPlan") || strstr(s, "InitPlan"))
		x->subplan = true;
	if (!x->out && (o = strstr(s, "Output: ")))
		x->out = cv_arena_strdup(x->a, o + 8);
	while (*s == ' ')
		s++;
	if (x->plan.len)
		cv_buf_addch(&x->plan, ' ');
	cv_buf_adds(&x->plan, s);
	return 0;
}

/*
 * An expression as PostgreSQL spells it, from EXPLAIN (VERBOSE) of
 * `SELECT (expr) FROM ONLY table`: the Output line.  A subquery shows
 * there only as "(SubPlan 1)", so for one the whole plan is the spelling:
 * the subplans print their own expressions, and the manifest's text and
 * pg_get_expr's of the live policy plan the same in one transaction.
 * (The target list keeps a subquery a SubPlan; in a WHERE it could become
 * a join.)  Nothing is created, so this works in plan's READ ONLY
 * transaction.  When the table does not exist yet (the same plan creates
 * it), the text as written is all there is.
 */
static const char *normalize(struct cv_ctx *ctx, const char *schema,
			     const char *table, const char *expr,
			     struct cv_arena *a)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_buf b = CV_BUF_INIT;
	struct explain x = { CV_BUF_INIT, NULL, false, a };
	const char *s;
	int ret;

	if (!expr || !ctx->db || !find_table(&ctx->live->pg, schema, table))
		return expr;
	cv_buf_adds(&b, "EXPLAIN (VERBOSE, COSTS OFF) SELECT (");
	cv_buf_adds(&b, expr);
	cv_buf_adds(&b, ") FROM ONLY ");
	qtable(ctx, &b, schema, table);
	ret = ctx->be->exec_script(ctx->db, "SAVEPOINT converge_expr", &err);
	if (!ret) {
		ret = ctx->be->query(ctx->db, b.buf, NULL, 0, explain_row, &x,
				     &err);
		if (ret)
			ctx->be->exec_script(ctx->db,
					     "ROLLBACK TO SAVEPOINT converge_expr",
					     &err);
		ctx->be->exec_script(ctx->db, "RELEASE SAVEPOINT converge_expr",
				     &err);
	}
	if (ret || !x.out)
		s = expr;
	else
		s = x.subplan ? cv_arena_strdup(a, x.plan.buf) : x.out;
	cv_error_release(&err);
	cv_buf_release(&b);
	cv_buf_release(&x.plan);
	return s;
}

static const char *policy_value(struct cv_ctx *ctx,
				const struct cv_pg_table *t,
				const struct cv_pg_policy *p, struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;
	size_t i;

	if (!p)
		return NULL;
	cv_canon_add(&b, p->command);
	cv_canon_add(&b, p->permissive ? "permissive" : "restrictive");
	for (i = 0; i < p->nto; i++)
		cv_canon_add(&b, p->to[i]);
	cv_buf_addch(&b, '|');	/* roles | expressions, as rollback shows groups */
	cv_canon_add(&b, normalize(ctx, t->schema, t->name, p->using_expr, a));
	cv_canon_add(&b, normalize(ctx, t->schema, t->name, p->check_expr, a));
	s = cv_arena_strdup(a, b.buf);
	cv_buf_release(&b);
	return s;
}

static void create_policy_sql(const struct cv_ctx *ctx, struct cv_buf *b,
			      const struct cv_pg_table *t,
			      const struct cv_pg_policy *p)
{
	size_t i;

	cv_buf_adds(b, "CREATE POLICY ");
	qname(ctx, b, p->name);
	cv_buf_adds(b, " ON ");
	qtable(ctx, b, t->schema, t->name);
	cv_buf_addf(b, " AS %s FOR %s TO ",
		    p->permissive ? "PERMISSIVE" : "RESTRICTIVE", p->command);
	for (i = 0; i < p->nto; i++) {
		if (i)
			cv_buf_adds(b, ", ");
		if (strcmp(p->to[i], "public") == 0)
			cv_buf_adds(b, "PUBLIC");
		else
			qname(ctx, b, p->to[i]);
	}
	if (p->using_expr)
		cv_buf_addf(b, " USING (%s)", p->using_expr);
	if (p->check_expr)
		cv_buf_addf(b, " WITH CHECK (%s)", p->check_expr);
}

static void drop_policy_sql(const struct cv_ctx *ctx, struct cv_buf *b,
			    const struct cv_pg_table *t,
			    const struct cv_pg_policy *p)
{
	cv_buf_adds(b, "DROP POLICY ");
	qname(ctx, b, p->name);
	cv_buf_adds(b, " ON ");
	qtable(ctx, b, t->schema, t->name);
}

static const struct cv_pg_policy *find_policy(const struct cv_pg_table *t,
					      const char *name)
{
	size_t i;

	for (i = 0; t && i < t->npolicies; i++)
		if (strcmp(t->policies[i].name, name) == 0)
			return &t->policies[i];
	return NULL;
}

/* Does a live policy apply to a role this plan drops? */
static bool names_dropping(const struct differ *df,
			   const struct cv_pg_policy *p)
{
	size_t i;

	for (i = 0; p && i < p->nto; i++)
		if (is_dropping(df, p->to[i]))
			return true;
	return false;
}

/* "enabled" or "off", and ",forced" when FORCE is set (it may be on
 * a table whose row-level security is off). */
static const char *rls_value(const struct cv_pg_table *t, struct cv_arena *a)
{
	bool rls = t && t->rls, force = t && t->force;

	return cv_arena_strdup(a, rls ? (force ? "enabled,forced" : "enabled") :
				       (force ? "off,forced" : "off"));
}

static void rls_sql(const struct cv_ctx *ctx, struct cv_buf *b,
		    const struct cv_pg_table *t, bool rls_changed, bool rls,
		    bool force_changed, bool force)
{
	cv_buf_adds(b, "ALTER TABLE ");
	qtable(ctx, b, t->schema, t->name);
	if (rls_changed)
		cv_buf_addf(b, " %s ROW LEVEL SECURITY", rls ? "ENABLE" : "DISABLE");
	if (rls_changed && force_changed)
		cv_buf_addch(b, ',');
	if (force_changed)
		cv_buf_addf(b, " %s ROW LEVEL SECURITY", force ? "FORCE" : "NO FORCE");
}

static void diff_rls(struct differ *df, bool removing)
{
	struct cv_ctx *ctx = df->ctx;
	struct cv_plan *plan = df->plan;
	struct cv_buf obj = CV_BUF_INIT;
	size_t i, k;

	for (i = 0; i < df->want->ntables; i++) {
		const struct cv_pg_table *wt = &df->want->tables[i];
		const struct cv_pg_table *lt = find_table(df->live, wt->schema,
							  wt->name);
		bool lrls = lt && lt->rls, lforce = lt && lt->force;
		struct cv_step *st;

		if (removing) {
			/* Policies no longer declared go first, and so do
			 * those that apply to a role about to be dropped
			 * (made again without it after the drop). */
			for (k = 0; lt && k < lt->npolicies; k++) {
				const struct cv_pg_policy *lp = &lt->policies[k];
				const char *key[4] = { "policy", wt->schema,
						       wt->name, lp->name };

				if (find_policy(wt, lp->name) &&
				    !names_dropping(df, lp))
					continue;
				cv_buf_reset(&obj);
				cv_buf_addf(&obj, "policy %s on %s.%s", lp->name,
					    wt->schema, wt->name);
				st = add_step(df, CV_PHASE_REMOVE, CV_ACT_DELETE,
					      obj.buf, key, 4);
				st->before = policy_value(ctx, lt, lp, &plan->arena);
				drop_policy_sql(ctx, &df->sql, lt, lp);
				add_sql(plan, st, false, &df->sql);
				create_policy_sql(ctx, &df->sql, lt, lp);
				add_sql(plan, st, true, &df->sql);
			}
			continue;
		}
		if (lrls != wt->rls || lforce != wt->force) {
			const char *key[3] = { "rls", wt->schema, wt->name };

			cv_buf_reset(&obj);
			cv_buf_addf(&obj, "row-level security on %s.%s",
				    wt->schema, wt->name);
			st = add_step(df, CV_PHASE_ADD, lrls == wt->rls ?
				      CV_ACT_UPDATE : wt->rls ? CV_ACT_ENABLE :
				      CV_ACT_DISABLE, obj.buf, key, 3);
			st->before = rls_value(lt, &plan->arena);
			st->after = rls_value(wt, &plan->arena);
			st->detail = st->after;
			rls_sql(ctx, &df->sql, wt, lrls != wt->rls, wt->rls,
				lforce != wt->force, wt->force);
			add_sql(plan, st, false, &df->sql);
			rls_sql(ctx, &df->sql, wt, lrls != wt->rls, lrls,
				lforce != wt->force, lforce);
			add_sql(plan, st, true, &df->sql);
		}
		for (k = 0; k < wt->npolicies; k++) {
			const struct cv_pg_policy *wp = &wt->policies[k];
			const struct cv_pg_policy *lp = find_policy(lt, wp->name);
			const char *key[4] = { "policy", wt->schema, wt->name,
					       wp->name };

			if (names_dropping(df, lp))
				lp = NULL;	/* dropped in the removal phase */
			const char *want_v = policy_value(ctx, wt, wp, &plan->arena);
			const char *live_v = lp ? policy_value(ctx, lt, lp,
							       &plan->arena) : NULL;

			if (cv_streq0(want_v, live_v))
				continue;
			cv_buf_reset(&obj);
			cv_buf_addf(&obj, "policy %s on %s.%s", wp->name,
				    wt->schema, wt->name);
			st = add_step(df, CV_PHASE_ADD, lp ? CV_ACT_UPDATE :
				      CV_ACT_CREATE, obj.buf, key, 4);
			st->before = live_v;
			st->after = want_v;
			st->detail = cv_arena_strdup(&plan->arena, wp->command);
			if (lp) {
				drop_policy_sql(ctx, &df->sql, wt, lp);
				add_sql(plan, st, false, &df->sql);
			}
			create_policy_sql(ctx, &df->sql, wt, wp);
			add_sql(plan, st, false, &df->sql);
			drop_policy_sql(ctx, &df->sql, wt, wp);
			add_sql(plan, st, true, &df->sql);
			if (lp) {
				create_policy_sql(ctx, &df->sql, lt, lp);
				add_sql(plan, st, true, &df->sql);
			}
		}
	}
	cv_buf_release(&obj);
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

#define KNOWN(r) (find_role(w, (r)) || find_role(l, (r)))
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

/* Does the plan run revisions (the schema kind plans first)? */
static bool has_schema_steps(const struct cv_plan *plan)
{
	size_t i;

	for (i = 0; i < plan->nr; i++)
		if (strcmp(plan->steps[i].kind, "schema") == 0)
			return true;
	return false;
}

/*
 * A privilege on a table or sequence that does not exist would fail only
 * at apply: refused at plan, unless a revision of the same plan may make
 * it.
 */
static int check_tables_named(const struct differ *df)
{
	size_t i;

	if (!df->ctx->db || has_schema_steps(df->plan))
		return 0;
	for (i = 0; i < df->want->nprivs; i++) {
		const struct cv_pg_priv *p = &df->want->privs[i];

		if ((p->objtype != 't' && p->objtype != 's') ||
		    find_table(df->live, p->schema, p->name))
			continue;
		return cv_error_set(df->err, CV_EINVAL,
				    "a privilege names %s '%s.%s', which does not exist (%s:%u:%u)",
				    p->objtype == 's' ? "sequence" : "table",
				    p->schema, p->name, p->mark.file,
				    p->mark.line, p->mark.col);
	}
	return 0;
}

static int postgres_diff(struct cv_ctx *ctx, struct cv_plan *plan,
			 struct cv_error *err)
{
	struct differ df;
	struct cv_pg_priv *privs = NULL;
	size_t nprivs = 0;
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
		ret = check_tables_named(&df);
	if (ret)
		return ret;
	managed_roles(&df);
	dropping_roles(&df);
	if (parts & CV_PG_PRIVILEGES)
		expand_privs(&df, &privs, &nprivs);
	/* Removals first, in the reverse of the order things are added. */
	for (pass = 0; pass < 2 && !ret; pass++) {
		bool removing = pass == 0;

		if (!removing && (parts & CV_PG_ROLES))
			ret = diff_roles(&df, false);
		if (ret)
			break;
		if (removing && (parts & CV_PG_RLS))
			diff_rls(&df, true);
		diff_privs(&df, privs, nprivs, df.live->privs, df.live->nprivs,
			   removing, parts & CV_PG_PRIVILEGES);
		diff_privs(&df, df.want->defaults,
			   parts & CV_PG_DEFAULTS ? df.want->ndefaults : 0,
			   df.live->defaults, df.live->ndefaults, removing,
			   parts & CV_PG_DEFAULTS);
		if (removing && (parts & CV_PG_ROLES))
			ret = diff_roles(&df, true);
		if (!removing && (parts & CV_PG_RLS))
			diff_rls(&df, false);
	}
	free(privs);
	free(df.managed);
	free(df.dropping);
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
		return role_value(find_role(l, key[1]), arena);
	if (nkey == 3 && strcmp(key[0], "member") == 0) {
		const struct cv_pg_role *r = find_role(l, key[1]);

		return r && has_name(r->member_of, r->nmember_of, key[2]) ?
		       "1" : NULL;
	}
	if (nkey == 6 && (strcmp(key[0], "privileges") == 0 ||
			  strcmp(key[0], "default") == 0)) {
		struct cv_pg_priv g;
		const struct cv_pg_priv *list = *key[0] == 'p' ? l->privs :
							       l->defaults;
		size_t n = *key[0] == 'p' ? l->nprivs : l->ndefaults, i, first;

		memset(&g, 0, sizeof(g));
		g.objtype = key[1][0];
		g.owner = *key[0] == 'd' ? key[2] : NULL;
		g.schema = key[3];
		g.name = *key[4] ? key[4] : NULL;
		g.role = key[5];
		for (i = 0; i < n && group_cmp(&list[i], &g) < 0; i++)
			;
		for (first = i; i < n && group_cmp(&list[i], &g) == 0; i++)
			;
		return privs_text(list + first, i - first, arena);
	}
	if (nkey == 3 && strcmp(key[0], "rls") == 0)
		return rls_value(find_table(l, key[1], key[2]), arena);
	if (nkey == 4 && strcmp(key[0], "policy") == 0) {
		t = find_table(l, key[1], key[2]);
		return policy_value(ctx, t, find_policy(t, key[3]), arena);
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

static void emit_privs(struct cv_emit *e, const struct cv_pg *pg,
		       const struct cv_pg_priv *list, size_t n)
{
	size_t i, j, k;

	for (i = 0; i < n; i = j) {
		const struct cv_pg_priv *g = &list[i];
		const struct cv_pg_role *r = find_role(pg, g->role);
		char *obj;

		for (j = i; j < n && group_cmp(&list[j], g) == 0; j++)
			;
		if (!r || (r->attrs & CV_PG_SUPERUSER))
			continue;
		cv_emit_map(e, true);
		if (g->owner) {
			cv_emit_pair(e, "owner", g->owner);
			if (*g->schema)
				cv_emit_pair(e, "schema", g->schema);
		}
		cv_emit_pair(e, "role", g->role);
		cv_emit_str(e, "privileges");
		cv_emit_seq(e, true);
		for (k = i; k < j; k++)
			cv_emit_str(e, list[k].priv);
		cv_emit_end(e);
		if (g->owner) {
			cv_emit_pair(e, "on", default_kinds[default_kind(g->objtype)].on);
		} else {
			cv_emit_str(e, "on");
			cv_emit_map(e, true);
			cv_emit_str(e, g->objtype == 'n' ? "schemas" :
				       g->objtype == 's' ? "sequences" : "tables");
			cv_emit_seq(e, true);
			obj = g->name ? cv_asprintf("%s.%s", g->schema, g->name) :
					cv_asprintf("%s", g->schema);
			cv_emit_str(e, obj);
			free(obj);
			cv_emit_end(e);
			cv_emit_end(e);
		}
		cv_emit_end(e);
	}
}

static void emit_policy(struct cv_emit *e, const struct cv_pg_policy *p)
{
	size_t i;

	cv_emit_str(e, p->name);
	cv_emit_map(e, false);
	cv_emit_pair(e, "command", p->command);
	if (!p->permissive) {
		cv_emit_str(e, "permissive");
		cv_emit_bool(e, false);
	}
	cv_emit_str(e, "to");
	cv_emit_seq(e, true);
	for (i = 0; i < p->nto; i++)
		cv_emit_str(e, p->to[i]);
	cv_emit_end(e);
	if (p->using_expr)
		cv_emit_pair(e, "using", p->using_expr);
	if (p->check_expr)
		cv_emit_pair(e, "with_check", p->check_expr);
	cv_emit_end(e);
}

/*
 * The roles that are not superusers (converge never touches those), their
 * privileges and default privileges, and the tables with row-level
 * security or policies.  Planned with these manifests, the database has
 * nothing to change.
 */
static void postgres_inspect(const struct cv_state *live, struct cv_emit *e)
{
	const struct cv_pg *pg = &live->pg;
	size_t i, k;

	cv_emit_str(e, "postgres");
	cv_emit_map(e, false);
	cv_emit_str(e, "roles");
	cv_emit_map(e, false);
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
	cv_emit_end(e);
	cv_emit_str(e, "privileges");
	cv_emit_seq(e, false);
	emit_privs(e, pg, pg->privs, pg->nprivs);
	cv_emit_end(e);
	cv_emit_str(e, "default_privileges");
	cv_emit_seq(e, false);
	emit_privs(e, pg, pg->defaults, pg->ndefaults);
	cv_emit_end(e);
	cv_emit_str(e, "rls");
	cv_emit_map(e, false);
	for (i = 0; i < pg->ntables; i++) {
		const struct cv_pg_table *t = &pg->tables[i];
		char *name;

		if (!t->rls && !t->force && !t->npolicies)
			continue;
		name = cv_asprintf("%s.%s", t->schema, t->name);
		cv_emit_str(e, name);
		free(name);
		cv_emit_map(e, false);
		cv_emit_str(e, "enabled");
		cv_emit_bool(e, t->rls);
		cv_emit_str(e, "force");
		cv_emit_bool(e, t->force);
		if (t->npolicies) {
			cv_emit_str(e, "policies");
			cv_emit_map(e, false);
			for (k = 0; k < t->npolicies; k++)
				emit_policy(e, &t->policies[k]);
			cv_emit_end(e);
		}
		cv_emit_end(e);
	}
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
