/*
 * converge snapshots [--prune N]: the snapshot files of a database,
 * newest first, with the run that took each; --prune keeps the newest N.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "converge/journal.h"

/* Every snapshot file name starts with this; the run id is a suffix of it
 * (less the extension) that sorts by time. */
struct snap {
	char *name;
	const char *run_id;   /* in name */
	size_t run_id_len;
};

/* Newest first: by run id, which sorts by time.  A shorter id that is a
 * prefix of a longer one is older (the longer one extends it). */
static int cmp_desc(const void *a, const void *b)
{
	const struct snap *x = a, *y = b;
	size_t n = x->run_id_len < y->run_id_len ? x->run_id_len : y->run_id_len;
	int c = strncmp(y->run_id, x->run_id, n);

	if (c)
		return c;
	return (y->run_id_len > x->run_id_len) - (y->run_id_len < x->run_id_len);
}

/* "<db name>-": the prefix every snapshot of this database has. */
static char *prefix_of(const struct cv_url *url)
{
	return cv_asprintf("%s-", url->name ? url->name : "db");
}

/*
 * Is `name` a snapshot of this database: the prefix, exactly a run id,
 * then the extension?  A prefix alone would take the snapshots of a-b.db
 * ("a-b-<run id>.db") for those of a.db.  Sets the run id's span.
 */
static bool is_snapshot(const char *name, const char *prefix, const char *ext,
			struct snap *out)
{
	size_t n;

	if (!cv_starts_with(name, prefix))
		return false;
	name += strlen(prefix);
	n = cv_journal_run_id_len(name);
	if (!n || strcmp(name + n, ext) != 0)
		return false;
	out->run_id_len = n;
	return true;
}

/*
 * Is `name` a snapshot of this database left under its partial name
 * (util.h: cv_partial_create) by a run killed while it was written?
 */
static bool is_partial(const char *name, const char *prefix, const char *ext)
{
	static const char suffix[] = ".partial";
	size_t n = strlen(name);
	struct snap ignored;
	char *whole;
	bool yes;

	if (n < sizeof(suffix) || strcmp(name + n - (sizeof(suffix) - 1),
					 suffix) != 0)
		return false;
	whole = cv_strndup(name, n - (sizeof(suffix) - 1));
	yes = is_snapshot(whole, prefix, ext, &ignored);
	free(whole);
	return yes;
}

int cmd_snapshots(struct cv_opts *o)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	char *dir = NULL, *prefix = NULL;
	struct snap *snaps = NULL, one;
	size_t n = 0, alloc = 0, i, partials = 0;
	DIR *d;
	struct dirent *e;
	int code = 0;

	if (cli_url(o, &url, &err)) {
		code = cli_fail(&err);
		goto out;
	}
	dir = cv_snapshot_dir(&url, o->snapshot_dir);
	prefix = prefix_of(&url);
	d = opendir(dir);
	if (!d && errno != ENOENT) {
		fprintf(stderr, "converge: error: cannot read '%s': %s\n", dir,
			strerror(errno));
		code = 1;
		goto out;
	}
	while (d && (e = readdir(d))) {
		if (is_partial(e->d_name, prefix, url.backend->snapshot_ext))
			partials++;
		if (!is_snapshot(e->d_name, prefix, url.backend->snapshot_ext,
				 &one))
			continue;
		one.name = cv_strdup(e->d_name);
		one.run_id = one.name + strlen(prefix);
		CV_GROW(snaps, n + 1, alloc);
		snaps[n++] = one;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(snaps, n, sizeof(*snaps), cmp_desc);
	if (o->prune >= 0) {
		size_t removed = 0;
		size_t kept = n < (size_t)o->prune ? n : (size_t)o->prune;

		for (i = (size_t)o->prune; i < n; i++) {
			char *path = cv_asprintf("%s/%s", dir, snaps[i].name);

			if (unlink(path) == 0) {
				removed++;
				if (!o->quiet)
					printf("removed %s\n", path);
			} else {
				fprintf(stderr, "converge: error: cannot remove '%s': %s\n",
					path, strerror(errno));
				code = 1;
			}
			free(path);
		}
		if (!o->quiet)
			printf("kept %zu snapshot%s, removed %zu\n", kept,
			       kept == 1 ? "" : "s", removed);
		goto out;
	}
	if (!n && !o->quiet)
		printf("no snapshots in %s\n", dir);
	for (i = 0; i < n; i++) {
		char *path = cv_asprintf("%s/%s", dir, snaps[i].name);
		struct stat st;
		char when[CV_TIME_LEN] = "?";

		if (stat(path, &st) == 0)
			cv_time_format(st.st_mtime, when);
		printf("%s  %10lld bytes  %s\n", path,
		       (long long)(stat(path, &st) == 0 ? st.st_size : 0), when);
		free(path);
	}
out:
	/* Never listed, never pruned: a run may be writing one right now. */
	if (partials && !o->quiet)
		fprintf(stderr, "converge: note: %s holds %zu incomplete snapshot%s (*.partial), left by runs killed while snapshotting; they cannot be restored: delete them unless a run is taking a snapshot now\n",
			dir, partials, partials == 1 ? "" : "s");
	for (i = 0; i < n; i++)
		free(snaps[i].name);
	free(snaps);
	free(dir);
	free(prefix);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
