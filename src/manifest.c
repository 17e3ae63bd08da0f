/*
 * Manifest loading: argument expansion, reading, section dispatch to the
 * kinds, and the manifests digest (manifest.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "converge/kind.h"
#include "converge/manifest.h"

static const char *const top_keys[] = {
	"version", "schema", "roles", "grants", "entitlements", "flags",
	"checks", "guards", "postgres", "store", NULL
};

void cv_manifest_init(struct cv_manifest *m)
{
	memset(m, 0, sizeof(*m));
	cv_arena_init(&m->strings);
}

void cv_manifest_release(struct cv_manifest *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nsources; i++)
		free((char *)m->sources[i].text);
	free(m->sources);
	cv_arena_release(&m->strings);
	memset(m, 0, sizeof(*m));
}

int cv_manifest_read(struct cv_manifest *m, const char *path,
		     const struct cv_mark *from, struct cv_diags *diags,
		     const struct cv_source **out)
{
	struct cv_source *src;
	const char *name;
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (strcmp(path, "-") == 0) {
		name = "<stdin>";
		ret = cv_read_stream(0, &text, &len, CV_MANIFEST_MAX_BYTES);
	} else {
		name = path;
		ret = cv_read_file(path, &text, &len, CV_MANIFEST_MAX_BYTES);
	}
	if (ret == -EFBIG) {
		cv_diag_error(diags, from, "'%s' is too large (the limit is %zu MiB)",
			      cv_shorten(name), CV_MANIFEST_MAX_BYTES >> 20);
		return CV_EINVAL;
	}
	if (ret < 0) {
		cv_diag_error(diags, from, "cannot read '%s': %s",
			      cv_shorten(name), strerror(-ret));
		return CV_EIO;
	}
	CV_GROW(m->sources, m->nsources + 1, m->sources_alloc);
	src = &m->sources[m->nsources++];
	src->path = cv_arena_strdup(&m->strings, name);
	src->text = text;
	src->len = len;
	diags->sources = m->sources;
	diags->nsources = m->nsources;
	*out = src;
	return 0;
}

static bool is_yaml_name(const char *name)
{
	return cv_ends_with(name, ".yaml") || cv_ends_with(name, ".yml");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct path_list {
	char **items;
	size_t nr, alloc;
};

static void path_add(struct path_list *l, char *path)
{
	CV_GROW(l->items, l->nr + 1, l->alloc);
	l->items[l->nr++] = path;
}

/* Every .yaml or .yml file below dir; hidden files and folders are skipped. */
static int walk(const char *dir, struct path_list *out, struct cv_diags *diags)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int ret = 0;

	if (!d) {
		cv_diag_error(diags, NULL, "cannot read directory '%s': %s",
			      cv_shorten(dir), strerror(errno));
		return CV_EIO;
	}
	while ((e = readdir(d))) {
		struct stat st;
		char *path;

		if (e->d_name[0] == '.')
			continue;
		path = cv_asprintf("%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0) {
			free(path);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int r = walk(path, out, diags);

			if (r)
				ret = r;
			free(path);
		} else if (S_ISREG(st.st_mode) && is_yaml_name(e->d_name)) {
			path_add(out, path);
		} else {
			free(path);
		}
	}
	closedir(d);
	return ret;
}

struct parsed {
	const struct cv_source *src;
	struct cv_yaml_doc doc;
	bool from_dir;
	bool bad;     /* did not parse: nothing to load */
	char *real;   /* realpath, for files found by walking */
};

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return cv_strdup(".");
	if (slash == path)
		return cv_strdup("/");
	return cv_strndup(path, (size_t)(slash - path));
}

/*
 * Migration files often live below the manifests folder; a directory walk
 * must not take them for manifests.  Returns the real path of the
 * migrations directory a parsed manifest names, or NULL.
 */
static char *migrations_dir(const struct parsed *p)
{
	const struct cv_node *schema, *dir;
	char *base, *joined, *real;

	if (!p->doc.root || p->doc.root->type != CV_NODE_MAP)
		return NULL;
	schema = cv_yaml_get(p->doc.root, "schema");
	dir = schema ? cv_yaml_get(schema, "migrations") : NULL;
	if (!dir || dir->type != CV_NODE_SCALAR || !dir->len)
		return NULL;
	if (dir->str[0] == '/') {
		joined = cv_strdup(dir->str);
	} else {
		base = dir_of(p->src->path);
		joined = cv_asprintf("%s/%s", base, dir->str);
		free(base);
	}
	real = realpath(joined, NULL);
	free(joined);
	return real;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static int load_version(const struct cv_node *node, bool *seen,
			struct cv_mark *first, struct cv_diags *diags)
{
	long long v;

	if (cv_yaml_as_int(node, "version", diags, &v))
		return CV_EINVAL;
	if (v != 1) {
		cv_diag_error(diags, &node->mark,
			      "unsupported manifest version %lld (this converge reads version 1)",
			      v);
		return CV_EINVAL;
	}
	if (!*seen)
		*first = node->mark;
	*seen = true;
	return 0;
}

static int load_sections(struct cv_manifest *m, struct parsed *p,
			 bool *seen_version, struct cv_mark *version_mark,
			 struct cv_diags *diags)
{
	const struct cv_node *root = p->doc.root;
	struct cv_loader ld;
	char *dir;
	int ret = 0;

	if (!root) {
		struct cv_mark mark = { p->src->path, 1, 1 };

		cv_diag_error(diags, &mark,
			      "manifest is empty (expected a mapping of sections such as 'roles' or 'grants')");
		return CV_EINVAL;
	}
	if (cv_yaml_expect(root, CV_NODE_MAP, "the manifest", diags))
		return CV_EINVAL;
	if (cv_yaml_check_keys(root, top_keys, "the manifest", diags))
		ret = CV_EINVAL;

	dir = dir_of(p->src->path);
	ld.strings = &m->strings;
	ld.diags = diags;
	ld.path = p->src->path;
	ld.dir = cv_arena_strdup(&m->strings, dir);
	ld.manifest = m;
	free(dir);

	cv_yaml_each(sec, root) {
		const struct cv_kind *kind = NULL;
		unsigned bit = 0;
		size_t i;

		if (strcmp(sec->key, "version") == 0) {
			if (load_version(sec, seen_version, version_mark, diags))
				ret = CV_EINVAL;
			continue;
		}
		if (cv_section_parse(sec->key, &bit))
			continue; /* reported by cv_yaml_check_keys */
		for (i = 0; i < cv_nkinds; i++)
			if (cv_kinds[i]->section == bit && cv_kinds[i]->load)
				kind = cv_kinds[i];
		if (!kind) {
			cv_diag_error(diags, &sec->key_mark,
				      "section '%s' is not supported by this version of converge",
				      sec->key);
			ret = CV_EINVAL;
			continue;
		}
		m->want.sections |= bit;
		if (kind->load(&m->want, sec, &ld))
			ret = CV_EINVAL;
	}
	return ret;
}

static void expand_args(const char *const *paths, size_t npaths,
			struct path_list *files, bool **from_dir,
			struct cv_diags *diags, int *ret)
{
	size_t i, alloc = 0;

	*from_dir = NULL;
	for (i = 0; i < npaths; i++) {
		struct stat st;
		struct path_list found = { NULL, 0, 0 };
		size_t j;

		if (strcmp(paths[i], "-") == 0 || stat(paths[i], &st) < 0 ||
		    !S_ISDIR(st.st_mode)) {
			path_add(files, cv_strdup(paths[i]));
			CV_GROW(*from_dir, files->nr, alloc);
			(*from_dir)[files->nr - 1] = false;
			continue;
		}
		if (walk(paths[i], &found, diags))
			*ret = CV_EIO;
		qsort(found.items, found.nr, sizeof(char *), cmp_str);
		if (!found.nr)
			cv_diag_error(diags, NULL,
				      "no *.yaml or *.yml files in '%s'",
				      cv_shorten(paths[i]));
		for (j = 0; j < found.nr; j++) {
			path_add(files, found.items[j]);
			CV_GROW(*from_dir, files->nr, alloc);
			(*from_dir)[files->nr - 1] = true;
		}
		free(found.items);
	}
}

int cv_manifest_load(struct cv_manifest *m, const char *const *paths,
		     size_t npaths, struct cv_diags *diags)
{
	struct path_list files = { NULL, 0, 0 };
	struct parsed *parsed = NULL;
	char **skip = NULL;
	size_t nskip = 0, i, j;
	bool *from_dir = NULL, seen_version = false, stdin_used = false;
	struct cv_mark version_mark = { NULL, 0, 0 };
	struct cv_digest *digest = NULL;
	int ret = 0;

	expand_args(paths, npaths, &files, &from_dir, diags, &ret);
	parsed = cv_calloc(files.nr ? files.nr : 1, sizeof(*parsed));

	for (i = 0; i < files.nr; i++) {
		struct parsed *p = &parsed[i];

		if (strcmp(files.items[i], "-") == 0) {
			if (stdin_used) {
				cv_diag_error(diags, NULL,
					      "'-' (standard input) given twice");
				ret = CV_EUSAGE;
				continue;
			}
			stdin_used = true;
		}
		if (cv_manifest_read(m, files.items[i], NULL, diags, &p->src)) {
			ret = ret ? ret : CV_EIO;
			continue;
		}
		p->from_dir = from_dir[i];
		if (p->from_dir)
			p->real = realpath(files.items[i], NULL);
		if (cv_yaml_parse(&p->doc, p->src->path, p->src->text,
				  p->src->len, CV_YAML_EXPAND_ENV, &m->strings,
				  diags)) {
			p->bad = true;
			ret = CV_EINVAL;
		}
	}

	/* Files of a migrations folder found by a walk are not manifests. */
	skip = cv_calloc(files.nr ? files.nr : 1, sizeof(char *));
	for (i = 0; i < files.nr; i++)
		if (parsed[i].src && (skip[nskip] = migrations_dir(&parsed[i])))
			nskip++;

	digest = cv_digest_new();
	for (i = 0; i < files.nr; i++) {
		struct parsed *p = &parsed[i];
		bool skipped = false;

		if (!p->src)
			continue;
		for (j = 0; p->real && j < nskip; j++)
			if (under(p->real, skip[j]))
				skipped = true;
		if (skipped)
			continue;
		cv_digest_str(digest, p->src->text);
		if (!p->bad && load_sections(m, p, &seen_version,
					     &version_mark, diags))
			ret = CV_EINVAL;
	}
	m->digest = cv_digest_finish(digest, &m->strings);

	if (!ret && !files.nr) {
		cv_diag_error(diags, NULL, "no manifests given (use -m PATH)");
		ret = CV_EUSAGE;
	}
	if (!ret && !seen_version) {
		struct cv_mark mark = { files.nr ? parsed[0].src->path : NULL, 0, 0 };

		cv_diag_error(diags, &mark,
			      "no manifest says 'version: 1' (required in at least one file)");
		ret = CV_EINVAL;
	}
	if (seen_version)
		m->want.sections |= CV_SEC_VERSION;
	/* Cross references are checked even after load errors, so that one
	 * run shows everything; kinds cope with partly loaded sections. */
	if (ret != CV_EUSAGE && ret != CV_EIO) {
		for (i = 0; i < cv_nkinds; i++)
			if (cv_kinds[i]->validate &&
			    (m->want.sections & cv_kinds[i]->section) &&
			    cv_kinds[i]->validate(&m->want, &m->strings, diags))
				ret = CV_EINVAL;
	}
	if (diags->errors && !ret)
		ret = CV_EINVAL;

	for (i = 0; i < files.nr; i++) {
		cv_yaml_release(&parsed[i].doc);
		free(parsed[i].real);
		free(files.items[i]);
	}
	for (i = 0; i < nskip; i++)
		free(skip[i]);
	free(skip);
	free(parsed);
	free(files.items);
	free(from_dir);
	diags->sources = m->sources;
	diags->nsources = m->nsources;
	return ret;
}
