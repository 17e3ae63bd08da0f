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
	cv_state_release(&m->want);
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
	/* libyaml would say "invalid leading UTF-8 octet" of the mark. */
	if (len >= 2 && (((unsigned char)text[0] == 0xff &&
			  (unsigned char)text[1] == 0xfe) ||
			 ((unsigned char)text[0] == 0xfe &&
			  (unsigned char)text[1] == 0xff))) {
		cv_diag_error(diags, from, "'%s' is UTF-16 (it starts with a UTF-16 byte-order mark); converge reads manifests in UTF-8",
			      cv_shorten(name));
		free(text);
		return CV_EINVAL;
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

struct path_list {
	char **items;
	size_t nr, alloc;
};

static void path_add(struct path_list *l, char *path)
{
	CV_GROW(l->items, l->nr + 1, l->alloc);
	l->items[l->nr++] = path;
}

/* Directories already walked, by device and inode. */
struct seen_dirs {
	struct { dev_t dev; ino_t ino; } *items;
	size_t nr, alloc;
};

/* False when dir was walked before: a symbolic link that loops back, or
 * two links to one folder, must not read its files again. */
static bool first_visit(struct seen_dirs *seen, const struct stat *st)
{
	size_t i;

	for (i = 0; i < seen->nr; i++)
		if (seen->items[i].dev == st->st_dev &&
		    seen->items[i].ino == st->st_ino)
			return false;
	CV_GROW(seen->items, seen->nr + 1, seen->alloc);
	seen->items[seen->nr].dev = st->st_dev;
	seen->items[seen->nr++].ino = st->st_ino;
	return true;
}

/* Whether `real` (a resolved path) is `root` or below it. */
static bool below(const char *real, const char *root)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return true;
	return strncmp(real, root, n) == 0 && (real[n] == '/' || !real[n]);
}

/*
 * A symbolic link found by a walk must lead below the folder the walk
 * began at (`root`, resolved; NULL: no such rule): a link to any file
 * would let whoever adds files to a manifests folder (a pull request)
 * have converge read, and echo in its errors, a file such as a secret
 * of the machine the pipeline runs on.  A file outside is named with
 * -m of its own.
 */
static bool link_allowed(const char *path, const char *root,
			 struct cv_diags *diags)
{
	struct stat lst;
	char *real;
	bool ok;

	if (!root || lstat(path, &lst) < 0 || !S_ISLNK(lst.st_mode))
		return true;
	real = realpath(path, NULL);
	ok = !real || below(real, root);
	if (!ok)
		cv_diag_error(diags, NULL,
			      "'%s' is a symbolic link to '%s', outside '%s': converge reads only what is below a folder it is given (give that file or folder with -m of its own)",
			      cv_shorten(path), cv_shorten(real), cv_shorten(root));
	free(real);
	return ok;
}

/* Every .yaml or .yml file below dir; hidden files and folders are skipped. */
static int walk(const char *dir, const char *root, struct path_list *out,
		struct seen_dirs *seen, struct cv_diags *diags)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t len = strlen(dir);
	int ret = 0;

	if (!d) {
		cv_diag_error(diags, NULL, "cannot read directory '%s': %s",
			      cv_shorten(dir), strerror(errno));
		return CV_EIO;
	}
	/* "-m manifests/" names its files manifests/a.yaml, not ...//a.yaml. */
	while (len > 1 && dir[len - 1] == '/')
		len--;
	while ((e = readdir(d))) {
		struct stat st;
		char *path;

		if (e->d_name[0] == '.')
			continue;
		path = cv_asprintf("%.*s/%s", (int)len, dir, e->d_name);
		if (stat(path, &st) < 0) {
			/*
			 * A manifest that cannot be read is an error, not a
			 * file that is not there: a symbolic link whose
			 * target is gone (a generator that failed) would
			 * otherwise drop its grants from the whole truth,
			 * and the plan would revoke them.
			 */
			if (is_yaml_name(e->d_name)) {
				cv_diag_error(diags, NULL, "cannot read '%s': %s%s",
					      cv_shorten(path), strerror(errno),
					      errno == ENOENT ?
					      " (a symbolic link whose target is missing)" : "");
				ret = CV_EIO;
			}
			free(path);
			continue;
		}
		if ((S_ISDIR(st.st_mode) || is_yaml_name(e->d_name)) &&
		    !link_allowed(path, root, diags)) {
			ret = CV_EIO;
			free(path);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int r = first_visit(seen, &st) ?
				walk(path, root, out, seen, diags) : 0;

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

/*
 * Every .yaml or .yml file below dir, recursively (hidden files and
 * folders skipped), in sorted path order: the files of a migrations
 * folder as of a -m folder.  *n is 0 for a folder without any.
 */
int cv_yaml_files_below(const char *dir, char ***paths, size_t *n,
			struct cv_diags *diags)
{
	struct seen_dirs seen = { NULL, 0, 0 };
	struct path_list found = { NULL, 0, 0 };
	struct stat st;
	char *root = realpath(dir, NULL);
	int ret = 0;

	if (stat(dir, &st) == 0)
		first_visit(&seen, &st);
	ret = walk(dir, root, &found, &seen, diags);
	free(root);
	if (found.nr > 1)
		cv_sort(found.items, found.nr, sizeof(char *), cv_strptr_cmp);
	free(seen.items);
	*paths = found.items;
	*n = found.nr;
	return ret;
}

struct parsed {
	/*
	 * An index into m->sources, not a pointer: the array grows (and
	 * moves) as later files and the revisions they name are read.
	 */
	size_t src;
	bool read;    /* src is set */
	struct cv_yaml_doc doc;
	/*
	 * What the parser said, kept apart until the file is known to be a
	 * manifest: a walk also finds the files of a migrations folder,
	 * which are read as revisions (without ${} expansion) instead.
	 */
	struct cv_diags diags;
	bool from_dir;
	/*
	 * The grants the parser handed out as it read them (streamed: a
	 * million grants need not be a million subtrees at once), what
	 * loading them said, and how.  They join the desired state when the
	 * file is loaded, in its turn, as the rest of its sections do.
	 */
	struct cv_state streamed;
	struct cv_diags streamed_diags;
	struct cv_loader ld;
	int streamed_ret;
	bool bad;     /* the parser reported a problem */
	bool skipped; /* a revision file, not a manifest */
	char *real;   /* realpath, for files found by walking */
};

/*
 * Migration files often live below the manifests folder; a directory walk
 * must not take them for manifests.  Returns the real path of the
 * migrations directory a parsed manifest names, or NULL.
 */
static char *migrations_dir(const struct parsed *p,
			    const struct cv_source *src)
{
	const struct cv_node *schema, *dir;
	char *base, *joined, *real;

	if (!p->doc.root || p->doc.root->type != CV_NODE_MAP)
		return NULL;
	schema = cv_yaml_get(p->doc.root, "schema");
	dir = schema ? cv_yaml_get(schema, "migrations") : NULL;
	if (!dir || dir->type != CV_NODE_SCALAR || !dir->len ||
	    (dir->flags & CV_NODE_F_LOST))
		return NULL;
	if (dir->str[0] == '/') {
		joined = cv_strdup(dir->str);
	} else {
		base = cv_dirname(src->path);
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

	/* A version written, even a wrong one, is reported as wrong, not
	 * also as missing. */
	*seen = true;
	if (cv_yaml_as_int(node, "version", diags, &v))
		return CV_EINVAL;
	if (v != 1) {
		cv_diag_error(diags, &node->mark,
			      "unsupported manifest version %lld (this converge reads version 1)",
			      v);
		return CV_EINVAL;
	}
	if (!first->file)
		*first = node->mark;
	return 0;
}

static int load_sections(struct cv_manifest *m, struct parsed *p,
			 bool *seen_version, struct cv_mark *version_mark,
			 struct cv_diags *diags)
{
	/* Only the path: loading a schema section reads (and moves) sources. */
	const char *path = m->sources[p->src].path;
	const struct cv_node *root = p->doc.root;
	struct cv_loader ld;
	char *dir;
	int ret = 0;

	if (!root) {
		struct cv_mark mark = { path, 1, 1 };

		cv_diag_error(diags, &mark,
			      "manifest is empty (expected a mapping of sections such as 'roles' or 'grants')");
		return CV_EINVAL;
	}
	if (cv_yaml_expect(root, CV_NODE_MAP, "the manifest", diags))
		return CV_EINVAL;
	if (cv_yaml_check_keys(root, top_keys, "the manifest", diags))
		ret = CV_EINVAL;
	/* A section left out (a duplicate key) may be any of them. */
	if (root->flags & CV_NODE_F_LOST)
		m->want.unknown = ~0u;

	dir = cv_dirname(path);
	ld.strings = &m->strings;
	ld.diags = diags;
	ld.path = path;
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
		if (cv_section_parse(sec->key, &bit)) {
			/* Reported by cv_yaml_check_keys.  A misspelt
			 * section's names are not seen. */
			const char *meant = cv_suggest(sec->key, top_keys);

			if (meant && !cv_section_parse(meant, &bit))
				m->want.unknown |= bit;
			continue;
		}
		if (sec->flags & (CV_NODE_F_LOST | CV_NODE_F_LOST_BELOW))
			m->want.unknown |= bit;
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
	struct seen_dirs seen = { NULL, 0, 0 };
	size_t i, alloc = 0;

	*from_dir = NULL;
	for (i = 0; i < npaths; i++) {
		struct stat st;
		struct path_list found = { NULL, 0, 0 };
		char *root;
		size_t j;

		if (strcmp(paths[i], "-") == 0 || stat(paths[i], &st) < 0 ||
		    !S_ISDIR(st.st_mode)) {
			path_add(files, cv_strdup(paths[i]));
			CV_GROW(*from_dir, files->nr, alloc);
			(*from_dir)[files->nr - 1] = false;
			continue;
		}
		root = realpath(paths[i], NULL);
		if (first_visit(&seen, &st) &&
		    walk(paths[i], root, &found, &seen, diags))
			*ret = CV_EIO;
		free(root);
		if (found.nr > 1)
			cv_sort(found.items, found.nr, sizeof(char *), cv_strptr_cmp);
		if (!found.nr) {
			/* An input error, not a usage one: -m was given. */
			cv_diag_error(diags, NULL,
				      "no *.yaml or *.yml files in '%s'",
				      cv_shorten(paths[i]));
			*ret = CV_EINVAL;
		}
		for (j = 0; j < found.nr; j++) {
			path_add(files, found.items[j]);
			CV_GROW(*from_dir, files->nr, alloc);
			(*from_dir)[files->nr - 1] = true;
		}
		free(found.items);
	}
	free(seen.items);
}

static void add_diag(struct cv_diags *to, const struct cv_diag *g)
{
	CV_GROW(to->items, to->nr + 1, to->alloc);
	to->items[to->nr++] = *g;
	if (g->level == CV_DIAG_ERROR)
		to->errors++;
}

static bool same_file(const struct cv_mark *a, const char *path)
{
	return a->file && (a->file == path || strcmp(a->file, path) == 0);
}

/* Places in one file, in the order of the file. */
static int place_in_file_cmp(const void *a, const void *b)
{
	const struct cv_mark *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return (x->col > y->col) - (x->col < y->col);
}

/* Where a diagnostic sorts: its file in the order read, then its place. */
struct diag_place {
	size_t source;    /* 0: no file (about the arguments) */
	unsigned line, col;
	size_t index;     /* the order it was reported in, for ties */
};

static int place_cmp(const void *a, const void *b)
{
	const struct diag_place *x = a, *y = b;

	if (x->source != y->source)
		return x->source < y->source ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Puts the diagnostics from `start` on in the order of the files and of
 * the places in them.  The loader reports each file as it reads it and
 * the kinds' validation comes after (an undefined role, a cycle): in file
 * order, a grant's unknown key and its undefined role come together.
 */
static void sort_diags(struct cv_diags *d, size_t start,
		       const struct cv_manifest *m)
{
	struct diag_place *places;
	struct cv_diag *sorted;
	size_t n = d->nr - start, i, k;

	if (n < 2)
		return;
	places = cv_malloc(n * sizeof(*places));
	for (i = 0; i < n; i++) {
		const struct cv_mark *mark = &d->items[start + i].mark;

		places[i].source = 0;
		for (k = 0; mark->file && k < m->nsources; k++)
			if (same_file(mark, m->sources[k].path)) {
				places[i].source = k + 1;
				break;
			}
		if (mark->file && !places[i].source)
			places[i].source = m->nsources + 1;
		places[i].line = mark->line;
		places[i].col = mark->col;
		places[i].index = i;
	}
	cv_sort(places, n, sizeof(*places), place_cmp);
	sorted = cv_malloc(n * sizeof(*sorted));
	for (i = 0; i < n; i++)
		sorted[i] = d->items[start + places[i].index];
	memcpy(d->items + start, sorted, n * sizeof(*sorted));
	free(sorted);
	free(places);
}

/*
 * Appends what the parser and then the loader said about one file to
 * `to` (sort_diags puts them in the order of the file).  A loader error
 * at a place the parser already reported is left out: a control
 * character or an unset variable is one error, not also an invalid name
 * or timestamp.  The loader does not report in the order of the file
 * (the manifest's unknown keys come before its sections' errors), so
 * each of its places is looked up among all of the parser's.  Empties
 * both.
 */
static void stream_grant(void *arg, const struct cv_node *g)
{
	struct parsed *p = arg;

	if (cv_grants_load_item(&p->streamed, g, &p->ld))
		p->streamed_ret = CV_EINVAL;
}

/* Parses a manifest, its grants loaded as they are read. */
static int parse_manifest(struct cv_manifest *m, struct parsed *p,
			  const struct cv_source *src)
{
	struct cv_yaml_stream stream = { "grants", stream_grant, p };
	char *dir = cv_dirname(src->path);

	p->ld.strings = &m->strings;
	p->ld.diags = &p->streamed_diags;
	p->ld.path = src->path;
	p->ld.dir = cv_arena_strdup(&m->strings, dir);
	p->ld.manifest = m;
	free(dir);
	return cv_yaml_parse_stream(&p->doc, src->path, src->text, src->len,
				    CV_YAML_EXPAND_ENV, &m->strings, &p->diags,
				    &stream);
}

/*
 * The streamed grants of a file being loaded join the desired state
 * before the rest of its sections (they come first in it: the entries
 * kept in the tree follow them), and what loading them said joins what
 * loading the rest says.  A file that is not loaded leaves them out.
 */
static int take_streamed(struct cv_manifest *m, struct parsed *p, bool load,
			 struct cv_diags *loaded)
{
	struct cv_state *want = &m->want, *s = &p->streamed;
	size_t i;
	int ret = load ? p->streamed_ret : 0;

	if (load && !want->ngrants && !want->grants) {
		want->grants = s->grants;
		want->ngrants = s->ngrants;
		want->grants_alloc = s->grants_alloc;
		s->grants = NULL;
	} else if (load && s->ngrants) {
		CV_GROW(want->grants, want->ngrants + s->ngrants,
			want->grants_alloc);
		memcpy(want->grants + want->ngrants, s->grants,
		       s->ngrants * sizeof(*s->grants));
		want->ngrants += s->ngrants;
	}
	for (i = 0; i < p->streamed_diags.nr; i++)
		if (load)
			add_diag(loaded, &p->streamed_diags.items[i]);
		else
			free(p->streamed_diags.items[i].msg);
	free(p->streamed_diags.items);
	memset(&p->streamed_diags, 0, sizeof(p->streamed_diags));
	free(s->grants);
	memset(s, 0, sizeof(*s));
	return ret;
}

static void take_diags(struct cv_diags *to, const char *path,
		       struct cv_diags *parse, struct cv_diags *load)
{
	struct cv_mark *places = cv_malloc((parse->nr + 1) * sizeof(*places));
	size_t i;

	for (i = 0; i < parse->nr; i++) {
		places[i] = parse->items[i].mark;
		add_diag(to, &parse->items[i]);
	}
	cv_sort(places, parse->nr, sizeof(*places), place_in_file_cmp);
	for (i = 0; i < load->nr; i++) {
		struct cv_diag *g = &load->items[i];

		if (parse->nr && same_file(&g->mark, path) &&
		    bsearch(&g->mark, places, parse->nr, sizeof(*places),
			    place_in_file_cmp))
			free(g->msg);
		else
			add_diag(to, g);
	}
	free(places);
	free(parse->items);
	free(load->items);
	memset(parse, 0, sizeof(*parse));
	memset(load, 0, sizeof(*load));
}

int cv_manifest_load(struct cv_manifest *m, const char *const *paths,
		     size_t npaths, struct cv_diags *diags)
{
	struct path_list files = { NULL, 0, 0 };
	struct parsed *parsed = NULL;
	char **skip = NULL;
	size_t nskip = 0, i, j, kept;
	bool *from_dir = NULL, *drop, seen_version = false, stdin_used = false;
	bool unread = false;    /* a file not read as a mapping of sections */
	bool unseen = false;    /* a file, or folder, whose sections are not known */
	bool validated;
	size_t first_diag = diags->nr;
	struct cv_mark version_mark = { NULL, 0, 0 };
	const char *first_path = NULL;
	struct cv_digest *digest = NULL;
	int ret = 0;

	expand_args(paths, npaths, &files, &from_dir, diags, &ret);
	unseen = ret == CV_EIO; /* a folder that could not be read */
	parsed = cv_calloc(files.nr ? files.nr : 1, sizeof(*parsed));

	for (i = 0; i < files.nr; i++) {
		struct parsed *p = &parsed[i];
		const struct cv_source *src;

		if (strcmp(files.items[i], "-") == 0) {
			if (stdin_used) {
				cv_diag_error(diags, NULL,
					      "'-' (standard input) given twice");
				ret = CV_EUSAGE;
				continue;
			}
			stdin_used = true;
		}
		if (cv_manifest_read(m, files.items[i], NULL, diags, &src)) {
			ret = ret ? ret : CV_EIO;
			unread = unseen = true;
			continue;
		}
		p->src = (size_t)(src - m->sources);
		p->read = true;
		p->from_dir = from_dir[i];
		if (p->from_dir)
			p->real = realpath(files.items[i], NULL);
		if (parse_manifest(m, p, src))
			p->bad = true;
	}
	cv_trace_perf("manifests: read and parse");

	/* Files of a migrations folder found by a walk are not manifests. */
	skip = cv_calloc(files.nr ? files.nr : 1, sizeof(char *));
	for (i = 0; i < files.nr; i++)
		if (parsed[i].read &&
		    (skip[nskip] = migrations_dir(&parsed[i],
						  &m->sources[parsed[i].src])))
			nskip++;
	for (i = 0; i < files.nr; i++)
		for (j = 0; parsed[i].real && j < nskip; j++)
			if (under(parsed[i].real, skip[j]))
				parsed[i].skipped = true;

	digest = cv_digest_new();
	for (i = 0; i < files.nr; i++) {
		struct parsed *p = &parsed[i];
		struct cv_diags loaded = CV_DIAGS_INIT;
		bool load;

		if (!p->read || p->skipped) {
			take_streamed(m, p, false, NULL);
			continue;
		}
		if (!first_path)
			first_path = m->sources[p->src].path;
		cv_digest_str(digest, m->sources[p->src].text);
		if (p->bad)
			ret = CV_EINVAL;
		/*
		 * A tree the parser finished (a duplicate key, a control
		 * character or an unset variable was reported and left out) is
		 * loaded all the same, so that one run shows every error.
		 */
		load = p->doc.root || !p->bad;
		if (take_streamed(m, p, load, &loaded))
			ret = CV_EINVAL;
		if (load &&
		    load_sections(m, p, &seen_version, &version_mark, &loaded))
			ret = CV_EINVAL;
		/* An empty file or one that is not a mapping is reported as
		 * that; that it has no version would only repeat it. */
		if (!p->doc.root || p->doc.root->type != CV_NODE_MAP)
			unread = true;
		/* Any section may be in a file that did not parse, or in one
		 * that is not a mapping of sections (an empty one has none). */
		if (p->doc.root ? p->doc.root->type != CV_NODE_MAP : p->bad)
			unseen = true;
		take_diags(diags, m->sources[p->src].path, &p->diags, &loaded);
	}
	m->digest = cv_digest_finish(digest, &m->strings);
	cv_trace_perf("manifests: load sections");

	/* The revision files a walk read first are sources no longer. */
	drop = cv_calloc(m->nsources + 1, sizeof(*drop));
	for (i = 0; i < files.nr; i++)
		if (parsed[i].read && parsed[i].skipped)
			drop[parsed[i].src] = true;
	for (i = 0, kept = 0; i < m->nsources; i++) {
		if (drop[i])
			free((char *)m->sources[i].text);
		else
			m->sources[kept++] = m->sources[i];
	}
	m->nsources = kept;
	free(drop);

	if (!ret && !files.nr) {
		cv_diag_error(diags, NULL, "no manifests given (use -m PATH)");
		ret = CV_EUSAGE;
	}
	/*
	 * Missing only when every manifest was read to the end: a file cut
	 * short by a syntax error may say it further down.  Other errors
	 * do not hide it (every error is reported, not just the first).
	 */
	if (first_path && !seen_version && !unread && ret != CV_EUSAGE) {
		struct cv_mark mark = { first_path, 0, 0 };

		cv_diag_error(diags, &mark,
			      "no manifest says 'version: 1' (required in at least one file)");
		ret = CV_EINVAL;
	}
	if (seen_version)
		m->want.sections |= CV_SEC_VERSION;
	if (unseen)
		m->want.unknown = ~0u;
	/*
	 * Cross references are checked even after load errors (and files
	 * that could not be read), so that one run shows everything; kinds
	 * cope with partly loaded sections.  A
	 * name looked up in a section that could not be read whole is not
	 * reported as undefined (want.unknown): what is missing may define
	 * it, and a false error would hide among the true ones.
	 */
	validated = ret != CV_EUSAGE;
	if (validated) {
		for (i = 0; i < cv_nkinds; i++)
			if (cv_kinds[i]->validate &&
			    (m->want.sections & cv_kinds[i]->section) &&
			    cv_kinds[i]->validate(&m->want, &m->strings, diags))
				ret = ret ? ret : CV_EINVAL;
	}
	if (diags->errors && !ret)
		ret = CV_EINVAL;
	sort_diags(diags, first_diag, m);
	/* After the errors, once: why none says that a name is undefined. */
	if (validated && unseen && (m->want.sections & ~CV_SEC_VERSION))
		cv_diags_add(diags, CV_DIAG_NOTE, NULL,
			     "undefined names are not reported: a manifest that could not be read may define them");
	cv_trace_perf("manifests: validate");

	for (i = 0; i < files.nr; i++) {
		cv_yaml_release(&parsed[i].doc);
		cv_diags_release(&parsed[i].diags);
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
	cv_trace_perf("manifests: free the YAML");
	return ret;
}
