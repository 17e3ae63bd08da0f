/*
 * Plans: ordering, counting, the three review forms, and the saved plan
 * file's round trip (plan.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "converge/kind.h"
#include "converge/model.h"
#include "converge/plan.h"

/* Everything `fn` writes to a FILE, as a malloc'd string. */
static char *render(const struct cv_plan *plan, enum cv_format format,
		    bool color, bool verbose)
{
	struct cv_render_opts opts = { color, verbose };
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	assert_int_equal(cv_plan_render(plan, format, &opts, fp), 0);
	fclose(fp);
	return buf;
}

/* The plan of the brief: a grant revoked with data loss, a revision up,
 * a role created; added out of phase order on purpose. */
static void tmws_plan(struct cv_plan *plan)
{
	struct cv_step *s;

	cv_plan_init(plan);
	plan->database = "sqlite:tmws.db";
	plan->backend = "sqlite";
	plan->sections = CV_SEC_SCHEMA | CV_SEC_ROLES | CV_SEC_GRANTS;
	plan->schema_table = "alembic_version";
	plan->schema_from = "e674ec434eeb";
	plan->schema_to = "571948cc671b";

	s = cv_plan_add(plan, CV_PHASE_ADD, CV_ACT_CREATE, "roles", "viewer");
	s->detail = "permissions license:read, license:usage:read, "
		    "license:validate";
	s = cv_plan_add(plan, CV_PHASE_REMOVE, CV_ACT_DELETE, "grants",
			"dana -> admin");
	s->detail = "expired 2026-11-23T02:00:00Z";
	s->flags = CV_STEP_DATA_LOSS;
	s->note = "drops table license_keys (3 rows)";
	s = cv_plan_add(plan, CV_PHASE_SCHEMA_UP, CV_ACT_UP, "schema",
			"096325207c82");
	s->detail = "Add license_keys and license_usage_history";
	cv_plan_finish(plan);
}

static void test_plan__action_names(void **state)
{
	enum cv_action a;
	unsigned i;

	(void)state;
	assert_string_equal(cv_action_name(CV_ACT_CREATE), "create");
	assert_string_equal(cv_action_name(CV_ACT_CHECK), "check");
	assert_string_equal(cv_action_sign(CV_ACT_UP), "↑");
	assert_string_equal(cv_action_sign(CV_ACT_DOWN), "↓");
	assert_string_equal(cv_action_sign(CV_ACT_UPDATE), "~");
	assert_string_equal(cv_action_sign(CV_ACT_DISABLE), "-");
	assert_string_equal(cv_action_sign(CV_ACT_ENABLE), "+");
	assert_string_equal(cv_action_sign(CV_ACT_CHECK), "?");
	assert_int_equal(cv_action_inverse(CV_ACT_CREATE), CV_ACT_DELETE);
	assert_int_equal(cv_action_inverse(CV_ACT_DELETE), CV_ACT_CREATE);
	assert_int_equal(cv_action_inverse(CV_ACT_UP), CV_ACT_DOWN);
	assert_int_equal(cv_action_inverse(CV_ACT_DOWN), CV_ACT_UP);
	assert_int_equal(cv_action_inverse(CV_ACT_ENABLE), CV_ACT_DISABLE);
	assert_int_equal(cv_action_inverse(CV_ACT_DISABLE), CV_ACT_ENABLE);
	assert_int_equal(cv_action_inverse(CV_ACT_UPDATE), CV_ACT_UPDATE);
	assert_int_equal(cv_action_inverse(CV_ACT_CHECK), CV_ACT_CHECK);
	for (i = 0; i < CV_ACT__COUNT; i++) {
		assert_int_equal(cv_action_parse(cv_action_name(i), &a), 0);
		assert_int_equal(a, i);
	}
	assert_int_equal(cv_action_parse("explode", &a), CV_EINVAL);
	assert_int_equal(cv_action_parse("Create", &a), CV_EINVAL);
}

static void test_plan__format_parse(void **state)
{
	enum cv_format f = CV_FORMAT_TEXT;

	(void)state;
	assert_int_equal(cv_format_parse("json", &f), 0);
	assert_int_equal(f, CV_FORMAT_JSON);
	assert_int_equal(cv_format_parse("markdown", &f), 0);
	assert_int_equal(f, CV_FORMAT_MARKDOWN);
	assert_int_equal(cv_format_parse("text", &f), 0);
	assert_int_equal(f, CV_FORMAT_TEXT);
	assert_int_equal(cv_format_parse("yaml", &f), CV_EINVAL);
	assert_int_equal(cv_format_parse("", &f), CV_EINVAL);
}

static void test_plan__stable_phase_sort(void **state)
{
	struct cv_plan plan;
	char name[16];
	size_t i;

	(void)state;
	cv_plan_init(&plan);
	/* 200 steps over all seven phases in a scrambled order; the object
	 * records the insertion order. */
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "%03zu", i);
		cv_plan_add(&plan, (enum cv_phase)((i * 5 + i / 7) % 7 + 1),
			    CV_ACT_CREATE, "roles", name);
	}
	cv_plan_finish(&plan);
	assert_int_equal(plan.nr, 200);
	for (i = 0; i < plan.nr; i++) {
		assert_int_equal(plan.steps[i].seq, i + 1);
		if (i == 0)
			continue;
		assert_true(plan.steps[i - 1].phase <= plan.steps[i].phase);
		if (plan.steps[i - 1].phase == plan.steps[i].phase)
			assert_true(strcmp(plan.steps[i - 1].object,
					   plan.steps[i].object) < 0);
	}
	assert_int_equal(plan.steps[0].phase, CV_PHASE_DISABLE_FLAGS);
	assert_int_equal(plan.steps[199].phase, CV_PHASE_ENABLE_FLAGS);
	cv_plan_release(&plan);
}

static void test_plan__copies_into_arena(void **state)
{
	struct cv_plan plan;
	struct cv_step *s;
	struct cv_stmt *st;
	char kind[] = "grants", object[] = "o'brien", sql[] = "DELETE ?1";
	char p0[] = "x";
	const char *params[] = { p0, NULL, "z" };
	const char *key[] = { "o'brien", "admin", "" };
	size_t i;

	(void)state;
	cv_plan_init(&plan);
	assert_string_equal(plan.format, CV_PLAN_FORMAT);
	s = cv_plan_add(&plan, CV_PHASE_REMOVE, CV_ACT_DELETE, kind, object);
	/* Enough statements to make the array move a few times. */
	for (i = 0; i < 20; i++)
		cv_step_fwd(&plan, s, sql, params, 3);
	st = cv_step_inv(&plan, s, "INSERT", NULL, 0);
	st->script = true;
	cv_step_set_key(&plan, s, key, 3);
	memset(kind, 'X', sizeof(kind) - 1);
	memset(object, 'X', sizeof(object) - 1);
	memset(sql, 'X', sizeof(sql) - 1);
	p0[0] = 'X';

	s = &plan.steps[0];
	assert_string_equal(s->kind, "grants");
	assert_string_equal(s->object, "o'brien");
	assert_int_equal(s->nfwd, 20);
	for (i = 0; i < 20; i++) {
		assert_string_equal(s->fwd[i].sql, "DELETE ?1");
		assert_int_equal(s->fwd[i].nparams, 3);
		assert_string_equal(s->fwd[i].params[0], "x");
		assert_null(s->fwd[i].params[1]);
		assert_string_equal(s->fwd[i].params[2], "z");
		assert_false(s->fwd[i].script);
	}
	assert_int_equal(s->ninv, 1);
	assert_null(s->inv[0].params);
	assert_int_equal(s->inv[0].nparams, 0);
	assert_true(s->inv[0].script);
	assert_int_equal(s->nkey, 3);
	assert_string_equal(s->key[2], "");
	assert_null(s->detail);
	assert_int_equal(s->flags, 0);
	cv_plan_release(&plan);
}

/*
 * Steps that repeat a statement share the plan's one copy of its text
 * (a million grant steps, two statements); a text is still copied, so a
 * caller that reuses its buffer for another statement gets another copy.
 */
static void test_plan__shares_repeated_texts(void **state)
{
	struct cv_plan plan;
	char sql[] = "INSERT INTO t VALUES (?1)";
	const char *params[] = { "a" };
	const char *other = "DELETE FROM t WHERE k = ?1";
	struct cv_step *s;
	size_t i;

	(void)state;
	cv_plan_init(&plan);
	for (i = 0; i < 10; i++) {
		s = cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_CREATE, "grants",
				"x");
		cv_step_fwd(&plan, s, sql, params, 1);
		cv_step_inv(&plan, s, other, params, 1);
	}
	for (i = 1; i < 10; i++) {
		assert_ptr_equal(plan.steps[i].fwd[0].sql,
				 plan.steps[0].fwd[0].sql);
		assert_ptr_equal(plan.steps[i].inv[0].sql,
				 plan.steps[0].inv[0].sql);
		assert_ptr_equal(plan.steps[i].kind, plan.steps[0].kind);
	}
	assert_ptr_not_equal(plan.steps[0].fwd[0].sql, sql);
	memcpy(sql, "UPDATE", 6);
	s = cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_UPDATE, "grants", "x");
	cv_step_fwd(&plan, s, sql, params, 1);
	assert_string_equal(plan.steps[0].fwd[0].sql,
			    "INSERT INTO t VALUES (?1)");
	assert_string_equal(plan.steps[10].fwd[0].sql,
			    "UPDATE INTO t VALUES (?1)");
	cv_plan_release(&plan);
}

static void test_plan__counts(void **state)
{
	static const struct {
		enum cv_action action;
		unsigned flags;
	} steps[] = {
		{ CV_ACT_CREATE, 0 }, { CV_ACT_CREATE, CV_STEP_DATA_LOSS },
		{ CV_ACT_ENABLE, 0 }, { CV_ACT_DELETE, CV_STEP_DATA_LOSS },
		{ CV_ACT_DISABLE, 0 }, { CV_ACT_DISABLE, 0 },
		{ CV_ACT_DISABLE, 0 }, { CV_ACT_UPDATE, 0 },
		{ CV_ACT_UP, CV_STEP_NO_TXN }, { CV_ACT_UP, 0 },
		{ CV_ACT_DOWN, CV_STEP_DATA_LOSS | CV_STEP_IRREVERSIBLE },
		{ CV_ACT_CHECK, 0 }, { CV_ACT_CHECK, 0 },
	};
	struct cv_plan_counts c;
	struct cv_plan plan;
	size_t i;

	(void)state;
	cv_plan_init(&plan);
	cv_plan_count(&plan, &c);
	assert_int_equal(c.add + c.change + c.remove + c.up + c.down +
			 c.checks + c.data_loss, 0);
	for (i = 0; i < CV_ARRAY_SIZE(steps); i++)
		cv_plan_add(&plan, CV_PHASE_ADD, steps[i].action, "roles",
			    "r")->flags = steps[i].flags;
	cv_plan_count(&plan, &c);
	assert_int_equal(c.add, 3);
	assert_int_equal(c.remove, 4);
	assert_int_equal(c.change, 1);
	assert_int_equal(c.up, 2);
	assert_int_equal(c.down, 1);
	assert_int_equal(c.checks, 2);
	assert_int_equal(c.data_loss, 3);
	cv_plan_release(&plan);
}

static void test_plan__text(void **state)
{
	struct cv_plan plan;
	char *out;

	(void)state;
	tmws_plan(&plan);
	out = render(&plan, CV_FORMAT_TEXT, false, false);
	assert_string_equal(out,
		"converge plan for sqlite:tmws.db\n"
		"schema: e674ec434eeb -> 571948cc671b (alembic_version)\n"
		"\n"
		"  - grant dana -> admin: expired 2026-11-23T02:00:00Z\n"
		"      ! data loss: drops table license_keys (3 rows)\n"
		"  ↑ revision 096325207c82: Add license_keys and "
		"license_usage_history\n"
		"  + role viewer: permissions license:read, "
		"license:usage:read, license:validate\n"
		"\n"
		"Plan: 1 to add, 0 to change, 1 to remove, 1 revision up, "
		"0 down.\n"
		"1 step loses data: apply needs --allow-data-loss.\n");
	assert_null(strchr(out, '\033'));
	free(out);
	cv_plan_release(&plan);
}

static void test_plan__text_plurals_and_notes(void **state)
{
	struct cv_plan plan;
	struct cv_step *s;
	char *out;

	(void)state;
	cv_plan_init(&plan);
	plan.database = "postgres://app@db/app";
	plan.sections = CV_SEC_SCHEMA | CV_SEC_FLAGS | CV_SEC_ENTITLEMENTS;
	plan.schema_table = "converge_schema_version";
	plan.schema_from = NULL;
	plan.schema_to = "b2";
	s = cv_plan_add(&plan, CV_PHASE_SCHEMA_UP, CV_ACT_UP, "schema", "b1");
	s->flags = CV_STEP_NO_TXN;
	s = cv_plan_add(&plan, CV_PHASE_SCHEMA_UP, CV_ACT_UP, "schema", "b2");
	s->flags = CV_STEP_DATA_LOSS | CV_STEP_IRREVERSIBLE;
	s->note = "drops column agents.role (12 rows)";
	s = cv_plan_add(&plan, CV_PHASE_ENABLE_FLAGS, CV_ACT_ENABLE, "flags",
			"catalog_api_v2");
	s = cv_plan_add(&plan, CV_PHASE_REMOVE, CV_ACT_DELETE, "entitlements",
			"acme/crm.campaigns");
	s->flags = CV_STEP_DATA_LOSS;
	s = cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_UPDATE, "policies",
			"public.customers/tenant_isolation");
	s = cv_plan_add(&plan, CV_PHASE_CHECKS, CV_ACT_CHECK, "checks",
			"rls_fail_closed");
	cv_plan_defer_check(&plan, "rls_fail_closed");
	cv_plan_defer_check(&plan, "no_orphans");
	cv_plan_finish(&plan);
	out = render(&plan, CV_FORMAT_TEXT, false, false);
	assert_string_equal(out,
		"converge plan for postgres://app@db/app\n"
		"schema: base -> b2 (converge_schema_version)\n"
		"\n"
		"  - entitlement acme/crm.campaigns\n"
		"      ! data loss\n"
		"  ↑ revision b1\n"
		"      ! runs outside a transaction\n"
		"  ↑ revision b2\n"
		"      ! data loss: drops column agents.role (12 rows)\n"
		"      ! irreversible\n"
		"  ~ policy public.customers/tenant_isolation\n"
		"  ? check rls_fail_closed\n"
		"  + flag catalog_api_v2\n"
		"\n"
		"Plan: 1 to add, 1 to change, 1 to remove, 2 revisions up, "
		"0 down.\n"
		"2 steps lose data: apply needs --allow-data-loss.\n"
		"Checks run at apply: rls_fail_closed, no_orphans.\n");
	free(out);

	/* Without schema in the plan, the summary says nothing of it. */
	plan.sections = CV_SEC_FLAGS;
	out = render(&plan, CV_FORMAT_TEXT, false, false);
	assert_non_null(strstr(out, "\n\nPlan: 1 to add, 1 to change, "
				    "1 to remove.\n2 steps lose data"));
	assert_null(strstr(out, "schema:"));
	free(out);
	cv_plan_release(&plan);
}

static void test_plan__text_empty(void **state)
{
	struct cv_plan plan;
	char *out;

	(void)state;
	cv_plan_init(&plan);
	plan.database = "sqlite:tmws.db";
	plan.sections = CV_SEC_SCHEMA | CV_SEC_ROLES;
	plan.schema_from = plan.schema_to = "571948cc671b";
	cv_plan_finish(&plan);
	out = render(&plan, CV_FORMAT_TEXT, true, true);
	assert_string_equal(out,
		"converge plan for sqlite:tmws.db\n"
		"\n"
		"No changes. The database matches the manifests.\n");
	free(out);
	cv_plan_release(&plan);
}

static void test_plan__text_color(void **state)
{
	struct cv_plan plan;
	char *out;

	(void)state;
	tmws_plan(&plan);
	cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_UPDATE, "flags", "f");
	cv_plan_add(&plan, CV_PHASE_CHECKS, CV_ACT_CHECK, "checks", "c");
	cv_plan_finish(&plan);
	out = render(&plan, CV_FORMAT_TEXT, true, false);
	assert_string_equal(out,
		"converge plan for sqlite:tmws.db\n"
		"schema: e674ec434eeb -> 571948cc671b (alembic_version)\n"
		"\n"
		"\033[31m  - grant dana -> admin: expired "
		"2026-11-23T02:00:00Z\033[0m\n"
		"\033[1;31m      ! data loss: drops table license_keys "
		"(3 rows)\033[0m\n"
		"\033[36m  ↑ revision 096325207c82: Add license_keys and "
		"license_usage_history\033[0m\n"
		"\033[32m  + role viewer: permissions license:read, "
		"license:usage:read, license:validate\033[0m\n"
		"\033[33m  ~ flag f\033[0m\n"
		"  ? check c\n"
		"\n"
		"Plan: 1 to add, 1 to change, 1 to remove, 1 revision up, "
		"0 down.\n"
		"1 step loses data: apply needs --allow-data-loss.\n");
	free(out);
	cv_plan_release(&plan);
}

static void test_plan__step_print(void **state)
{
	struct cv_render_opts opts = { false, false };
	struct cv_plan plan;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	tmws_plan(&plan);
	fp = open_memstream(&buf, &len);
	cv_step_print(&plan.steps[0], &opts, fp);
	cv_step_print(&plan.steps[1], NULL, fp);
	fclose(fp);
	assert_string_equal(buf,
		"  - grant dana -> admin: expired 2026-11-23T02:00:00Z\n"
		"      ! data loss: drops table license_keys (3 rows)\n"
		"  ↑ revision 096325207c82: Add license_keys and "
		"license_usage_history\n");
	free(buf);
	cv_plan_release(&plan);
}

static void test_plan__text_verbose(void **state)
{
	const char *params[] = { "096325207c82", NULL, "say \"hi\"" };
	struct cv_plan plan;
	struct cv_step *s;
	char *out;

	(void)state;
	cv_plan_init(&plan);
	plan.database = "sqlite:x.db";
	plan.sections = CV_SEC_ROLES;
	s = cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_CREATE, "roles", "viewer");
	cv_step_fwd(&plan, s, "CREATE TABLE t (a);\nCREATE INDEX i ON t (a);\n",
		    NULL, 0)->script = true;
	cv_step_fwd(&plan, s, "UPDATE \"v\" SET \"n\" = ?1", params, 3);
	cv_step_fwd(&plan, s, "DELETE FROM t", NULL, 0);
	cv_step_inv(&plan, s, "DROP TABLE t", NULL, 0);
	cv_plan_finish(&plan);
	out = render(&plan, CV_FORMAT_TEXT, false, true);
	assert_string_equal(out,
		"converge plan for sqlite:x.db\n"
		"\n"
		"  + role viewer\n"
		"      CREATE TABLE t (a);\n"
		"      CREATE INDEX i ON t (a);\n"
		"      sql: UPDATE \"v\" SET \"n\" = ?1\n"
		"      params: [\"096325207c82\", null, \"say \\\"hi\\\"\"]\n"
		"      sql: DELETE FROM t\n"
		"\n"
		"Plan: 1 to add, 0 to change, 0 to remove.\n");
	free(out);
	cv_plan_release(&plan);
}

/*
 * The steps are written one at a time, in the layout jansson gives a
 * whole tree: the text is exactly its indented dump of what it holds.
 */
static void assert_jansson_layout(const char *out, const json_t *root)
{
	char *again = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	assert_non_null(again);
	assert_int_equal(strlen(out), strlen(again) + 1);
	assert_memory_equal(out, again, strlen(again));
	assert_int_equal(out[strlen(again)], '\n');
	free(again);
}

/* A plan with no steps, and one whose SQL spans lines. */
static void test_plan__json_layout(void **state)
{
	const char *params[] = { "o'brien@example.com", NULL };
	struct cv_plan plan;
	struct cv_step *st;
	json_t *root;
	char *out;

	(void)state;
	cv_plan_init(&plan);
	plan.created_at = plan.now = "2026-11-23T12:00:00Z";
	out = render(&plan, CV_FORMAT_JSON, false, false);
	root = json_loads(out, 0, NULL);
	assert_non_null(root);
	assert_jansson_layout(out, root);
	assert_int_equal(json_array_size(json_object_get(root, "steps")), 0);
	json_decref(root);
	free(out);
	st = cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_CREATE, "grants", "a");
	cv_step_fwd(&plan, st, "INSERT INTO t\n  VALUES (?1, ?2)", params, 2);
	cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_CREATE, "grants", "b\nc");
	out = render(&plan, CV_FORMAT_JSON, false, false);
	root = json_loads(out, 0, NULL);
	assert_non_null(root);
	assert_jansson_layout(out, root);
	assert_int_equal(json_array_size(json_object_get(root, "steps")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(root, "steps"), 1), "object")), "b\nc");
	json_decref(root);
	free(out);
	cv_plan_release(&plan);
}

static void test_plan__json(void **state)
{
	const char *params[] = { "096325207c82", NULL };
	static const char *const order[] = {
		"format", "created_at", "now", "database", "backend",
		"fingerprint", "manifests_digest", "sections", "schema",
		"guards", "summary", "steps",
	};
	struct cv_plan plan;
	json_error_t jerr;
	json_t *root, *steps, *s, *fwd, *v;
	const char *k;
	size_t i = 0;
	char *out;

	(void)state;
	tmws_plan(&plan);
	plan.created_at = plan.now = "2026-11-23T12:00:00Z";
	plan.fingerprint = "sha256:aa";
	cv_plan_add_min_grant(&plan, "admin", 2, NULL);
	s = NULL;
	cv_step_fwd(&plan, &plan.steps[1], "UPDATE \"alembic_version\" SET "
		    "\"version_num\" = ?1", params, 2);
	cv_step_inv(&plan, &plan.steps[1], "DROP TABLE x;\n", NULL, 0)->script =
		true;
	out = render(&plan, CV_FORMAT_JSON, true, true);
	assert_true(strncmp(out, "{\n  \"format\": \"converge-plan/1\",\n",
			    33) == 0);
	assert_int_equal(out[strlen(out) - 1], '\n');
	root = json_loads(out, 0, &jerr);
	assert_non_null(root);
	assert_jansson_layout(out, root);
	json_object_foreach(root, k, v) {
		assert_true(i < CV_ARRAY_SIZE(order));
		assert_string_equal(k, order[i]);
		i++;
	}
	assert_int_equal(i, CV_ARRAY_SIZE(order));
	assert_string_equal(json_string_value(json_object_get(root, "database")),
			    "sqlite:tmws.db");
	assert_true(json_is_null(json_object_get(root, "manifests_digest")));
	v = json_object_get(root, "sections");
	assert_int_equal(json_array_size(v), 3);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "schema");
	assert_string_equal(json_string_value(json_array_get(v, 2)), "grants");
	v = json_object_get(root, "schema");
	assert_string_equal(json_string_value(json_object_get(v, "from")),
			    "e674ec434eeb");
	assert_string_equal(json_string_value(json_object_get(v, "table")),
			    "alembic_version");
	v = json_object_get(json_object_get(root, "guards"), "min_grants");
	assert_int_equal(json_object_size(v), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "admin")), 2);
	v = json_object_get(root, "summary");
	assert_int_equal(json_integer_value(json_object_get(v, "add")), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "remove")), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "up")), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "down")), 0);
	steps = json_object_get(root, "steps");
	assert_int_equal(json_array_size(steps), 3);
	s = json_array_get(steps, 0);
	assert_int_equal(json_integer_value(json_object_get(s, "seq")), 1);
	assert_int_equal(json_integer_value(json_object_get(s, "phase")), 2);
	assert_string_equal(json_string_value(json_object_get(s, "kind")),
			    "grants");
	assert_string_equal(json_string_value(json_object_get(s, "action")),
			    "delete");
	assert_string_equal(json_string_value(json_array_get(
		json_object_get(s, "flags"), 0)), "data_loss");
	assert_string_equal(json_string_value(json_object_get(s, "note")),
			    "drops table license_keys (3 rows)");
	assert_true(json_is_null(json_object_get(s, "before")));
	assert_null(json_object_get(s, "checksum"));
	s = json_array_get(steps, 1);
	assert_null(json_object_get(s, "flags"));
	assert_string_equal(json_string_value(json_object_get(s, "action")),
			    "up");
	fwd = json_array_get(json_object_get(s, "forward"), 0);
	assert_string_equal(json_string_value(json_object_get(fwd, "sql")),
			    "UPDATE \"alembic_version\" SET \"version_num\" = ?1");
	v = json_object_get(fwd, "params");
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_array_get(v, 0)),
			    "096325207c82");
	assert_true(json_is_null(json_array_get(v, 1)));
	v = json_array_get(json_object_get(s, "inverse"), 0);
	assert_string_equal(json_string_value(json_object_get(v, "script")),
			    "DROP TABLE x;\n");
	assert_null(json_object_get(v, "sql"));
	json_decref(root);
	free(out);
	cv_plan_release(&plan);
}

/* A refused plan says so right after `format`; others have no field. */
static void test_plan__json_refused(void **state)
{
	struct cv_plan plan;
	json_t *root;
	const char *k;
	json_t *v;
	size_t i = 0;
	char *out;

	(void)state;
	tmws_plan(&plan);
	out = render(&plan, CV_FORMAT_JSON, false, false);
	root = json_loads(out, 0, NULL);
	assert_non_null(root);
	assert_null(json_object_get(root, "refused"));
	json_decref(root);
	free(out);
	plan.refused = "plan refused by guard: role 'admin' would have 0 grants";
	out = render(&plan, CV_FORMAT_JSON, false, false);
	root = json_loads(out, 0, NULL);
	assert_non_null(root);
	json_object_foreach(root, k, v) {
		if (i++ != 1)
			continue;
		assert_string_equal(k, "refused");
		assert_string_equal(json_string_value(v), plan.refused);
	}
	assert_int_equal(json_array_size(json_object_get(root, "steps")), 3);
	json_decref(root);
	free(out);
	cv_plan_release(&plan);
}

static void test_plan__json_invalid_utf8(void **state)
{
	struct cv_plan plan;
	json_error_t jerr;
	json_t *root;
	char *out;

	(void)state;
	cv_plan_init(&plan);
	plan.database = "sqlite:x.db";
	cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_CREATE, "roles",
		    "bad\xff\xc3(");
	out = render(&plan, CV_FORMAT_JSON, false, false);
	root = json_loads(out, 0, &jerr);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(root, "steps"), 0), "object")),
		"bad\xef\xbf\xbd\xef\xbf\xbd(");
	json_decref(root);
	free(out);
	cv_plan_release(&plan);
}

static void test_plan__text_control_chars(void **state)
{
	struct cv_plan plan;
	struct cv_step *s;
	char *out;

	(void)state;
	cv_plan_init(&plan);
	plan.database = "sqlite:x.db";
	s = cv_plan_add(&plan, CV_PHASE_REMOVE, CV_ACT_DELETE, "grants",
			"evil\033[2J\nsecond line");
	s->detail = "tab\there";
	s->flags = CV_STEP_DATA_LOSS;
	s->note = "bell\a";
	cv_plan_finish(&plan);
	out = render(&plan, CV_FORMAT_TEXT, false, false);
	assert_string_equal(out,
		"converge plan for sqlite:x.db\n"
		"\n"
		"  - grant evil\\x1b[2J\\x0asecond line: tab\\x09here\n"
		"      ! data loss: bell\\x07\n"
		"\n"
		"Plan: 0 to add, 0 to change, 1 to remove.\n"
		"1 step loses data: apply needs --allow-data-loss.\n");
	free(out);
	cv_plan_release(&plan);
}

/* The longest run of backticks at the start of any line of `s`. */
static size_t longest_line_fence(const char *s, const char **line_out)
{
	size_t best = 0;
	const char *line = s;

	while (line && *line) {
		size_t n = 0;

		while (line[n] == '`')
			n++;
		if (n > best) {
			best = n;
			*line_out = line;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return best;
}

static void test_plan__markdown(void **state)
{
	struct cv_plan plan;
	char *out;

	(void)state;
	tmws_plan(&plan);
	cv_plan_defer_check(&plan, "rls_fail_closed");
	out = render(&plan, CV_FORMAT_MARKDOWN, true, true);
	assert_string_equal(out,
		"### converge plan for `sqlite:tmws.db`\n"
		"\n"
		"schema: `e674ec434eeb` -> `571948cc671b` (`alembic_version`)\n"
		"\n"
		"```diff\n"
		"- grant dana -> admin: expired 2026-11-23T02:00:00Z\n"
		"    ! data loss: drops table license_keys (3 rows)\n"
		"↑ revision 096325207c82: Add license_keys and "
		"license_usage_history\n"
		"+ role viewer: permissions license:read, "
		"license:usage:read, license:validate\n"
		"```\n"
		"\n"
		"Plan: 1 to add, 0 to change, 1 to remove, 1 revision up, "
		"0 down.\n"
		"1 step loses data: apply needs `--allow-data-loss`.\n"
		"Checks run at apply: `rls_fail_closed`.\n");
	free(out);
	cv_plan_release(&plan);
}

static void test_plan__markdown_fence_safety(void **state)
{
	struct cv_plan plan;
	struct cv_step *s;
	const char *line = NULL, *open, *close;
	size_t fence, i;
	char *out;

	(void)state;
	cv_plan_init(&plan);
	plan.database = "sqlite:`evil`.db";
	plan.sections = CV_SEC_SCHEMA;
	plan.schema_from = "a``b";
	plan.schema_to = "`x";
	s = cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_CREATE, "roles",
			"r\n````\n# injected heading");
	s->detail = "```` and `````";
	cv_plan_finish(&plan);
	out = render(&plan, CV_FORMAT_MARKDOWN, false, false);

	/* Inline code spans use more backticks than any run inside, and
	 * pad text that starts or ends with one. */
	assert_true(strncmp(out,
		"### converge plan for ``sqlite:`evil`.db``\n", 42) == 0);
	assert_non_null(strstr(out, "schema: ```a``b``` -> `` `x ``\n"));

	/* The opening fence is longer than any backtick run inside. */
	open = strstr(out, "diff\n");
	assert_non_null(open);
	fence = 0;
	while (open > out && open[-1] == '`') {
		open--;
		fence++;
	}
	assert_int_equal(fence, 6);
	open += fence + 5;
	/* The block ends at the first line that is a run of >= fence
	 * backticks; it must be the closing fence after the last step. */
	close = NULL;
	for (i = 0; open[i]; i++) {
		if ((i == 0 || open[i - 1] == '\n') &&
		    strncmp(open + i, "``````", 6) == 0) {
			close = open + i;
			break;
		}
	}
	assert_non_null(close);
	assert_true(strncmp(close, "``````\n\nPlan: 1 to add", 22) == 0);
	/* Nothing inside starts a line with as many backticks. */
	{
		char *inside = strndup(open, (size_t)(close - open));

		assert_true(longest_line_fence(inside, &line) < fence);
		free(inside);
	}
	free(out);
	cv_plan_release(&plan);
}

/* The plan file as a string. */
static char *write_yaml(const struct cv_plan *plan)
{
	struct cv_error err = CV_ERROR_INIT;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	assert_int_equal(cv_plan_write_yaml(plan, fp, &err), 0);
	fclose(fp);
	assert_null(err.msg);
	return buf;
}

/* Writes `text` to a new temporary file; returns its malloc'd path. */
static char *temp_file(const char *text)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	size_t n = strlen(text);
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	path = cv_asprintf("%s/test_plan.XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return path;
}

static void test_plan__yaml_format(void **state)
{
	const char *params[] = { "571948cc671b", NULL };
	const char *key[] = { "096325207c82" };
	struct cv_plan plan;
	struct cv_step *s;
	char *out;

	(void)state;
	tmws_plan(&plan);
	plan.created_at = plan.now = "2026-11-23T12:00:00Z";
	plan.fingerprint = "sha256:f1";
	plan.manifests_digest = "sha256:d1";
	cv_plan_defer_check(&plan, "rls_fail_closed");
	cv_plan_add_min_grant(&plan, "admin", 1, NULL);
	cv_plan_add_min_grant(&plan, "o'brien", 2, NULL);
	s = &plan.steps[1];
	cv_step_set_key(&plan, s, key, 1);
	s->checksum = "sha256:c1";
	cv_step_fwd(&plan, s, "CREATE TABLE license_keys (\n  id INTEGER\n);\n",
		    NULL, 0)->script = true;
	cv_step_fwd(&plan, s, "UPDATE \"alembic_version\" SET "
		    "\"version_num\" = ?1", params, 2);
	cv_step_inv(&plan, s, "DROP TABLE license_keys;", NULL, 0)->script =
		true;
	out = write_yaml(&plan);
	assert_string_equal(out,
		"format: converge-plan/1\n"
		"created_at: \"2026-11-23T12:00:00Z\"\n"
		"now: \"2026-11-23T12:00:00Z\"\n"
		"database: \"sqlite:tmws.db\"\n"
		"backend: sqlite\n"
		"fingerprint: \"sha256:f1\"\n"
		"manifests_digest: \"sha256:d1\"\n"
		"sections: [schema, roles, grants]\n"
		"schema: {table: \"alembic_version\", from: \"e674ec434eeb\", "
		"to: \"571948cc671b\"}\n"
		"guards:\n"
		"  min_grants: {\"admin\": 1, \"o'brien\": 2}\n"
		"deferred_checks: [\"rls_fail_closed\"]\n"
		"summary: {add: 1, change: 0, remove: 1, up: 1, down: 0}\n"
		"steps:\n"
		"- seq: 1\n"
		"  phase: 2\n"
		"  kind: grants\n"
		"  action: delete\n"
		"  object: \"dana -> admin\"\n"
		"  detail: \"expired 2026-11-23T02:00:00Z\"\n"
		"  flags: [data_loss]\n"
		"  note: \"drops table license_keys (3 rows)\"\n"
		"  key: []\n"
		"  before: null\n"
		"  after: null\n"
		"  forward: []\n"
		"  inverse: []\n"
		"- seq: 2\n"
		"  phase: 4\n"
		"  kind: schema\n"
		"  action: up\n"
		"  object: \"096325207c82\"\n"
		"  detail: \"Add license_keys and license_usage_history\"\n"
		"  key: [\"096325207c82\"]\n"
		"  before: null\n"
		"  after: null\n"
		"  checksum: \"sha256:c1\"\n"
		"  forward:\n"
		"  - script: |\n"
		"      CREATE TABLE license_keys (\n"
		"        id INTEGER\n"
		"      );\n"
		"  - sql: 'UPDATE \"alembic_version\" SET \"version_num\" = ?1'\n"
		"    params: [\"571948cc671b\", null]\n"
		"  inverse:\n"
		"  - script: \"DROP TABLE license_keys;\"\n"
		"- seq: 3\n"
		"  phase: 5\n"
		"  kind: roles\n"
		"  action: create\n"
		"  object: \"viewer\"\n"
		"  detail: \"permissions license:read, license:usage:read, "
		"license:validate\"\n"
		"  key: []\n"
		"  before: null\n"
		"  after: null\n"
		"  forward: []\n"
		"  inverse: []\n");
	free(out);
	cv_plan_release(&plan);
}

/* Text that must come back from a plan file exactly as it went in. */
static const char *const hostile[] = {
	"o'brien@example.com", "\"; DROP TABLE x; --", "line1\nline2",
	"  spaced  ", "null", "~", "\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9",
	"tab\there", "", "true", "123", "back\\slash", "trailing\n",
	"two\n\n", "\nleading", "x \ny", "- dash", "[a, b]", "{a: b}", "&a",
	"*b", "!t", "#c", "%d", "@e", "`f", "|", ">", "'", "\"", "cr\r\nlf",
	"CREATE TABLE t (\n  a TEXT\n);\n", "  indented\nscript\n",
	"no newline\nat end", "...", "---", "a: b", "? q", "\\\\\\",
	"a\xe2\x80\xa8" "b",
	/* Longer than any default line width: must not be folded. */
	"SELECT a, b, c FROM a_table_with_a_long_name WHERE x = 'some value' "
	"AND y = 'another value' AND z IN ('one', 'two', 'three', 'four') "
	"AND w NOT LIKE '%pattern with   three spaces%' ORDER BY a, b, c",
	"CREATE VIEW v AS SELECT a, b, c FROM a_table_with_a_long_name WHERE "
	"x = 'some value' AND y = 'another value' AND z IN ('one', 'two');\n"
	"SELECT 1;\n",
};

static void assert_str0(const char *a, const char *b)
{
	if (!a || !b) {
		assert_ptr_equal(a, b);
		return;
	}
	assert_string_equal(a, b);
}

static void assert_stmts_equal(const struct cv_stmt *a, uint32_t na,
			       const struct cv_stmt *b, uint32_t nb)
{
	uint32_t i, j;

	assert_int_equal(na, nb);
	for (i = 0; i < na; i++) {
		assert_string_equal(a[i].sql, b[i].sql);
		assert_int_equal(a[i].script, b[i].script);
		assert_int_equal(a[i].nparams, b[i].nparams);
		for (j = 0; j < a[i].nparams; j++)
			assert_str0(a[i].params[j], b[i].params[j]);
	}
}

static void assert_plans_equal(const struct cv_plan *a, const struct cv_plan *b)
{
	size_t i, j;

	assert_string_equal(a->format, b->format);
	assert_str0(a->created_at, b->created_at);
	assert_str0(a->now, b->now);
	assert_str0(a->database, b->database);
	assert_str0(a->backend, b->backend);
	assert_str0(a->fingerprint, b->fingerprint);
	assert_str0(a->manifests_digest, b->manifests_digest);
	assert_int_equal(a->sections, b->sections);
	assert_str0(a->schema_table, b->schema_table);
	assert_str0(a->schema_from, b->schema_from);
	assert_str0(a->schema_to, b->schema_to);
	assert_int_equal(a->nmin_grants, b->nmin_grants);
	for (i = 0; i < a->nmin_grants; i++) {
		assert_string_equal(a->min_grants[i].role,
				    b->min_grants[i].role);
		assert_int_equal(a->min_grants[i].min, b->min_grants[i].min);
	}
	assert_int_equal(a->ndeferred, b->ndeferred);
	for (i = 0; i < a->ndeferred; i++)
		assert_string_equal(a->deferred_checks[i],
				    b->deferred_checks[i]);
	assert_int_equal(a->nr, b->nr);
	for (i = 0; i < a->nr; i++) {
		const struct cv_step *x = &a->steps[i], *y = &b->steps[i];

		assert_int_equal(x->seq, y->seq);
		assert_int_equal(x->phase, y->phase);
		assert_int_equal(x->action, y->action);
		assert_int_equal(x->flags, y->flags);
		assert_string_equal(x->kind, y->kind);
		assert_string_equal(x->object, y->object);
		assert_str0(x->detail, y->detail);
		assert_str0(x->note, y->note);
		assert_str0(x->before, y->before);
		assert_str0(x->after, y->after);
		assert_str0(x->checksum, y->checksum);
		assert_int_equal(x->nkey, y->nkey);
		for (j = 0; j < x->nkey; j++)
			assert_string_equal(x->key[j], y->key[j]);
		assert_stmts_equal(x->fwd, x->nfwd, y->fwd, y->nfwd);
		assert_stmts_equal(x->inv, x->ninv, y->inv, y->ninv);
	}
}

static void test_plan__yaml_round_trip(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_plan plan, back, again;
	struct cv_step *s;
	char *first, *second, *third, *path, *path2;
	size_t i, n = CV_ARRAY_SIZE(hostile);

	(void)state;
	cv_plan_init(&plan);
	plan.created_at = "2026-11-23T12:00:00Z";
	plan.database = "postgres://o'brien@db/\xc3\xbc";
	plan.backend = "postgres";
	plan.fingerprint = "sha256:\"quoted\"";
	plan.sections = CV_SEC_SCHEMA | CV_SEC_GRANTS | CV_SEC_FLAGS;
	plan.schema_table = "null";
	plan.schema_from = NULL;
	plan.schema_to = "~";
	for (i = 0; i < n; i++) {
		const char *params[] = { hostile[i], NULL, hostile[n - 1 - i] };
		const char *key[] = { hostile[i], hostile[(i + 1) % n] };

		s = cv_plan_add(&plan, (enum cv_phase)(i % 7 + 1),
				(enum cv_action)(i % CV_ACT__COUNT), "grants",
				hostile[i]);
		s->detail = i % 2 ? hostile[n - 1 - i] : NULL;
		s->note = i % 3 ? NULL : hostile[(i + 5) % n];
		s->before = i % 4 ? hostile[(i + 7) % n] : NULL;
		s->after = hostile[(i + 3) % n];
		s->checksum = i % 5 ? NULL : "sha256:00";
		s->flags = (unsigned)(i % 8);
		cv_step_set_key(&plan, s, key, i % 3);
		cv_step_fwd(&plan, s, hostile[i], NULL, 0)->script = true;
		cv_step_fwd(&plan, s, hostile[n - 1 - i], params, 3);
		cv_step_inv(&plan, s, hostile[(i + 2) % n], params, 1);
		cv_plan_defer_check(&plan, hostile[i]);
		/* Keys of one mapping: each name once. */
		if (i < 8 && *hostile[i])
			cv_plan_add_min_grant(&plan, hostile[i],
					      (long long)i * 1000000007LL,
					      NULL);
	}
	cv_plan_finish(&plan);

	first = write_yaml(&plan);
	path = temp_file(first);
	assert_int_equal(cv_plan_read_yaml(&back, path, &err), 0);
	assert_null(err.msg);
	assert_plans_equal(&plan, &back);
	second = write_yaml(&back);
	assert_string_equal(first, second);

	/* And once more from the second file, for good measure. */
	path2 = temp_file(second);
	assert_int_equal(cv_plan_read_yaml(&again, path2, &err), 0);
	third = write_yaml(&again);
	assert_string_equal(first, third);

	/* The read plan is a plan like any other: it can grow. */
	for (i = 0; i < back.nr; i++)
		cv_step_fwd(&back, &back.steps[i], "SELECT 1", NULL, 0);
	assert_string_equal(back.steps[0].fwd[back.steps[0].nfwd - 1].sql,
			    "SELECT 1");

	unlink(path);
	unlink(path2);
	free(path);
	free(path2);
	free(first);
	free(second);
	free(third);
	cv_plan_release(&again);
	cv_plan_release(&back);
	cv_plan_release(&plan);
}

static void test_plan__yaml_empty_plan_round_trip(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_plan plan, back;
	char *first, *second, *path;

	(void)state;
	cv_plan_init(&plan);
	plan.database = "sqlite:x.db";
	plan.backend = "sqlite";
	cv_plan_finish(&plan);
	first = write_yaml(&plan);
	assert_non_null(strstr(first, "sections: []\n"));
	assert_non_null(strstr(first, "steps: []\n"));
	assert_null(strstr(first, "schema:"));
	assert_null(strstr(first, "deferred_checks"));
	path = temp_file(first);
	assert_int_equal(cv_plan_read_yaml(&back, path, &err), 0);
	assert_int_equal(back.nr, 0);
	second = write_yaml(&back);
	assert_string_equal(first, second);
	unlink(path);
	free(path);
	free(first);
	free(second);
	cv_plan_release(&back);
	cv_plan_release(&plan);
}

static void test_plan__yaml_write_invalid_utf8(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_plan plan;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	cv_plan_init(&plan);
	plan.database = "sqlite:x.db";
	plan.backend = "sqlite";
	cv_plan_add(&plan, CV_PHASE_ADD, CV_ACT_CREATE, "roles", "bad\xff");
	fp = open_memstream(&buf, &len);
	assert_int_equal(cv_plan_write_yaml(&plan, fp, &err), CV_EINVAL);
	fclose(fp);
	assert_non_null(strstr(err.msg, "UTF-8"));
	cv_error_release(&err);
	free(buf);
	cv_plan_release(&plan);
}

static const char good_plan[] =
	"format: converge-plan/1\n"                              /* 1 */
	"created_at: \"2026-11-23T12:00:00Z\"\n"
	"now: \"2026-11-23T12:00:00Z\"\n"
	"database: \"sqlite:t.db\"\n"
	"backend: sqlite\n"                                      /* 5 */
	"fingerprint: \"sha256:ab\"\n"
	"manifests_digest: \"sha256:cd\"\n"
	"sections: [roles]\n"
	"summary: {add: 1, change: 0, remove: 0, up: 0, down: 0}\n"
	"steps:\n"                                               /* 10 */
	"- seq: 1\n"
	"  phase: 5\n"
	"  kind: roles\n"
	"  action: create\n"
	"  object: \"viewer\"\n"                                 /* 15 */
	"  key: [\"viewer\"]\n"
	"  before: null\n"
	"  after: \"{}\"\n"
	"  forward:\n"
	"  - sql: \"INSERT INTO rbac_roles (name) VALUES (?1)\"\n" /* 20 */
	"    params: [\"viewer\"]\n"
	"  inverse:\n"
	"  - sql: \"DELETE FROM rbac_roles WHERE name = ?1\"\n"
	"    params: [\"viewer\"]\n";

/* good_plan with the first occurrence of `from` replaced by `to`. */
static char *edit(const char *from, const char *to)
{
	const char *at = strstr(good_plan, from);
	struct cv_buf b = CV_BUF_INIT;

	assert_non_null(at);
	cv_buf_add(&b, good_plan, (size_t)(at - good_plan));
	cv_buf_adds(&b, to);
	cv_buf_adds(&b, at + strlen(from));
	return cv_buf_detach(&b);
}

static void expect_read_error(const char *text, const char *msg,
			      unsigned line, unsigned col)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_plan plan;
	char *path = temp_file(text);

	assert_int_equal(cv_plan_read_yaml(&plan, path, &err), CV_EINVAL);
	assert_int_equal(err.code, CV_EINVAL);
	assert_non_null(err.msg);
	print_message("  %s:%u:%u: %s\n", err.file, err.line, err.col, err.msg);
	if (!strstr(err.msg, msg))
		fail_msg("message '%s' does not contain '%s'", err.msg, msg);
	assert_non_null(err.file);
	assert_string_equal(err.file, path);
	assert_int_equal(err.line, line);
	if (col)
		assert_int_equal(err.col, col);
	/* A failed read leaves an empty plan behind, safe to release. */
	assert_int_equal(plan.nr, 0);
	cv_plan_release(&plan);
	cv_error_release(&err);
	unlink(path);
	free(path);
}

static void test_plan__yaml_read_good(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_plan plan;
	char *path = temp_file(good_plan);

	(void)state;
	assert_int_equal(cv_plan_read_yaml(&plan, path, &err), 0);
	assert_string_equal(plan.database, "sqlite:t.db");
	assert_int_equal(plan.sections, CV_SEC_ROLES);
	assert_int_equal(plan.nr, 1);
	assert_int_equal(plan.steps[0].phase, CV_PHASE_ADD);
	assert_int_equal(plan.steps[0].action, CV_ACT_CREATE);
	assert_null(plan.steps[0].before);
	assert_string_equal(plan.steps[0].after, "{}");
	assert_int_equal(plan.steps[0].nfwd, 1);
	assert_string_equal(plan.steps[0].fwd[0].params[0], "viewer");
	/* A file without `guards` (older ones too) records none. */
	assert_int_equal(plan.nmin_grants, 0);
	cv_plan_release(&plan);
	unlink(path);
	free(path);
}

/* The guards a plan records, each with its place in the plan file, which
 * apply's refusal names. */
static void test_plan__yaml_read_guards(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_plan plan;
	char *text = edit("[roles]\n", "[roles, grants]\nguards:\n"
			  "  min_grants: {\"admin\": 1, 'o''b': 0}\n");
	char *path = temp_file(text);

	(void)state;
	assert_int_equal(cv_plan_read_yaml(&plan, path, &err), 0);
	assert_int_equal(plan.nmin_grants, 2);
	assert_string_equal(plan.min_grants[0].role, "admin");
	assert_int_equal(plan.min_grants[0].min, 1);
	assert_string_equal(plan.min_grants[0].mark.file, path);
	assert_int_equal(plan.min_grants[0].mark.line, 10);
	assert_int_equal(plan.min_grants[0].mark.col, 16);
	assert_string_equal(plan.min_grants[1].role, "o'b");
	assert_int_equal(plan.min_grants[1].min, 0);
	cv_plan_release(&plan);
	unlink(path);
	free(path);
	free(text);
}

/* good_plan's step, then one of an earlier phase: steps run in file
 * order, and a file whose phases go back was not written by plan. */
static void expect_unsorted_phases(void)
{
	struct cv_buf b = CV_BUF_INIT;
	char *text = edit("add: 1", "add: 2");

	cv_buf_adds(&b, text);
	cv_buf_adds(&b, "- seq: 2\n"
		    "  phase: 2\n"                                /* 26 */
		    "  kind: roles\n"
		    "  action: create\n"
		    "  object: \"editor\"\n"
		    "  key: [\"editor\"]\n"
		    "  before: null\n"
		    "  after: \"{}\"\n"
		    "  forward: []\n"
		    "  inverse: []\n");
	expect_read_error(b.buf, "step 2 has phase 2 after phase 5; steps "
			  "are sorted by phase", 26, 10);
	cv_buf_release(&b);
	free(text);
}

/* A second step like good_plan's (phase 5, role "editor"), its action
 * and its anchor (or "") given. */
static void add_step(struct cv_buf *b, const char *action, const char *anchor)
{
	cv_buf_addf(b, "- %sseq: 2\n"
		    "  phase: 5\n"
		    "  kind: roles\n"
		    "  action: %s\n"                       /* line 4 of it */
		    "  object: \"editor\"\n"
		    "  key: [\"editor\"]\n"
		    "  before: null\n"
		    "  after: \"{}\"\n"
		    "  forward: []\n"
		    "  inverse: []\n", anchor, action);
}

/*
 * Steps are read as the parser goes, before the header is looked at: a
 * statement short of parameters is still found by the backend given
 * after the steps, and the first problem said is still the first in the
 * steps' order, whichever check finds it.
 */
static void test_plan__yaml_read_streamed_steps(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_buf b = CV_BUF_INIT;
	struct cv_plan plan;
	char *text = edit("    params: [\"viewer\"]\n  inverse", "  inverse");
	char *path, *cut;

	(void)state;
	/* Step 1 is short of a parameter (line 20); step 2 has a bad
	 * action (line 27): step 1's problem is the one said. */
	cv_buf_adds(&b, text);
	add_step(&b, "explode", "");
	expect_read_error(b.buf, "statement takes 1 parameter, 'params' has 0",
			  20, 5);
	/* The backend after the steps: the same count, one line up. */
	cv_buf_reset(&b);
	cut = strstr(text, "backend: sqlite\n");
	assert_non_null(cut);
	cv_buf_add(&b, text, (size_t)(cut - text));
	cv_buf_adds(&b, cut + strlen("backend: sqlite\n"));
	cv_buf_adds(&b, "backend: sqlite\n");
	expect_read_error(b.buf, "statement takes 1 parameter, 'params' has 0",
			  19, 5);
	/* On PostgreSQL the same text has no $N: nothing is missing. */
	cv_buf_reset(&b);
	cv_buf_add(&b, text, (size_t)(cut - text));
	cv_buf_adds(&b, cut + strlen("backend: sqlite\n"));
	cv_buf_adds(&b, "backend: postgres\n");
	path = temp_file(b.buf);
	assert_int_equal(cv_plan_read_yaml(&plan, path, &err), 0);
	assert_int_equal(plan.nr, 1);
	cv_plan_release(&plan);
	unlink(path);
	free(path);
	free(text);
	/* A step that defines an anchor, and every one after it, stays in
	 * the tree (an alias may name it): read after the streamed ones,
	 * in the file's order. */
	text = edit("add: 1", "add: 3");
	cv_buf_reset(&b);
	cv_buf_adds(&b, text);
	add_step(&b, "create", "&second\n  ");
	add_step(&b, "create", "");
	cut = strstr(b.buf + strlen(text) + 1, "- seq: 2");
	assert_non_null(cut);
	cut[7] = '3';
	path = temp_file(b.buf);
	if (cv_plan_read_yaml(&plan, path, &err))
		fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	assert_int_equal(plan.nr, 3);
	assert_string_equal(plan.steps[0].object, "viewer");
	assert_int_equal(plan.steps[1].seq, 2);
	assert_int_equal(plan.steps[2].seq, 3);
	assert_int_equal(plan.steps[2].nkey, 1);
	cv_plan_release(&plan);
	unlink(path);
	free(path);
	free(text);
	cv_buf_release(&b);
}

static void test_plan__yaml_read_errors(void **state)
{
	static const struct {
		const char *from, *to, *msg;
		unsigned line, col;
	} cases[] = {
		{ "converge-plan/1", "converge-plan/9",
		  "unsupported plan format 'converge-plan/9'", 1, 9 },
		{ "  action: create\n", "",
		  "missing field 'action' in step 1", 11, 3 },
		{ "- seq: 1\n", "- seq: one\n", "seq", 11, 8 },
		{ "action: create", "action: explode",
		  "unknown action 'explode'", 14, 11 },
		{ "  key: [\"viewer\"]\n", "  key: \"viewer\"\n", "key", 16, 8 },
		{ "  before: null\n", "  before: [a]\n", "before", 17, 11 },
		{ "  before: null\n", "  flags: [data_loss, explode]\n"
		  "  before: null\n", "unknown flag 'explode'", 17, 22 },
		{ "[roles]", "[roles, bogus]", "unknown section 'bogus'", 8, 19 },
		{ "    params: [\"viewer\"]\n", "    params: viewer\n",
		  "params", 21, 13 },
		{ "add: 1", "add: 2", "summary says add: 2, but the steps say 1",
		  9, 16 },
		{ "  phase: 5\n", "  phase: 8\n", "phase", 12, 10 },
		{ "- seq: 1\n", "- seq: 2\n", "step 1 has seq 2", 11, 8 },
		{ "database: \"sqlite:t.db\"\n", "", "missing field 'database'",
		  1, 1 },
		{ "  object: \"viewer\"\n", "  objcet: \"viewer\"\n", "objcet",
		  15, 3 },
		{ "  - sql: \"DELETE", "  - script: \"DELETE",
		  "a 'script' statement takes no 'params'", 24, 13 },
		{ "steps:\n", "steps: {\n", "", 11, 0 },
		{ "summary:", "guards: {min_grants: {a: 1}}\nsummary:",
		  "'guards' given but 'sections' does not include grants",
		  9, 9 },
		{ "[roles]\n", "[roles, grants]\nguards: {min_grants: {a: -1}}\n",
		  "'a' is out of range: -1", 9, 26 },
		{ "[roles]\n", "[roles, grants]\nguards: {min_grant: {a: 1}}\n",
		  "min_grant", 9, 10 },
		/* A kind rollback would neither check nor undo in order. */
		{ "kind: roles", "kind: bogus", "unknown kind 'bogus'", 13, 9 },
		/* A file cut short after an inverse's SQL: its params lost. */
		{ "    params: [\"viewer\"]\n  inverse", "  inverse",
		  "statement takes 1 parameter, 'params' has 0", 20, 5 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < CV_ARRAY_SIZE(cases); i++) {
		char *text = edit(cases[i].from, cases[i].to);

		print_message("case %zu: %s\n", i, cases[i].msg);
		expect_read_error(text, cases[i].msg, cases[i].line,
				  cases[i].col);
		free(text);
	}
	expect_unsorted_phases();
	/* Not a mapping at all, and an empty file. */
	expect_read_error("- a\n- b\n", "", 1, 1);
	expect_read_error("", "empty", 1, 1);
}

/*
 * What plan -o writes, apply FILE reads: the first plan of 100,000 orgs'
 * entitlements is 264 MB, of a million grants 480 MB.  A file past the
 * old 256 MiB is read (here a sparse one: then refused as no YAML), one
 * past 2 GiB is not even opened for reading.
 */
static void test_plan__yaml_read_size_limit(void **state)
{
	static const struct {
		off_t size;
		int code;
		const char *msg;
	} cases[] = {
		{ (off_t)257 << 20, CV_EINVAL, "control character" },
		{ ((off_t)2 << 30) + 1, CV_EIO, "file too large" },
	};
	struct cv_error err = CV_ERROR_INIT;
	struct cv_plan plan;
	size_t i;

	(void)state;
	for (i = 0; i < CV_ARRAY_SIZE(cases); i++) {
		char *path = temp_file("format: converge-plan/1\n");

		assert_int_equal(truncate(path, cases[i].size), 0);
		assert_int_equal(cv_plan_read_yaml(&plan, path, &err),
				 cases[i].code);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("%s: '%s' does not say '%s'", path, err.msg,
				 cases[i].msg);
		cv_plan_release(&plan);
		cv_error_release(&err);
		unlink(path);
		free(path);
	}
}

static void test_plan__yaml_read_missing_file(void **state)
{
	struct cv_error err = CV_ERROR_INIT;
	struct cv_plan plan;

	(void)state;
	assert_int_equal(cv_plan_read_yaml(&plan, "/nonexistent/plan.yaml",
					   &err), CV_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/plan.yaml"));
	cv_plan_release(&plan);
	cv_error_release(&err);
}

/* Each string as "<len>:<bytes>", NULL as "~", lengths of any width. */
static void test_plan__canonical_encoding(void **state)
{
	struct cv_buf b = CV_BUF_INIT;
	char head[CV_CANON_HEAD];
	size_t n;

	(void)state;
	cv_canon_add(&b, "abc");
	cv_canon_add(&b, NULL);
	cv_canon_add(&b, "");
	cv_canon_add(&b, "0123456789ab");
	assert_string_equal(b.buf, "3:abc~0:12:0123456789ab");
	assert_memory_equal(cv_canon_head(head, 1234567, &n), "1234567:", 8);
	assert_int_equal(n, 8);
	cv_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan__action_names),
		cmocka_unit_test(test_plan__format_parse),
		cmocka_unit_test(test_plan__stable_phase_sort),
		cmocka_unit_test(test_plan__copies_into_arena),
		cmocka_unit_test(test_plan__shares_repeated_texts),
		cmocka_unit_test(test_plan__counts),
		cmocka_unit_test(test_plan__text),
		cmocka_unit_test(test_plan__text_plurals_and_notes),
		cmocka_unit_test(test_plan__text_empty),
		cmocka_unit_test(test_plan__text_color),
		cmocka_unit_test(test_plan__step_print),
		cmocka_unit_test(test_plan__text_verbose),
		cmocka_unit_test(test_plan__text_control_chars),
		cmocka_unit_test(test_plan__json),
		cmocka_unit_test(test_plan__json_layout),
		cmocka_unit_test(test_plan__json_refused),
		cmocka_unit_test(test_plan__json_invalid_utf8),
		cmocka_unit_test(test_plan__markdown),
		cmocka_unit_test(test_plan__markdown_fence_safety),
		cmocka_unit_test(test_plan__yaml_format),
		cmocka_unit_test(test_plan__yaml_round_trip),
		cmocka_unit_test(test_plan__yaml_empty_plan_round_trip),
		cmocka_unit_test(test_plan__yaml_write_invalid_utf8),
		cmocka_unit_test(test_plan__yaml_read_good),
		cmocka_unit_test(test_plan__yaml_read_guards),
		cmocka_unit_test(test_plan__yaml_read_errors),
		cmocka_unit_test(test_plan__yaml_read_streamed_steps),
		cmocka_unit_test(test_plan__yaml_read_size_limit),
		cmocka_unit_test(test_plan__yaml_read_missing_file),
		cmocka_unit_test(test_plan__canonical_encoding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
