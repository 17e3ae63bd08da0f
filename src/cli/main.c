/*
 * converge: the verb table and the options every verb shares, in the
 * manner of git's commands[] table.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "converge/help.h"

#define CV_VERSION "0.1.0"

static const struct cv_verb verbs[] = {
	{ "validate", cmd_validate, OPT_MANIFESTS, 0, 0 },
	{ "plan", cmd_plan, OPT_MANIFESTS | OPT_OUT | OPT_FORMAT | OPT_DETAILED,
	  0, 0 },
	{ "apply", cmd_apply, OPT_MANIFESTS | OPT_AUTO_APPROVE |
	  OPT_ALLOW_DATA_LOSS | OPT_SNAPSHOT_DIR | OPT_NO_SNAPSHOT, 0, 1 },
	{ "rollback", cmd_rollback, OPT_AUTO_APPROVE | OPT_SNAPSHOT_DIR |
	  OPT_NO_SNAPSHOT, 0, 1 },
	{ "restore", cmd_restore, OPT_AUTO_APPROVE | OPT_SNAPSHOT_DIR, 1, 1 },
	{ "status", cmd_status, OPT_FORMAT | OPT_MANIFESTS, 0, 0 },
	{ "history", cmd_history, OPT_FORMAT | OPT_LIMIT, 0, 1 },
	{ "snapshots", cmd_snapshots, OPT_SNAPSHOT_DIR | OPT_PRUNE, 0, 0 },
	{ "inspect", cmd_inspect, OPT_ORGS_FROM, 0, 0 },
};

enum {
	LO_DB = 256, LO_FORMAT, LO_DETAILED, LO_AUTO_APPROVE, LO_NOW,
	LO_SNAPSHOT_DIR, LO_NO_SNAPSHOT, LO_LOCK_TIMEOUT, LO_ACTOR,
	LO_ALLOW_DATA_LOSS, LO_NO_COLOR, LO_VERSION, LO_PRUNE, LO_LIMIT,
	LO_SCHEMA, LO_ORGS_FROM,
};

static const struct option long_opts[] = {
	{ "manifests", required_argument, NULL, 'm' },
	{ "db", required_argument, NULL, LO_DB },
	{ "out", required_argument, NULL, 'o' },
	{ "format", required_argument, NULL, LO_FORMAT },
	{ "detailed-exitcode", no_argument, NULL, LO_DETAILED },
	{ "auto-approve", no_argument, NULL, LO_AUTO_APPROVE },
	{ "now", required_argument, NULL, LO_NOW },
	{ "snapshot-dir", required_argument, NULL, LO_SNAPSHOT_DIR },
	{ "no-snapshot", no_argument, NULL, LO_NO_SNAPSHOT },
	{ "lock-timeout", required_argument, NULL, LO_LOCK_TIMEOUT },
	{ "actor", required_argument, NULL, LO_ACTOR },
	{ "allow-data-loss", no_argument, NULL, LO_ALLOW_DATA_LOSS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "no-color", no_argument, NULL, LO_NO_COLOR },
	{ "version", no_argument, NULL, LO_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ "prune", required_argument, NULL, LO_PRUNE },
	{ "limit", required_argument, NULL, LO_LIMIT },
	{ "schema", required_argument, NULL, LO_SCHEMA },
	{ "orgs-from", required_argument, NULL, LO_ORGS_FROM },
	{ NULL, 0, NULL, 0 },
};

static const struct {
	int opt;
	unsigned mask;
	const char *name;
} verb_only[] = {
	{ 'm', OPT_MANIFESTS, "--manifests" },
	{ 'o', OPT_OUT, "--out" },
	{ LO_FORMAT, OPT_FORMAT, "--format" },
	{ LO_DETAILED, OPT_DETAILED, "--detailed-exitcode" },
	{ LO_AUTO_APPROVE, OPT_AUTO_APPROVE, "--auto-approve" },
	{ LO_ALLOW_DATA_LOSS, OPT_ALLOW_DATA_LOSS, "--allow-data-loss" },
	{ LO_SNAPSHOT_DIR, OPT_SNAPSHOT_DIR, "--snapshot-dir" },
	{ LO_NO_SNAPSHOT, OPT_NO_SNAPSHOT, "--no-snapshot" },
	{ LO_PRUNE, OPT_PRUNE, "--prune" },
	{ LO_LIMIT, OPT_LIMIT, "--limit" },
	{ LO_ORGS_FROM, OPT_ORGS_FROM, "--orgs-from" },
};

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Seconds, possibly fractional, to milliseconds. */
static int parse_seconds(const char *s, long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* Written so that NaN, which compares false with everything, fails. */
	if (errno || end == s || *end || !(v >= 0 && v <= 86400.0 * 7))
		return -1;
	*ms = (long)(v * 1000.0 + 0.5);
	return 0;
}

static const struct cv_verb *find_verb(const char *name)
{
	size_t i;

	for (i = 0; i < CV_ARRAY_SIZE(verbs); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

static int parse(struct cv_opts *o, const struct cv_verb *verb, int argc,
		 char **argv)
{
	int c;
	size_t i;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":m:o:qvh", long_opts, NULL)) != -1) {
		for (i = 0; i < CV_ARRAY_SIZE(verb_only); i++)
			if (verb_only[i].opt == c && !(verb->opts & verb_only[i].mask))
				return cli_usage(o, "'%s' does not take %s",
						 verb->name, verb_only[i].name);
		switch (c) {
		case 'm':
			CV_GROW(o->manifests, o->nmanifests + 1, o->manifests_alloc);
			o->manifests[o->nmanifests++] = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			cv_help_print(verb->name, stdout);
			return -1;
		case LO_DB:
			o->db = optarg;
			break;
		case LO_FORMAT:
			if (cv_format_parse(optarg, &o->format))
				return cli_usage(o, "unknown format '%s' (expected text, json or markdown)",
						 cv_shorten(optarg));
			break;
		case LO_DETAILED:
			o->detailed_exitcode = true;
			break;
		case LO_AUTO_APPROVE:
			o->auto_approve = true;
			break;
		case LO_NOW:
			o->now_arg = optarg;
			break;
		case LO_SNAPSHOT_DIR:
			o->snapshot_dir = optarg;
			break;
		case LO_NO_SNAPSHOT:
			o->no_snapshot = true;
			break;
		case LO_LOCK_TIMEOUT:
			if (parse_seconds(optarg, &o->lock_timeout_ms))
				return cli_usage(o, "--lock-timeout takes a number of seconds, not '%s'",
						 cv_shorten(optarg));
			break;
		case LO_ACTOR:
			/* Most likely an unset variable ("--actor $CI_USER"):
			 * recording the default instead would hide it. */
			if (!optarg[strspn(optarg, " \t")])
				return cli_usage(o, "--actor needs a name (leave it out for the default)");
			if (!cli_actor_ok(optarg))
				return cli_usage(o, "--actor: control characters are not allowed in a name");
			o->actor = optarg;
			break;
		case LO_ALLOW_DATA_LOSS:
			o->allow_data_loss = true;
			break;
		case LO_NO_COLOR:
			o->color = false;
			break;
		case LO_VERSION:
			printf("converge %s\n", CV_VERSION);
			return -1;
		case LO_PRUNE:
			if (parse_long(optarg, 0, LONG_MAX, &o->prune))
				return cli_usage(o, "--prune takes the number of snapshots to keep, not '%s'",
						 cv_shorten(optarg));
			break;
		case LO_LIMIT:
			if (parse_long(optarg, 1, LONG_MAX, &o->limit))
				return cli_usage(o, "--limit takes a positive number, not '%s'",
						 cv_shorten(optarg));
			break;
		case LO_SCHEMA:
			o->schema = optarg;
			break;
		case LO_ORGS_FROM:
			o->orgs_from = optarg;
			break;
		case ':':
			return cli_usage(o, "option '%s' needs a value",
					 argv[optind - 1]);
		default:
			return cli_usage(o, "unknown option '%s'",
					 cv_shorten(argv[optind - 1]));
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	if (o->nargs < verb->min_args)
		return cli_usage(o, "'%s' needs %s", verb->name,
				 strcmp(verb->name, "restore") == 0 ?
				 "the SNAPSHOT to restore" : "an argument");
	if (o->nargs > verb->max_args)
		return cli_usage(o, "unexpected argument '%s'",
				 cv_shorten(o->args[verb->max_args]));
	return 0;
}

/* Is arg ("--db", "--db=x", "-q") one of converge's options?  Not an
 * option at all ("plan", "-") counts as known. */
static bool known_option(const char *arg)
{
	const struct option *lo;
	size_t n;

	if (arg[0] != '-' || !arg[1])
		return true;
	if (arg[1] != '-')
		return strchr("moqvh", arg[1]) != NULL;
	arg += 2;
	n = strcspn(arg, "=");
	for (lo = long_opts; lo->name; lo++)
		if (strlen(lo->name) == n && strncmp(lo->name, arg, n) == 0)
			return true;
	return false;
}

/* No verb: says what was wrong before the usage, and returns 64. */
static int no_verb(int argc, const char *unknown)
{
	if (unknown)
		fprintf(stderr, "converge: usage error: unknown option '%s'\n\n",
			cv_shorten(unknown));
	else if (argc > 1)
		fprintf(stderr, "converge: usage error: no verb given\n\n");
	cv_help_print(NULL, stderr);
	return 64;
}

/* --now, else CONVERGE_NOW, else the real clock. */
static int setup_clock(struct cv_opts *o)
{
	const char *now = o->now_arg ? o->now_arg : getenv("CONVERGE_NOW");

	/* As for --actor: an empty --now is most likely an unset variable,
	 * and the real clock instead would make a review's plan differ. */
	if (o->now_arg && !*o->now_arg)
		return cli_usage(o, "--now needs a timestamp (leave it out for the system clock)");
	if (now && *now) {
		if (cv_time_parse(now, &o->now_t))
			return cli_usage(o, "invalid timestamp '%s' for --now/CONVERGE_NOW (expected RFC 3339, e.g. 2026-11-23T12:00:00Z)",
					 cv_shorten(now));
	} else {
		o->now_t = time(NULL);
	}
	cv_time_format(o->now_t, o->now);
	return 0;
}

/*
 * Global options may come before the verb too ("converge --db x plan");
 * they are moved after it so one getopt pass reads everything.
 */
static int run(int argc, char **argv)
{
	struct cv_opts o;
	const struct cv_verb *verb;
	char **args;
	const char *unknown = NULL;
	bool help = false;
	int i, vi = 0, n = 0, ret;

	/*
	 * converge lives for one command: it builds the desired state, frees
	 * the YAML it came from, then reads the live state.  Small blocks
	 * freed are kept for that reuse rather than handed back to the
	 * kernel, which would give fresh pages to zero again.  Blocks of
	 * 4 MiB or more are mappings of their own, in transparent huge pages
	 * (util.c): realloc grows them with mremap instead of copying, and
	 * a fresh 2 MiB page costs one fault instead of 512.
	 */
	cv_trace_perf(NULL);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);

	memset(&o, 0, sizeof(o));
	o.verb = "converge";
	o.prune = -1;
	o.limit = 20;
	o.lock_timeout_ms = 0;
	/* no-color.org: NO_COLOR set to anything but the empty string. */
	o.color = isatty(STDOUT_FILENO) &&
		  !(getenv("NO_COLOR") && *getenv("NO_COLOR"));

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("converge %s\n", CV_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			/* "converge -h plan" is plan's help. */
			help = help || !vi;
			continue;
		}
		if (argv[i][0] != '-' && !vi) {
			vi = i;
			continue;
		}
		if (!vi && !unknown && !known_option(argv[i]))
			unknown = argv[i];
		if (!vi && argv[i][0] == '-' && strchr(argv[i], '=') == NULL &&
		    i + 1 < argc) {
			/* An option with a separate value: skip the value. */
			const struct option *lo;
			bool value = strcmp(argv[i], "-m") == 0 ||
				     strcmp(argv[i], "-o") == 0;

			for (lo = long_opts; lo->name; lo++)
				if (argv[i][1] == '-' &&
				    strcmp(argv[i] + 2, lo->name) == 0 &&
				    lo->has_arg == required_argument)
					value = true;
			if (value)
				i++;
		}
	}
	if (!vi && help) {
		cv_help_print(NULL, stdout);
		return 0;
	}
	if (!vi)
		return no_verb(argc, unknown);
	verb = find_verb(argv[vi]);
	if (!verb) {
		fprintf(stderr, "converge: '%s' is not a converge verb\n\n",
			cv_shorten(argv[vi]));
		cv_help_print(NULL, stderr);
		return 64;
	}
	if (help) {
		cv_help_print(verb->name, stdout);
		return 0;
	}
	o.verb = verb->name;
	args = cv_calloc((size_t)argc + 1, sizeof(char *));
	args[n++] = argv[0];
	for (i = vi + 1; i < argc; i++)
		args[n++] = argv[i];
	for (i = 1; i < vi; i++)
		args[n++] = argv[i];
	ret = parse(&o, verb, n, args);
	if (ret == 0)
		ret = setup_clock(&o);
	if (ret == 0)
		ret = verb->run(&o);
	else if (ret < 0)
		ret = 0;
	free(args);
	free(o.manifests);
	return ret;
}

/*
 * What was asked for goes to standard output: a plan that could not be
 * written there (a full disk, say) is a failure, not a success with half
 * a JSON document behind it.  As git's run_builtin does: a closed stdout
 * is left alone, and an exit code that already says "failed" is kept.
 */
static int close_stdout(int code)
{
	struct stat st;

	if (fstat(fileno(stdout), &st) != 0)
		return code;
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout) && fclose(stdout) == 0)
		return code;
	fprintf(stderr, "converge: error: cannot write to standard output%s%s\n",
		errno ? ": " : "", errno ? strerror(errno) : "");
	return code == 0 || code == 2 ? 1 : code;
}

int main(int argc, char **argv)
{
	return close_stdout(run(argc, argv));
}
