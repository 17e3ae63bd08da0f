/*
 * The `schema` kind: a linear chain of revisions, one YAML file each, and
 * the version table that says where a database stands (SPEC §3).
 *
 * The version table is the authority, not the journal: someone may have
 * run Alembic in between.  The journal's converge_migrations only adds the
 * checksums of what converge applied, so that an edited revision is caught.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "converge/kind.h"
#include "converge/manifest.h"
#include "converge/timeutil.h"

#define DEFAULT_TABLE "converge_schema_version"
#define ALEMBIC_TABLE "alembic_version"
#define ALEMBIC_WIDTH 32	/* version_num VARCHAR(32), as Alembic makes it */

const char *cv_schema_version_column(const char *table)
{
	return strcmp(table, ALEMBIC_TABLE) == 0 ? "version_num" : "version";
}

static int load_sql(const struct cv_node *n, const char *what,
		    struct cv_loader *ld, struct cv_sql_text *out)
{
	static const char *const keys[] = { "sqlite", "postgresql", NULL };
	const struct cv_node *v;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!n || cv_yaml_is_null(n))
		return 0;
	out->mark = n->key_mark.file ? n->key_mark : n->mark;
	if (n->type == CV_NODE_SCALAR)
		return cv_yaml_as_string(n, what, ld->diags, &out->any);
	if (cv_yaml_expect(n, CV_NODE_MAP, what, ld->diags))
		return CV_EINVAL;
	if (cv_yaml_check_keys(n, keys, what, ld->diags))
		ret = CV_EINVAL;
	if ((v = cv_yaml_get(n, "sqlite")) && !cv_yaml_is_null(v) &&
	    cv_yaml_as_string(v, "sqlite", ld->diags, &out->sqlite))
		ret = CV_EINVAL;
	if ((v = cv_yaml_get(n, "postgresql")) && !cv_yaml_is_null(v) &&
	    cv_yaml_as_string(v, "postgresql", ld->diags, &out->postgres))
		ret = CV_EINVAL;
	return ret;
}

static int load_revision(struct cv_state *want, const struct cv_source *src,
			 struct cv_loader *ld)
{
	static const char *const keys[] = {
		"id", "parent", "description", "up", "down", "verify",
		"transaction", NULL
	};
	struct cv_yaml_doc doc;
	struct cv_migration m;
	const struct cv_node *root, *v;
	int ret = 0;

	memset(&m, 0, sizeof(m));
	/* No ${} expansion: `up` and `down` are SQL, which may say `${`. */
	if (cv_yaml_parse(&doc, src->path, src->text, src->len, 0,
			  ld->strings, ld->diags)) {
		ret = CV_EINVAL;
		goto out;
	}
	root = doc.root;
	m.path = src->path;
	m.transaction = true;
	if (!root) {
		struct cv_mark mark = { src->path, 1, 1 };

		cv_diag_error(ld->diags, &mark, "revision file is empty");
		ret = CV_EINVAL;
		goto out;
	}
	if (cv_yaml_expect(root, CV_NODE_MAP, "a revision", ld->diags)) {
		ret = CV_EINVAL;
		goto out;
	}
	if (cv_yaml_check_keys(root, keys, "a revision", ld->diags))
		ret = CV_EINVAL;
	m.mark = root->mark;
	v = cv_yaml_get(root, "id");
	if (!v) {
		cv_diag_error(ld->diags, &root->mark, "revision has no 'id'");
		ret = CV_EINVAL;
	} else if (cv_yaml_as_string(v, "id", ld->diags, &m.id) ||
		   cv_check_name(m.id, "revision id", &v->mark, ld->diags)) {
		ret = CV_EINVAL;
	} else if (strcmp(m.id, "head") == 0 || strcmp(m.id, "base") == 0) {
		/* schema.version could not name it: the word means more. */
		cv_diag_error(ld->diags, &v->mark,
			      "revision id '%s' is reserved: schema.version '%s' means %s",
			      m.id, m.id, m.id[0] == 'h' ?
			      "the newest revision in the chain" :
			      "no revision applied");
		ret = CV_EINVAL;
	} else {
		m.mark = v->mark;
	}
	if ((v = cv_yaml_get(root, "parent")) && !cv_yaml_is_null(v)) {
		if (cv_yaml_as_string(v, "parent", ld->diags, &m.parent))
			ret = CV_EINVAL;
		m.parent_mark = v->mark;
	}
	if ((v = cv_yaml_get(root, "description")) && !cv_yaml_is_null(v) &&
	    cv_yaml_as_string(v, "description", ld->diags, &m.description))
		ret = CV_EINVAL;
	if (load_sql(cv_yaml_get(root, "up"), "up", ld, &m.up) ||
	    load_sql(cv_yaml_get(root, "down"), "down", ld, &m.down) ||
	    load_sql(cv_yaml_get(root, "verify"), "verify", ld, &m.verify))
		ret = CV_EINVAL;
	if (cv_sql_text_empty(&m.up) && !ret) {
		cv_diag_error(ld->diags, &m.mark, "revision '%s' has no 'up'",
			      cv_shorten(m.id));
		ret = CV_EINVAL;
	}
	if ((v = cv_yaml_get(root, "transaction")) &&
	    cv_yaml_as_bool(v, "transaction", ld->diags, &m.transaction))
		ret = CV_EINVAL;
	if (!ret) {
		CV_GROW(want->chain, want->nchain + 1, want->chain_alloc);
		want->chain[want->nchain++] = m;
	}
out:
	cv_yaml_release(&doc);
	return ret;
}

/* Every revision file below dir, subfolders included, in path order. */
static int load_dir(struct cv_state *want, const char *dir,
		    const struct cv_mark *from, struct cv_loader *ld)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, i;
	int ret = 0;

	if (!d) {
		cv_diag_error(ld->diags, from,
			      "cannot read migrations directory '%s': %s",
			      cv_shorten(dir), strerror(errno));
		return CV_EINVAL;
	}
	closedir(d);
	if (cv_yaml_files_below(dir, &names, &n, ld->diags))
		ret = CV_EINVAL;
	for (i = 0; i < n; i++) {
		const struct cv_source *src;

		if (cv_manifest_read(ld->manifest, names[i], from, ld->diags,
				     &src) ||
		    load_revision(want, src, ld))
			ret = CV_EINVAL;
		free(names[i]);
	}
	free(names);
	return ret;
}

/*
 * A second schema section (in another file) is reported, and checked on
 * its own for what it says, but not loaded: one database has one version.
 */
static int schema_load(struct cv_state *want, const struct cv_node *node,
		       struct cv_loader *ld)
{
	static const char *const keys[] = {
		"migrations", "version", "table", NULL
	};
	const struct cv_node *v, *mig;
	const char *dir = NULL, *version = "head", *table = DEFAULT_TABLE;
	bool twice = want->schema_mark.file != NULL;
	int ret = 0;

	if (twice) {
		const struct cv_mark *m = &want->schema_mark;

		cv_diag_error(ld->diags, &node->key_mark,
			      "section 'schema' is defined twice (first at %s:%u:%u)",
			      m->file, m->line, m->col);
		ret = CV_EINVAL;
	} else {
		want->schema_mark = node->key_mark;
	}
	if (cv_yaml_expect(node, CV_NODE_MAP, "schema", ld->diags)) {
		if (!twice)
			want->unknown |= CV_SEC_SCHEMA;
		return CV_EINVAL;
	}
	if (cv_yaml_check_keys(node, keys, "schema", ld->diags))
		ret = CV_EINVAL;
	mig = cv_yaml_get(node, "migrations");
	if (!mig) {
		cv_diag_error(ld->diags, &node->mark,
			      "schema has no 'migrations' directory");
		ret = CV_EINVAL;
	} else if (cv_yaml_as_string(mig, "migrations", ld->diags, &dir)) {
		ret = CV_EINVAL;
	}
	if ((v = cv_yaml_get(node, "version"))) {
		if (cv_yaml_as_string(v, "version", ld->diags, &version))
			ret = CV_EINVAL;
		if (!twice)
			want->version_mark = v->mark;
	}
	if ((v = cv_yaml_get(node, "table")) &&
	    (cv_yaml_as_string(v, "table", ld->diags, &table) ||
	     cv_check_name(table, "table", &v->mark, ld->diags)))
		ret = CV_EINVAL;
	/* The name is one identifier, quoted as one: "public.x" would be a
	 * table of that name in converge's schema, not x in public. */
	else if (v && strchr(table, '.')) {
		cv_diag_error(ld->diags, &v->mark,
			      "version table '%s': a name without a schema; converge keeps it with its own tables (public, or --schema NAME)",
			      cv_shorten(table));
		ret = CV_EINVAL;
	}
	if (twice)
		return CV_EINVAL;
	/* Without its revisions, the version names nothing to check. */
	if (!dir) {
		want->unknown |= CV_SEC_SCHEMA;
		return CV_EINVAL;
	}
	/* Relative to the manifest; "migrations", not "./migrations", when
	 * the manifest is in the current directory. */
	if (dir[0] != '/' && strcmp(ld->dir, ".") != 0)
		dir = cv_arena_printf(ld->strings, "%s/%s", ld->dir, dir);
	want->migrations_dir = dir;
	want->schema_version = version;
	want->schema_table = table;
	if (load_dir(want, dir, &mig->mark, ld)) {
		/* A revision left out may be the one the version names. */
		want->unknown |= CV_SEC_SCHEMA;
		ret = CV_EINVAL;
	}
	return ret;
}

static int mig_id_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct cv_migration *const *)a)->id,
		      (*(const struct cv_migration *const *)b)->id);
}

/* By id, then in the order the files were read (qsort is not stable). */
static int mig_load_cmp(const void *a, const void *b)
{
	const struct cv_migration *x = *(const struct cv_migration *const *)a;
	const struct cv_migration *y = *(const struct cv_migration *const *)b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return x < y ? -1 : x > y;
}

static const struct cv_migration *by_id(struct cv_migration **sorted,
					size_t n, const char *id)
{
	struct cv_migration key, *k = &key, **found;

	key.id = id;
	found = bsearch(&k, sorted, n, sizeof(*sorted), mig_id_cmp);
	return found ? *found : NULL;
}

/*
 * Orders the revisions from the first to the head, reporting duplicate
 * ids, missing parents, forks and cycles.
 */
static int schema_validate(struct cv_state *want, struct cv_arena *strings,
			   struct cv_diags *diags)
{
	size_t n = want->nchain, i, nroots = 0, nordered = 0;
	struct cv_migration **sorted, *ordered = NULL;
	const struct cv_migration **child;
	const struct cv_migration *root = NULL, *cur;
	int ret = 0;

	(void)strings;
	if (!want->schema_table)
		return 0;
	sorted = cv_calloc(n + 1, sizeof(*sorted));
	child = cv_calloc(n + 1, sizeof(*child));
	for (i = 0; i < n; i++)
		sorted[i] = &want->chain[i];
	cv_sort(sorted, n, sizeof(*sorted), mig_load_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(sorted[i - 1]->id, sorted[i]->id) == 0) {
			cv_diag_error(diags, &sorted[i]->mark,
				      "revision '%s' is defined twice (first in %s)",
				      cv_shorten(sorted[i]->id),
				      sorted[i - 1]->path);
			ret = CV_EINVAL;
		}
	if (ret)
		goto out;
	for (i = 0; i < n; i++) {
		const struct cv_migration *m = &want->chain[i], *p;
		size_t pi;

		if (!m->parent) {
			if (root) {
				cv_diag_error(diags, &m->mark,
					      "revisions '%s' (%s) and '%s' (%s) both have no parent: the chain must be linear",
					      cv_shorten(root->id), root->path,
					      cv_shorten(m->id), m->path);
				ret = CV_EINVAL;
			}
			root = m;
			nroots++;
			continue;
		}
		p = by_id(sorted, n, m->parent);
		if (!p) {
			/*
			 * A revision that could not be read may be the parent
			 * (its error is reported): the chain is not ordered,
			 * nor is the version looked up in it.
			 */
			if (!(want->unknown & CV_SEC_SCHEMA))
				cv_diag_error(diags, &m->parent_mark,
					      "parent '%s' of revision '%s' is not in %s",
					      cv_shorten(m->parent),
					      cv_shorten(m->id),
					      want->migrations_dir);
			ret = CV_EINVAL;
			continue;
		}
		pi = (size_t)(p - want->chain);
		if (child[pi]) {
			cv_diag_error(diags, &m->parent_mark,
				      "revisions '%s' (%s) and '%s' (%s) both have parent '%s': the chain must be linear",
				      cv_shorten(child[pi]->id), child[pi]->path,
				      cv_shorten(m->id), m->path,
				      cv_shorten(p->id));
			ret = CV_EINVAL;
			continue;
		}
		child[pi] = m;
	}
	if (ret)
		goto out;
	if (n && !nroots) {
		cv_diag_error(diags, &want->chain[0].mark,
			      "revisions in %s form a cycle: none is the first (no parent)",
			      want->migrations_dir);
		ret = CV_EINVAL;
		goto out;
	}
	ordered = cv_calloc(n + 1, sizeof(*ordered));
	for (cur = root; cur && nordered <= n;
	     cur = child[(size_t)(cur - want->chain)])
		ordered[nordered++] = *cur;
	if (nordered != n) {
		for (i = 0; i < n; i++) {
			size_t k;
			bool seen = false;

			for (k = 0; k < nordered; k++)
				if (strcmp(ordered[k].id, want->chain[i].id) == 0)
					seen = true;
			if (!seen) {
				cv_diag_error(diags, &want->chain[i].mark,
					      "revision '%s' is part of a cycle and cannot be reached from the first revision",
					      cv_shorten(want->chain[i].id));
				ret = CV_EINVAL;
				break;
			}
		}
		goto out;
	}
	if (n)
		memcpy(want->chain, ordered, n * sizeof(*ordered));
	if (strcmp(want->schema_version, "head") == 0) {
		want->schema_version = n ? want->chain[n - 1].id : NULL;
	} else if (strcmp(want->schema_version, "base") == 0) {
		want->schema_version = NULL;
	} else {
		for (i = 0; i < n; i++)
			if (strcmp(want->chain[i].id, want->schema_version) == 0)
				break;
		if (i == n && !(want->unknown & CV_SEC_SCHEMA)) {
			cv_diag_error(diags, &want->version_mark,
				      "schema version '%s' is not a revision in %s",
				      cv_shorten(want->schema_version),
				      want->migrations_dir);
			ret = CV_EINVAL;
		}
	}
out:
	free(ordered);
	free(sorted);
	free(child);
	return ret;
}

struct version_rows {
	struct cv_ctx *ctx;
	struct cv_buf all;
	size_t n;
};

static int read_version(void *p, const char *const *cols, const size_t *lens,
			int ncols)
{
	struct version_rows *vr = p;

	(void)ncols;
	if (vr->n++ == 0)
		vr->ctx->live->schema_version = cols[0] ?
			cv_arena_strndup(vr->ctx->live_arena, cols[0], lens[0]) :
			NULL;
	if (vr->all.len)
		cv_buf_adds(&vr->all, ", ");
	cv_buf_adds(&vr->all, cols[0] ? cols[0] : "NULL");
	return 0;
}

static int read_applied(void *p, const char *const *cols, const size_t *lens,
			int ncols)
{
	struct cv_ctx *ctx = p;
	struct cv_state *live = ctx->live;
	struct cv_applied *a;

	(void)ncols;
	CV_GROW(live->applied, live->napplied + 1, live->applied_alloc);
	a = &live->applied[live->napplied++];
	a->id = cv_arena_strndup(ctx->live_arena, cols[0] ? cols[0] : "", lens[0]);
	a->checksum = cols[1] ? cv_arena_strndup(ctx->live_arena, cols[1],
						 lens[1]) : NULL;
	return 0;
}

static int applied_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_applied *)a)->id,
		      ((const struct cv_applied *)b)->id);
}

/*
 * With --schema, converge keeps alembic_version in that schema (SPEC §7).
 * A database Alembic managed has its table where the application's are:
 * planned from base, every revision would run again over live tables.
 * Refused when that table holds a version, saying what to do.
 */
static int alembic_elsewhere(struct cv_ctx *ctx, struct cv_error *err)
{
	struct version_rows vr = { ctx, CV_BUF_INIT, 0 };
	const char *col = "version_num";
	struct cv_error ignored = CV_ERROR_INIT;
	bool there = false;
	char *sql = NULL;
	int ret;

	ret = cv_db_scope(ctx, true, err);
	if (!ret)
		ret = ctx->be->table_exists(ctx->db, ALEMBIC_TABLE, &there, err);
	if (!ret && there) {
		sql = cv_sql_select(ctx->be, ALEMBIC_TABLE, &col, 1, &col, 1);
		ret = ctx->be->query(ctx->db, sql, NULL, 0, read_version, &vr,
				     err);
	}
	/* Back in converge's own schema, whatever happened. */
	if (cv_db_scope(ctx, false, ret ? &ignored : err) && !ret)
		ret = err->code;
	cv_error_release(&ignored);
	ctx->live->schema_version = NULL;
	if (!ret && vr.n)
		ret = cv_error_set(err, CV_EINVAL,
				   "the application's schema has an alembic_version at revision %s, but converge keeps its version table in the schema --schema names, which has none: planned from there, every revision would run again; move the table there (ALTER TABLE alembic_version SET SCHEMA …), or leave out --schema",
				   cv_buf_str(&vr.all));
	free(sql);
	cv_buf_release(&vr.all);
	return ret;
}

static int schema_read(struct cv_ctx *ctx, struct cv_error *err)
{
	static const char *const mcols[] = { "id", "checksum" };
	struct version_rows vr = { ctx, CV_BUF_INIT, 0 };
	const char *table = ctx->schema_table;
	const char *col;
	bool exists = false;
	char *sql = NULL;
	int ret;

	ctx->live->sections |= CV_SEC_SCHEMA;
	ctx->live->schema_table = table;
	ctx->live->schema_version = NULL;
	ctx->live->schema_width = 0;
	if (!ctx->db || !table)
		return 0;
	ret = ctx->be->table_exists(ctx->db, table, &exists, err);
	if (ret)
		goto out;
	if (exists) {
		col = cv_schema_version_column(table);
		sql = cv_sql_select(ctx->be, table, &col, 1, &col, 1);
		ret = ctx->be->query(ctx->db, sql, NULL, 0, read_version, &vr,
				     err);
		free(sql);
		sql = NULL;
		if (ret)
			goto out;
		if (vr.n > 1) {
			ret = cv_schema_several_rows(err, table, vr.n,
						     vr.all.buf);
			goto out;
		}
		if (ctx->be->column_width)
			ret = ctx->be->column_width(ctx->db, table, col,
						    &ctx->live->schema_width,
						    err);
		if (ret)
			goto out;
	} else if (strcmp(table, ALEMBIC_TABLE) == 0) {
		ret = alembic_elsewhere(ctx, err);
		if (ret)
			goto out;
		/* As schema_ensure will create it. */
		if (ctx->be->column_width)
			ctx->live->schema_width = ALEMBIC_WIDTH;
	}
	ret = ctx->be->table_exists(ctx->db, "converge_migrations", &exists,
				    err);
	if (ret || !exists)
		goto out;
	sql = cv_sql_select(ctx->be, "converge_migrations", mcols, 2, mcols, 1);
	ret = ctx->be->query(ctx->db, sql, NULL, 0, read_applied, ctx, err);
	if (!ret && ctx->live->napplied > 1)
		cv_sort(ctx->live->applied, ctx->live->napplied,
		      sizeof(*ctx->live->applied), applied_cmp);
out:
	free(sql);
	cv_buf_release(&vr.all);
	return ret;
}

static void schema_digest(const struct cv_state *live, struct cv_digest *d)
{
	size_t i;

	cv_digest_str(d, live->schema_table);
	cv_digest_str(d, live->schema_version);
	for (i = 0; i < live->napplied; i++) {
		cv_digest_str(d, live->applied[i].id);
		cv_digest_str(d, live->applied[i].checksum);
	}
}

static const char *schema_value(struct cv_ctx *ctx, const char *const *key,
				size_t nkey, struct cv_arena *arena)
{
	(void)key;
	(void)nkey;
	return cv_arena_strdup(arena, ctx->live->schema_version);
}

/* The statement that moves the version table from `from` to `to`. */
/* The version table's three statements, made once per plan: a chain of
 * hundreds of revisions sets the version twice in each. */
struct version_sql {
	const char *insert, *update, *delete;
};

static void version_sql(struct version_sql *vs, struct cv_plan *plan,
			const struct cv_backend *be, const char *table)
{
	const char *col = cv_schema_version_column(table);

	vs->insert = cv_sql_insert(be, &plan->arena, table, &col, 1);
	vs->update = cv_sql_update(be, &plan->arena, table, &col, 1, NULL, 0);
	vs->delete = cv_sql_delete(be, &plan->arena, table, NULL, 0);
}

static void set_version(struct cv_plan *plan, struct cv_step *st,
			const struct version_sql *vs, const char *from,
			const char *to, bool inverse)
{
	const char *sql = !to ? vs->delete : !from ? vs->insert : vs->update;

	if (inverse)
		cv_step_inv(plan, st, sql, to ? &to : NULL, to ? 1 : 0);
	else
		cv_step_fwd(plan, st, sql, to ? &to : NULL, to ? 1 : 0);
}

static struct cv_stmt *add_script(struct cv_plan *plan, struct cv_step *st,
				  const char *sql, bool inverse)
{
	struct cv_stmt *s = inverse ? cv_step_inv(plan, st, sql, NULL, 0) :
				      cv_step_fwd(plan, st, sql, NULL, 0);

	s->script = true;
	return s;
}

/* SQL scanning, for steps that lose data: DROP TABLE and DROP COLUMN. */
struct scanner {
	const char *p;
	bool fold;	/* PostgreSQL: an unquoted name is in lower case */
	char *schema;	/* the schema the last qualified() name gave, or NULL */
};

static void skip_space(struct scanner *s)
{
	for (;;) {
		while (isspace((unsigned char)*s->p))
			s->p++;
		if (s->p[0] == '-' && s->p[1] == '-') {
			while (*s->p && *s->p != '\n')
				s->p++;
		} else if (s->p[0] == '/' && s->p[1] == '*') {
			const char *end = strstr(s->p + 2, "*/");

			s->p = end ? end + 2 : s->p + strlen(s->p);
		} else {
			return;
		}
	}
}

/* An unquoted name as PostgreSQL reads it: ASCII letters in lower case. */
static char *fold(const struct scanner *s, char *word)
{
	char *c;

	for (c = word; s->fold && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return word;
}

/* The next token: a word, a quoted identifier (unquoted), or a single
 * character; string literals are skipped whole.  Empty at the end. */
static char *next_token(struct scanner *s)
{
	const char *start;
	char q;

	skip_space(s);
	if (!*s->p)
		return cv_strdup("");
	if (*s->p == '"' || *s->p == '`' || *s->p == '[' || *s->p == '\'') {
		struct cv_buf b = CV_BUF_INIT;

		q = *s->p == '[' ? ']' : *s->p;
		s->p++;
		while (*s->p) {
			if (*s->p == q) {
				if (s->p[1] == q && q != ']') {
					cv_buf_addch(&b, q);
					s->p += 2;
					continue;
				}
				s->p++;
				break;
			}
			cv_buf_addch(&b, *s->p++);
		}
		if (q == '\'') {
			cv_buf_release(&b);
			return cv_strdup("'");
		}
		return cv_buf_detach(&b);
	}
	start = s->p;
	if (isalnum((unsigned char)*s->p) || *s->p == '_' ||
	    (unsigned char)*s->p >= 0x80) {
		while (isalnum((unsigned char)*s->p) || *s->p == '_' ||
		       *s->p == '$' || (unsigned char)*s->p >= 0x80)
			s->p++;
	} else {
		s->p++;
	}
	return fold(s, cv_strndup(start, (size_t)(s->p - start)));
}

static bool is_word(const char *tok, const char *word)
{
	return strcasecmp(tok, word) == 0;
}

/* A possibly schema-qualified name: the last part; s->schema becomes
 * the part before it, or NULL. */
static char *qualified(struct scanner *s)
{
	char *name = next_token(s);

	free(s->schema);
	s->schema = NULL;
	skip_space(s);
	while (*s->p == '.') {
		s->p++;
		free(s->schema);
		s->schema = name;
		name = next_token(s);
		skip_space(s);
	}
	return name;
}

/* The schema of the last qualified() name, which the caller keeps. */
static char *take_schema(struct scanner *s)
{
	char *schema = s->schema;

	s->schema = NULL;
	return schema;
}

/*
 * What a script does to tables, in the order it does it (seq): drops,
 * renames, and whole-table copies (INSERT INTO x SELECT … FROM t, with
 * no WHERE, LIMIT, JOIN or set operation).  A rename lets a later drop
 * be traced to the table that holds the rows; a copy followed by a drop
 * and a rename back is SQLite's table rebuild (Alembic's batch mode),
 * which keeps every row.
 */
struct drop {
	char *schema;  /* as written, or NULL: the search path finds it */
	char *table;
	char *column;  /* NULL for a whole table */
	size_t seq;
};

struct move {
	char *schema;   /* from's, as written, or NULL */
	char *from, *to;
	size_t seq;
	size_t ncols;   /* a copy's select list: its items, 0 for `*` */
};

struct script_ops {
	struct drop *drops;
	size_t ndrops, drops_alloc;
	struct move *renames;   /* ALTER TABLE from RENAME TO to */
	size_t nrenames, renames_alloc;
	struct move *copies;    /* INSERT INTO to SELECT … FROM from */
	size_t ncopies, copies_alloc;
	size_t seq;
};

static void add_drop(struct script_ops *ops, char *schema, char *table,
		     char *column)
{
	CV_GROW(ops->drops, ops->ndrops + 1, ops->drops_alloc);
	ops->drops[ops->ndrops].schema = schema;
	ops->drops[ops->ndrops].table = table;
	ops->drops[ops->ndrops].column = column;
	ops->drops[ops->ndrops++].seq = ops->seq++;
}

static void add_move(struct move **list, size_t *n, size_t *alloc,
		     size_t *seq, char *from, char *to)
{
	CV_GROW(*list, *n + 1, *alloc);
	(*list)[*n].schema = NULL;
	(*list)[*n].from = from;
	(*list)[*n].to = to;
	(*list)[*n].ncols = 0;
	(*list)[(*n)++].seq = (*seq)++;
}

/* `[IF EXISTS] name`: the name, possibly schema-qualified. */
static char *target(struct scanner *s)
{
	char *name = qualified(s);

	if (is_word(name, "IF")) {
		free(name);
		free(next_token(s)); /* EXISTS */
		name = qualified(s);
	}
	return name;
}

/*
 * One action of `ALTER TABLE t ...` from its first word (taken); returns
 * the token after it.  `DROP [COLUMN] [IF EXISTS] c` and `RENAME TO u`
 * are kept.
 */
static char *alter_action(struct scanner *s, char *tok, const char *schema,
			  const char *table, struct script_ops *ops)
{
	char *col;

	if (is_word(tok, "RENAME")) {
		free(tok);
		tok = next_token(s);
		if (!is_word(tok, "TO"))
			return tok;	/* RENAME [COLUMN] a TO b */
		free(tok);
		add_move(&ops->renames, &ops->nrenames, &ops->renames_alloc,
			 &ops->seq, cv_strdup(table), qualified(s));
		ops->renames[ops->nrenames - 1].schema =
			schema ? cv_strdup(schema) : NULL;
		return next_token(s);
	}
	if (!is_word(tok, "DROP"))
		return tok;
	free(tok);
	col = next_token(s);
	if (is_word(col, "COLUMN")) {
		free(col);
		col = next_token(s);
	}
	if (is_word(col, "IF")) {
		free(col);
		free(next_token(s));
		col = next_token(s);
	}
	if (is_word(col, "CONSTRAINT"))
		free(col);
	else
		add_drop(ops, schema ? cv_strdup(schema) : NULL,
			 cv_strdup(table), col);
	return next_token(s);
}

/*
 * `INSERT [OR …] INTO x [(cols)] SELECT … FROM t` up to the `;` (the
 * INSERT taken): a copy of t's rows into x when nothing at the top level
 * filters, limits, joins or combines them.
 */
static char *insert_copy(struct scanner *s, struct script_ops *ops)
{
	char *tok = next_token(s), *into = NULL, *from = NULL;
	bool whole = true, listing = false;
	size_t items = 0;	/* the select list's, 0 while it is `*` */
	int depth = 0;

	while (*tok && strcmp(tok, ";") != 0 && !is_word(tok, "INTO")) {
		free(tok);
		tok = next_token(s);
	}
	if (is_word(tok, "INTO")) {
		into = qualified(s);
		free(tok);
		tok = next_token(s);
	}
	while (into && *tok && strcmp(tok, ";") != 0) {
		if (strcmp(tok, "(") == 0)
			depth++;
		else if (strcmp(tok, ")") == 0 && depth)
			depth--;
		else if (depth == 0 && is_word(tok, "FROM") && !from) {
			from = qualified(s);
			listing = false;
		} else if (depth == 0 && is_word(tok, "SELECT") && !from) {
			listing = true;
		} else if (listing && depth == 0 && strcmp(tok, "*") != 0) {
			/* Each top-level comma starts another item. */
			if (!items || strcmp(tok, ",") == 0)
				items++;
			if (is_word(tok, "DISTINCT"))
				whole = false;
		} else if (depth == 0 &&
			 (is_word(tok, "WHERE") || is_word(tok, "LIMIT") ||
			  is_word(tok, "JOIN") || is_word(tok, "UNION") ||
			  is_word(tok, "EXCEPT") || is_word(tok, "INTERSECT") ||
			  is_word(tok, "GROUP") || is_word(tok, "HAVING") ||
			  (strcmp(tok, ",") == 0 && from)))
			whole = false;
		free(tok);
		tok = next_token(s);
	}
	if (into && from && whole) {
		add_move(&ops->copies, &ops->ncopies, &ops->copies_alloc,
			 &ops->seq, from, into);
		ops->copies[ops->ncopies - 1].ncols = items;
	} else {
		free(from);
		free(into);
	}
	return tok;
}

/* Skips to the `,` or `;` that ends an action (or to the end). */
static char *action_end(struct scanner *s, char *tok)
{
	int depth = 0;

	while (*tok && !(depth == 0 && (strcmp(tok, ",") == 0 ||
					strcmp(tok, ";") == 0))) {
		if (strcmp(tok, "(") == 0)
			depth++;
		else if (strcmp(tok, ")") == 0 && depth)
			depth--;
		free(tok);
		tok = next_token(s);
	}
	return tok;
}

/*
 * Finds `DROP TABLE [IF EXISTS] t [, u ...]` and
 * `ALTER TABLE t DROP [COLUMN] c [, DROP [COLUMN] d ...]` (PostgreSQL
 * takes several of each in one statement), `ALTER TABLE t RENAME TO u`
 * and whole-table copies.
 */
static void scan_ops(const char *sql, bool fold, struct script_ops *ops)
{
	struct scanner s = { sql, fold, NULL };
	char *tok = next_token(&s);

	while (*tok) {
		if (is_word(tok, "INSERT") || is_word(tok, "REPLACE")) {
			free(tok);
			tok = insert_copy(&s, ops);
			continue;
		}
		if (is_word(tok, "DROP")) {
			char *name;

			free(tok);
			tok = next_token(&s);
			if (!is_word(tok, "TABLE"))
				continue;
			free(tok);
			name = target(&s);
			add_drop(ops, take_schema(&s), name, NULL);
			tok = next_token(&s);
			while (strcmp(tok, ",") == 0) {
				free(tok);
				name = qualified(&s);
				add_drop(ops, take_schema(&s), name, NULL);
				tok = next_token(&s);
			}
			continue;
		}
		if (is_word(tok, "ALTER")) {
			char *table, *schema;

			free(tok);
			tok = next_token(&s);
			if (!is_word(tok, "TABLE"))
				continue;
			free(tok);
			table = target(&s);
			if (is_word(table, "ONLY")) {
				free(table);
				table = target(&s);
			}
			schema = take_schema(&s);
			tok = next_token(&s);
			for (;;) {
				tok = alter_action(&s, tok, schema, table, ops);
				tok = action_end(&s, tok);
				if (strcmp(tok, ",") != 0)
					break;
				free(tok);
				tok = next_token(&s);
			}
			free(table);
			free(schema);
			continue;
		}
		free(tok);
		tok = next_token(&s);
	}
	free(tok);
	free(s.schema);
}

static void ops_release(struct script_ops *ops)
{
	size_t i;

	for (i = 0; i < ops->ndrops; i++) {
		free(ops->drops[i].schema);
		free(ops->drops[i].table);
		free(ops->drops[i].column);
	}
	for (i = 0; i < ops->nrenames; i++) {
		free(ops->renames[i].schema);
		free(ops->renames[i].from);
		free(ops->renames[i].to);
	}
	for (i = 0; i < ops->ncopies; i++) {
		free(ops->copies[i].from);
		free(ops->copies[i].to);
	}
	free(ops->drops);
	free(ops->renames);
	free(ops->copies);
}

/* The newest move in list to `name` before seq, or NULL. */
static const struct move *moved_to(const struct move *list, size_t n,
				   const char *name, size_t seq)
{
	const struct move *found = NULL;
	size_t i;

	for (i = 0; i < n && list[i].seq < seq; i++)
		if (strcasecmp(list[i].to, name) == 0)
			found = &list[i];
	return found;
}

/*
 * The table whose rows a drop of `name` at `seq` destroys: a name made by
 * an earlier rename is traced back to the table it was (which holds the
 * rows the plan can see).  *seq becomes the time that table had its name.
 */
static const char *live_name(const struct script_ops *ops, const char *name,
			     const char **schema, size_t *seq)
{
	const struct move *r;
	size_t hops = 0;

	while ((r = moved_to(ops->renames, ops->nrenames, name, *seq)) &&
	       hops++ < ops->nrenames) {
		name = r->from;
		*schema = r->schema;
		*seq = r->seq;
	}
	return name;
}

/*
 * SQLite's rebuild of table t: every row of t copied into x, t dropped,
 * then x renamed to t.  No row is lost, so it is no data loss.
 */
static bool rebuilt(const struct script_ops *ops, const struct drop *d,
		    size_t ncols)
{
	size_t i, k;

	for (i = 0; i < ops->ncopies; i++) {
		const struct move *c = &ops->copies[i];

		if (c->seq > d->seq || strcasecmp(c->from, d->table) != 0)
			continue;
		/* Every column, or fewer: a column left out of the copy
		 * is dropped with its values. */
		if (c->ncols && c->ncols < ncols)
			continue;
		for (k = 0; k < ops->nrenames; k++) {
			const struct move *r = &ops->renames[k];

			if (r->seq > d->seq && strcasecmp(r->from, c->to) == 0 &&
			    strcasecmp(r->to, d->table) == 0)
				return true;
		}
	}
	return false;
}

static int count_cols(void *p, const char *const *cols, const size_t *lens,
		      int ncols)
{
	(void)cols;
	(void)lens;
	*(size_t *)p = (size_t)ncols;
	return 0;
}

/* The live table's number of columns (it holds rows: one is read). */
static int column_count(struct cv_ctx *ctx, const char *schema,
			const char *table, size_t *out, struct cv_error *err)
{
	struct cv_buf b = CV_BUF_INIT;
	int ret;

	cv_buf_adds(&b, "SELECT * FROM ");
	if (schema) {
		ctx->be->quote_ident(&b, schema);
		cv_buf_addch(&b, '.');
	}
	ctx->be->quote_ident(&b, table);
	cv_buf_adds(&b, " LIMIT 1");
	ret = ctx->be->query(ctx->db, b.buf, NULL, 0, count_cols, out, err);
	cv_buf_release(&b);
	return ret;
}

int cv_schema_several_rows(struct cv_error *err, const char *table,
			   size_t n, const char *rows)
{
	return cv_error_set(err, CV_EINVAL,
			    "version table '%s' has %zu rows (%s); converge manages one linear chain%s",
			    table, n, rows,
			    strcmp(table, ALEMBIC_TABLE) == 0 ?
			    " (Alembic branches are not supported)" :
			    " and keeps one row");
}

/*
 * Marks a step whose SQL drops a table or column holding rows: no inverse
 * brings those rows back, only the snapshot.
 */
int cv_schema_mark_data_loss(struct cv_ctx *ctx, struct cv_plan *plan,
			     struct cv_step *st, const struct cv_stmt *stmts,
			     size_t n, struct cv_error *err)
{
	struct cv_buf note = CV_BUF_INIT;
	size_t i, k;
	int ret = 0;

	for (i = 0; i < n && ctx->db; i++) {
		struct script_ops ops;

		if (!stmts[i].script)
			continue;
		memset(&ops, 0, sizeof(ops));
		scan_ops(stmts[i].sql, strcmp(ctx->be->name, "postgres") == 0,
			 &ops);
		if (ops.ndrops && !ret)
			ret = cv_db_scope(ctx, true, err);
		for (k = 0; k < ops.ndrops && !ret; k++) {
			const struct drop *d = &ops.drops[k];
			bool rows = false;
			size_t seq = d->seq;
			const char *schema = d->schema;
			const char *table = live_name(&ops, d->table, &schema,
						      &seq);

			ret = ctx->be->table_rows(ctx->db, schema, table,
						  &rows, err);
			if (ret || !rows)
				continue;
			if (!d->column) {
				size_t ncols = 0;

				ret = column_count(ctx, schema, table, &ncols,
						   err);
				if (ret || rebuilt(&ops, d, ncols))
					continue;
			}
			if (note.len)
				cv_buf_adds(&note, "; ");
			/* "app." before the table when the SQL names its schema. */
			if (d->column)
				cv_buf_addf(&note,
					    "drops column %s%s%s.%s (table '%s' holds rows)",
					    d->schema ? d->schema : "",
					    d->schema ? "." : "", d->table,
					    d->column, table);
			else if (strcmp(table, d->table) != 0)
				cv_buf_addf(&note,
					    "drops table %s%s%s (renamed from %s, which holds rows)",
					    d->schema ? d->schema : "",
					    d->schema ? "." : "", d->table, table);
			else
				cv_buf_addf(&note,
					    "drops table %s%s%s, which holds rows",
					    d->schema ? d->schema : "",
					    d->schema ? "." : "", d->table);
		}
		ops_release(&ops);
	}
	if (!ret)
		ret = cv_db_scope(ctx, false, err);
	if (!ret && note.len) {
		st->flags |= CV_STEP_DATA_LOSS;
		st->note = cv_arena_strdup(&plan->arena, note.buf);
	}
	cv_buf_release(&note);
	return ret;
}

static const struct cv_applied *applied(const struct cv_state *live,
					const char *id)
{
	struct cv_applied key = { id, NULL };

	if (!live->napplied)
		return NULL;
	return bsearch(&key, live->applied, live->napplied, sizeof(key),
		       applied_cmp);
}

static long position(const struct cv_state *want, const char *id)
{
	size_t i;

	if (!id)
		return -1;
	for (i = 0; i < want->nchain; i++)
		if (strcmp(want->chain[i].id, id) == 0)
			return (long)i;
	return -2;
}

static int check_drift(struct cv_ctx *ctx, long upto, struct cv_arena *a,
		       struct cv_error *err)
{
	const struct cv_state *w = ctx->want;
	struct cv_buf msg = CV_BUF_INIT;
	long i;
	int ret = 0;

	for (i = 0; i <= upto; i++) {
		const struct cv_migration *m = &w->chain[i];
		const struct cv_applied *ap = applied(ctx->live, m->id);
		const char *up = cv_sql_text_for(&m->up, ctx->be->name);
		const char *sum;

		if (!ap || !ap->checksum || !up)
			continue;
		sum = cv_sha256_hex(up, strlen(up), a);
		if (strcmp(sum, ap->checksum) == 0)
			continue;
		if (msg.len)
			cv_buf_adds(&msg, "; ");
		cv_buf_addf(&msg, "'%s' (%s: applied with %.19s…, file now %.19s…)",
			    m->id, m->path, ap->checksum, sum);
		ret = CV_EDRIFT;
	}
	if (ret)
		cv_error_set(err, ret,
			     "drift: revision%s changed after %s applied: %s; restore the original file or add a new revision",
			     strchr(msg.buf, ';') ? "s" : "",
			     strchr(msg.buf, ';') ? "they were" : "it was", msg.buf);
	cv_buf_release(&msg);
	return ret;
}

/* Characters, as PostgreSQL counts them in a UTF-8 varchar. */
static size_t utf8_length(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/*
 * Every revision id the plan writes into the version table must fit its
 * column (alembic_version's is VARCHAR(32)): found at plan, not half-way
 * through an apply.
 */
static int check_width(struct cv_ctx *ctx, long from, long to,
		       struct cv_error *err)
{
	const struct cv_state *w = ctx->want;
	size_t width = ctx->live->schema_width;
	long i, lo = from < to ? from + 1 : to, hi = from < to ? to : from - 1;

	for (i = lo < 0 ? 0 : lo; width && i <= hi; i++) {
		const struct cv_migration *m = &w->chain[i];
		size_t len = utf8_length(m->id);

		if (len <= width)
			continue;
		cv_error_set(err, CV_EINVAL,
			     "revision id '%s' has %zu characters; %s.%s holds at most %zu: use a shorter id, or widen the column (ALTER TABLE %s ALTER COLUMN %s TYPE VARCHAR(%zu))",
			     cv_shorten(m->id), len, ctx->schema_table,
			     cv_schema_version_column(ctx->schema_table), width,
			     ctx->schema_table,
			     cv_schema_version_column(ctx->schema_table),
			     len > 64 ? len : 64);
		cv_error_set_mark(err, &m->mark);
		return CV_EINVAL;
	}
	return 0;
}

/* The key a revision gives the backend's SQL under (load_sql). */
static const char *dialect_key(const struct cv_ctx *ctx)
{
	return strcmp(ctx->be->name, "postgres") == 0 ? "postgresql" :
							ctx->be->name;
}

static const char *sql_for(struct cv_ctx *ctx, const struct cv_migration *m,
			   const struct cv_sql_text *t, const char *what,
			   struct cv_error *err)
{
	const char *s = cv_sql_text_for(t, ctx->be->name);

	if (!s && !cv_sql_text_empty(t)) {
		cv_error_set(err, CV_EINVAL,
			     "revision '%s' has no '%s' for %s (it gives '%s' for %s only)",
			     m->id, what, dialect_key(ctx), what,
			     t->sqlite ? "sqlite" : "postgresql");
		cv_error_set_mark(err, t->mark.file ? &t->mark : &m->mark);
	}
	return s;
}

/* A revision's step: the version moves from `before` to `after`; the
 * checksum is always that of `up`, as converge_migrations records it. */
static struct cv_step *revision_step(struct cv_plan *plan,
				     const struct cv_migration *m,
				     enum cv_phase phase, enum cv_action act,
				     const char *before, const char *after,
				     const char *up)
{
	const char *key = "version";
	struct cv_step *st = cv_plan_add(plan, phase, act, "schema", m->id);

	st->detail = m->description;
	cv_step_set_key(plan, st, &key, 1);
	st->before = before;
	st->after = after;
	st->checksum = cv_sha256_hex(up, strlen(up), &plan->arena);
	if (!m->transaction)
		st->flags |= CV_STEP_NO_TXN;
	return st;
}

static int step_up(struct cv_ctx *ctx, struct cv_plan *plan, long i,
		   const struct version_sql *vs, struct cv_error *err)
{
	const struct cv_migration *m = &ctx->want->chain[i];
	const char *prev = i ? ctx->want->chain[i - 1].id : NULL;
	const char *up, *down, *verify;
	struct cv_step *st;

	up = sql_for(ctx, m, &m->up, "up", err);
	if (!up) {
		if (cv_sql_text_empty(&m->up)) {
			cv_error_set(err, CV_EINVAL,
				     "revision '%s' has no 'up' for %s",
				     m->id, dialect_key(ctx));
			cv_error_set_mark(err, &m->mark);
		}
		return CV_EINVAL;
	}
	down = sql_for(ctx, m, &m->down, "down", err);
	if (!down && !cv_sql_text_empty(&m->down))
		return CV_EINVAL;
	verify = sql_for(ctx, m, &m->verify, "verify", err);
	if (!verify && !cv_sql_text_empty(&m->verify))
		return CV_EINVAL;

	st = revision_step(plan, m, CV_PHASE_SCHEMA_UP, CV_ACT_UP, prev, m->id,
			   up);
	add_script(plan, st, up, false);
	if (verify)
		add_script(plan, st, verify, false);
	set_version(plan, st, vs, prev, m->id, false);
	if (down) {
		add_script(plan, st, down, true);
		set_version(plan, st, vs, m->id, prev, true);
	} else {
		st->flags |= CV_STEP_IRREVERSIBLE;
		st->note = "no 'down': a rollback of this run is refused";
	}
	return cv_schema_mark_data_loss(ctx, plan, st, st->fwd, st->nfwd, err);
}

static int step_down(struct cv_ctx *ctx, struct cv_plan *plan, long i,
		     const struct version_sql *vs, struct cv_error *err)
{
	const struct cv_migration *m = &ctx->want->chain[i];
	const char *prev = i ? ctx->want->chain[i - 1].id : NULL;
	const char *up, *down, *verify;
	struct cv_step *st;

	/*
	 * Not CV_EREFUSED: that is a guard's refusal, for which the verbs
	 * show the plan that would break it; here there is no plan to show.
	 */
	down = sql_for(ctx, m, &m->down, "down", err);
	if (!down) {
		if (cv_sql_text_empty(&m->down))
			cv_error_set(err, CV_EINVAL,
				     "cannot go down through revision '%s' (%s): it has no 'down', so it is irreversible",
				     m->id, m->path);
		return err->code ? err->code : CV_EINVAL;
	}
	up = sql_for(ctx, m, &m->up, "up", err);
	if (!up)
		return CV_EINVAL;
	verify = sql_for(ctx, m, &m->verify, "verify", err);
	if (!verify && !cv_sql_text_empty(&m->verify))
		return CV_EINVAL;

	st = revision_step(plan, m, CV_PHASE_SCHEMA_DOWN, CV_ACT_DOWN, m->id,
			   prev, up);
	add_script(plan, st, down, false);
	set_version(plan, st, vs, m->id, prev, false);
	add_script(plan, st, up, true);
	if (verify)
		add_script(plan, st, verify, true);
	set_version(plan, st, vs, prev, m->id, true);
	return cv_schema_mark_data_loss(ctx, plan, st, st->fwd, st->nfwd, err);
}

static int schema_diff(struct cv_ctx *ctx, struct cv_plan *plan,
		       struct cv_error *err)
{
	const struct cv_state *w = ctx->want;
	const char *live = ctx->live->schema_version;
	struct version_sql vs;
	long from, to, i;
	int ret;

	plan->schema_table = cv_arena_strdup(&plan->arena, ctx->schema_table);
	plan->schema_from = cv_arena_strdup(&plan->arena, live);
	plan->schema_to = cv_arena_strdup(&plan->arena, w->schema_version);
	from = position(w, live);
	/* Drift too: status reports it and plans the other sections. */
	if (from == -2)
		return cv_error_set(err, CV_EDRIFT,
				    "the database is at revision '%s' (table '%s'), which is not in the migration chain in %s",
				    cv_shorten(live), ctx->schema_table,
				    w->migrations_dir);
	to = position(w, w->schema_version);
	ret = check_drift(ctx, from, &plan->arena, err);
	if (!ret)
		ret = check_width(ctx, from, to, err);
	if (ret)
		return ret;
	if (from != to)
		version_sql(&vs, plan, ctx->be, ctx->schema_table);
	for (i = from + 1; i <= to; i++)
		if ((ret = step_up(ctx, plan, i, &vs, err)))
			return ret;
	for (i = from; i > to; i--)
		if ((ret = step_down(ctx, plan, i, &vs, err)))
			return ret;
	return 0;
}

static int schema_journal(struct cv_ctx *ctx, const struct cv_step *st,
			  const char *run_id, struct cv_error *err)
{
	static const char *const cols[] = {
		"id", "checksum", "applied_at", "run_id"
	};
	char now[CV_TIME_LEN];
	struct cv_arena a = CV_ARENA_INIT;
	const char *p[4];
	int ret;

	cv_time_format(cv_time_now(), now);
	p[0] = st->object;
	p[1] = st->checksum;
	p[2] = now;
	p[3] = run_id;
	ret = ctx->be->exec(ctx->db,
			    cv_sql_delete(ctx->be, &a, "converge_migrations",
					  cols, 1), p, 1, err);
	if (!ret && st->action == CV_ACT_UP && st->checksum)
		ret = ctx->be->exec(ctx->db,
				    cv_sql_insert(ctx->be, &a,
						  "converge_migrations", cols, 4),
				    p, 4, err);
	cv_arena_release(&a);
	return ret;
}

static int schema_ensure(struct cv_ctx *ctx, struct cv_error *err)
{
	const char *table = ctx->schema_table;
	struct cv_buf b = CV_BUF_INIT;
	int ret;

	if (!table)
		return 0;
	/* Never recreated: IF NOT EXISTS leaves an Alembic table alone. */
	if (strcmp(table, ALEMBIC_TABLE) == 0) {
		cv_buf_adds(&b, "CREATE TABLE IF NOT EXISTS alembic_version (\n"
				"  version_num VARCHAR(32) NOT NULL,\n"
				"  CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n"
				")");
	} else {
		cv_buf_adds(&b, "CREATE TABLE IF NOT EXISTS ");
		ctx->be->quote_ident(&b, table);
		cv_buf_adds(&b, " (version TEXT NOT NULL)");
	}
	ret = ctx->be->exec_script(ctx->db, b.buf, err);
	cv_buf_release(&b);
	return ret;
}

const struct cv_kind cv_kind_schema = {
	.name = "schema",
	.section = CV_SEC_SCHEMA,
	.load = schema_load,
	.validate = schema_validate,
	.read = schema_read,
	.digest = schema_digest,
	.diff = schema_diff,
	.value = schema_value,
	.journal = schema_journal,
	.ensure = schema_ensure,
};
