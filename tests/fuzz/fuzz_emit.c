/*
 * Fuzz target: the YAML writer behind `inspect` (emit.c), read back by the
 * manifest parser (yaml.c), as a user who saves inspect's output and loads
 * it as a manifest does.
 *
 * The input is up to 16 strings separated by NUL bytes: live names,
 * subjects and descriptions as a database may hold them.  They are written
 * as values of a block list, of a flow list, and as keys of a mapping.
 * Checks: what the emitter accepts, the parser reads back without an
 * error, with `${NAME}` expansion on, and every string is the same text
 * as the one written (a value never turns into a null, a number-looking
 * string never loses its quotes, `${` never expands).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "converge/emit.h"
#include "converge/yaml.h"
#include "converge/util.h"
#include "fuzz.h"

#define MAX_STRINGS 16

struct input {
	const char *s[MAX_STRINGS];
	size_t n;
};

/* Splits text[0..size] (NUL-terminated at size) at each NUL. */
static void split(struct input *in, const char *text, size_t size)
{
	const char *p = text, *end = text + size;

	in->n = 0;
	while (in->n < MAX_STRINGS) {
		in->s[in->n++] = p;
		p += strlen(p) + 1;
		if (p > end)
			break;
	}
}

/*
 * Control characters (C0 but tab, newline and carriage return, DEL, C1)
 * are refused by the parser by design (SPEC §6): not compared.
 */
static int has_control(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++)
		if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') ||
		    *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return 1;
	return 0;
}

/* Whether s[i] is a key written before: a mapping has each key once. */
static int seen(const struct input *in, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(in->s[j], in->s[i]) == 0)
			return 1;
	return 0;
}

static char *write_doc(const struct input *in, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);
	struct cv_error err = CV_ERROR_INIT;
	struct cv_emit *e;
	int ret;

	if (!fp)
		abort();
	e = cv_emit_new(fp);
	cv_emit_map(e, false);
	for (int flow = 0; flow < 2; flow++) {
		cv_emit_str(e, flow ? "flow" : "block");
		cv_emit_seq(e, flow);
		for (size_t i = 0; i < in->n; i++)
			cv_emit_str(e, in->s[i]);
		cv_emit_end(e);
	}
	cv_emit_str(e, "keys");
	cv_emit_map(e, false);
	for (size_t i = 0; i < in->n; i++)
		if (!seen(in, i))
			cv_emit_pair(e, in->s[i], in->s[i]);
	cv_emit_end(e);
	cv_emit_end(e);
	ret = cv_emit_finish(e, &err);
	fclose(fp);
	cv_error_release(&err);
	if (ret) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void check_text(const struct cv_node *n, const char *want,
		       const uint8_t *data, size_t size)
{
	const char *got = NULL;
	struct cv_diags diags = CV_DIAGS_INIT;

	fuzz_check(n && cv_yaml_as_string(n, "value", &diags, &got) == 0 &&
		   strlen(want) == n->len && strcmp(got, want) == 0,
		   "a string written reads back as the same text", data, size);
	cv_diags_release(&diags);
}

static void check_doc(const struct cv_node *root, const struct input *in,
		      const uint8_t *data, size_t size)
{
	const struct cv_node *keys = cv_yaml_get(root, "keys");

	for (int flow = 0; flow < 2; flow++) {
		const struct cv_node *n;
		size_t i = 0;

		n = cv_yaml_first(cv_yaml_get(root, flow ? "flow" : "block"));
		for (; i < in->n; i++, n = cv_yaml_next(n))
			check_text(n, in->s[i], data, size);
		fuzz_check(!n, "a list reads back whole", data, size);
	}
	for (size_t i = 0; i < in->n; i++) {
		const struct cv_node *v = cv_yaml_get(keys, in->s[i]);

		fuzz_check(v != NULL, "a key reads back", data, size);
		check_text(v, in->s[i], data, size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cv_arena strings;
	struct cv_yaml_doc doc;
	struct cv_diags diags = CV_DIAGS_INIT;
	struct input in;
	char *text, *yaml;
	size_t len = 0;
	int ret;

	if (size > 4096)
		return -1;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	split(&in, text, size);
	for (size_t i = 0; i < in.n; i++)
		if (has_control(in.s[i])) {
			free(text);
			return -1;
		}
	yaml = write_doc(&in, &len);
	if (!yaml) {
		free(text);
		return 0;
	}
	cv_arena_init(&strings);
	ret = cv_yaml_parse(&doc, "inspect.yaml", yaml, len, CV_YAML_EXPAND_ENV,
			    &strings, &diags);
	if (ret)
		cv_diags_print(&diags, stderr);
	fuzz_check(ret == 0, "what inspect writes parses", data, size);
	check_doc(doc.root, &in, data, size);
	cv_yaml_release(&doc);
	cv_diags_release(&diags);
	cv_arena_release(&strings);
	free(yaml);
	free(text);
	return 0;
}
