/*
 * The `roles` kind: application roles, their parents and their direct
 * permissions, kept in rbac_roles, rbac_role_parents and
 * rbac_role_permissions, with the view rbac_effective_permissions.
 *
 * A role is one object: adding or removing it writes all three tables in
 * one step, and a change is one step listing what it adds and removes.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "converge/emit.h"
#include "converge/journal.h"
#include "converge/kind.h"

static const char T_ROLES[] = "rbac_roles";
static const char T_PARENTS[] = "rbac_role_parents";
static const char T_PERMS[] = "rbac_role_permissions";
static const char V_EFFECTIVE[] = "rbac_effective_permissions";
static const char *const tables[] = {
	T_ROLES, T_PARENTS, T_PERMS, V_EFFECTIVE, NULL
};

static const char *const role_keys[] = {
	"description", "inherits", "permissions", NULL
};

/* word(:word)*, a word being letters, digits, '_', '-' or '.'; the last
 * segment may be '*'. */
static bool valid_permission(const char *p)
{
	const char *seg = p;

	for (;;) {
		const char *s = seg;

		if (*s == '*') {
			s++;
			if (*s == '\0')
				return seg != p || true;
			return false;
		}
		while (isalnum((unsigned char)*s) || *s == '_' || *s == '-' ||
		       *s == '.')
			s++;
		if (s == seg)
			return false;
		if (*s == '\0')
			return true;
		if (*s != ':')
			return false;
		seg = s + 1;
	}
}

/* The cv_load_names check for permissions. */
static int check_permission(const char *s, const struct cv_mark *mark,
			    struct cv_diags *diags)
{
	if (valid_permission(s))
		return 0;
	cv_diag_error(diags, mark,
		      "invalid permission '%s' (expected word(:word)*, with '*' allowed as the last segment)",
		      cv_shorten(s));
	return CV_EINVAL;
}

static int roles_load(struct cv_state *want, const struct cv_node *node,
		      struct cv_loader *ld)
{
	int ret = 0;

	if (cv_yaml_is_null(node))
		return 0;
	if (cv_yaml_expect(node, CV_NODE_MAP, "roles", ld->diags)) {
		want->unknown |= CV_SEC_ROLES;
		return CV_EINVAL;
	}
	cv_yaml_each(r, node) {
		struct cv_role *role;
		const struct cv_node *v;
		bool body;

		if (cv_check_name(r->key, "role name", &r->key_mark, ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		/* A role whose body cannot be read is defined all the same:
		 * the grants that name it are not wrong. */
		body = !cv_yaml_is_null(r);
		if (body && cv_yaml_expect(r, CV_NODE_MAP, r->key, ld->diags)) {
			ret = CV_EINVAL;
			body = false;
		}
		CV_GROW(want->roles, want->nroles + 1, want->roles_alloc);
		role = &want->roles[want->nroles++];
		memset(role, 0, sizeof(*role));
		role->name = r->key;
		role->mark = r->key_mark;
		role->description = "";
		if (!body)
			continue;
		if (cv_yaml_check_keys(r, role_keys, "a role", ld->diags))
			ret = CV_EINVAL;
		if ((v = cv_yaml_get(r, "description")) && !cv_yaml_is_null(v) &&
		    cv_yaml_as_string(v, "description", ld->diags,
				      &role->description))
			ret = CV_EINVAL;
		if (cv_load_names_at(cv_yaml_get(r, "inherits"), "inherits",
				     "role", NULL, ld, &role->parents,
				     &role->parent_marks, &role->nparents))
			ret = CV_EINVAL;
		if (cv_load_names(cv_yaml_get(r, "permissions"), "permissions",
				  "permission", check_permission, ld,
				  &role->perms, &role->nperms))
			ret = CV_EINVAL;
	}
	return ret;
}

static int role_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_role *)a)->name,
		      ((const struct cv_role *)b)->name);
}

enum { WHITE, GREY, BLACK };

/* Depth-first search for inheritance cycles; reports each once. */
static int find_cycle(const struct cv_state *s, size_t i, unsigned char *color,
		      size_t *path, size_t depth, struct cv_diags *diags)
{
	const struct cv_role *r = &s->roles[i];
	size_t k;
	int ret = 0;

	color[i] = GREY;
	path[depth] = i;
	for (k = 0; k < r->nparents; k++) {
		const struct cv_role *p = cv_state_role(s, r->parents[k]);
		size_t j;

		if (!p)
			continue;
		j = (size_t)(p - s->roles);
		if (color[j] == GREY) {
			struct cv_buf b = CV_BUF_INIT;
			size_t d = 0;

			while (path[d] != j)
				d++;
			for (; d <= depth; d++) {
				cv_buf_adds(&b, s->roles[path[d]].name);
				cv_buf_adds(&b, " -> ");
			}
			cv_buf_adds(&b, p->name);
			cv_diag_error(diags, &p->mark,
				      "roles inherit in a cycle: %s", b.buf);
			cv_buf_release(&b);
			ret = CV_EINVAL;
		} else if (color[j] == WHITE &&
			   find_cycle(s, j, color, path, depth + 1, diags)) {
			ret = CV_EINVAL;
		}
	}
	color[i] = BLACK;
	return ret;
}

static int roles_validate(struct cv_state *want, struct cv_arena *strings,
			  struct cv_diags *diags)
{
	unsigned char *color;
	size_t *path, i, k;
	int ret;

	(void)strings;
	cv_sort_stable(want->roles, want->nroles, sizeof(*want->roles),
		       role_cmp);
	ret = cv_report_twice(want->roles, want->nroles, sizeof(*want->roles),
			      offsetof(struct cv_role, name),
			      offsetof(struct cv_role, mark), "role", diags);
	for (i = 0; i < want->nroles && !(want->unknown & CV_SEC_ROLES); i++) {
		const struct cv_role *r = &want->roles[i];

		for (k = 0; k < r->nparents; k++)
			if (!cv_state_role(want, r->parents[k])) {
				cv_report_undefined(diags, r->parent_marks ?
					&r->parent_marks[k] : &r->mark,
					cv_suggest_among(r->parents[k],
						want->roles, want->nroles,
						sizeof(*want->roles),
						offsetof(struct cv_role, name)),
					"role '%s' inherits from undefined role '%s'",
					cv_shorten(r->name),
					cv_shorten(r->parents[k]));
				ret = CV_EINVAL;
			}
	}
	color = cv_calloc(want->nroles + 1, 1);
	path = cv_calloc(want->nroles + 1, sizeof(*path));
	for (i = 0; i < want->nroles; i++)
		if (color[i] == WHITE &&
		    find_cycle(want, i, color, path, 0, diags))
			ret = CV_EINVAL;
	free(color);
	free(path);
	return ret;
}

/* Reading the live roles: three sorted reads merged by role name. */
struct reader {
	struct cv_ctx *ctx;
	const char **items;  /* parents or permissions being gathered */
	size_t nr, alloc;
	const char *role;    /* whose items they are */
	bool parents;
};

static int read_role(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct reader *rd = p;
	struct cv_state *live = rd->ctx->live;
	struct cv_role *r;

	(void)ncols;
	CV_GROW(live->roles, live->nroles + 1, live->roles_alloc);
	r = &live->roles[live->nroles++];
	memset(r, 0, sizeof(*r));
	r->name = cv_arena_strndup(rd->ctx->live_arena, cols[0], lens[0]);
	r->description = cols[1] ?
		cv_arena_strndup(rd->ctx->live_arena, cols[1], lens[1]) : "";
	return 0;
}

static void flush_items(struct reader *rd)
{
	struct cv_role *r;
	const char **items;

	if (!rd->role || !rd->nr)
		goto out;
	r = (struct cv_role *)cv_state_role(rd->ctx->live, rd->role);
	if (!r)
		goto out; /* orphan row: the role itself is gone */
	items = cv_arena_memdup(rd->ctx->live_arena, rd->items,
				rd->nr * sizeof(*items));
	cv_sort(items, rd->nr, sizeof(*items), cv_strptr_cmp);
	if (rd->parents) {
		r->parents = items;
		r->nparents = rd->nr;
	} else {
		r->perms = items;
		r->nperms = rd->nr;
	}
out:
	rd->nr = 0;
	rd->role = NULL;
}

static int read_item(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct reader *rd = p;

	(void)ncols;
	if (!cols[0] || !cols[1])
		return 0;
	if (!rd->role || strcmp(rd->role, cols[0]) != 0) {
		flush_items(rd);
		rd->role = cv_arena_strndup(rd->ctx->live_arena, cols[0],
					    lens[0]);
	}
	CV_GROW(rd->items, rd->nr + 1, rd->alloc);
	rd->items[rd->nr++] = cv_arena_strndup(rd->ctx->live_arena, cols[1],
					       lens[1]);
	return 0;
}

static bool sorted_roles(const struct cv_state *s)
{
	size_t i;

	for (i = 1; i < s->nroles; i++)
		if (strcmp(s->roles[i - 1].name, s->roles[i].name) >= 0)
			return false;
	return true;
}

static int roles_read(struct cv_ctx *ctx, struct cv_error *err)
{
	static const char *const role_cols[] = { "name", "description" };
	static const char *const parent_cols[] = { "role", "parent" };
	static const char *const perm_cols[] = { "role", "permission" };
	struct reader rd = { ctx, NULL, 0, 0, NULL, false };
	char *sql = NULL;
	bool exists = false;
	int ret;

	ctx->live->sections |= CV_SEC_ROLES;
	if (!ctx->db)
		return 0;
	ret = ctx->be->table_exists(ctx->db, T_ROLES, &exists, err);
	if (ret || !exists)
		return ret;
	ctx->live->stored |= CV_SEC_ROLES;
	sql = cv_sql_select(ctx->be, T_ROLES, role_cols, 2, role_cols, 1);
	ret = ctx->be->query(ctx->db, sql, NULL, 0, read_role, &rd, err);
	free(sql);
	if (ret)
		goto out;
	if (!sorted_roles(ctx->live))
		cv_sort(ctx->live->roles, ctx->live->nroles,
		      sizeof(*ctx->live->roles), role_cmp);

	sql = cv_sql_select(ctx->be, T_PARENTS, parent_cols, 2, parent_cols, 1);
	rd.parents = true;
	ret = ctx->be->query(ctx->db, sql, NULL, 0, read_item, &rd, err);
	free(sql);
	if (ret)
		goto out;
	flush_items(&rd);

	sql = cv_sql_select(ctx->be, T_PERMS, perm_cols, 2, perm_cols, 1);
	rd.parents = false;
	ret = ctx->be->query(ctx->db, sql, NULL, 0, read_item, &rd, err);
	free(sql);
	if (ret)
		goto out;
	flush_items(&rd);
out:
	free(rd.items);
	return ret;
}

static void canon_role(struct cv_buf *b, const struct cv_role *r)
{
	size_t i;

	cv_canon_add(b, r->description);
	cv_buf_addch(b, '|');
	for (i = 0; i < r->nparents; i++)
		cv_canon_add(b, r->parents[i]);
	cv_buf_addch(b, '|');
	for (i = 0; i < r->nperms; i++)
		cv_canon_add(b, r->perms[i]);
}

static void roles_digest(const struct cv_state *live, struct cv_digest *d)
{
	struct cv_buf b = CV_BUF_INIT;
	size_t i;

	for (i = 0; i < live->nroles; i++) {
		cv_buf_reset(&b);
		cv_canon_add(&b, live->roles[i].name);
		canon_role(&b, &live->roles[i]);
		cv_digest_str(d, b.buf);
	}
	cv_buf_release(&b);
}

static const char *role_value(const struct cv_role *r, struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *s;

	if (!r)
		return NULL;
	canon_role(&b, r);
	s = cv_arena_strndup(a, cv_buf_str(&b), b.len);
	cv_buf_release(&b);
	return s;
}

static const char *roles_value(struct cv_ctx *ctx, const char *const *key,
			       size_t nkey, struct cv_arena *arena)
{
	if (nkey != 1)
		return NULL;
	return role_value(cv_state_role(ctx->live, key[0]), arena);
}

/* The statements of one plan, built once and shared by every step. */
struct role_sql {
	const char *ins_role, *del_role, *set_desc;
	const char *ins_parent, *del_parent, *del_parents;
	const char *ins_perm, *del_perm, *del_perms;
};

static void role_sql_init(struct role_sql *q, const struct cv_backend *be,
			  struct cv_arena *a)
{
	static const char *const rcols[] = { "name", "description" };
	static const char *const pcols[] = { "role", "parent" };
	static const char *const mcols[] = { "role", "permission" };
	static const char *const desc[] = { "description" };

	q->ins_role = cv_sql_insert(be, a, T_ROLES, rcols, 2);
	q->del_role = cv_sql_delete(be, a, T_ROLES, rcols, 1);
	q->set_desc = cv_sql_update(be, a, T_ROLES, desc, 1, rcols, 1);
	q->ins_parent = cv_sql_insert(be, a, T_PARENTS, pcols, 2);
	q->del_parent = cv_sql_delete(be, a, T_PARENTS, pcols, 2);
	q->del_parents = cv_sql_delete(be, a, T_PARENTS, pcols, 1);
	q->ins_perm = cv_sql_insert(be, a, T_PERMS, mcols, 2);
	q->del_perm = cv_sql_delete(be, a, T_PERMS, mcols, 2);
	q->del_perms = cv_sql_delete(be, a, T_PERMS, mcols, 1);
}

typedef struct cv_stmt *(*add_fn)(struct cv_plan *, struct cv_step *,
				  const char *, const char *const *, size_t);

/* Statements that create role r (to `add` list). */
static void emit_create(struct cv_plan *plan, struct cv_step *st, add_fn add,
			const struct role_sql *q, const struct cv_role *r)
{
	const char *p[2] = { r->name, r->description };
	size_t i;

	add(plan, st, q->ins_role, p, 2);
	for (i = 0; i < r->nparents; i++) {
		p[1] = r->parents[i];
		add(plan, st, q->ins_parent, p, 2);
	}
	for (i = 0; i < r->nperms; i++) {
		p[1] = r->perms[i];
		add(plan, st, q->ins_perm, p, 2);
	}
}

static void emit_delete(struct cv_plan *plan, struct cv_step *st, add_fn add,
			const struct role_sql *q, const struct cv_role *r)
{
	const char *p[1] = { r->name };

	add(plan, st, q->del_perms, p, 1);
	add(plan, st, q->del_parents, p, 1);
	add(plan, st, q->del_role, p, 1);
}

static void list_detail(struct cv_buf *b, const char *label,
			const char *const *items, size_t n)
{
	size_t i;

	if (!n)
		return;
	if (b->len)
		cv_buf_adds(b, "; ");
	cv_buf_adds(b, label);
	for (i = 0; i < n; i++) {
		cv_buf_adds(b, i ? ", " : " ");
		cv_buf_adds(b, items[i]);
	}
}

static struct cv_step *new_step(struct cv_plan *plan, enum cv_phase phase,
				enum cv_action act, const struct cv_role *r,
				const struct cv_role *before,
				const struct cv_role *after, struct cv_buf *detail)
{
	struct cv_step *st = cv_plan_add(plan, phase, act, "roles",
					 cv_arena_strdup(&plan->arena, r->name));

	cv_step_set_key(plan, st, &r->name, 1);
	st->before = role_value(before, &plan->arena);
	st->after = role_value(after, &plan->arena);
	if (detail->len)
		st->detail = cv_arena_strdup(&plan->arena, detail->buf);
	return st;
}

/* Items of a (sorted) not in b (sorted). */
static size_t minus(const char *const *a, size_t na, const char *const *b,
		    size_t nb, const char **out)
{
	size_t i = 0, j = 0, n = 0;

	while (i < na) {
		int c = j < nb ? strcmp(a[i], b[j]) : -1;

		if (c < 0)
			out[n++] = a[i++];
		else if (c > 0)
			j++;
		else
			i++, j++;
	}
	return n;
}

static void diff_change(struct cv_plan *plan, const struct role_sql *q,
			const struct cv_role *w, const struct cv_role *l)
{
	size_t np = w->nparents + l->nparents, nm = w->nperms + l->nperms;
	const char **add_par = cv_calloc(np + 1, sizeof(char *));
	const char **del_par = cv_calloc(np + 1, sizeof(char *));
	const char **add_perm = cv_calloc(nm + 1, sizeof(char *));
	const char **del_perm = cv_calloc(nm + 1, sizeof(char *));
	size_t nap, ndp, nam, ndm, i;
	bool desc = strcmp(w->description, l->description) != 0;
	struct cv_buf detail = CV_BUF_INIT;
	struct cv_step *st;
	const char *p[2] = { w->name, NULL };

	nap = minus(w->parents, w->nparents, l->parents, l->nparents, add_par);
	ndp = minus(l->parents, l->nparents, w->parents, w->nparents, del_par);
	nam = minus(w->perms, w->nperms, l->perms, l->nperms, add_perm);
	ndm = minus(l->perms, l->nperms, w->perms, w->nperms, del_perm);
	if (!nap && !ndp && !nam && !ndm && !desc)
		goto out;

	list_detail(&detail, "+ inherits", add_par, nap);
	list_detail(&detail, "- inherits", del_par, ndp);
	list_detail(&detail, "+ permissions", add_perm, nam);
	list_detail(&detail, "- permissions", del_perm, ndm);
	if (desc) {
		if (detail.len)
			cv_buf_adds(&detail, "; ");
		cv_buf_addf(&detail, "description '%s'", cv_shorten(w->description));
	}
	st = new_step(plan, CV_PHASE_ADD, CV_ACT_UPDATE, w, l, w, &detail);

	/* Removals first, so that the forward and inverse mirror. */
	for (i = 0; i < ndm; i++) {
		p[1] = del_perm[i];
		cv_step_fwd(plan, st, q->del_perm, p, 2);
		cv_step_inv(plan, st, q->ins_perm, p, 2);
	}
	for (i = 0; i < ndp; i++) {
		p[1] = del_par[i];
		cv_step_fwd(plan, st, q->del_parent, p, 2);
		cv_step_inv(plan, st, q->ins_parent, p, 2);
	}
	for (i = 0; i < nap; i++) {
		p[1] = add_par[i];
		cv_step_fwd(plan, st, q->ins_parent, p, 2);
		cv_step_inv(plan, st, q->del_parent, p, 2);
	}
	for (i = 0; i < nam; i++) {
		p[1] = add_perm[i];
		cv_step_fwd(plan, st, q->ins_perm, p, 2);
		cv_step_inv(plan, st, q->del_perm, p, 2);
	}
	if (desc) {
		const char *d[2] = { w->description, w->name };

		cv_step_fwd(plan, st, q->set_desc, d, 2);
		d[0] = l->description;
		cv_step_inv(plan, st, q->set_desc, d, 2);
	}
out:
	cv_buf_release(&detail);
	free(add_par);
	free(del_par);
	free(add_perm);
	free(del_perm);
}

/* A role the plan removes, and the live grants that still name it. */
struct holder_role {
	const char *role;
	struct cv_buf names;  /* the first few, for the error */
	size_t n;
	struct cv_buf rows;   /* the same for the rows of store.grants */
	size_t nrows;
};

struct holders {
	struct holder_role *roles;  /* sorted by role */
	size_t nroles;
	struct cv_grant *revoked;   /* sorted: the grants the plan revokes */
	size_t nrevoked;
	/* The rows of store.grants the plan sets (their subjects), sorted
	 * by subject. */
	struct cv_grant *set;
	size_t nset;
	char *column;  /* "table.role" once the bound table was read */
	const char *dflt;  /* the binding's default, which is no grant */
};

static int grant_qcmp(const void *a, const void *b)
{
	return cv_grant_cmp(a, b);
}

static int holder_cmp(const void *a, const void *b)
{
	return strcmp(((const struct holder_role *)a)->role,
		      ((const struct holder_role *)b)->role);
}

/* A row of rbac_grants (role, subject, scope): a holder of a removed
 * role, unless the plan revokes it too. */
static int add_holder(void *p, const char *const *cols, const size_t *lens,
		      int ncols)
{
	struct holders *h = p;
	struct holder_role rk, *r;
	struct cv_grant k;

	(void)lens;
	(void)ncols;
	if (!cols[0])
		return 0;
	rk.role = cols[0];
	r = bsearch(&rk, h->roles, h->nroles, sizeof(rk), holder_cmp);
	if (!r)
		return 0;
	memset(&k, 0, sizeof(k));
	k.subject = cols[1] ? cols[1] : "";
	k.role = r->role;
	k.scope = cols[2] ? cols[2] : "";
	if (h->nrevoked && bsearch(&k, h->revoked, h->nrevoked,
				   sizeof(k), grant_qcmp))
		return 0;
	if (r->n++ < 5) {
		if (r->names.len)
			cv_buf_adds(&r->names, ", ");
		cv_buf_adds(&r->names, k.subject);
		if (*k.scope)
			cv_buf_addf(&r->names, " (%s)", k.scope);
	}
	return 0;
}

static int subject_qcmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_grant *)a)->subject,
		      ((const struct cv_grant *)b)->subject);
}

/*
 * A row of store.grants' table (role, subject): a holder of a removed
 * role, unless the plan sets it too, as a grant the plan revokes is
 * none (a rollback sets a row back to what it held before the run, the
 * roles it removes being the run's).  A row with no subject is one too:
 * nothing revokes it.  A row holding the binding's default holds no
 * grant, as with the grants kind.
 */
static int add_row_holder(void *p, const char *const *cols,
			  const size_t *lens, int ncols)
{
	struct holders *h = p;
	struct holder_role rk, *r;
	struct cv_grant k;

	(void)lens;
	(void)ncols;
	memset(&k, 0, sizeof(k));
	k.subject = cols[1];
	rk.role = cols[0];
	if (!rk.role || (h->dflt && strcmp(rk.role, h->dflt) == 0))
		return 0;
	if (k.subject && h->nset &&
	    bsearch(&k, h->set, h->nset, sizeof(k), subject_qcmp))
		return 0;
	r = bsearch(&rk, h->roles, h->nroles, sizeof(rk), holder_cmp);
	if (!r)
		return 0;
	if (r->nrows++ < 5) {
		if (r->rows.len)
			cv_buf_adds(&r->rows, ", ");
		if (k.subject)
			cv_buf_addf(&r->rows, "'%s'", cv_shorten(k.subject));
		else
			cv_buf_adds(&r->rows, "a row with no subject");
	}
	return 0;
}

static bool removes_role(const struct cv_step *st)
{
	return st->action == CV_ACT_DELETE && st->nkey == 1 &&
	       strcmp(st->kind, "roles") == 0;
}

/* The roles the plan removes (sorted) and the grants it revokes. */
static void holders_init(struct holders *h, const struct cv_plan *plan)
{
	size_t i;

	memset(h, 0, sizeof(*h));
	for (i = 0; i < plan->nr; i++)
		if (removes_role(&plan->steps[i]))
			h->nroles++;
	/* No role goes: no grant or row is looked up, so none is collected
	 * (a plan revoking 100,000 grants would copy them all). */
	if (!h->nroles)
		return;
	h->roles = cv_calloc(h->nroles, sizeof(*h->roles));
	h->revoked = cv_calloc(plan->nr, sizeof(*h->revoked));
	h->set = cv_calloc(plan->nr, sizeof(*h->set));
	h->nroles = 0;
	for (i = 0; i < plan->nr; i++) {
		const struct cv_step *st = &plan->steps[i];

		if (removes_role(st)) {
			h->roles[h->nroles++].role = st->key[0];
		} else if (strcmp(st->kind, "grants") == 0 && st->nkey == 3 &&
			   strcmp(st->key[0], "@store") == 0) {
			h->set[h->nset++].subject = st->key[2];
		} else if (st->action == CV_ACT_DELETE && st->nkey == 3 &&
			   strcmp(st->kind, "grants") == 0) {
			h->revoked[h->nrevoked].subject = st->key[0];
			h->revoked[h->nrevoked].role = st->key[1];
			h->revoked[h->nrevoked].scope = st->key[2];
			h->nrevoked++;
		}
	}
	if (h->nroles > 1)
		cv_sort(h->roles, h->nroles, sizeof(*h->roles), holder_cmp);
	if (h->nrevoked > 1)
		cv_sort(h->revoked, h->nrevoked, sizeof(*h->revoked),
			grant_qcmp);
	if (h->nset > 1)
		cv_sort(h->set, h->nset, sizeof(*h->set), subject_qcmp);
}

static void holders_release(struct holders *h)
{
	size_t i;

	for (i = 0; i < h->nroles; i++) {
		cv_buf_release(&h->roles[i].names);
		cv_buf_release(&h->roles[i].rows);
	}
	free(h->roles);
	free(h->revoked);
	free(h->set);
	free(h->column);
}

/*
 * The binding whose rows may hold a role: the manifests', a saved plan's
 * or the run's; a rollback of a run that made none looks for the newest
 * one in the journal, as later runs may have granted the role there.
 */
static int bound_store(struct cv_ctx *ctx, struct cv_arena *a,
		       const struct cv_grants_store **out,
		       struct cv_error *err)
{
	const char *enc = NULL;
	int ret;

	*out = ctx->grants_store;
	if (*out || ctx->want)
		return 0;
	ret = cv_journal_grants_store(ctx->db, a, &enc, err);
	if (!ret && enc)
		*out = cv_grants_store_decode(enc, a);
	return ret;
}

/*
 * Reads the bound table once: every row (its subject and role, as text)
 * that holds a role the plan removes.  A table or column that is not
 * there (a binding since dropped) holds none.
 */
static int read_row_holders(struct cv_ctx *ctx, struct holders *h,
			    struct cv_error *err)
{
	struct cv_arena a;
	const struct cv_grants_store *gs;
	struct cv_buf b = CV_BUF_INIT;
	bool have_s = false, have_r = false;
	int ret;

	cv_arena_init(&a);
	ret = bound_store(ctx, &a, &gs, err);
	if (!ret && gs)
		ret = ctx->be->column_exists(ctx->db, gs->table, gs->subject,
					     &have_s, err);
	if (!ret && have_s)
		ret = ctx->be->column_exists(ctx->db, gs->table, gs->role,
					     &have_r, err);
	if (!ret && have_r) {
		h->dflt = gs->dflt;
		cv_buf_adds(&b, "SELECT CAST(");
		ctx->be->quote_ident(&b, gs->role);
		cv_buf_adds(&b, " AS TEXT), CAST(");
		ctx->be->quote_ident(&b, gs->subject);
		cv_buf_adds(&b, " AS TEXT) FROM ");
		ctx->be->quote_ident(&b, gs->table);
		ret = ctx->be->query(ctx->db, b.buf, NULL, 0, add_row_holder,
				     h, err);
		if (ret)
			cv_error_prefix(err, "reading the roles in %s (store.grants)",
					cv_shorten(gs->table));
		else
			h->column = cv_asprintf("%s.%s", cv_shorten(gs->table),
						cv_shorten(gs->role));
		h->dflt = NULL;	/* it lives in `a` */
	}
	cv_buf_release(&b);
	cv_arena_release(&a);
	return ret;
}

/* The error for a removed role that grants or bound rows still hold. */
static int still_held(const struct cv_ctx *ctx, const struct holders *h,
		      const struct holder_role *r, struct cv_error *err)
{
	if (r->n)
		return cv_error_set(err, CV_EINVAL,
				    "cannot remove role '%s': %zu grant%s still reference%s it (%s%s); %s",
				    cv_shorten(r->role), r->n, r->n == 1 ? "" : "s",
				    r->n == 1 ? "s" : "",
				    r->names.buf, r->n > 5 ? ", …" : "",
				    ctx->want ?
				    "revoke them in the manifests' grants section" :
				    "roll back the run that made them first");
	return cv_error_set(err, CV_EINVAL,
			    "cannot remove role '%s': %zu row%s of %s still hold%s it (%s%s); %s",
			    cv_shorten(r->role), r->nrows,
			    r->nrows == 1 ? "" : "s", h->column,
			    r->nrows == 1 ? "s" : "", r->rows.buf,
			    r->nrows > 5 ? ", …" : "",
			    ctx->want ?
			    "revoke them in the manifests' grants section" :
			    "give those rows another role first, or roll back the run that granted it");
}

/*
 * A role that live grants still reference cannot go unless the same plan
 * revokes them, which it does whenever the manifests own the grants.  A
 * rollback is held to this too: undoing an older run must not leave the
 * grants a later run made naming a role that is gone.  The grants, and
 * the rows of store.grants' table, are read once for every role the plan
 * removes (not a query a role), and the first such role in the plan's
 * order is named.
 */
static int roles_verify(struct cv_ctx *ctx, const struct cv_plan *plan,
			struct cv_error *err)
{
	static const char *const cols[] = { "role", "subject", "scope" };
	struct holders h;
	bool exists = false;
	char *sql = NULL;
	size_t i;
	int ret;

	if (!ctx->db)
		return 0;
	holders_init(&h, plan);
	if (!h.nroles) {
		holders_release(&h);
		return 0;
	}
	ret = ctx->be->table_exists(ctx->db, "rbac_grants", &exists, err);
	if (!ret && exists) {
		sql = cv_sql_select(ctx->be, "rbac_grants", cols, 3, NULL, 0);
		ret = ctx->be->query(ctx->db, sql, NULL, 0, add_holder, &h,
				     err);
	}
	if (!ret)
		ret = read_row_holders(ctx, &h, err);
	for (i = 0; i < plan->nr && !ret; i++) {
		const struct cv_step *st = &plan->steps[i];
		struct holder_role rk, *r;

		if (!removes_role(st))
			continue;
		rk.role = st->key[0];
		r = bsearch(&rk, h.roles, h.nroles, sizeof(rk), holder_cmp);
		if (r && (r->n || r->nrows))
			ret = still_held(ctx, &h, r, err);
	}
	free(sql);
	holders_release(&h);
	return ret;
}

static int roles_diff(struct cv_ctx *ctx, struct cv_plan *plan,
		      struct cv_error *err)
{
	const struct cv_state *w = ctx->want, *l = ctx->live;
	struct role_sql q;
	size_t i = 0, j = 0;

	(void)err;
	role_sql_init(&q, ctx->be, &plan->arena);
	while (i < w->nroles || j < l->nroles) {
		int c = i >= w->nroles ? 1 : j >= l->nroles ? -1 :
			strcmp(w->roles[i].name, l->roles[j].name);
		struct cv_buf detail = CV_BUF_INIT;
		struct cv_step *st;

		if (c < 0) {
			const struct cv_role *r = &w->roles[i++];

			list_detail(&detail, "inherits", r->parents, r->nparents);
			list_detail(&detail, "permissions", r->perms, r->nperms);
			st = new_step(plan, CV_PHASE_ADD, CV_ACT_CREATE, r,
				      NULL, r, &detail);
			emit_create(plan, st, cv_step_fwd, &q, r);
			emit_delete(plan, st, cv_step_inv, &q, r);
		} else if (c > 0) {
			const struct cv_role *r = &l->roles[j++];

			st = new_step(plan, CV_PHASE_REMOVE, CV_ACT_DELETE, r,
				      r, NULL, &detail);
			emit_delete(plan, st, cv_step_fwd, &q, r);
			emit_create(plan, st, cv_step_inv, &q, r);
		} else {
			diff_change(plan, &q, &w->roles[i++], &l->roles[j++]);
		}
		cv_buf_release(&detail);
	}
	return 0;
}

static int roles_ensure(struct cv_ctx *ctx, struct cv_error *err)
{
	const struct cv_backend *be = ctx->be;
	struct cv_buf b = CV_BUF_INIT;
	bool have_view = false;
	int ret;

	/* CREATE VIEW IF NOT EXISTS is SQLite's alone: ask first. */
	ret = be->table_exists(ctx->db, V_EFFECTIVE,
			       &have_view, err);
	if (ret)
		return ret;
	cv_buf_addf(&b,
		    "CREATE TABLE IF NOT EXISTS rbac_roles (\n"
		    "  name TEXT NOT NULL PRIMARY KEY,\n"
		    "  description TEXT NOT NULL DEFAULT ''\n"
		    ")%s;\n"
		    "CREATE TABLE IF NOT EXISTS rbac_role_parents (\n"
		    "  role TEXT NOT NULL,\n"
		    "  parent TEXT NOT NULL,\n"
		    "  PRIMARY KEY (role, parent)\n"
		    ")%s;\n"
		    "CREATE TABLE IF NOT EXISTS rbac_role_permissions (\n"
		    "  role TEXT NOT NULL,\n"
		    "  permission TEXT NOT NULL,\n"
		    "  PRIMARY KEY (role, permission)\n"
		    ")%s;\n",
		    be->table_suffix, be->table_suffix, be->table_suffix);
	if (!have_view)
		cv_buf_adds(&b,
			    "CREATE VIEW rbac_effective_permissions AS\n"
			    "  WITH RECURSIVE ancestry(role, ancestor) AS (\n"
			    "    SELECT name, name FROM rbac_roles\n"
			    "    UNION\n"
			    "    SELECT a.role, p.parent FROM ancestry a\n"
			    "      JOIN rbac_role_parents p ON p.role = a.ancestor\n"
			    "  )\n"
			    "  SELECT DISTINCT a.role AS role, rp.permission AS permission\n"
			    "  FROM ancestry a JOIN rbac_role_permissions rp ON rp.role = a.ancestor;\n");
	ret = be->exec_script(ctx->db, b.buf, err);
	cv_buf_release(&b);
	return ret;
}

static void emit_list(struct cv_emit *e, const char *key,
		      const char *const *items, size_t n)
{
	size_t i;

	if (!n)
		return;
	cv_emit_str(e, key);
	cv_emit_seq(e, true);
	for (i = 0; i < n; i++)
		cv_emit_str(e, items[i]);
	cv_emit_end(e);
}

static void roles_inspect(const struct cv_state *live, struct cv_emit *e)
{
	size_t i;

	cv_emit_str(e, "roles");
	cv_emit_map(e, false);
	for (i = 0; i < live->nroles; i++) {
		const struct cv_role *r = &live->roles[i];

		cv_emit_str(e, r->name);
		cv_emit_map(e, !*r->description && !r->nparents && !r->nperms);
		if (*r->description)
			cv_emit_pair(e, "description", r->description);
		emit_list(e, "inherits", r->parents, r->nparents);
		emit_list(e, "permissions", r->perms, r->nperms);
		cv_emit_end(e);
	}
	cv_emit_end(e);
}

const struct cv_kind cv_kind_roles = {
	.name = "roles",
	.section = CV_SEC_ROLES,
	.load = roles_load,
	.validate = roles_validate,
	.read = roles_read,
	.digest = roles_digest,
	.diff = roles_diff,
	.verify = roles_verify,
	.value = roles_value,
	.ensure = roles_ensure,
	.inspect = roles_inspect,
	.tables = tables,
};
