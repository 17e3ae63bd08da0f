/*
 * The `entitlements` kind: which organisation may use which module.
 *
 * Manifests define modules (some always on, some with submodules, named
 * "module.sub"), plans (lists of modules) and orgs (a plan and overrides).
 * The database keeps the definitions in ent_modules, ent_plans and
 * ent_plan_modules, and what each org gets in ent_orgs and
 * ent_org_modules: one row per module or submodule an org has enabled, or
 * has disabled by an override, with where it comes from.  The view
 * ent_effective_modules lists the enabled ones.  Every change of an org's
 * rows is logged in ent_events by the step that makes it, and the step's
 * inverse logs the change back: the log only grows.
 *
 * Orgs are what grows (100,000 orgs of 20 modules are 2,000,000 rows), so
 * that side is written for it: one sorted read per table, the rows an org
 * gets from its plan computed once per plan, a sorted merge per org, and
 * SQL texts built once per plan so the backend prepares each once.
 *
 * Steps: one per module (with its submodules), one per plan (with its
 * list), one per org (its plan and all its rows, with their events).
 * Removals are phase 2, orgs first; additions and changes phase 5,
 * modules first.
 */
#include <stdlib.h>
#include <string.h>

#include "converge/emit.h"
#include "converge/kind.h"

static const char T_MODULES[] = "ent_modules";
static const char T_PLANS[] = "ent_plans";
static const char T_PLAN_MODULES[] = "ent_plan_modules";
static const char T_ORGS[] = "ent_orgs";
static const char T_ORG_MODULES[] = "ent_org_modules";
static const char T_EVENTS[] = "ent_events";
static const char V_EFFECTIVE[] = "ent_effective_modules";
static const char *const tables[] = {
	T_MODULES, T_PLANS, T_PLAN_MODULES, T_ORGS, T_ORG_MODULES, T_EVENTS,
	V_EFFECTIVE, NULL
};

/* Row values, shared so that most comparisons are pointer comparisons. */
static const char S_ENABLED[] = "enabled";
static const char S_DISABLED[] = "disabled";
static const char S_PLAN[] = "plan";
static const char S_ALWAYS_ON[] = "always_on";
static const char S_OVERRIDE[] = "override";

/* Rows of one org written by one INSERT when it comes or goes whole. */
#define ROWS_PER_STMT 32

static bool same(const char *a, const char *b)
{
	return a == b || cv_streq0(a, b);
}

/* ---- lookups ---------------------------------------------------------- */

static int module_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_ent_module *)a)->key,
		      ((const struct cv_ent_module *)b)->key);
}

static int module_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cv_ent_module *)elem)->key);
}

static const struct cv_ent_module *find_module(const struct cv_state *s,
					       const char *key)
{
	if (!s->nent_modules)
		return NULL;
	return bsearch(key, s->ent_modules, s->nent_modules,
		       sizeof(*s->ent_modules), module_key_cmp);
}

static int plan_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_ent_plan *)a)->key,
		      ((const struct cv_ent_plan *)b)->key);
}

static int plan_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cv_ent_plan *)elem)->key);
}

static const struct cv_ent_plan *find_plan(const struct cv_state *s,
					   const char *key)
{
	if (!s->nent_plans || !key)
		return NULL;
	return bsearch(key, s->ent_plans, s->nent_plans,
		       sizeof(*s->ent_plans), plan_key_cmp);
}

static int org_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_ent_org *)a)->org,
		      ((const struct cv_ent_org *)b)->org);
}

static int org_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cv_ent_org *)elem)->org);
}

static const struct cv_ent_org *find_org(const struct cv_state *s,
					 const char *org)
{
	if (!s->nent_orgs)
		return NULL;
	return bsearch(org, s->ent_orgs, s->nent_orgs, sizeof(*s->ent_orgs),
		       org_key_cmp);
}

static int row_cmp(const void *a, const void *b)
{
	const struct cv_ent_row *x = a, *y = b;
	int c = x->org == y->org ? 0 : strcmp(x->org, y->org);

	return c ? c : strcmp(x->module, y->module);
}

static int row_module_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cv_ent_row *)elem)->module);
}

static int override_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cv_ent_override *)a)->module,
		      ((const struct cv_ent_override *)b)->module);
}

/* ---- loading ---------------------------------------------------------- */

/* Module and submodule names: text without '.', which joins them. */
static bool bad_name(const char *s, const char *what,
		     const struct cv_mark *mark, struct cv_diags *diags)
{
	if (cv_check_name(s, what, mark, diags))
		return true;
	if (strchr(s, '.')) {
		cv_diag_error(diags, mark,
			      "%s '%s' must not contain '.' (a submodule is listed in its module's 'submodules' and named 'module.sub')",
			      what, cv_shorten(s));
		return true;
	}
	return false;
}

static int load_submodules(struct cv_state *want, const struct cv_node *v,
			   const char *module, struct cv_loader *ld,
			   const char ***out, struct cv_mark **marks,
			   size_t *nout)
{
	const char **subs;
	size_t n = 0, k;
	int ret = 0;

	subs = cv_arena_alloc(ld->strings, (v->count + 1) * sizeof(*subs));
	*marks = cv_arena_alloc(ld->strings, (v->count + 1) * sizeof(**marks));
	cv_yaml_each(s, v) {
		const char *name, *key;

		if (cv_yaml_as_string(s, "submodule", ld->diags, &name)) {
			want->unknown |= CV_SEC_ENTITLEMENTS;
			ret = CV_EINVAL;
			continue;
		}
		if (bad_name(name, "submodule name", &s->mark, ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		key = cv_arena_printf(ld->strings, "%s.%s", module, name);
		for (k = 0; k < n; k++)
			if (strcmp(subs[k], key) == 0)
				break;
		if (k < n) {
			cv_diag_error(ld->diags, &s->mark,
				      "module '%s' lists submodule '%s' twice",
				      cv_shorten(module), cv_shorten(name));
			ret = CV_EINVAL;
			continue;
		}
		(*marks)[n] = s->mark;
		subs[n++] = key;
	}
	*out = subs;
	*nout = n;
	return ret;
}

static int load_modules(struct cv_state *want, const struct cv_node *n,
			struct cv_loader *ld)
{
	static const char *const keys[] = { "always_on", "submodules", NULL };
	int ret = 0;

	if (!n || cv_yaml_is_null(n))
		return 0;
	if (cv_yaml_expect(n, CV_NODE_MAP, "modules", ld->diags)) {
		want->unknown |= CV_SEC_ENTITLEMENTS;
		return CV_EINVAL;
	}
	cv_yaml_each(e, n) {
		const struct cv_node *v = NULL;
		struct cv_ent_module *m;
		struct cv_mark *marks = NULL;
		const char **subs = NULL;
		bool always_on = false;
		size_t nsubs = 0, k;

		if (bad_name(e->key, "module name", &e->key_mark, ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		if (!cv_yaml_is_null(e)) {
			if (cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags)) {
				want->unknown |= CV_SEC_ENTITLEMENTS;
				ret = CV_EINVAL;
				continue;
			}
			if (cv_yaml_check_keys(e, keys, "a module", ld->diags))
				ret = CV_EINVAL;
			v = cv_yaml_get(e, "always_on");
			if (v && !cv_yaml_is_null(v) &&
			    cv_yaml_as_bool(v, "always_on", ld->diags,
					    &always_on))
				ret = CV_EINVAL;
			v = cv_yaml_get(e, "submodules");
			if (v && cv_yaml_is_null(v))
				v = NULL;
			if (v && cv_yaml_expect(v, CV_NODE_SEQ, "submodules",
						ld->diags)) {
				want->unknown |= CV_SEC_ENTITLEMENTS;
				ret = CV_EINVAL;
				v = NULL;
			}
		}
		if (v && load_submodules(want, v, e->key, ld, &subs, &marks,
					 &nsubs))
			ret = CV_EINVAL;
		CV_GROW(want->ent_modules, want->nent_modules + 1 + nsubs,
			want->ent_modules_alloc);
		m = &want->ent_modules[want->nent_modules++];
		memset(m, 0, sizeof(*m));
		m->key = e->key;
		m->always_on = always_on;
		m->mark = e->key_mark;
		for (k = 0; k < nsubs; k++) {
			struct cv_ent_module *s =
				&want->ent_modules[want->nent_modules++];

			memset(s, 0, sizeof(*s));
			s->key = subs[k];
			s->parent = e->key;
			s->always_on = always_on;
			s->mark = marks[k];
		}
		/* m is still valid: the array had room for the submodules. */
		if (nsubs)
			cv_sort(subs, nsubs, sizeof(*subs), cv_strptr_cmp);
		m->subs = subs;
		m->nsubs = nsubs;
	}
	return ret;
}

static int load_plans(struct cv_state *want, const struct cv_node *n,
		      struct cv_loader *ld)
{
	int ret = 0;

	if (!n || cv_yaml_is_null(n))
		return 0;
	if (cv_yaml_expect(n, CV_NODE_MAP, "plans", ld->diags)) {
		want->unknown |= CV_SEC_ENTITLEMENTS;
		return CV_EINVAL;
	}
	CV_GROW(want->ent_plans, want->nent_plans + n->count,
		want->ent_plans_alloc);
	cv_yaml_each(e, n) {
		struct cv_ent_plan *p;
		size_t i = 0;
		bool body;

		if (cv_check_name(e->key, "plan name", &e->key_mark,
				  ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		/* A plan whose list cannot be read is defined all the same:
		 * the orgs on it are not wrong. */
		body = !cv_yaml_is_null(e);
		if (body && cv_yaml_expect(e, CV_NODE_SEQ, e->key, ld->diags)) {
			ret = CV_EINVAL;
			body = false;
		}
		p = &want->ent_plans[want->nent_plans++];
		memset(p, 0, sizeof(*p));
		p->key = e->key;
		p->mark = e->key_mark;
		p->listed = true;
		if (!body)
			continue;
		p->modules = cv_arena_alloc(ld->strings,
					    (e->count + 1) * sizeof(*p->modules));
		p->marks = cv_arena_alloc(ld->strings,
					  (e->count + 1) * sizeof(*p->marks));
		cv_yaml_each(item, e) {
			const char *s;

			if (cv_yaml_as_string(item, "module", ld->diags, &s)) {
				ret = CV_EINVAL;
				continue;
			}
			p->marks[i] = item->mark;
			p->modules[i++] = s;
		}
		p->nmodules = i;
	}
	return ret;
}

static int load_overrides(const struct cv_node *v, struct cv_loader *ld,
			  struct cv_ent_org *o)
{
	size_t i = 0;
	int ret = 0;

	if (cv_yaml_expect(v, CV_NODE_MAP, "modules", ld->diags))
		return CV_EINVAL;
	o->overrides = cv_arena_alloc(ld->strings,
				      (v->count + 1) * sizeof(*o->overrides));
	cv_yaml_each(m, v) {
		struct cv_ent_override *ov = &o->overrides[i];
		const char *s;

		if (cv_check_name(m->key, "module", &m->key_mark, ld->diags) ||
		    cv_yaml_as_string(m, m->key, ld->diags, &s)) {
			ret = CV_EINVAL;
			continue;
		}
		if (strcmp(s, S_ENABLED) != 0 && strcmp(s, S_DISABLED) != 0) {
			cv_diag_error(ld->diags, &m->mark,
				      "org '%s': '%s' must be 'enabled' or 'disabled', not '%s'",
				      cv_shorten(o->org), cv_shorten(m->key),
				      cv_shorten(s));
			ret = CV_EINVAL;
			continue;
		}
		ov->module = m->key;
		ov->enabled = strcmp(s, S_ENABLED) == 0;
		ov->mark = m->key_mark;
		i++;
	}
	/* Keys of one mapping are unique: the parser refuses duplicates. */
	cv_sort(o->overrides, i, sizeof(*o->overrides), override_cmp);
	o->noverrides = i;
	return ret;
}

static int load_orgs(struct cv_state *want, const struct cv_node *n,
		     struct cv_loader *ld)
{
	static const char *const keys[] = { "plan", "modules", NULL };
	int ret = 0;

	if (!n || cv_yaml_is_null(n))
		return 0;
	if (cv_yaml_expect(n, CV_NODE_MAP, "orgs", ld->diags))
		return CV_EINVAL;
	CV_GROW(want->ent_orgs, want->nent_orgs + n->count,
		want->ent_orgs_alloc);
	cv_yaml_each(e, n) {
		const struct cv_node *v;
		struct cv_ent_org o;

		memset(&o, 0, sizeof(o));
		if (cv_check_name(e->key, "org name", &e->key_mark, ld->diags)) {
			ret = CV_EINVAL;
			continue;
		}
		o.org = e->key;
		o.mark = e->key_mark;
		o.listed = true;
		if (!cv_yaml_is_null(e)) {
			if (cv_yaml_expect(e, CV_NODE_MAP, e->key, ld->diags)) {
				ret = CV_EINVAL;
				continue;
			}
			if (cv_yaml_check_keys(e, keys, "an org", ld->diags))
				ret = CV_EINVAL;
			v = cv_yaml_get(e, "plan");
			if (v && !cv_yaml_is_null(v)) {
				if (cv_yaml_as_string(v, "plan", ld->diags,
						      &o.plan))
					ret = CV_EINVAL;
				o.plan_mark = v->mark;
			}
			v = cv_yaml_get(e, "modules");
			if (v && !cv_yaml_is_null(v) &&
			    load_overrides(v, ld, &o))
				ret = CV_EINVAL;
		}
		want->ent_orgs[want->nent_orgs++] = o;
	}
	return ret;
}

static int ent_load(struct cv_state *want, const struct cv_node *node,
		    struct cv_loader *ld)
{
	static const char *const keys[] = { "modules", "plans", "orgs", NULL };
	int ret = 0;

	if (cv_yaml_is_null(node))
		return 0;
	if (cv_yaml_expect(node, CV_NODE_MAP, "entitlements", ld->diags)) {
		want->unknown |= CV_SEC_ENTITLEMENTS;
		return CV_EINVAL;
	}
	if (cv_yaml_check_keys(node, keys, "entitlements", ld->diags))
		ret = CV_EINVAL;
	/* Each part is loaded whatever the others gave: one run shows
	 * every error. */
	if (load_modules(want, cv_yaml_get(node, "modules"), ld))
		ret = CV_EINVAL;
	if (load_plans(want, cv_yaml_get(node, "plans"), ld))
		ret = CV_EINVAL;
	if (load_orgs(want, cv_yaml_get(node, "orgs"), ld))
		ret = CV_EINVAL;
	return ret;
}

/* ---- validation ------------------------------------------------------- */

/*
 * "undefined module 'crmm' (did you mean 'crm'?)"; returns CV_EINVAL, or
 * 0 without a word when the entitlements could not all be read (what is
 * missing may define the name).
 */
static int undefined(const struct cv_state *want, struct cv_diags *diags,
		     const struct cv_mark *mark, const char *who,
		     const char *what, const char *name,
		     const char *const *known)
{
	if (want->unknown & CV_SEC_ENTITLEMENTS)
		return 0;
	cv_report_undefined(diags, mark, known ? cv_suggest(name, known) : NULL,
			    "%s names undefined %s '%s'", who, what,
			    cv_shorten(name));
	return CV_EINVAL;
}

struct ref {
	const char *key;
	struct cv_mark mark;
};

static int ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ref *)a)->key,
		      ((const struct ref *)b)->key);
}

/* Checks one plan's list and sorts it. */
static int validate_plan(const struct cv_state *want, struct cv_ent_plan *p,
			 const char *const *known, struct cv_diags *diags)
{
	struct ref *refs = cv_calloc(p->nmodules + 1, sizeof(*refs));
	char *who = cv_asprintf("plan '%s'", cv_shorten(p->key));
	size_t i, first = 0;
	int ret = 0;

	for (i = 0; i < p->nmodules; i++) {
		refs[i].key = p->modules[i];
		refs[i].mark = p->marks[i];
		if (!find_module(want, p->modules[i]) &&
		    undefined(want, diags, &p->marks[i], who, "module",
			      p->modules[i], known))
			ret = CV_EINVAL;
	}
	cv_sort_stable(refs, p->nmodules, sizeof(*refs), ref_cmp);
	for (i = 0; i < p->nmodules; i++) {
		const struct cv_ent_module *m = find_module(want, refs[i].key);
		struct ref key;

		if (i && strcmp(refs[first].key, refs[i].key) == 0) {
			cv_diag_error(diags, &refs[i].mark,
				      "plan '%s' lists '%s' twice (first at %s:%u:%u)",
				      cv_shorten(p->key), cv_shorten(refs[i].key),
				      refs[first].mark.file, refs[first].mark.line,
				      refs[first].mark.col);
			ret = CV_EINVAL;
		} else {
			first = i;
		}
		key.key = m ? m->parent : NULL;
		if (key.key && bsearch(&key, refs, p->nmodules, sizeof(*refs),
				       ref_cmp)) {
			cv_diag_error(diags, &refs[i].mark,
				      "plan '%s' lists submodule '%s' and its module '%s', which brings it already",
				      cv_shorten(p->key), cv_shorten(refs[i].key),
				      cv_shorten(m->parent));
			ret = CV_EINVAL;
		}
	}
	for (i = 0; i < p->nmodules; i++) {
		p->modules[i] = refs[i].key;
		p->marks[i] = refs[i].mark;
	}
	free(refs);
	free(who);
	return ret;
}

static int validate_org(const struct cv_state *want, const struct cv_ent_org *o,
			const char *const *modules, const char *const *plans,
			struct cv_diags *diags)
{
	char *who = cv_asprintf("org '%s'", cv_shorten(o->org));
	size_t i;
	int ret = 0;

	if (o->plan && !find_plan(want, o->plan) &&
	    undefined(want, diags, &o->plan_mark, who, "plan", o->plan, plans))
		ret = CV_EINVAL;
	for (i = 0; i < o->noverrides; i++) {
		const struct cv_ent_override *ov = &o->overrides[i];
		const struct cv_ent_module *m = find_module(want, ov->module);
		struct cv_ent_override key, *parent;

		if (!m) {
			if (undefined(want, diags, &ov->mark, who, "module",
				      ov->module, modules))
				ret = CV_EINVAL;
			continue;
		}
		if (!m->parent || !ov->enabled)
			continue;
		key.module = m->parent;
		parent = bsearch(&key, o->overrides, o->noverrides,
				 sizeof(key), override_cmp);
		if (parent && !parent->enabled) {
			cv_diag_error(diags, &ov->mark,
				      "org '%s' enables '%s' but disables its module '%s' (disabling a module disables its submodules)",
				      cv_shorten(o->org), cv_shorten(ov->module),
				      cv_shorten(m->parent));
			ret = CV_EINVAL;
		}
	}
	free(who);
	return ret;
}

static int ent_validate(struct cv_state *want, struct cv_arena *strings,
			struct cv_diags *diags)
{
	const char **modules, **plans;
	size_t i, n = 0, first = 0;
	int ret = 0;

	(void)strings;
	cv_sort_stable(want->ent_modules, want->nent_modules,
		       sizeof(*want->ent_modules), module_cmp);
	cv_sort_stable(want->ent_plans, want->nent_plans,
		       sizeof(*want->ent_plans), plan_cmp);
	cv_sort_stable(want->ent_orgs, want->nent_orgs,
		       sizeof(*want->ent_orgs), org_cmp);

	modules = cv_calloc(want->nent_modules + 1, sizeof(*modules));
	for (i = 0; i < want->nent_modules; i++) {
		const struct cv_ent_module *m = &want->ent_modules[i];

		if (i && strcmp(want->ent_modules[first].key, m->key) == 0) {
			const struct cv_mark *f = &want->ent_modules[first].mark;

			/* A module defined twice brings its submodules
			 * twice: one error, for the module. */
			if (!m->parent)
				cv_diag_error(diags, &m->mark,
					      "module '%s' is defined twice (first at %s:%u:%u)",
					      cv_shorten(m->key), f->file,
					      f->line, f->col);
			ret = CV_EINVAL;
			continue;
		}
		first = i;
		modules[n++] = m->key;
	}
	if (cv_report_twice(want->ent_plans, want->nent_plans,
			    sizeof(*want->ent_plans),
			    offsetof(struct cv_ent_plan, key),
			    offsetof(struct cv_ent_plan, mark), "plan", diags))
		ret = CV_EINVAL;
	if (cv_report_twice(want->ent_orgs, want->nent_orgs,
			    sizeof(*want->ent_orgs),
			    offsetof(struct cv_ent_org, org),
			    offsetof(struct cv_ent_org, mark), "org", diags))
		ret = CV_EINVAL;
	plans = cv_calloc(want->nent_plans + 1, sizeof(*plans));
	for (i = 0; i < want->nent_plans; i++) {
		struct cv_ent_plan *p = &want->ent_plans[i];

		plans[i] = p->key;
		if (validate_plan(want, p, modules, diags))
			ret = CV_EINVAL;
	}
	for (i = 0; i < want->nent_orgs; i++)
		if (validate_org(want, &want->ent_orgs[i], modules, plans,
				 diags))
			ret = CV_EINVAL;
	free(modules);
	free(plans);
	return ret;
}

/* ---- reading ---------------------------------------------------------- */

static bool truthy(const char *v)
{
	return v && (strcmp(v, "1") == 0 || strcmp(v, "t") == 0 ||
		     strcmp(v, "true") == 0 || strcmp(v, "TRUE") == 0);
}

static const char *bool_text(bool b)
{
	return b ? "1" : "0";
}

/* The shared spelling of a stored value, else a copy (lengths first:
 * this runs for each of millions of rows). */
static bool is(const char *s, size_t len, const char *word, size_t wlen)
{
	return len == wlen && memcmp(s, word, len) == 0;
}

static const char *status_of(const char *s, size_t len, struct cv_arena *a)
{
	if (!s)
		return NULL;
	if (is(s, len, S_ENABLED, sizeof(S_ENABLED) - 1))
		return S_ENABLED;
	if (is(s, len, S_DISABLED, sizeof(S_DISABLED) - 1))
		return S_DISABLED;
	return cv_arena_strndup(a, s, len);
}

static const char *source_of(const char *s, size_t len, struct cv_arena *a)
{
	if (!s)
		return NULL;
	if (is(s, len, S_PLAN, sizeof(S_PLAN) - 1))
		return S_PLAN;
	if (is(s, len, S_ALWAYS_ON, sizeof(S_ALWAYS_ON) - 1))
		return S_ALWAYS_ON;
	if (is(s, len, S_OVERRIDE, sizeof(S_OVERRIDE) - 1))
		return S_OVERRIDE;
	return cv_arena_strndup(a, s, len);
}

/* One ent_plan_modules row. */
struct pair {
	const char *plan;
	const char *module;
};

struct reader {
	struct cv_ctx *ctx;
	bool sorted;
	/* plan modules, before they are attached to their plans */
	struct pair *pairs;
	size_t npairs, pairs_alloc;
	/* org modules: the previous row's org, and a guess at the module */
	const char *org;
	size_t org_len;
	size_t hint;
};

/* A module name as the live modules spell it (shared), else a copy. */
static const char *intern_module(struct reader *rd, const char *s, size_t len)
{
	const struct cv_state *live = rd->ctx->live;
	const struct cv_ent_module *m;

	if (!s)
		return "";
	/* Rows come sorted by module: the next row usually names the
	 * module after the previous one. */
	if (rd->hint < live->nent_modules &&
	    strcmp(live->ent_modules[rd->hint].key, s) == 0) {
		rd->hint++;
		return live->ent_modules[rd->hint - 1].key;
	}
	m = find_module(live, s);
	if (m) {
		rd->hint = (size_t)(m - live->ent_modules) + 1;
		return m->key;
	}
	return cv_arena_strndup(rd->ctx->live_arena, s, len);
}

static int read_module(void *p, const char *const *cols, const size_t *lens,
		       int ncols)
{
	struct reader *rd = p;
	struct cv_state *live = rd->ctx->live;
	struct cv_arena *a = rd->ctx->live_arena;
	struct cv_ent_module *m;

	(void)ncols;
	CV_GROW(live->ent_modules, live->nent_modules + 1,
		live->ent_modules_alloc);
	m = &live->ent_modules[live->nent_modules++];
	memset(m, 0, sizeof(*m));
	m->key = cv_arena_strndup(a, cols[0] ? cols[0] : "", lens[0]);
	m->parent = cols[1] ? cv_arena_strndup(a, cols[1], lens[1]) : NULL;
	m->always_on = truthy(cols[2]);
	if (live->nent_modules > 1 && strcmp(m[-1].key, m->key) >= 0)
		rd->sorted = false;
	return 0;
}

/* Each module's submodules: the live rows that name it as parent. */
static void attach_subs(struct cv_state *live, struct cv_arena *a)
{
	size_t i;

	for (i = 0; i < live->nent_modules; i++) {
		struct cv_ent_module *s = &live->ent_modules[i];
		struct cv_ent_module *m;

		if (!s->parent || !(m = (struct cv_ent_module *)
				    find_module(live, s->parent)) || m->parent)
			continue;
		m->nsubs++;
	}
	for (i = 0; i < live->nent_modules; i++) {
		struct cv_ent_module *m = &live->ent_modules[i];

		if (!m->parent && m->nsubs) {
			m->subs = cv_arena_alloc(a, m->nsubs * sizeof(*m->subs));
			m->nsubs = 0;
		}
	}
	for (i = 0; i < live->nent_modules; i++) {
		struct cv_ent_module *s = &live->ent_modules[i];
		struct cv_ent_module *m;

		if (!s->parent || !(m = (struct cv_ent_module *)
				    find_module(live, s->parent)) || m->parent)
			continue;
		m->subs[m->nsubs++] = s->key;
	}
}

static int read_plan(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct reader *rd = p;
	struct cv_state *live = rd->ctx->live;
	struct cv_ent_plan *pl;

	(void)ncols;
	CV_GROW(live->ent_plans, live->nent_plans + 1, live->ent_plans_alloc);
	pl = &live->ent_plans[live->nent_plans++];
	memset(pl, 0, sizeof(*pl));
	pl->key = cv_arena_strndup(rd->ctx->live_arena, cols[0] ? cols[0] : "",
				   lens[0]);
	pl->listed = true;
	if (live->nent_plans > 1 && strcmp(pl[-1].key, pl->key) >= 0)
		rd->sorted = false;
	return 0;
}

static int read_plan_module(void *p, const char *const *cols,
			    const size_t *lens, int ncols)
{
	struct reader *rd = p;
	struct pair *r;

	(void)ncols;
	CV_GROW(rd->pairs, rd->npairs + 1, rd->pairs_alloc);
	r = &rd->pairs[rd->npairs++];
	r->plan = cv_arena_strndup(rd->ctx->live_arena, cols[0] ? cols[0] : "",
				   lens[0]);
	r->module = intern_module(rd, cols[1], lens[1]);
	return 0;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->plan, y->plan);

	return c ? c : strcmp(x->module, y->module);
}

/* Gives each live plan its modules; rows naming a plan that ent_plans
 * does not hold make an unlisted plan, so that they can be removed. */
static void attach_plan_modules(struct reader *rd)
{
	struct cv_state *live = rd->ctx->live;
	size_t i, j, added = 0;

	cv_sort(rd->pairs, rd->npairs, sizeof(*rd->pairs), pair_cmp);
	for (i = 0; i < rd->npairs; i = j) {
		for (j = i + 1; j < rd->npairs; j++)
			if (strcmp(rd->pairs[j].plan, rd->pairs[i].plan) != 0)
				break;
		if (find_plan(live, rd->pairs[i].plan))
			continue;
		CV_GROW(live->ent_plans, live->nent_plans + added + 1,
			live->ent_plans_alloc);
		memset(&live->ent_plans[live->nent_plans + added], 0,
		       sizeof(*live->ent_plans));
		live->ent_plans[live->nent_plans + added++].key =
			rd->pairs[i].plan;
	}
	if (added) {
		live->nent_plans += added;
		cv_sort(live->ent_plans, live->nent_plans,
		      sizeof(*live->ent_plans), plan_cmp);
	}
	for (i = 0; i < rd->npairs; i = j) {
		struct cv_ent_plan *pl = (struct cv_ent_plan *)
			find_plan(live, rd->pairs[i].plan);

		for (j = i + 1; j < rd->npairs; j++)
			if (strcmp(rd->pairs[j].plan, rd->pairs[i].plan) != 0)
				break;
		pl->modules = cv_arena_alloc(rd->ctx->live_arena,
					     (j - i) * sizeof(*pl->modules));
		for (pl->nmodules = 0; pl->nmodules < j - i; pl->nmodules++)
			pl->modules[pl->nmodules] =
				rd->pairs[i + pl->nmodules].module;
	}
}

static int read_org(void *p, const char *const *cols, const size_t *lens,
		    int ncols)
{
	struct reader *rd = p;
	struct cv_state *live = rd->ctx->live;
	struct cv_arena *a = rd->ctx->live_arena;
	struct cv_ent_org *o;

	(void)ncols;
	CV_GROW(live->ent_orgs, live->nent_orgs + 1, live->ent_orgs_alloc);
	o = &live->ent_orgs[live->nent_orgs++];
	memset(o, 0, sizeof(*o));
	o->org = cv_arena_strndup(a, cols[0] ? cols[0] : "", lens[0]);
	o->plan = cols[1] ? cv_arena_strndup(a, cols[1], lens[1]) : NULL;
	o->listed = true;
	if (live->nent_orgs > 1 && strcmp(o[-1].org, o->org) >= 0)
		rd->sorted = false;
	return 0;
}

static int read_org_module(void *p, const char *const *cols,
			   const size_t *lens, int ncols)
{
	struct reader *rd = p;
	struct cv_state *live = rd->ctx->live;
	struct cv_arena *a = rd->ctx->live_arena;
	struct cv_ent_row *r;
	const char *org = cols[0] ? cols[0] : "";

	(void)ncols;
	/* Rows come by org: the org's name is looked up once, and shared
	 * with ent_orgs' copy when there is one. */
	if (!rd->org || lens[0] != rd->org_len ||
	    memcmp(org, rd->org, lens[0]) != 0) {
		const struct cv_ent_org *o = find_org(live, org);

		rd->org = o ? o->org : cv_arena_strndup(a, org, lens[0]);
		rd->org_len = lens[0];
		rd->hint = 0;
	}
	if (live->nent_rows == live->ent_rows_alloc)
		CV_GROW(live->ent_rows, live->nent_rows + 1,
			live->ent_rows_alloc);
	r = &live->ent_rows[live->nent_rows++];
	r->org = rd->org;
	r->module = intern_module(rd, cols[1], lens[1]);
	r->status = status_of(cols[2], lens[2], a);
	r->source = source_of(cols[3], lens[3], a);
	if (live->nent_rows > 1 && rd->sorted && row_cmp(r - 1, r) >= 0)
		rd->sorted = false;
	return 0;
}

/* Gives each live org its rows; rows of an org that ent_orgs does not
 * hold make an unlisted org. */
static void attach_rows(struct cv_state *live)
{
	size_t i, j, added = 0;

	for (i = 0; i < live->nent_rows; i = j) {
		for (j = i + 1; j < live->nent_rows; j++)
			if (live->ent_rows[j].org != live->ent_rows[i].org &&
			    strcmp(live->ent_rows[j].org,
				   live->ent_rows[i].org) != 0)
				break;
		if (find_org(live, live->ent_rows[i].org))
			continue;
		CV_GROW(live->ent_orgs, live->nent_orgs + added + 1,
			live->ent_orgs_alloc);
		memset(&live->ent_orgs[live->nent_orgs + added], 0,
		       sizeof(*live->ent_orgs));
		live->ent_orgs[live->nent_orgs + added++].org =
			live->ent_rows[i].org;
	}
	if (added) {
		live->nent_orgs += added;
		cv_sort(live->ent_orgs, live->nent_orgs, sizeof(*live->ent_orgs),
		      org_cmp);
	}
	for (i = 0; i < live->nent_rows; i = j) {
		struct cv_ent_org *o = (struct cv_ent_org *)
			find_org(live, live->ent_rows[i].org);

		for (j = i + 1; j < live->nent_rows; j++)
			if (live->ent_rows[j].org != live->ent_rows[i].org &&
			    strcmp(live->ent_rows[j].org,
				   live->ent_rows[i].org) != 0)
				break;
		o->first_row = i;
		o->nrows = j - i;
	}
}

static int read_table(struct cv_ctx *ctx, const char *table,
		      const char *const *cols, size_t ncols, size_t norder,
		      cv_row_fn fn, struct reader *rd, struct cv_error *err)
{
	bool exists = false;
	char *sql;
	int ret;

	ret = ctx->be->table_exists(ctx->db, table, &exists, err);
	if (ret || !exists)
		return ret;
	ctx->live->stored |= CV_SEC_ENTITLEMENTS;
	rd->sorted = true;
	sql = cv_sql_select(ctx->be, table, cols, ncols, cols, norder);
	ret = ctx->be->query(ctx->db, sql, NULL, 0, fn, rd, err);
	free(sql);
	return ret;
}

static int ent_read(struct cv_ctx *ctx, struct cv_error *err)
{
	static const char *const mcols[] = { "key", "parent", "always_on" };
	static const char *const pcols[] = { "key" };
	static const char *const pmcols[] = { "plan", "module" };
	static const char *const ocols[] = { "org", "plan" };
	static const char *const omcols[] = {
		"org", "module", "status", "source"
	};
	struct cv_state *live = ctx->live;
	struct reader rd;
	int ret;

	memset(&rd, 0, sizeof(rd));
	rd.ctx = ctx;
	live->sections |= CV_SEC_ENTITLEMENTS;
	if (!ctx->db)
		return 0;
	/* The database's collation may not be strcmp's order: each table
	 * is sorted again when its rows did not come in that order. */
	ret = read_table(ctx, T_MODULES, mcols, 3, 1, read_module, &rd, err);
	if (ret)
		goto out;
	if (!rd.sorted)
		cv_sort(live->ent_modules, live->nent_modules,
		      sizeof(*live->ent_modules), module_cmp);
	attach_subs(live, ctx->live_arena);
	ret = read_table(ctx, T_PLANS, pcols, 1, 1, read_plan, &rd, err);
	if (ret)
		goto out;
	if (!rd.sorted)
		cv_sort(live->ent_plans, live->nent_plans,
		      sizeof(*live->ent_plans), plan_cmp);
	ret = read_table(ctx, T_PLAN_MODULES, pmcols, 2, 2, read_plan_module,
			 &rd, err);
	if (ret)
		goto out;
	attach_plan_modules(&rd);
	ret = read_table(ctx, T_ORGS, ocols, 2, 1, read_org, &rd, err);
	if (ret)
		goto out;
	if (!rd.sorted)
		cv_sort(live->ent_orgs, live->nent_orgs, sizeof(*live->ent_orgs),
		      org_cmp);
	ret = read_table(ctx, T_ORG_MODULES, omcols, 4, 2, read_org_module,
			 &rd, err);
	if (ret)
		goto out;
	if (!rd.sorted)
		cv_sort(live->ent_rows, live->nent_rows, sizeof(*live->ent_rows),
		      row_cmp);
	attach_rows(live);
out:
	free(rd.pairs);
	return ret;
}

static void ent_digest(const struct cv_state *live, struct cv_digest *d)
{
	size_t i, k;

	for (i = 0; i < live->nent_modules; i++) {
		const struct cv_ent_module *m = &live->ent_modules[i];

		cv_digest_str(d, m->key);
		cv_digest_str(d, m->parent);
		cv_digest_str(d, bool_text(m->always_on));
	}
	cv_digest_str(d, "");
	for (i = 0; i < live->nent_plans; i++) {
		const struct cv_ent_plan *p = &live->ent_plans[i];

		cv_digest_str(d, p->key);
		cv_digest_str(d, bool_text(p->listed));
		for (k = 0; k < p->nmodules; k++)
			cv_digest_str(d, p->modules[k]);
		cv_digest_str(d, "");
	}
	cv_digest_str(d, "");
	for (i = 0; i < live->nent_orgs; i++) {
		const struct cv_ent_org *o = &live->ent_orgs[i];
		const struct cv_ent_row *r = live->ent_rows + o->first_row;

		cv_digest_str(d, o->org);
		cv_digest_str(d, bool_text(o->listed));
		cv_digest_str(d, o->plan);
		for (k = 0; k < o->nrows; k++) {
			cv_digest_str(d, r[k].module);
			cv_digest_str(d, r[k].status);
			cv_digest_str(d, r[k].source);
		}
		cv_digest_str(d, "");
	}
}

/* ---- values: what rollback compares ----------------------------------- */

/* A module's group: the module and its submodules. */
static const char *group_of(const struct cv_ent_module *m)
{
	return m->parent ? m->parent : m->key;
}

/*
 * A module's value: key, parent and always_on of each row of its group,
 * in key order; NULL when it has none.
 */
static const char *module_value(const struct cv_state *s, const char *group,
				struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *v = NULL;
	size_t i;

	for (i = 0; i < s->nent_modules; i++) {
		const struct cv_ent_module *m = &s->ent_modules[i];

		if (strcmp(group_of(m), group) != 0)
			continue;
		cv_canon_add(&b, m->key);
		cv_canon_add(&b, m->parent);
		cv_canon_add(&b, bool_text(m->always_on));
	}
	if (b.len)
		v = cv_arena_strndup(a, b.buf, b.len);
	cv_buf_release(&b);
	return v;
}

/* A plan's value: its ent_plans key (~ when unlisted), then its modules. */
static const char *plan_value(const struct cv_ent_plan *p, struct cv_arena *a)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *v;
	size_t i;

	if (!p)
		return NULL;
	cv_canon_add(&b, p->listed ? p->key : NULL);
	for (i = 0; i < p->nmodules; i++)
		cv_canon_add(&b, p->modules[i]);
	v = cv_arena_strndup(a, b.buf, b.len);
	cv_buf_release(&b);
	return v;
}

/*
 * An org's value: its ent_orgs key (~ when unlisted) and plan, then
 * module, status and source of its rows.  With `only` (nonly module
 * names, sorted), the rows of those modules alone, ~ ~ for one it does
 * not have: the value of what a step that changes those rows touches.
 * `b` is a scratch buffer.
 */
static const char *org_value(const struct cv_ent_org *o,
			     const struct cv_ent_row *rows, size_t n,
			     const char *const *only, size_t nonly,
			     struct cv_buf *b, struct cv_arena *a)
{
	size_t i;

	if (!o)
		return NULL;
	cv_buf_reset(b);
	cv_canon_add(b, o->listed ? o->org : NULL);
	cv_canon_add(b, o->plan);
	cv_buf_addch(b, '|');
	for (i = 0; !only && i < n; i++) {
		cv_canon_add(b, rows[i].module);
		cv_canon_add(b, rows[i].status);
		cv_canon_add(b, rows[i].source);
	}
	for (i = 0; only && i < nonly; i++) {
		const struct cv_ent_row *r = n ?
			bsearch(only[i], rows, n, sizeof(*rows),
				row_module_cmp) : NULL;

		cv_canon_add(b, only[i]);
		cv_canon_add(b, r ? r->status : NULL);
		cv_canon_add(b, r ? r->source : NULL);
	}
	return cv_arena_strndup(a, b->buf, b->len);
}

static const char *ent_value(struct cv_ctx *ctx, const char *const *key,
			     size_t nkey, struct cv_arena *arena)
{
	const struct cv_state *live = ctx->live;
	const struct cv_ent_org *o;
	struct cv_buf b = CV_BUF_INIT;
	const char *v;

	if (nkey < 2)
		return NULL;
	if (nkey == 2 && strcmp(key[0], "module") == 0)
		return module_value(live, key[1], arena);
	if (nkey == 2 && strcmp(key[0], "plan") == 0)
		return plan_value(find_plan(live, key[1]), arena);
	if (strcmp(key[0], "org") != 0 || !(o = find_org(live, key[1])))
		return NULL;
	v = org_value(o, live->ent_rows + o->first_row, o->nrows,
		      nkey > 2 ? key + 2 : NULL, nkey - 2, &b, arena);
	cv_buf_release(&b);
	return v;
}

/* ---- planning --------------------------------------------------------- */

struct ent_sql {
	const char *mod_ins, *mod_del, *mod_upd;
	const char *plan_ins, *plan_del, *pm_ins, *pm_del;
	const char *org_ins, *org_del, *org_upd;
	const char *row_ins, *row_del, *row_upd;
	const char *event;
	/* all rows of an org: deleted, and their events in and out */
	const char *rows_del, *events_in, *events_out;
	/* INSERT of n rows of one org, by n (built when first needed) */
	const char *rows_ins[ROWS_PER_STMT + 1];
};

/*
 * "INSERT INTO ent_events (…) SELECT org, module, <from>, <to>, ?2, ?3
 * FROM ent_org_modules WHERE org = ?1": the events of all of an org's
 * rows coming in (from NULL to their status) or going out.
 */
static const char *events_sql(const struct cv_backend *be, struct cv_arena *a,
			      bool in)
{
	static const char *const ecols[] = {
		"org", "module", "old_status", "new_status", "run_id", "at"
	};
	struct cv_buf b = CV_BUF_INIT;
	const char *s;
	size_t i;

	cv_buf_adds(&b, "INSERT INTO ");
	be->quote_ident(&b, T_EVENTS);
	cv_buf_adds(&b, " (");
	for (i = 0; i < CV_ARRAY_SIZE(ecols); i++) {
		if (i)
			cv_buf_adds(&b, ", ");
		be->quote_ident(&b, ecols[i]);
	}
	cv_buf_adds(&b, ") SELECT ");
	be->quote_ident(&b, "org");
	cv_buf_adds(&b, ", ");
	be->quote_ident(&b, "module");
	cv_buf_adds(&b, in ? ", NULL, " : ", ");
	be->quote_ident(&b, "status");
	cv_buf_adds(&b, in ? ", CAST(" : ", NULL, CAST(");
	be->param(&b, 2);
	cv_buf_adds(&b, " AS TEXT), CAST(");
	be->param(&b, 3);
	cv_buf_adds(&b, " AS TEXT) FROM ");
	be->quote_ident(&b, T_ORG_MODULES);
	cv_buf_adds(&b, " WHERE ");
	be->quote_ident(&b, "org");
	cv_buf_adds(&b, " = ");
	be->param(&b, 1);
	s = cv_arena_strndup(a, b.buf, b.len);
	cv_buf_release(&b);
	return s;
}

/* "INSERT INTO ent_org_modules (…) VALUES (?1, ?2, ?3, ?4), (?1, ?5, …)" */
static const char *rows_ins_sql(const struct cv_backend *be,
				struct cv_arena *a, size_t n)
{
	static const char *const rcols[] = {
		"org", "module", "status", "source"
	};
	struct cv_buf b = CV_BUF_INIT;
	const char *s;
	size_t i, k;

	cv_buf_adds(&b, "INSERT INTO ");
	be->quote_ident(&b, T_ORG_MODULES);
	cv_buf_adds(&b, " (");
	for (i = 0; i < CV_ARRAY_SIZE(rcols); i++) {
		if (i)
			cv_buf_adds(&b, ", ");
		be->quote_ident(&b, rcols[i]);
	}
	cv_buf_adds(&b, ") VALUES ");
	for (i = 0; i < n; i++) {
		cv_buf_adds(&b, i ? ", (" : "(");
		be->param(&b, 1);
		for (k = 0; k < 3; k++) {
			cv_buf_adds(&b, ", ");
			be->param(&b, (unsigned)(2 + 3 * i + k));
		}
		cv_buf_addch(&b, ')');
	}
	s = cv_arena_strndup(a, b.buf, b.len);
	cv_buf_release(&b);
	return s;
}

static void sql_init(struct ent_sql *q, const struct cv_backend *be,
		     struct cv_arena *a)
{
	static const char *const mcols[] = { "key", "parent", "always_on" };
	static const char *const pmcols[] = { "plan", "module" };
	static const char *const ocols[] = { "org", "plan" };
	static const char *const rcols[] = {
		"org", "module", "status", "source"
	};
	static const char *const ecols[] = {
		"org", "module", "old_status", "new_status", "run_id", "at"
	};

	q->mod_ins = cv_sql_insert(be, a, T_MODULES, mcols, 3);
	q->mod_del = cv_sql_delete(be, a, T_MODULES, mcols, 1);
	q->mod_upd = cv_sql_update(be, a, T_MODULES, mcols + 1, 2, mcols, 1);
	q->plan_ins = cv_sql_insert(be, a, T_PLANS, mcols, 1);
	q->plan_del = cv_sql_delete(be, a, T_PLANS, mcols, 1);
	q->pm_ins = cv_sql_insert(be, a, T_PLAN_MODULES, pmcols, 2);
	q->pm_del = cv_sql_delete(be, a, T_PLAN_MODULES, pmcols, 2);
	q->org_ins = cv_sql_insert(be, a, T_ORGS, ocols, 2);
	q->org_del = cv_sql_delete(be, a, T_ORGS, ocols, 1);
	q->org_upd = cv_sql_update(be, a, T_ORGS, ocols + 1, 1, ocols, 1);
	q->row_ins = cv_sql_insert(be, a, T_ORG_MODULES, rcols, 4);
	q->row_del = cv_sql_delete(be, a, T_ORG_MODULES, rcols, 2);
	q->row_upd = cv_sql_update(be, a, T_ORG_MODULES, rcols + 2, 2, rcols, 2);
	q->event = cv_sql_insert(be, a, T_EVENTS, ecols, 6);
	q->rows_del = cv_sql_delete(be, a, T_ORG_MODULES, rcols, 1);
	q->events_in = events_sql(be, a, true);
	q->events_out = events_sql(be, a, false);
}

/* Rows an org gets before its overrides: one set per plan. */
struct base {
	struct cv_ent_row *rows;
	size_t n;
};

struct differ {
	struct cv_ctx *ctx;
	struct cv_plan *plan;
	struct ent_sql q;
	struct base *base;        /* per desired plan, then one for no plan */
	struct cv_ent_row *ov, *out;
	size_t ov_alloc, out_alloc;
	struct cv_buf object, detail, value;
	size_t names;             /* names in detail so far */
	/* the rows an org's step changes: desired and live, NULL = none */
	struct change { const struct cv_ent_row *to, *from; } *changes;
	size_t changes_alloc;
	const char **touched;     /* "org", the org, then their modules */
	size_t touched_alloc;
};

static void push_row(struct cv_ent_row **rows, size_t *n, size_t *alloc,
		     const char *module, const char *status,
		     const char *source)
{
	struct cv_ent_row *r;

	CV_GROW(*rows, *n + 1, *alloc);
	r = &(*rows)[(*n)++];
	r->org = NULL;
	r->module = module;
	r->status = status;
	r->source = source;
}

/* A module (with its submodules when it is one), or a submodule. */
static void push_module(const struct cv_state *w, struct cv_ent_row **rows,
			size_t *n, size_t *alloc, const char *key,
			const char *status, const char *source)
{
	const struct cv_ent_module *m = find_module(w, key);
	size_t k;

	push_row(rows, n, alloc, m ? m->key : key, status, source);
	for (k = 0; m && !m->parent && k < m->nsubs; k++)
		push_row(rows, n, alloc, m->subs[k], status, source);
}

/* What decides between two entries for one module: an override over
 * always_on over plan; disabled over enabled. */
static int rank(const struct cv_ent_row *r)
{
	int k = r->source == S_OVERRIDE ? 0 : r->source == S_ALWAYS_ON ? 2 : 4;

	return k + (r->status == S_DISABLED ? 0 : 1);
}

static int ranked_cmp(const void *a, const void *b)
{
	const struct cv_ent_row *x = a, *y = b;
	int c = strcmp(x->module, y->module);

	return c ? c : rank(x) - rank(y);
}

/* Sorts by module and keeps the entry that decides for each. */
static size_t settle(struct cv_ent_row *rows, size_t n)
{
	size_t i, k = 0;

	cv_sort(rows, n, sizeof(*rows), ranked_cmp);
	for (i = 0; i < n; i++)
		if (!k || strcmp(rows[k - 1].module, rows[i].module) != 0)
			rows[k++] = rows[i];
	return k;
}

static void base_init(struct differ *d)
{
	const struct cv_state *w = d->ctx->want;
	size_t i, k, alloc;

	d->base = cv_calloc(w->nent_plans + 1, sizeof(*d->base));
	for (i = 0; i <= w->nent_plans; i++) {
		struct base *b = &d->base[i];

		alloc = 0;
		for (k = 0; k < w->nent_modules; k++)
			if (w->ent_modules[k].always_on &&
			    !w->ent_modules[k].parent)
				push_module(w, &b->rows, &b->n, &alloc,
					    w->ent_modules[k].key, S_ENABLED,
					    S_ALWAYS_ON);
		for (k = 0; i < w->nent_plans && k < w->ent_plans[i].nmodules;
		     k++)
			push_module(w, &b->rows, &b->n, &alloc,
				    w->ent_plans[i].modules[k], S_ENABLED,
				    S_PLAN);
		b->n = settle(b->rows, b->n);
	}
}

static void base_release(struct differ *d)
{
	size_t i;

	for (i = 0; d->base && i <= d->ctx->want->nent_plans; i++)
		free(d->base[i].rows);
	free(d->base);
}

/* The rows a desired org must have, sorted by module. */
static const struct cv_ent_row *want_rows(struct differ *d,
					  const struct cv_ent_org *o,
					  size_t *n)
{
	const struct cv_state *w = d->ctx->want;
	const struct cv_ent_plan *p = find_plan(w, o->plan);
	const struct base *b = &d->base[p ? (size_t)(p - w->ent_plans) :
					 w->nent_plans];
	size_t nov = 0, i = 0, j = 0, nout = 0;

	if (!o->noverrides) {
		*n = b->n;
		return b->rows;
	}
	for (i = 0; i < o->noverrides; i++)
		push_module(w, &d->ov, &nov, &d->ov_alloc,
			    o->overrides[i].module,
			    o->overrides[i].enabled ? S_ENABLED : S_DISABLED,
			    S_OVERRIDE);
	nov = settle(d->ov, nov);
	CV_GROW(d->out, b->n + nov, d->out_alloc);
	i = 0;
	while (i < b->n || j < nov) {
		int c = i >= b->n ? 1 : j >= nov ? -1 :
			strcmp(b->rows[i].module, d->ov[j].module);

		if (c < 0) {
			d->out[nout++] = b->rows[i++];
		} else {
			d->out[nout++] = d->ov[j++];
			if (c == 0)
				i++;
		}
	}
	*n = nout;
	return d->out;
}

/*
 * Review details: "+a, +b, -c".  Every module is named, however many:
 * the plan is the review, and a removal cut off after the eighth name
 * ("… and 2 more") was a removal nobody saw.  name_add counts a name and
 * writes it after the separator.
 */
static void name_add(struct differ *d, const char *fmt, ...)
	CV_PRINTF(2, 3);
static void name_add(struct differ *d, const char *fmt, ...)
{
	va_list ap;

	if (d->names++ > 0)
		cv_buf_adds(&d->detail, ", ");
	va_start(ap, fmt);
	cv_buf_vaddf(&d->detail, fmt, ap);
	va_end(ap);
}

static void names_start(struct differ *d, const char *head)
{
	cv_buf_reset(&d->detail);
	d->names = 0;
	if (head && *head)
		cv_buf_adds(&d->detail, head);
}

/* Separates the names from what came before them (a plan), once. */
static void names_sep(struct differ *d)
{
	if (!d->names && d->detail.len)
		cv_buf_adds(&d->detail, "; ");
}

static void names_end(struct differ *d, struct cv_step *st)
{
	if (d->detail.len)
		st->detail = cv_arena_strndup(&d->plan->arena, d->detail.buf,
					      d->detail.len);
}

static struct cv_step *add_step(struct differ *d, bool create, bool remove,
				const char *what, const char *name)
{
	const char *key[2];
	struct cv_step *st;

	cv_buf_reset(&d->object);
	cv_buf_adds(&d->object, what);
	cv_buf_addch(&d->object, ' ');
	cv_buf_adds(&d->object, name);
	st = cv_plan_add(d->plan, remove ? CV_PHASE_REMOVE : CV_PHASE_ADD,
			 create ? CV_ACT_CREATE : remove ? CV_ACT_DELETE :
			 CV_ACT_UPDATE, "entitlements", d->object.buf);
	key[0] = what;
	key[1] = name;
	cv_step_set_key(d->plan, st, key, 2);
	return st;
}

/* -- modules -- */

struct member {
	const char *group;
	const struct cv_ent_module *m;
};

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->group, y->group);

	return c ? c : strcmp(x->m->key, y->m->key);
}

static struct member *members(const struct cv_state *s)
{
	struct member *g = cv_calloc(s->nent_modules + 1, sizeof(*g));
	size_t i;

	for (i = 0; i < s->nent_modules; i++) {
		g[i].group = group_of(&s->ent_modules[i]);
		g[i].m = &s->ent_modules[i];
	}
	cv_sort(g, s->nent_modules, sizeof(*g), member_cmp);
	return g;
}

static const char *sub_name(const struct cv_ent_module *m)
{
	size_t n = m->parent ? strlen(m->parent) : 0;

	if (n && strncmp(m->key, m->parent, n) == 0 && m->key[n] == '.')
		return m->key + n + 1;
	return m->key;
}

static void module_detail(struct differ *d, const struct member *g, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!g[i].m->parent && g[i].m->always_on)
			cv_buf_adds(&d->detail, "always on");
	for (i = 0; i < n; i++)
		if (g[i].m->parent) {
			if (!d->names)
				cv_buf_adds(&d->detail, d->detail.len ?
					    "; submodules " : "submodules ");
			name_add(d, "%s", sub_name(g[i].m));
		}
}

static void module_step(struct differ *d, const char *group,
			const struct member *wg, size_t nw,
			const struct member *lg, size_t nl)
{
	const struct ent_sql *q = &d->q;
	struct cv_plan *plan = d->plan;
	struct cv_step *st;
	size_t i = 0, j = 0;
	bool changed = !nw || !nl || nw != nl;

	for (i = 0; !changed && i < nw; i++)
		changed = strcmp(wg[i].m->key, lg[i].m->key) != 0 ||
			  !cv_streq0(wg[i].m->parent, lg[i].m->parent) ||
			  wg[i].m->always_on != lg[i].m->always_on;
	if (!changed)
		return;
	st = add_step(d, !nl, !nw, "module", group);
	st->before = module_value(d->ctx->live, group, &plan->arena);
	st->after = module_value(d->ctx->want, group, &plan->arena);
	names_start(d, NULL);
	if (!nl || !nw)
		module_detail(d, nw ? wg : lg, nw ? nw : nl);
	i = 0;
	while (i < nw || j < nl) {
		int c = i >= nw ? 1 : j >= nl ? -1 :
			strcmp(wg[i].m->key, lg[j].m->key);
		const struct cv_ent_module *a = c <= 0 ? wg[i].m : NULL;
		const struct cv_ent_module *b = c >= 0 ? lg[j].m : NULL;
		const char *p[3];

		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (a && !b) {
			p[0] = a->key;
			p[1] = a->parent;
			p[2] = bool_text(a->always_on);
			cv_step_fwd(plan, st, q->mod_ins, p, 3);
			cv_step_inv(plan, st, q->mod_del, p, 1);
			if (nl && a->parent)
				name_add(d, "+%s", sub_name(a));
			else if (nl)
				name_add(d, "+%s", a->key);
		} else if (!a) {
			p[0] = b->key;
			p[1] = b->parent;
			p[2] = bool_text(b->always_on);
			cv_step_fwd(plan, st, q->mod_del, p, 1);
			cv_step_inv(plan, st, q->mod_ins, p, 3);
			if (nw)
				name_add(d, "-%s", b->parent ? sub_name(b) :
					 b->key);
		} else if (!cv_streq0(a->parent, b->parent) ||
			   a->always_on != b->always_on) {
			const char *u[3] = { a->parent, bool_text(a->always_on),
					     a->key };

			cv_step_fwd(plan, st, q->mod_upd, u, 3);
			u[0] = b->parent;
			u[1] = bool_text(b->always_on);
			cv_step_inv(plan, st, q->mod_upd, u, 3);
			if (!a->parent && a->always_on != b->always_on)
				name_add(d, "%s", a->always_on ? "always on" :
					 "no longer always on");
		}
	}
	names_end(d, st);
}

static void diff_modules(struct differ *d, bool removals)
{
	const struct cv_state *w = d->ctx->want, *l = d->ctx->live;
	struct member *wg = members(w), *lg = members(l);
	size_t i = 0, j = 0;

	while (i < w->nent_modules || j < l->nent_modules) {
		int c = i >= w->nent_modules ? 1 : j >= l->nent_modules ? -1 :
			strcmp(wg[i].group, lg[j].group);
		const char *group = c <= 0 ? wg[i].group : lg[j].group;
		size_t wi = i, lj = j;

		while (c <= 0 && i < w->nent_modules &&
		       strcmp(wg[i].group, group) == 0)
			i++;
		while (c >= 0 && j < l->nent_modules &&
		       strcmp(lg[j].group, group) == 0)
			j++;
		if (removals == (i == wi))
			module_step(d, group, wg + wi, i - wi, lg + lj, j - lj);
	}
	free(wg);
	free(lg);
}

/* -- plans -- */

static bool same_list(const char *const *a, size_t na, const char *const *b,
		      size_t nb)
{
	size_t i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (!same(a[i], b[i]))
			return false;
	return true;
}

static void plan_step(struct differ *d, const struct cv_ent_plan *w,
		      const struct cv_ent_plan *l)
{
	const struct ent_sql *q = &d->q;
	struct cv_plan *plan = d->plan;
	const char *key = w ? w->key : l->key;
	size_t nw = w ? w->nmodules : 0, nl = l ? l->nmodules : 0, i = 0, j = 0;
	struct cv_step *st;
	const char *p[2];

	if (w && l && l->listed &&
	    same_list(w->modules, nw, l->modules, nl))
		return;
	st = add_step(d, !l, !w, "plan", key);
	st->before = plan_value(l, &plan->arena);
	st->after = plan_value(w, &plan->arena);
	names_start(d, NULL);
	p[0] = key;
	if (w && (!l || !l->listed)) {
		cv_step_fwd(plan, st, q->plan_ins, p, 1);
		cv_step_inv(plan, st, q->plan_del, p, 1);
	}
	while (i < nw || j < nl) {
		int c = i >= nw ? 1 : j >= nl ? -1 :
			strcmp(w->modules[i], l->modules[j]);

		if (c == 0) {
			i++;
			j++;
			continue;
		}
		if (c < 0) {
			p[1] = w->modules[i++];
			cv_step_fwd(plan, st, q->pm_ins, p, 2);
			cv_step_inv(plan, st, q->pm_del, p, 2);
			name_add(d, l ? "+%s" : "%s", p[1]);
		} else {
			p[1] = l->modules[j++];
			cv_step_fwd(plan, st, q->pm_del, p, 2);
			cv_step_inv(plan, st, q->pm_ins, p, 2);
			name_add(d, w ? "-%s" : "%s", p[1]);
		}
	}
	if (!w && l->listed) {
		cv_step_fwd(plan, st, q->plan_del, p, 1);
		cv_step_inv(plan, st, q->plan_ins, p, 1);
	}
	if (!d->names && !nw && !nl)
		cv_buf_adds(&d->detail, "no modules");
	names_end(d, st);
}

static void diff_plans(struct differ *d, bool removals)
{
	const struct cv_state *w = d->ctx->want, *l = d->ctx->live;
	size_t i = 0, j = 0;

	while (i < w->nent_plans || j < l->nent_plans) {
		int c = i >= w->nent_plans ? 1 : j >= l->nent_plans ? -1 :
			strcmp(w->ent_plans[i].key, l->ent_plans[j].key);
		const struct cv_ent_plan *a = c <= 0 ? &w->ent_plans[i] : NULL;
		const struct cv_ent_plan *b = c >= 0 ? &l->ent_plans[j] : NULL;

		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (removals == !a)
			plan_step(d, a, b);
	}
}

/* -- orgs -- */

static bool rows_equal(const struct cv_ent_row *a, const struct cv_ent_row *b,
		       size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!same(a[i].module, b[i].module) ||
		    !same(a[i].status, b[i].status) ||
		    !same(a[i].source, b[i].source))
			return false;
	return true;
}

static void event(struct differ *d, struct cv_step *st, bool inverse,
		  const char *org, const char *module, const char *from,
		  const char *to)
{
	const char *p[6] = { org, module, from, to, NULL, NULL };
	struct cv_stmt *s = inverse ?
		cv_step_inv(d->plan, st, d->q.event, p, 6) :
		cv_step_fwd(d->plan, st, d->q.event, p, 6);

	s->run_id_param = 5;
	s->now_param = 6;
}

/* How a review line says what happens to one module of an org. */
static void row_detail(struct differ *d, const struct cv_ent_row *to,
		       const struct cv_ent_row *from)
{
	bool on = to && to->status == S_ENABLED;
	bool was = from && from->status == S_ENABLED;
	const char *m = to ? to->module : from->module;

	names_sep(d);
	if (on != was)
		name_add(d, "%c%s", on ? '+' : '-', m);
	else if (to && !from)
		name_add(d, "%s %s (%s)", m, to->status, to->source);
	else if (!to)
		name_add(d, "%s no longer %s", m, from->status);
	else
		name_add(d, "%s from %s", m, to->source);
}

static void row_change(struct differ *d, struct cv_step *st, const char *org,
		       const struct cv_ent_row *a, const struct cv_ent_row *b)
{
	const struct ent_sql *q = &d->q;
	struct cv_plan *plan = d->plan;
	const char *p[4];

	if (a && !b) {
		p[0] = org;
		p[1] = a->module;
		p[2] = a->status;
		p[3] = a->source;
		cv_step_fwd(plan, st, q->row_ins, p, 4);
		event(d, st, false, org, a->module, NULL, a->status);
		cv_step_inv(plan, st, q->row_del, p, 2);
		event(d, st, true, org, a->module, a->status, NULL);
	} else if (!a) {
		p[0] = org;
		p[1] = b->module;
		p[2] = b->status;
		p[3] = b->source;
		cv_step_fwd(plan, st, q->row_del, p, 2);
		event(d, st, false, org, b->module, b->status, NULL);
		cv_step_inv(plan, st, q->row_ins, p, 4);
		event(d, st, true, org, b->module, NULL, b->status);
	} else {
		bool status = !same(a->status, b->status);

		p[0] = a->status;
		p[1] = a->source;
		p[2] = org;
		p[3] = a->module;
		cv_step_fwd(plan, st, q->row_upd, p, 4);
		if (status)
			event(d, st, false, org, a->module, b->status,
			      a->status);
		p[0] = b->status;
		p[1] = b->source;
		cv_step_inv(plan, st, q->row_upd, p, 4);
		if (status)
			event(d, st, true, org, a->module, a->status,
			      b->status);
	}
	row_detail(d, a, b);
}

/*
 * An org that comes or goes whole: its rows in a few statements, and the
 * events of all of them in one, which reads the rows the step wrote (or
 * is about to delete).  The plan's fingerprint (and a rollback's check
 * of the org's value) make sure they are exactly the rows planned.
 */
static void rows_in(struct differ *d, struct cv_step *st, bool inverse,
		    const char *org, const struct cv_ent_row *rows, size_t n)
{
	const char *p[1 + 3 * ROWS_PER_STMT];
	struct cv_stmt *s;
	size_t i, k;

	for (i = 0; i < n; i += k) {
		size_t m = n - i < ROWS_PER_STMT ? n - i : ROWS_PER_STMT;

		if (!d->q.rows_ins[m])
			d->q.rows_ins[m] = rows_ins_sql(d->ctx->be,
							&d->plan->arena, m);
		p[0] = org;
		for (k = 0; k < m; k++) {
			p[1 + 3 * k] = rows[i + k].module;
			p[2 + 3 * k] = rows[i + k].status;
			p[3 + 3 * k] = rows[i + k].source;
		}
		if (inverse)
			cv_step_inv(d->plan, st, d->q.rows_ins[m], p, 1 + 3 * m);
		else
			cv_step_fwd(d->plan, st, d->q.rows_ins[m], p, 1 + 3 * m);
	}
	if (!n)
		return;
	p[0] = org;
	p[1] = p[2] = NULL;
	s = inverse ? cv_step_inv(d->plan, st, d->q.events_in, p, 3) :
		      cv_step_fwd(d->plan, st, d->q.events_in, p, 3);
	s->run_id_param = 2;
	s->now_param = 3;
}

static void rows_out(struct differ *d, struct cv_step *st, bool inverse,
		     const char *org, size_t n)
{
	const char *p[3] = { org, NULL, NULL };
	struct cv_stmt *s;

	if (!n)
		return;
	s = inverse ? cv_step_inv(d->plan, st, d->q.events_out, p, 3) :
		      cv_step_fwd(d->plan, st, d->q.events_out, p, 3);
	s->run_id_param = 2;
	s->now_param = 3;
	if (inverse)
		cv_step_inv(d->plan, st, d->q.rows_del, p, 1);
	else
		cv_step_fwd(d->plan, st, d->q.rows_del, p, 1);
}

/* Adds the step of an org that comes or goes whole. */
static void whole_org(struct differ *d, const struct cv_ent_org *w,
		      const struct cv_ent_org *l, const struct cv_ent_row *rows,
		      size_t n)
{
	const struct ent_sql *q = &d->q;
	struct cv_plan *plan = d->plan;
	const struct cv_ent_org *o = w ? w : l;
	const char *p[2] = { o->org, o->plan };
	struct cv_step *st = add_step(d, w != NULL, w == NULL, "org", o->org);
	size_t i;

	st->before = org_value(l, rows, n, NULL, 0, &d->value, &plan->arena);
	st->after = org_value(w, rows, n, NULL, 0, &d->value, &plan->arena);
	names_start(d, "plan ");
	cv_buf_adds(&d->detail, o->plan ? o->plan : "none");
	if (w) {
		cv_step_fwd(plan, st, q->org_ins, p, 2);
		rows_in(d, st, false, o->org, rows, n);
		rows_out(d, st, true, o->org, n);
		cv_step_inv(plan, st, q->org_del, p, 1);
	} else {
		rows_out(d, st, false, o->org, n);
		if (l->listed) {
			cv_step_fwd(plan, st, q->org_del, p, 1);
			cv_step_inv(plan, st, q->org_ins, p, 2);
		}
		rows_in(d, st, true, o->org, rows, n);
	}
	for (i = 0; i < n; i++)
		row_detail(d, w ? &rows[i] : NULL, w ? NULL : &rows[i]);
	names_end(d, st);
}

/*
 * An org on both sides.  The step's key names the modules whose rows it
 * changes, and its values cover those rows (and the org's plan) only: a
 * rollback then checks what the step touched, not the org's other rows,
 * and a plan change that touches every org of a plan keeps its values
 * small.
 */
static void org_step(struct differ *d, const struct cv_ent_org *w,
		     const struct cv_ent_org *l)
{
	const struct ent_sql *q = &d->q;
	const struct cv_state *live = d->ctx->live;
	struct cv_plan *plan = d->plan;
	const struct cv_ent_row *wr = NULL, *lr = NULL;
	size_t nw = 0, nl = 0, i = 0, j = 0, n = 0;
	const char *org = w ? w->org : l->org;
	bool plan_changed;
	struct cv_step *st;

	if (w)
		wr = want_rows(d, w, &nw);
	if (l) {
		lr = live->ent_rows + l->first_row;
		nl = l->nrows;
	}
	if (!l || !w) {
		whole_org(d, w, l, w ? wr : lr, w ? nw : nl);
		return;
	}
	plan_changed = !l->listed || !cv_streq0(w->plan, l->plan);
	if (!plan_changed && nw == nl && rows_equal(wr, lr, nw))
		return;
	while (i < nw || j < nl) {
		int c = i >= nw ? 1 : j >= nl ? -1 :
			strcmp(wr[i].module, lr[j].module);
		const struct cv_ent_row *a = c <= 0 ? &wr[i] : NULL;
		const struct cv_ent_row *b = c >= 0 ? &lr[j] : NULL;

		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (a && b && same(a->status, b->status) &&
		    same(a->source, b->source))
			continue;
		CV_GROW(d->changes, n + 1, d->changes_alloc);
		d->changes[n].to = a;
		d->changes[n++].from = b;
	}
	CV_GROW(d->touched, n + 2, d->touched_alloc);
	d->touched[0] = "org";
	d->touched[1] = org;
	for (i = 0; i < n; i++)
		d->touched[2 + i] = d->changes[i].to ? d->changes[i].to->module :
				    d->changes[i].from->module;
	st = add_step(d, false, false, "org", org);
	cv_step_set_key(plan, st, d->touched, n + 2);
	/*
	 * The values cover the rows the step touches.  A step that touches
	 * none (the plan alone changed) has the key of a whole org, and a
	 * whole org's value has all its rows (ent_value reads the key so):
	 * they are the same on both sides, as nothing differs.
	 */
	st->before = org_value(l, lr, nl, n ? d->touched + 2 : NULL, n,
			       &d->value, &plan->arena);
	st->after = org_value(w, wr, nw, n ? d->touched + 2 : NULL, n,
			      &d->value, &plan->arena);

	names_start(d, NULL);
	if (plan_changed)
		cv_buf_addf(&d->detail, "plan %s -> %s",
			    l->plan ? l->plan : "none",
			    w->plan ? w->plan : "none");
	if (!l->listed) {
		const char *p[2] = { org, w->plan };

		cv_step_fwd(plan, st, q->org_ins, p, 2);
		cv_step_inv(plan, st, q->org_del, p, 1);
	} else if (plan_changed) {
		const char *u[2] = { w->plan, org };

		cv_step_fwd(plan, st, q->org_upd, u, 2);
		u[0] = l->plan;
		cv_step_inv(plan, st, q->org_upd, u, 2);
	}
	for (i = 0; i < n; i++)
		row_change(d, st, org, d->changes[i].to, d->changes[i].from);
	names_end(d, st);
}

static void diff_orgs(struct differ *d, bool removals)
{
	const struct cv_state *w = d->ctx->want, *l = d->ctx->live;
	size_t i = 0, j = 0;

	while (i < w->nent_orgs || j < l->nent_orgs) {
		int c = i >= w->nent_orgs ? 1 : j >= l->nent_orgs ? -1 :
			strcmp(w->ent_orgs[i].org, l->ent_orgs[j].org);
		const struct cv_ent_org *a = c <= 0 ? &w->ent_orgs[i] : NULL;
		const struct cv_ent_org *b = c >= 0 ? &l->ent_orgs[j] : NULL;

		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (removals == !a)
			org_step(d, a, b);
	}
}

static int ent_diff(struct cv_ctx *ctx, struct cv_plan *plan,
		    struct cv_error *err)
{
	struct differ d;

	(void)err;
	memset(&d, 0, sizeof(d));
	d.ctx = ctx;
	d.plan = plan;
	sql_init(&d.q, ctx->be, &plan->arena);
	base_init(&d);
	/* Removals: what refers to a thing goes before the thing. */
	diff_orgs(&d, true);
	diff_plans(&d, true);
	diff_modules(&d, true);
	/* Additions and changes: a thing before what refers to it. */
	diff_modules(&d, false);
	diff_plans(&d, false);
	diff_orgs(&d, false);
	base_release(&d);
	free(d.ov);
	free(d.out);
	free(d.changes);
	free(d.touched);
	cv_buf_release(&d.object);
	cv_buf_release(&d.detail);
	cv_buf_release(&d.value);
	return 0;
}

/* ---- storage ---------------------------------------------------------- */

static int ent_ensure(struct cv_ctx *ctx, struct cv_error *err)
{
	const struct cv_backend *be = ctx->be;
	struct cv_buf b = CV_BUF_INIT;
	bool have_view = false;
	int ret;

	/* CREATE VIEW IF NOT EXISTS is SQLite's alone: ask first. */
	ret = be->table_exists(ctx->db, V_EFFECTIVE, &have_view,
			       err);
	if (ret)
		return ret;
	cv_buf_addf(&b,
		    "CREATE TABLE IF NOT EXISTS ent_modules (\n"
		    "  \"key\" TEXT NOT NULL PRIMARY KEY,\n"
		    "  parent TEXT,\n"
		    "  always_on %s NOT NULL\n"
		    ")%s;\n"
		    "CREATE TABLE IF NOT EXISTS ent_plans (\n"
		    "  \"key\" TEXT NOT NULL PRIMARY KEY\n"
		    ")%s;\n"
		    "CREATE TABLE IF NOT EXISTS ent_plan_modules (\n"
		    "  plan TEXT NOT NULL,\n"
		    "  module TEXT NOT NULL,\n"
		    "  PRIMARY KEY (plan, module)\n"
		    ")%s;\n"
		    "CREATE TABLE IF NOT EXISTS ent_orgs (\n"
		    "  org TEXT NOT NULL PRIMARY KEY,\n"
		    "  plan TEXT\n"
		    ")%s;\n"
		    "CREATE INDEX IF NOT EXISTS ent_orgs_plan ON ent_orgs (plan);\n"
		    "CREATE TABLE IF NOT EXISTS ent_org_modules (\n"
		    "  org TEXT NOT NULL,\n"
		    "  module TEXT NOT NULL,\n"
		    "  status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),\n"
		    "  source TEXT NOT NULL CHECK (source IN ('plan', 'always_on', 'override')),\n"
		    "  PRIMARY KEY (org, module)\n"
		    ")%s;\n"
		    "CREATE TABLE IF NOT EXISTS ent_events (\n"
		    "  org TEXT NOT NULL,\n"
		    "  module TEXT NOT NULL,\n"
		    "  old_status TEXT,\n"
		    "  new_status TEXT,\n"
		    "  run_id TEXT NOT NULL,\n"
		    "  at TEXT NOT NULL\n"
		    ");\n",
		    be->bool_type, be->table_suffix, be->table_suffix,
		    be->table_suffix, be->table_suffix, be->table_suffix);
	if (!have_view)
		cv_buf_adds(&b,
			    "CREATE VIEW ent_effective_modules AS\n"
			    "  SELECT org, module FROM ent_org_modules\n"
			    "  WHERE status = 'enabled';\n");
	ret = be->exec_script(ctx->db, b.buf, err);
	cv_buf_release(&b);
	return ret;
}

/* ---- inspect ---------------------------------------------------------- */

/*
 * Whether an override row says no more than its module's override row
 * does: a submodule enabled (or disabled) along with its module.
 */
static bool implied(const struct cv_ent_row *rows, size_t n,
		    const struct cv_ent_row *r)
{
	const char *dot = strchr(r->module, '.');
	const struct cv_ent_row *p;
	char *parent;

	if (!dot)
		return false;
	parent = cv_strndup(r->module, (size_t)(dot - r->module));
	p = bsearch(parent, rows, n, sizeof(*rows), row_module_cmp);
	free(parent);
	return p && same(p->source, S_OVERRIDE) && same(p->status, r->status);
}

/*
 * An org as its plan and overrides.  With `elide`, an override that its
 * module's override implies is left out: the live table holds one row per
 * submodule, which the manifest says once, at the module.
 */
static void inspect_org(const struct cv_state *live, const struct cv_ent_org *o,
			bool elide, struct cv_emit *e)
{
	const struct cv_ent_row *rows = live->ent_rows + o->first_row;
	size_t i, n = 0;

	for (i = 0; i < o->nrows; i++)
		if (same(rows[i].source, S_OVERRIDE) &&
		    !(elide && implied(rows, o->nrows, &rows[i])))
			n++;
	cv_emit_str(e, o->org);
	cv_emit_map(e, true);
	if (o->plan)
		cv_emit_pair(e, "plan", o->plan);
	if (n) {
		cv_emit_str(e, "modules");
		cv_emit_map(e, true);
		for (i = 0; i < o->nrows; i++)
			if (same(rows[i].source, S_OVERRIDE) &&
			    !(elide && implied(rows, o->nrows, &rows[i])))
				cv_emit_pair(e, rows[i].module,
					     rows[i].status);
		cv_emit_end(e);
	}
	cv_emit_end(e);
}

static void inspect_orgs(const struct cv_state *s, bool elide,
			 struct cv_emit *e)
{
	size_t i;

	cv_emit_str(e, "orgs");
	cv_emit_map(e, false);
	for (i = 0; i < s->nent_orgs; i++)
		inspect_org(s, &s->ent_orgs[i], elide, e);
	cv_emit_end(e);
}

void cv_ent_inspect_adopted(const struct cv_state *adopted, struct cv_emit *e)
{
	cv_emit_str(e, "entitlements");
	cv_emit_map(e, false);
	if (adopted->nent_orgs)
		inspect_orgs(adopted, false, e);
	cv_emit_end(e);
}

static void ent_inspect(const struct cv_state *live, struct cv_emit *e)
{
	size_t i, k;

	cv_emit_str(e, "entitlements");
	cv_emit_map(e, false);
	if (live->nent_modules) {
		cv_emit_str(e, "modules");
		cv_emit_map(e, false);
		for (i = 0; i < live->nent_modules; i++) {
			const struct cv_ent_module *m = &live->ent_modules[i];

			if (m->parent)
				continue;
			cv_emit_str(e, m->key);
			cv_emit_map(e, true);
			if (m->always_on) {
				cv_emit_str(e, "always_on");
				cv_emit_bool(e, true);
			}
			if (m->nsubs) {
				cv_emit_str(e, "submodules");
				cv_emit_seq(e, true);
				for (k = 0; k < m->nsubs; k++) {
					const struct cv_ent_module *s =
						find_module(live, m->subs[k]);

					cv_emit_str(e, s ? sub_name(s) :
						    m->subs[k]);
				}
				cv_emit_end(e);
			}
			cv_emit_end(e);
		}
		cv_emit_end(e);
	}
	if (live->nent_plans) {
		cv_emit_str(e, "plans");
		cv_emit_map(e, false);
		for (i = 0; i < live->nent_plans; i++) {
			const struct cv_ent_plan *p = &live->ent_plans[i];

			cv_emit_str(e, p->key);
			cv_emit_seq(e, true);
			for (k = 0; k < p->nmodules; k++)
				cv_emit_str(e, p->modules[k]);
			cv_emit_end(e);
		}
		cv_emit_end(e);
	}
	if (live->nent_orgs)
		inspect_orgs(live, true, e);
	cv_emit_end(e);
}

const struct cv_kind cv_kind_entitlements = {
	.name = "entitlements",
	.section = CV_SEC_ENTITLEMENTS,
	.load = ent_load,
	.validate = ent_validate,
	.read = ent_read,
	.digest = ent_digest,
	.diff = ent_diff,
	.value = ent_value,
	.ensure = ent_ensure,
	.inspect = ent_inspect,
	.tables = tables,
};
