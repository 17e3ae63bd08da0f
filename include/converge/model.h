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
	const struct cv_mark *parent_marks; /* desired: where each is named */
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
	bool unset;                /* live, store.grants: a row with no role */
};

/* SQL that may differ per database: `any` unless a backend's own is set. */
struct cv_sql_text {
	const char *any;
	const char *sqlite;
	const char *postgres;
	struct cv_mark mark;       /* where its key is written, when it is */
};
/* The text for backend `name` ("sqlite", "postgres"), or NULL. */
const char *cv_sql_text_for(const struct cv_sql_text *t, const char *name);
bool cv_sql_text_empty(const struct cv_sql_text *t);

struct cv_migration {
	const char *id;
	const char *parent;        /* NULL for the first revision */
	const char *description;
	struct cv_sql_text up;
	struct cv_sql_text down;   /* empty: irreversible */
	struct cv_sql_text verify; /* optional */
	bool transaction;
	const char *path;
	struct cv_mark mark;       /* the id */
	struct cv_mark parent_mark;
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

struct cv_flag_tenant {
	const char *tenant;
	bool enabled;
	struct cv_mark mark;
};

struct cv_flag {
	const char *name;
	bool enabled;
	const char *description;   /* or NULL */
	const char **requires;     /* sorted */
	const struct cv_mark *requires_marks; /* desired: where each is named */
	size_t nrequires;
	const char **checks;       /* sorted */
	const struct cv_mark *checks_marks;   /* desired: where each is named */
	size_t nchecks;
	struct cv_flag_tenant *tenants;  /* sorted by tenant */
	size_t ntenants;
	struct cv_mark mark;
	bool unknown;              /* desired: whether it is on, or for whom,
				      could not be read */
};

struct cv_check {
	const char *name;
	const char *sql;
	const char *as_role;       /* PostgreSQL: SET LOCAL ROLE; or NULL */
	const char *expect;        /* canonical rows (see checks.c) */
	const char *expect_text;   /* as the manifest wrote it, for messages */
	struct cv_mark mark;
};

/*
 * Entitlements.  Modules and submodules share one array, sorted by key:
 * a submodule's key is "module.sub" and it names its module in `parent`.
 */
struct cv_ent_module {
	const char *key;           /* "crm", or "crm.leads" for a submodule */
	const char *parent;        /* NULL, or the submodule's module */
	bool always_on;            /* submodules: as their module */
	const char **subs;         /* modules: their submodules' keys, sorted */
	size_t nsubs;
	struct cv_mark mark;
};

struct cv_ent_plan {
	const char *key;
	const char **modules;      /* module or submodule keys, sorted */
	size_t nmodules;
	struct cv_mark *marks;     /* desired: where each is listed, or NULL */
	bool listed;               /* has an ent_plans row (desired: true) */
	struct cv_mark mark;
};

/* An org's override of one module or submodule (desired). */
struct cv_ent_override {
	const char *module;
	bool enabled;
	struct cv_mark mark;
};

/* One ent_org_modules row; status and source as stored. */
struct cv_ent_row {
	const char *org;
	const char *module;
	const char *status;        /* "enabled" or "disabled" */
	const char *source;        /* "plan", "always_on" or "override" */
};

struct cv_ent_org {
	const char *org;
	const char *plan;          /* NULL: none */
	struct cv_ent_override *overrides;  /* desired, sorted by module */
	size_t noverrides;
	size_t first_row, nrows;   /* live: its rows in ent_rows */
	bool listed;               /* has an ent_orgs row (desired: true) */
	struct cv_mark mark;
	struct cv_mark plan_mark;
};

/*
 * `store: {grants: {table, subject, role, default}}`: grants kept in an
 * application's own table, one role per subject in a column.  A subject
 * whose column holds `dflt` (NULL when not given) has no grant.
 */
struct cv_grants_store {
	const char *table;
	const char *subject;
	const char *role;
	const char *dflt;          /* or NULL */
	struct cv_mark mark;       /* the binding's key */
	/* Each value's, for the errors about it (no file when the binding
	 * was read back from a saved plan). */
	struct cv_mark table_mark, subject_mark, role_mark, dflt_mark;
};

/*
 * postgres: native PostgreSQL objects (src/kinds/postgres.c, with
 * pg_roles.c, pg_privileges.c and pg_rls.c for each object type).  Role
 * attributes are CV_PG_* bits; a role the manifests declare has exactly
 * the ones they name (PostgreSQL's defaults for the rest: INHERIT on,
 * everything else off).
 */
enum cv_pg_attr {
	CV_PG_LOGIN = 1 << 0,
	CV_PG_SUPERUSER = 1 << 1,
	CV_PG_CREATEDB = 1 << 2,
	CV_PG_CREATEROLE = 1 << 3,
	CV_PG_INHERIT = 1 << 4,
	CV_PG_REPLICATION = 1 << 5,
	CV_PG_BYPASSRLS = 1 << 6,
};

/* The subsections of `postgres:` a manifest defines (desired). */
enum cv_pg_part {
	CV_PG_ROLES = 1 << 0,
	CV_PG_PRIVILEGES = 1 << 1,
	CV_PG_DEFAULTS = 1 << 2,
	CV_PG_RLS = 1 << 3,
};

struct cv_pg_role {
	const char *name;
	unsigned attrs;            /* CV_PG_* attribute bits */
	const char **member_of;    /* sorted */
	size_t nmember_of;
	struct cv_mark mark;
};

/*
 * One privilege held by one role on one object.  objtype: 't' a table
 * (or view), 's' a sequence, 'n' a schema, 'A' every table and 'B' every
 * sequence of a schema (desired only, expanded against the live ones);
 * default privileges use
 * pg_default_acl's letters ('r' tables, 'S' sequences, 'f' functions,
 * 'T' types, 'n' schemas) and name their `owner`.
 */
struct cv_pg_priv {
	char objtype;
	const char *owner;         /* default privileges: FOR ROLE; else NULL */
	const char *schema;        /* "" for defaults in every schema */
	const char *name;          /* tables; NULL otherwise */
	const char *role;          /* the grantee ("public" in `passed`) */
	const char *priv;          /* "SELECT", upper case */
	const char *grantor;       /* `passed` only: who granted it */
	struct cv_mark mark;
};

struct cv_pg_policy {
	const char *name;
	const char *command;       /* ALL, SELECT, INSERT, UPDATE, DELETE */
	bool permissive;
	const char **to;           /* role names, sorted; "public" for all */
	size_t nto;
	const char *using_expr;    /* or NULL */
	const char *check_expr;    /* or NULL */
	struct cv_mark mark;
};

/* A table's row-level security.  Desired: the tables `rls` names; live:
 * every table and view outside the system schemas. */
struct cv_pg_table {
	const char *schema;
	const char *name;
	const char *owner;         /* live */
	bool sequence;             /* live: a sequence (privileges only) */
	char relkind;              /* live: pg_class.relkind ('r', 'v', …) */
	bool rls, force;
	struct cv_pg_policy *policies;  /* sorted by name */
	size_t npolicies;
	struct cv_mark mark;
};

struct cv_pg {
	unsigned parts;            /* desired: CV_PG_* subsections present */
	struct cv_pg_role *roles;  /* sorted by name */
	size_t nroles, roles_alloc;
	struct cv_pg_priv *privs;  /* tables and schemas */
	size_t nprivs, privs_alloc;
	struct cv_pg_priv *defaults;  /* ALTER DEFAULT PRIVILEGES */
	size_t ndefaults, defaults_alloc;
	/* live: privileges on tables, sequences and schemas granted by a
	 * role other than the owner (passed on WITH GRANT OPTION), sorted
	 * by object, grantor, privilege and grantee */
	struct cv_pg_priv *passed;
	size_t npassed, passed_alloc;
	struct cv_pg_table *tables;   /* sorted by schema, name */
	size_t ntables, tables_alloc;
	const char **created;      /* live: roles converge created, sorted */
	size_t ncreated, created_alloc;
	const char **schemas;      /* live: the schemas outside pg_*, sorted */
	const char **schema_owners;  /* live: the owner of each of those */
	size_t nschemas, schemas_alloc, schema_owners_alloc;
	/* live: the version tables the journal's runs recorded, in the
	 * arena, NULL-terminated (or NULL) */
	const char **version_tables;
};

/* The contents of the sections, desired or live. */
struct cv_state {
	unsigned sections;          /* CV_SEC_* present (desired) or read (live) */
	unsigned stored;            /* live: sections whose tables exist */
	/*
	 * desired: CV_SEC_* of which some definitions could not be read (a
	 * file that does not parse, a `${}` not set, a part of the wrong
	 * type).  A name looked up in one may be defined by what is missing:
	 * validation does not report it as undefined.
	 */
	unsigned unknown;

	/* schema */
	const char *migrations_dir; /* desired: as resolved from the manifest */
	struct cv_mark schema_mark; /* desired: the section's key */
	struct cv_mark version_mark;/* desired: the `version` value, if any */
	const char *schema_table;   /* version table */
	const char *schema_version; /* NULL = base (no revision applied) */
	size_t schema_width;        /* live: characters the version column
					 * holds; 0 for no limit */
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

	struct cv_flag *flags;
	size_t nflags;

	struct cv_check *checks;
	size_t nchecks;

	/* desired: where grants are stored, when not in rbac_grants */
	const struct cv_grants_store *grants_store;

	/* capacities of the malloc'd arrays above */
	size_t chain_alloc, applied_alloc, roles_alloc, grants_alloc,
	       min_grants_alloc, flags_alloc, checks_alloc;

	/* entitlements: each array sorted by key (rows by org, module) */
	struct cv_ent_module *ent_modules;
	size_t nent_modules;
	struct cv_ent_plan *ent_plans;
	size_t nent_plans;
	struct cv_ent_org *ent_orgs;
	size_t nent_orgs;
	struct cv_ent_row *ent_rows;   /* live: ent_org_modules */
	size_t nent_rows;
	size_t ent_modules_alloc, ent_plans_alloc, ent_orgs_alloc,
	       ent_rows_alloc;

	struct cv_pg pg;
};

/* Frees the arrays (strings belong to an arena). */
void cv_state_release(struct cv_state *s);

/* Lookups by binary search over the sorted arrays. */
const struct cv_role *cv_state_role(const struct cv_state *s,
				    const char *name);
int cv_grant_cmp(const struct cv_grant *a, const struct cv_grant *b);
/* Has the grant expired at `now` (RFC 3339 UTC, as expires is kept)?  A
 * grant whose expires is at or before now is absent (SPEC §7). */
bool cv_grant_expired(const struct cv_grant *g, const char *now);
const struct cv_flag *cv_state_flag(const struct cv_state *s,
				    const char *name);

#endif
