/*
 * Privileges, for the `postgres` kind (postgres.c): the privilege words
 * each kind of object takes, postgres.privileges and
 * postgres.default_privileges as manifests write them and as the
 * catalogues' ACLs read back, all_tables_in_schema made concrete, the
 * diff a group (object, grantee) at a time with its GRANT and REVOKE, and
 * the privileges part of inspect.  One file per object type, so that
 * where privileges are diffed can be found from file names alone.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "converge/emit.h"
#include "converge/kind.h"

#include "pg.h"

/* ---- privilege words ------------------------------------------------- */

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

static int table_name(const struct cv_node *n, struct cv_loader *ld,
		      const char **schema, const char **name)
{
	const char *s;

	if (cv_yaml_as_string(n, "table", ld->diags, &s))
		return CV_EINVAL;
	return cv_pg_table_parts(s, &n->mark, ld, schema, name);
}

/* ---- load ------------------------------------------------------------ */

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
		if (!(w = cv_pg_find_word(known, s))) {
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

int cv_pg_load_grant(struct cv_pg *pg, const struct cv_node *e,
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
		   cv_pg_reserved_role(p.role, &v->mark, ld->diags)) {
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
			    cv_pg_long_name(p.schema, "schema", &o->mark,
					    ld->diags)) {
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
				   cv_pg_long_name(p.schema, "schema", &t->mark,
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

int cv_pg_load_default(struct cv_pg *pg, const struct cv_node *e,
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
			   (k < 2 &&
			    (cv_check_name(*dst, "role", &v->mark, ld->diags) ||
			     cv_pg_reserved_role(*dst, &v->mark, ld->diags)))) {
			ret = CV_EINVAL;
		}
	}
	if ((v = cv_yaml_get(e, "schema")) && !cv_yaml_is_null(v) &&
	    (cv_yaml_as_string(v, "schema", ld->diags, &p.schema) ||
	     cv_check_name(p.schema, "schema", &v->mark, ld->diags) ||
	     cv_pg_long_name(p.schema, "schema", &v->mark, ld->diags)))
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

/* ---- order ----------------------------------------------------------- */

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

/* Sorts and drops exact repeats (two entries may give one privilege). */
void cv_pg_sort_privs(struct cv_pg_priv *p, size_t *n)
{
	size_t i, k = 0;

	cv_sort(p, *n, sizeof(*p), priv_cmp);
	for (i = 0; i < *n; i++)
		if (!k || priv_cmp(&p[k - 1], &p[i]) != 0)
			p[k++] = p[i];
	*n = k;
}

/* ---- read ------------------------------------------------------------ */

/* schema, name, role, privilege (tables); schema, role, privilege. */
int cv_pg_read_priv(void *p, const char *const *cols, const size_t *lens,
		    int ncols)
{
	struct reader *rd = p;
	struct cv_pg_priv v;

	memset(&v, 0, sizeof(v));
	v.objtype = cols[0] ? cols[0][0] : 0;
	v.schema = cv_pg_dup_col(rd, cols, lens, 1);
	v.name = ncols == 5 ? cv_pg_dup_col(rd, cols, lens, 2) : NULL;
	v.role = cv_pg_dup_col(rd, cols, lens, ncols - 2);
	v.priv = cv_pg_find_word(privs_of(v.objtype), cols[ncols - 1]);
	if (v.priv)
		add_priv(&rd->pg->privs, &rd->pg->nprivs, &rd->pg->privs_alloc,
			 &v);
	return 0;
}

/* owner, schema, objtype, role, privilege */
int cv_pg_read_default(void *p, const char *const *cols, const size_t *lens,
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
	v.owner = cv_pg_dup_col(rd, cols, lens, 0);
	v.schema = cv_pg_dup_col(rd, cols, lens, 1);
	v.role = cv_pg_dup_col(rd, cols, lens, 3);
	v.priv = cv_pg_find_word(known, cols[4]);
	if (v.priv)
		add_priv(&rd->pg->defaults, &rd->pg->ndefaults,
			 &rd->pg->defaults_alloc, &v);
	return 0;
}

/* objtype, schema, name (NULL for a schema), grantor, grantee, privilege */
int cv_pg_read_passed(void *p, const char *const *cols, const size_t *lens,
		      int ncols)
{
	struct reader *rd = p;
	struct cv_pg_priv v;

	(void)ncols;
	memset(&v, 0, sizeof(v));
	v.objtype = cols[0] ? cols[0][0] : 0;
	v.schema = cv_pg_dup_col(rd, cols, lens, 1);
	v.name = cv_pg_dup_col(rd, cols, lens, 2);
	v.grantor = cv_pg_dup_col(rd, cols, lens, 3);
	v.role = cv_pg_dup_col(rd, cols, lens, 4);
	v.priv = cv_pg_find_word(privs_of(v.objtype), cols[5]);
	if (v.priv && v.grantor && v.role)
		add_priv(&rd->pg->passed, &rd->pg->npassed,
			 &rd->pg->passed_alloc, &v);
	return 0;
}

/* Object, grantor, privilege, grantee. */
static int passed_cmp(const void *a, const void *b)
{
	const struct cv_pg_priv *x = a, *y = b;
	int c;

	if (x->objtype != y->objtype)
		return x->objtype < y->objtype ? -1 : 1;
	if ((c = strcmp(x->schema, y->schema)) ||
	    (c = strcmp(x->name ? x->name : "", y->name ? y->name : "")) ||
	    (c = strcmp(x->grantor, y->grantor)) ||
	    (c = strcmp(x->priv, y->priv)))
		return c;
	return strcmp(x->role, y->role);
}

void cv_pg_sort_passed(struct cv_pg_priv *p, size_t n)
{
	cv_sort(p, n, sizeof(*p), passed_cmp);
}

/* ---- the diff ------------------------------------------------------------ */

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
 * a role would hold as the owner (of the table, sequence or schema): an
 * owner's privileges are never managed, so never revoked either.
 */
void cv_pg_expand_privs(const struct differ *df, struct cv_pg_priv **out,
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
			const struct cv_pg_table *t =
				cv_pg_find_table(l, p->schema, p->name);

			if (t && cv_streq0(t->owner, p->role))
				continue;
		}
		if (p->objtype == 'n' &&
		    cv_streq0(cv_pg_schema_owner(l, p->schema), p->role))
			continue;
		add_priv(&list, &nr, &alloc, p);
	}
	cv_pg_sort_privs(list, &nr);
	*out = list;
	*nout = nr;
}

/*
 * The desired default privileges but those an owner would give itself:
 * it has them already (the catalogue does not list them), and taking
 * them back would revoke an owner's own privileges.
 */
void cv_pg_expand_defaults(const struct differ *df, struct cv_pg_priv **out,
			   size_t *nout)
{
	const struct cv_pg *w = df->want;
	struct cv_pg_priv *list = NULL;
	size_t nr = 0, alloc = 0, i;

	for (i = 0; i < w->ndefaults; i++)
		if (strcmp(w->defaults[i].owner, w->defaults[i].role) != 0)
			add_priv(&list, &nr, &alloc, &w->defaults[i]);
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
		cv_pg_qname(ctx, b, g->owner);
		if (*g->schema) {
			cv_buf_adds(b, " IN SCHEMA ");
			cv_pg_qname(ctx, b, g->schema);
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
		cv_pg_qname(ctx, b, g->schema);
	} else if (g->objtype == 's') {
		cv_buf_adds(b, "SEQUENCE ");
		cv_pg_qtable(ctx, b, g->schema, g->name);
	} else {
		cv_buf_adds(b, "TABLE ");
		cv_pg_qtable(ctx, b, g->schema, g->name);
	}
	cv_buf_adds(b, grant ? " TO " : " FROM ");
	cv_pg_qname(ctx, b, g->role);
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
	st = cv_pg_add_step(df, grant ? CV_PHASE_ADD : CV_PHASE_REMOVE,
			    some_stay ? CV_ACT_UPDATE : grant ? CV_ACT_CREATE :
			    CV_ACT_DELETE, obj.buf, key, 6);
	/* The sign says it all unless some privileges stay. */
	st->detail = join(&plan->arena, privs, n, ", ",
			  !some_stay ? "" : grant ? "grant " : "revoke ");
	priv_sql(df->ctx, &df->sql, grant, g, privs, n);
	cv_pg_add_sql(plan, st, false, &df->sql);
	priv_sql(df->ctx, &df->sql, !grant, g, privs, n);
	cv_pg_add_sql(plan, st, true, &df->sql);
	cv_buf_release(&obj);
	return st;
}

/* Is p a privilege on g's object, one of `del`? */
static bool passed_match(const struct cv_pg_priv *p,
			 const struct cv_pg_priv *g, const char *del)
{
	return p->objtype == g->objtype && strcmp(p->schema, g->schema) == 0 &&
	       cv_streq0(p->name, g->name) && strcmp(p->priv, del) == 0;
}

/*
 * The privileges of `del` that live->passed holds for g's object with
 * g's role as the grantor (by_role) or as the grantee, into `privs`
 * ("SELECT, INSERT"), and what each is ("SELECT to x" or "SELECT from
 * y", the first 5) into `list`; the count of entries.  *who gets the
 * first entry's other role.
 */
static size_t passed_entries(const struct differ *df,
			     const struct cv_pg_priv *g,
			     const char *const *del, size_t ndel, bool by_role,
			     struct cv_buf *privs, struct cv_buf *list,
			     const char **who)
{
	const struct cv_pg *l = df->live;
	size_t i, k, n = 0, nprivs = 0;

	for (k = 0; k < ndel; k++) {
		bool any = false;

		for (i = 0; i < l->npassed; i++) {
			const struct cv_pg_priv *p = &l->passed[i];
			const char *self = by_role ? p->grantor : p->role;
			const char *other = by_role ? p->role : p->grantor;

			if (!passed_match(p, g, del[k]) ||
			    strcmp(self, g->role) != 0)
				continue;
			any = true;
			if (!n)
				*who = other;
			if (++n <= 5)
				cv_buf_addf(list, "%s%s %s %s", n > 1 ? ", " : "",
					    p->priv, by_role ? "to" : "from",
					    other);
		}
		if (any)
			cv_buf_addf(privs, "%s%s", nprivs++ ? ", " : "", del[k]);
	}
	if (n > 5)
		cv_buf_addf(list, ", … (%zu in all)", n);
	return n;
}

/*
 * A REVOKE of `del` from g's role on g's object that cannot do what the
 * plan says.  When that role passed some of them on WITH GRANT OPTION,
 * PostgreSQL refuses it ("dependent privileges exist"); converge does
 * not revoke with CASCADE, as ldap2pg and pgroles do not: that would take
 * what roles it does not manage were given, and the inverse could not
 * give it back.  When the role got some of them from another role than
 * the owner, the REVOKE (run as the owner, or a superuser, which acts as
 * the owner) takes only what the owner granted: it would change nothing,
 * and every plan would show it again.  Both are refused at plan, naming
 * what was passed on, to or from whom.
 */
static int check_passed_on(struct differ *df, const struct cv_pg_priv *g,
			   const char *const *del, size_t ndel)
{
	struct cv_buf privs = CV_BUF_INIT, list = CV_BUF_INIT;
	struct cv_buf obj = CV_BUF_INIT;
	const char *who = NULL;
	size_t n;
	int ret = 0;

	if (g->owner)
		return 0;	/* default privileges: nothing depends on them */
	priv_object(&obj, g);
	if ((n = passed_entries(df, g, del, ndel, true, &privs, &list, &who)))
		ret = cv_error_set(df->err, CV_EINVAL,
				   "%s: revoking %s would fail at apply (dependent privileges exist): %s passed %s on WITH GRANT OPTION (%s); converge revokes neither what others got from it nor with CASCADE: revoke those by hand first (SET ROLE %s; REVOKE … FROM …), or keep the privilege in the manifests",
				   obj.buf, privs.buf, g->role,
				   strchr(privs.buf, ',') ? "them" : "it",
				   list.buf, g->role);
	else if ((n = passed_entries(df, g, del, ndel, false, &privs, &list,
				     &who)))
		ret = cv_error_set(df->err, CV_EINVAL,
				   "%s: revoking %s would change nothing: %s got %s from another role (%s), and a REVOKE by the owner or a superuser takes only what the owner granted; revoke %s by hand first (SET ROLE %s; REVOKE … FROM %s), or keep the privilege in the manifests",
				   obj.buf, privs.buf, g->role,
				   strchr(privs.buf, ',') ? "them" : "it",
				   list.buf, n > 1 ? "them" : "it", who,
				   g->role);
	cv_buf_release(&privs);
	cv_buf_release(&list);
	cv_buf_release(&obj);
	return ret;
}

/*
 * One object and grantee: the privileges to revoke go in a removal step,
 * those to grant in an addition; the last one leaves what `want` says.
 */
static int diff_group(struct differ *df, const struct cv_pg_priv *w,
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
	int ret = 0;

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
	if (removing && ndel &&
	    !(ret = check_passed_on(df, g, del, ndel))) {
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
	return ret;
}

/*
 * Sorted merge of two privilege lists, a group (object, grantee) at a
 * time; live groups of roles converge does not manage are left alone,
 * and so is every group of a superuser.
 * Not `whole` (the manifests do not define this part): only the
 * privileges of the roles about to be dropped are revoked, because
 * PostgreSQL drops no role that still holds any.  Nor one that owns
 * default privileges: those of a role about to be dropped go too,
 * whoever they are for.
 */
int cv_pg_diff_privs(struct differ *df, const struct cv_pg_priv *w,
		     size_t nw, const struct cv_pg_priv *l, size_t nl,
		     bool removing, bool whole)
{
	size_t i = 0, j = 0;
	int ret = 0;

	while (!ret && (i < nw || j < nl)) {
		int c = i >= nw ? 1 : j >= nl ? -1 : group_cmp(&w[i], &l[j]);
		size_t i2 = i, j2 = j;

		if (c <= 0)
			while (i2 < nw && group_cmp(&w[i2], &w[i]) == 0)
				i2++;
		if (c >= 0)
			while (j2 < nl && group_cmp(&l[j2], &l[j]) == 0)
				j2++;
		if (c > 0 && l[j].owner && cv_pg_is_dropping(df, l[j].owner))
			ret = diff_group(df, w + i, 0, l + j, j2 - j, removing);
		else if (!cv_pg_is_superuser(df, c <= 0 ? w[i].role :
							  l[j].role) &&
			 (c <= 0 || (whole ? cv_pg_is_managed(df, l[j].role) :
					     cv_pg_is_dropping(df, l[j].role))))
			ret = diff_group(df, w + i, i2 - i, l + j, j2 - j,
					 removing);
		i = i2;
		j = j2;
	}
	return ret;
}

/* Does the plan run revisions (the schema kind plans first)? */
bool cv_pg_has_schema_steps(const struct cv_plan *plan)
{
	size_t i;

	for (i = 0; i < plan->nr; i++)
		if (strcmp(plan->steps[i].kind, "schema") == 0)
			return true;
	return false;
}

/*
 * A privilege on a table, sequence or schema that does not exist would
 * fail only at apply, and all_tables_in_schema of a schema that does not
 * exist (a typo) would grant nothing without a word: refused at plan,
 * unless a revision of the same plan may make it.  So is a default
 * privilege in a schema that does not exist.
 */
int cv_pg_check_tables_named(const struct differ *df)
{
	const struct cv_pg *w = df->want, *l = df->live;
	size_t i;

	if (!df->ctx->db || cv_pg_has_schema_steps(df->plan))
		return 0;
	for (i = 0; i < w->nprivs; i++) {
		const struct cv_pg_priv *p = &w->privs[i];
		bool table = p->objtype == 't' || p->objtype == 's';

		if (table ? cv_pg_find_table(l, p->schema, p->name) != NULL :
			    cv_pg_has_schema(l, p->schema))
			continue;
		if (table)
			return cv_error_set(df->err, CV_EINVAL,
					    "a privilege names %s '%s.%s', which does not exist (%s:%u:%u)",
					    p->objtype == 's' ? "sequence" : "table",
					    p->schema, p->name, p->mark.file,
					    p->mark.line, p->mark.col);
		return cv_error_set(df->err, CV_EINVAL,
				    "a privilege names schema '%s', which does not exist (%s:%u:%u)",
				    p->schema, p->mark.file, p->mark.line,
				    p->mark.col);
	}
	for (i = 0; i < w->ndefaults; i++) {
		const struct cv_pg_priv *p = &w->defaults[i];

		if (!*p->schema || cv_pg_has_schema(l, p->schema))
			continue;
		return cv_error_set(df->err, CV_EINVAL,
				    "a default privilege names schema '%s', which does not exist (%s:%u:%u)",
				    p->schema, p->mark.file, p->mark.line,
				    p->mark.col);
	}
	return 0;
}

/* ---- values ---------------------------------------------------------- */

/*
 * The privileges a step's key names (see priv_key) as `l` has them, in
 * the form privs_text gives; in `arena`, or NULL when there are none.
 */
const char *cv_pg_privs_value(const struct cv_pg *l, const char *const *key,
			      struct cv_arena *arena)
{
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

/* ---- inspect --------------------------------------------------------- */

void cv_pg_emit_privs(struct cv_emit *e, const struct cv_pg *pg,
		      const struct cv_pg_priv *list, size_t n)
{
	size_t i, j, k;

	for (i = 0; i < n; i = j) {
		const struct cv_pg_priv *g = &list[i];
		const struct cv_pg_role *r = cv_pg_find_role(pg, g->role);
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
