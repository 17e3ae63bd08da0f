/*
 * The SQLite backend (backend.h): the only file that includes sqlite3.h.
 *
 * Statements run through exec and query are prepared once and kept in a
 * small open-addressing hash table keyed by their SQL text, for the life of
 * the connection: applying 200,000 rows is then reset, bind and step per
 * row.  Every sqlite3 result code is translated to a CV_E* code where it is
 * received, with sqlite's own message.
 *
 * Read-only connections (plan) leave the file byte for byte as it was and
 * nothing beside it.  Snapshots and restores use the online backup API, so
 * that a snapshot is a consistent copy even while other processes read,
 * and a restore either replaces the whole database or leaves it as it was.
 *
 * converge's lock is two locks: flock(2) on the database file, through a
 * descriptor of its own, then SQLite's write lock (BEGIN IMMEDIATE).  The
 * first outlives a transaction when asked (hold_lock), which SQLite's
 * cannot: a run whose revisions commit in segments (transaction: false)
 * keeps it while a revision runs outside any transaction.  See "converge's
 * lock" below.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "converge/backend.h"
#include "converge/timeutil.h"
#include "cache.h"

/*
 * Past this many statements the cache starts over: converge's own SQL is a
 * few dozen texts, so reaching it means a caller builds SQL per row, and
 * keeping every one of those prepared would only hold memory.
 */
#define CACHE_MAX 4096
/* Foreign key violations named in the error message. */
#define FK_SHOWN 5

struct sqlite_db {
	struct cv_db base;  /* first: a struct cv_db * points here */
	sqlite3 *db;
	char *path;
	long timeout_ms;
	struct cv_stmt_cache cache;  /* sqlite3_stmt * by SQL text */
	/* PRAGMA data_version when the last snapshot was taken under the
	 * write lock; -1: none.  restore checks it (see there). */
	long long snap_version;
	/* The descriptor converge's lock is taken on (flock); -1: none, a
	 * read-only connection or a database no other process can see. */
	int lock_fd;
	bool locked;  /* this connection holds converge's lock */
	bool held;    /* past the end of the transaction (hold_lock) */
};

static struct sqlite_db *to_sqlite(struct cv_db *db)
{
	return (struct sqlite_db *)db;
}

/* The primary result code: SQLITE_BUSY for SQLITE_BUSY_SNAPSHOT etc. */
static int primary(int rc)
{
	return rc & 0xff;
}

static bool is_busy(int rc)
{
	return primary(rc) == SQLITE_BUSY || primary(rc) == SQLITE_LOCKED;
}

/* The code of a failed call: a lock that could not be had is
 * CV_ELOCKED, a write on a read-only connection CV_EREADONLY. */
static int error_code(int rc)
{
	if (is_busy(rc))
		return CV_ELOCKED;
	return primary(rc) == SQLITE_READONLY ? CV_EREADONLY : CV_EDB;
}

/*
 * Translates a failed sqlite3 call on `c` into err, with error_code's
 * code (CV_EDB for most).  `sql` is recorded so the user sees what
 * failed.
 */
static int db_error(struct sqlite_db *c, int rc, const char *sql,
		    struct cv_error *err)
{
	int code = error_code(rc);

	cv_error_set(err, code, "sqlite: %s", sqlite3_errmsg(c->db));
	if (sql)
		cv_error_set_sql(err, NULL, sql);
	return code;
}

static double seconds(long ms)
{
	return (double)ms / 1000.0;
}

/* ---- statement cache ---------------------------------------------- */

static bool stmt_busy(void *stmt)
{
	return sqlite3_stmt_busy(stmt) != 0;
}

static void stmt_finalize(void *stmt)
{
	sqlite3_finalize(stmt);
}

static void cache_clear(struct sqlite_db *c)
{
	cv_stmt_cache_clear(&c->cache, stmt_finalize);
}

static void cache_insert(struct sqlite_db *c, const char *sql, uint64_t h,
			 sqlite3_stmt *stmt)
{
	/* Statements some caller is stepping through right now are kept (a
	 * row callback may run SQL of its own); the others go. */
	if (c->cache.nused >= CACHE_MAX)
		cv_stmt_cache_prune(&c->cache, stmt_busy, stmt_finalize);
	cv_stmt_cache_add(&c->cache, sql, h, stmt);
}

/* Is the rest of a statement's text only spaces, semicolons and comments? */
static bool only_trivia(const char *p)
{
	for (;;) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		    *p == '\f' || *p == '\v' || *p == ';') {
			p++;
		} else if (p[0] == '-' && p[1] == '-') {
			p = strchr(p, '\n');
			if (!p)
				return true;
		} else if (p[0] == '/' && p[1] == '*') {
			p = strstr(p + 2, "*/");
			if (!p)
				return true;
			p += 2;
		} else {
			return !*p;
		}
	}
}

/*
 * Gets a prepared statement for `sql`, ready to bind.  *own is set when the
 * statement is not in the cache (the same SQL is being stepped through by
 * an outer query) and must be finalized by the caller; otherwise put_stmt
 * resets it for the next use.  *out is NULL for SQL with no statement.
 */
static int get_stmt(struct sqlite_db *c, const char *sql, sqlite3_stmt **out,
		    bool *own, struct cv_error *err)
{
	uint64_t h;
	sqlite3_stmt *cached = cv_stmt_cache_lookup(&c->cache, sql, &h);
	sqlite3_stmt *stmt = NULL;
	const char *tail = NULL;
	int rc;

	*out = NULL;
	*own = false;
	if (cached && !sqlite3_stmt_busy(cached)) {
		*out = cached;
		return 0;
	}
	rc = sqlite3_prepare_v2(c->db, sql, -1, &stmt, &tail);
	if (rc != SQLITE_OK)
		return db_error(c, rc, sql, err);
	if (!stmt)
		return 0;
	if (tail && !only_trivia(tail)) {
		sqlite3_finalize(stmt);
		cv_error_set(err, CV_EDB,
			     "sqlite: more than one statement given where one "
			     "was expected");
		cv_error_set_sql(err, NULL, sql);
		return CV_EDB;
	}
	if (cached)
		*own = true;
	else
		cache_insert(c, sql, h, stmt);
	*out = stmt;
	return 0;
}

static void put_stmt(sqlite3_stmt *stmt, bool own)
{
	if (!stmt)
		return;
	if (own) {
		sqlite3_finalize(stmt);
		return;
	}
	sqlite3_reset(stmt);
	/* Bound text is borrowed (SQLITE_STATIC): drop it with the call. */
	sqlite3_clear_bindings(stmt);
}

static int bind_params(struct sqlite_db *c, sqlite3_stmt *stmt,
		       const char *sql, const char *const *params,
		       size_t nparams, struct cv_error *err)
{
	int want = sqlite3_bind_parameter_count(stmt);

	if (nparams != (size_t)want) {
		cv_error_set(err, CV_EDB,
			     "sqlite: statement takes %d parameters, %zu given",
			     want, nparams);
		cv_error_set_sql(err, NULL, sql);
		return CV_EDB;
	}
	for (size_t i = 0; i < nparams; i++) {
		int rc;

		if (params[i])
			rc = sqlite3_bind_text(stmt, (int)i + 1, params[i], -1,
					       SQLITE_STATIC);
		else
			rc = sqlite3_bind_null(stmt, (int)i + 1);
		if (rc != SQLITE_OK)
			return db_error(c, rc, sql, err);
	}
	return 0;
}

/* ---- connection --------------------------------------------------- */

static int open_flags(unsigned flags)
{
	int f = SQLITE_OPEN_NOMUTEX;

#ifdef SQLITE_OPEN_EXRESCODE
	f |= SQLITE_OPEN_EXRESCODE;
#endif
	if (flags & CV_DB_READONLY)
		f |= SQLITE_OPEN_READONLY;
	else if (flags & CV_DB_CREATE)
		f |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	else
		f |= SQLITE_OPEN_READWRITE;
	return f;
}

/* Why sqlite could not open `path`, in words. */
static int open_error(sqlite3 *db, int rc, const char *path, unsigned flags,
		      struct cv_error *err)
{
	int e = db ? sqlite3_system_errno(db) : 0;
	const char *slash = strrchr(path, '/');

	if (primary(rc) == SQLITE_CANTOPEN && e == ENOENT &&
	    (flags & CV_DB_CREATE)) {
		int n = slash ? (int)(slash - path) : 1;

		return cv_error_set(err, CV_EIO,
				    "cannot create database '%s': directory "
				    "'%.*s' does not exist",
				    path, n ? n : 1, slash ? path : ".");
	}
	if (primary(rc) == SQLITE_CANTOPEN && e)
		return cv_error_set(err, CV_EIO,
				    "cannot open database '%s': %s", path,
				    strerror(e));
	return cv_error_set(err, is_busy(rc) ? CV_ELOCKED : CV_EDB,
			    "cannot open database '%s': sqlite: %s", path,
			    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/*
 * Is `path` a WAL-mode database with no -wal file beside it, i.e. one that
 * no connection has open?  A read-only connection to such a database must
 * create the -wal and -shm files to read it, and cannot remove them when
 * it closes: only a read-write connection, closing last, does that.
 */
static bool wal_without_log(const char *path)
{
	unsigned char hdr[100];
	struct stat st;
	char *wal;
	ssize_t n;
	bool found;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	/* Bytes 18 and 19 are the write and read versions: 2 means WAL. */
	if (n != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, "SQLite format 3", 16) != 0 ||
	    hdr[18] != 2 || hdr[19] != 2)
		return false;
	wal = cv_asprintf("%s-wal", path);
	found = lstat(wal, &st) == 0 || errno != ENOENT;
	free(wal);
	return !found;
}

/*
 * Opens a handle on an existing or (CV_DB_CREATE) new file; returns a
 * sqlite3 result code, and *out even on failure (for its message).
 *
 * Read-only promises to leave nothing beside the database.  For a WAL
 * database nobody has open, that takes a read-write connection (which
 * removes the -wal and -shm files it made when it closes) that is kept
 * from writing by query_only.  Every other database is opened read-only,
 * and then sqlite itself refuses any write.
 */
/* A wait in milliseconds as sqlite3_busy_timeout takes it (an int). */
static long clamp_ms(long ms)
{
	return ms < 0 ? 0 : ms > 0x7fffffffL ? 0x7fffffffL : ms;
}

/*
 * With OPEN_SIBLING, a second connection to a file that this process
 * already has open (the snapshot's source, under apply's write lock) is
 * not probed: closing any descriptor of a file drops every POSIX lock the
 * process holds on it, SQLite's write lock included, and a second apply
 * would then write beside ours.  SQLite shares one descriptor between the
 * connections of a process for that reason; only a plain open() has it.
 * Such a file is open, so a WAL file's log is there anyway.
 */
#define OPEN_SIBLING (1u << 16)

static int open_handle(sqlite3 **out, const char *path, unsigned flags,
		       long timeout_ms)
{
	bool query_only = (flags & CV_DB_READONLY) &&
			  !(flags & OPEN_SIBLING) && wal_without_log(path);
	int rc;

	rc = sqlite3_open_v2(path, out, open_flags(query_only ? 0 : flags),
			     NULL);
	if (rc != SQLITE_OK)
		return rc;
#ifndef SQLITE_OPEN_EXRESCODE
	sqlite3_extended_result_codes(*out, 1);
#endif
	sqlite3_busy_timeout(*out, (int)timeout_ms);
	if (query_only)
		rc = sqlite3_exec(*out, "PRAGMA query_only = ON", NULL, NULL,
				  NULL);
	return rc;
}

/*
 * The descriptor converge's lock is taken on (see "converge's lock"),
 * opened on the file the handle `db` has open, *fd -1 when it has none
 * that another process could open (a memory database).  Read-only
 * access is enough for flock, so a file converge may not write still
 * gets one.  Opened once the handle is open, so that the file exists
 * (apply creates it), and kept until the handle is closed.
 */
static int open_lock_fd(sqlite3 *db, const char *path, int *fd,
			struct cv_error *err)
{
	const char *file = sqlite3_db_filename(db, "main");

	*fd = -1;
	if (!file || !*file)
		return 0;
	*fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (*fd < 0)
		return cv_error_set(err, CV_EIO,
				    "cannot open database '%s' to lock it: %s",
				    path, strerror(errno));
	return 0;
}

/*
 * Whether another process holds converge's lock on the file: asked only
 * when a database could not be read for a writer's lock, to tell another
 * converge run (a large one spills its changes to the file mid-run, and
 * then keeps readers out) from the application.  Called once the handle
 * is closed: closing this descriptor drops the process's POSIX locks on
 * the file, and there are none left to drop then.
 */
static bool file_lock_holder(int fd, bool mine, struct cv_buf *who);

static bool lock_held_elsewhere(const char *path, struct cv_buf *who)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	bool held;

	if (fd < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	if (held)
		file_lock_holder(fd, false, who);
	close(fd);
	return held;
}

/* A zeroed handle made one on db (path is kept, not copied). */
static void handle_init(struct sqlite_db *c, sqlite3 *db, char *path,
			long timeout_ms, int lock_fd)
{
	c->base.backend = &cv_sqlite_backend;
	c->db = db;
	c->path = path;
	c->timeout_ms = timeout_ms;
	c->snap_version = -1;
	c->lock_fd = lock_fd;
}

static int sqlite_open(struct cv_db **out, const struct cv_url *url,
		       unsigned flags, long lock_timeout_ms,
		       struct cv_error *err)
{
	struct sqlite_db *c = NULL;
	sqlite3 *db = NULL;
	struct stat st;
	struct cv_buf who = CV_BUF_INIT;
	const char *path = url ? url->path : NULL;
	int rc, lock_fd = -1;

	*out = NULL;
	if (!path || !*path)
		return cv_error_set(err, CV_EUSAGE, "no sqlite database path");

	/*
	 * Decide "missing" ourselves: sqlite's CANTOPEN covers many causes,
	 * and plan must be able to say "empty database" only for this one.
	 */
	if (stat(path, &st) < 0) {
		/* Missing is no error when apply makes it. */
		bool created = flags & CV_DB_CREATE && !(flags & CV_DB_READONLY);

		if (!created && errno == ENOENT)
			return cv_error_set(err, CV_ENOTFOUND,
					    "database '%s' does not exist",
					    path);
		if (!created)
			return cv_error_set(err, CV_EIO,
					    "cannot open database '%s': %s",
					    path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		/* /dev/null, a FIFO, a directory: no database, and no
		 * place beside it for snapshots (they would go into /dev). */
		return cv_error_set(err, CV_EIO,
				    "database '%s' is not a regular file", path);
	}

	lock_timeout_ms = clamp_ms(lock_timeout_ms);
	rc = open_handle(&db, path, flags, lock_timeout_ms);
	if (rc != SQLITE_OK) {
		rc = open_error(db, rc, path, flags, err);
		goto out;
	}

	/*
	 * sqlite opens lazily: read the schema now, so that a file that is
	 * not a database is reported here and not at some later step.
	 */
	rc = sqlite3_exec(db, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL,
			  NULL);
	if (rc != SQLITE_OK) {
		if (primary(rc) == SQLITE_NOTADB || primary(rc) == SQLITE_CORRUPT)
			rc = cv_error_set(err, CV_EDB,
					  "'%s' is not a sqlite database: %s",
					  path, sqlite3_errmsg(db));
		else if (primary(rc) == SQLITE_READONLY)
			rc = cv_error_set(err, CV_EINTERRUPTED,
					  "cannot read database '%s' read-only: "
					  "an interrupted write (a process killed "
					  "mid-transaction) must be rolled back "
					  "first; apply, rollback and restore do "
					  "it (sqlite: %s)",
					  path, sqlite3_errmsg(db));
		else
			rc = cv_error_set(err, is_busy(rc) ? CV_ELOCKED : CV_EDB,
					  "cannot read database '%s': sqlite: %s",
					  path, sqlite3_errmsg(db));
		goto out;
	}

	/*
	 * Schema steps rebuild tables (SQLite's twelve-step ALTER): with
	 * foreign keys enforced, dropping the old table would cascade.  They
	 * stay off on converge's connections and the executor runs
	 * PRAGMA foreign_key_check before every commit that changed schema.
	 *
	 * The page cache keeps SQLite's default size.  A larger one, or
	 * cache_spill off, saves a 200-revision chain two journal syncs but
	 * costs a large run tens of thousands of page faults (benchmarks 1
	 * and 4 in bench/README.md).
	 */
	if (!(flags & CV_DB_READONLY)) {
		rc = sqlite3_exec(db,
				  "PRAGMA foreign_keys = OFF",
				  NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			rc = cv_error_set(err, CV_EDB, "cannot open '%s': sqlite: %s",
					  path, sqlite3_errmsg(db));
			goto out;
		}
	}

	if (!(flags & CV_DB_READONLY)) {
		rc = open_lock_fd(db, path, &lock_fd, err);
		if (rc < 0)
			goto out;
	}

	c = cv_calloc(1, sizeof(*c));
	handle_init(c, db, cv_strdup(path), lock_timeout_ms, lock_fd);
	db = NULL;
	*out = &c->base;
	rc = 0;

out:
	/* sqlite3_close accepts NULL, and a handle whose open failed. */
	sqlite3_close(db);
	if (rc == CV_ELOCKED && lock_held_elsewhere(path, &who))
		cv_error_set(err, CV_ELOCKED,
			     "cannot read database '%s': database is locked by another apply (waited %g s)%s%s",
			     path, seconds(lock_timeout_ms),
			     who.len ? "; it is held by " : "", cv_buf_str(&who));
	cv_buf_release(&who);
	return rc;
}

static void sqlite_close(struct cv_db *db)
{
	struct sqlite_db *c = to_sqlite(db);

	if (!c)
		return;
	cache_clear(c);
	/* Every statement is finalized, so this cannot be SQLITE_BUSY. */
	sqlite3_close(c->db);
	/*
	 * Only now: closing any descriptor of the file drops every POSIX
	 * lock this process holds on it, SQLite's included (see
	 * OPEN_SIBLING).  Closing it ends converge's lock too.
	 */
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	free(c->path);
	free(c);
}

static void sqlite_set_lock_timeout(struct cv_db *db, long ms)
{
	struct sqlite_db *c = to_sqlite(db);

	ms = clamp_ms(ms);
	c->timeout_ms = ms;
	sqlite3_busy_timeout(c->db, (int)ms);
}

/* ---- converge's lock --------------------------------------------- */

/*
 * SQLite's write lock is the transaction: it cannot be kept while a
 * revision runs outside one (VACUUM refuses inside a transaction), and
 * nothing else would keep a second apply out then.  So every connection
 * that takes the lock (begin, restore) first takes flock(2) on the
 * database file, through a descriptor of its own, and keeps it until its
 * transaction ends, or with hold_lock until release_lock or close.
 *
 * flock locks are apart from the POSIX locks SQLite takes: they neither
 * block the application's connections nor are blocked by them, and
 * closing some other descriptor of the file leaves them alone.  The
 * kernel drops them when the process ends, however it ends.  They belong
 * to the open file description: two connections of one process exclude
 * each other as two processes do.  The wait shares --lock-timeout with
 * the wait for SQLite's lock that follows it.
 */

/* The longest sleep between two tries, in milliseconds. */
#define LOCK_POLL_MAX_MS 50L

/* The first size - 1 bytes of a file, NUL-terminated; how many. */
static size_t read_head(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return n;
}

/*
 * What a process is, for a lock message: its program and, when it is a
 * word, its first argument ("converge apply"), never the rest of its
 * command line, which may hold a URL; and since when it runs.  Linux's
 * /proc only; nothing elsewhere, or for a process gone meanwhile.
 */
static void describe_process(long pid, struct cv_buf *who)
{
	static const char word[] = "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-";
	char path[64], cmd[256], stat[1024], *p;
	const char *prog, *arg;
	unsigned long long start = 0;
	long ticks = sysconf(_SC_CLK_TCK);
	long long boot = 0;
	FILE *f;
	size_t n;
	int field;

	cv_buf_addf(who, "pid %ld", pid);
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	n = read_head(path, cmd, sizeof(cmd));
	prog = strrchr(cmd, '/');
	prog = prog ? prog + 1 : cmd;
	arg = cmd + strlen(cmd) + 1;
	/* Another process's words reach a terminal: plain ones only. */
	if (strspn(prog, word) != strlen(prog))
		prog = "";
	/* The first argument when it is a verb, as converge's are. */
	if (!*prog || arg >= cmd + n ||
	    strspn(arg, word) != strlen(arg) || !islower((unsigned char)*arg))
		arg = "";

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	read_head(path, stat, sizeof(stat));
	/* Field 22, counted after the name, which may hold anything. */
	p = strrchr(stat, ')');
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		start = strtoull(p + 1, NULL, 10);
	f = fopen("/proc/stat", "re");
	while (f && fgets(stat, sizeof(stat), f))
		if (sscanf(stat, "btime %lld", &boot) == 1)
			break;
	if (f)
		fclose(f);

	if (!*prog && !(start && boot > 0 && ticks > 0))
		return;
	cv_buf_adds(who, " (");
	if (*prog)
		cv_buf_addf(who, "%s%s%s", prog, *arg ? " " : "", arg);
	if (start && boot > 0 && ticks > 0) {
		char since[CV_TIME_LEN];

		cv_time_format(boot + (time_t)(start / (unsigned long long)ticks),
			       since);
		cv_buf_addf(who, "%ssince %s", *prog ? ", " : "", since);
	}
	cv_buf_adds(who, ")");
}

/*
 * Who holds a lock on the file open as `fd`, from Linux's /proc/locks:
 * true when it is an flock (converge's lock; see above), false when it is
 * a POSIX lock that writes (SQLite's own lock, which an application's
 * write transaction holds).  `mine`: this connection has converge's lock,
 * so this process's flock is not the one in the way.  The process is
 * described in `who` when it is another one.  Without /proc, it is
 * converge's lock when this connection does not have it.
 */
static bool file_lock_holder(int fd, bool mine, struct cv_buf *who)
{
	char line[256], kind[16], mode[16];
	unsigned major_, minor_;
	unsigned long long ino;
	long pid, self = (long)getpid(), flocker = 0, writer = 0;
	bool own_flock = false, own_writer = false;
	struct stat st;
	FILE *f;

	if (fd < 0 || fstat(fd, &st) < 0)
		return !mine;
	f = fopen("/proc/locks", "re");
	while (f && fgets(line, sizeof(line), f)) {
		/* Waiters are listed as "N: -> FLOCK …": not holders. */
		if (sscanf(line, "%*d: %15s %*s %15s %ld %x:%x:%llu", kind,
			   mode, &pid, &major_, &minor_, &ino) != 6 ||
		    strcmp(mode, "WRITE") != 0 || ino != st.st_ino ||
		    major_ != major(st.st_dev) || minor_ != minor(st.st_dev))
			continue;
		if (!strcmp(kind, "FLOCK") && pid == self)
			own_flock = true;
		else if (!strcmp(kind, "FLOCK") && !flocker)
			flocker = pid;
		else if (!strcmp(kind, "POSIX") && pid == self)
			own_writer = true;
		else if (!strcmp(kind, "POSIX") && !writer)
			writer = pid;
	}
	if (f)
		fclose(f);
	if (flocker > 0) {
		describe_process(flocker, who);
		return true;
	}
	/* Another connection of this process has it. */
	if (own_flock && !mine)
		return true;
	if (writer > 0)
		describe_process(writer, who);
	if (writer > 0 || own_writer)
		return false;
	return !mine;
}

static bool sqlite_lock_holder(struct cv_db *db, struct cv_buf *who)
{
	struct sqlite_db *c = to_sqlite(db);

	return file_lock_holder(c->lock_fd, c->locked, who);
}

/*
 * The lock could not be had in time: converge's own, or (when this
 * connection holds that) SQLite's, which another program's write
 * transaction keeps.
 */
static int locked_error(const struct sqlite_db *c, struct cv_error *err)
{
	struct cv_buf who = CV_BUF_INIT;
	bool ours = file_lock_holder(c->lock_fd, c->locked, &who);
	int rc;

	rc = cv_error_set(err, CV_ELOCKED,
			  "database is locked by %s (waited %g s)%s%s",
			  ours ? "another apply" :
			  "another program's write transaction",
			  seconds(c->timeout_ms), who.len ? "; it is held by " : "",
			  cv_buf_str(&who));
	cv_buf_release(&who);
	return rc;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec - t0->tv_sec) * 1000L +
	       (long)(t.tv_nsec - t0->tv_nsec) / 1000000L;
}

/*
 * Takes converge's lock unless this connection has it, waiting at most
 * c->timeout_ms; *waited (may be NULL) says how long it took.
 */
static int take_lock(struct sqlite_db *c, long *waited, struct cv_error *err)
{
	struct timespec t0;
	long pause = 1, spent = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!c->locked && c->lock_fd >= 0) {
		struct timespec nap;

		if (flock(c->lock_fd, LOCK_EX | LOCK_NB) == 0) {
			c->locked = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return cv_error_set(err, CV_EIO,
					    "cannot lock database '%s': %s",
					    c->path, strerror(errno));
		spent = ms_since(&t0);
		if (spent >= c->timeout_ms)
			return locked_error(c, err);
		/* As SQLite's busy handler: soon at first, then less often. */
		if (pause > c->timeout_ms - spent)
			pause = c->timeout_ms - spent;
		nap.tv_sec = pause / 1000;
		nap.tv_nsec = (pause % 1000) * 1000000L;
		nanosleep(&nap, NULL);
		if (pause < LOCK_POLL_MAX_MS)
			pause *= 2;
	}
	if (waited)
		*waited = ms_since(&t0);
	return 0;
}

/* Lets converge's lock go once no transaction and no hold_lock needs it. */
static void drop_lock(struct sqlite_db *c)
{
	if (!c->locked || c->held || !sqlite3_get_autocommit(c->db))
		return;
	flock(c->lock_fd, LOCK_UN);
	c->locked = false;
}

static int sqlite_hold_lock(struct cv_db *db, struct cv_error *err)
{
	struct sqlite_db *c = to_sqlite(db);
	int rc = take_lock(c, NULL, err);

	if (!rc)
		c->held = true;
	return rc;
}

static void sqlite_release_lock(struct cv_db *db)
{
	struct sqlite_db *c = to_sqlite(db);

	c->held = false;
	drop_lock(c);
}

/* ---- transactions ------------------------------------------------- */

/*
 * Once the lock is held, writing pages (a commit, a cache spill) needs the
 * readers gone: SQLite keeps new ones out and waits for those reading.
 * That wait is not for the lock --lock-timeout is about (0 would fail any
 * apply while the application reads), so it gets at least this long.
 */
#define READERS_WAIT_MS 10000L

static void wait_for(struct sqlite_db *c, long ms)
{
	sqlite3_busy_timeout(c->db, (int)clamp_ms(ms));
}

static int sqlite_begin(struct cv_db *db, struct cv_error *err)
{
	struct sqlite_db *c = to_sqlite(db);
	long waited = 0;
	int rc = take_lock(c, &waited, err);

	if (rc)
		return rc;
	/* One deadline for both locks. */
	wait_for(c, c->timeout_ms - waited);
	rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		wait_for(c, c->timeout_ms > READERS_WAIT_MS ? c->timeout_ms :
			 READERS_WAIT_MS);
		return 0;
	}
	wait_for(c, c->timeout_ms);
	/* Asked while this connection has converge's lock: whoever keeps
	 * SQLite's from it is no converge run. */
	rc = is_busy(rc) ? locked_error(c, err) :
			   db_error(c, rc, "BEGIN IMMEDIATE", err);
	drop_lock(c);
	return rc;
}

static int sqlite_begin_read(struct cv_db *db, struct cv_error *err)
{
	struct sqlite_db *c = to_sqlite(db);
	int rc = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_error(c, rc, "BEGIN", err);
	/*
	 * BEGIN alone is deferred: the read lock, and so the snapshot, is
	 * taken by the first read.  Take it now, so that everything plan
	 * reads comes from one state of the database.
	 */
	rc = sqlite3_exec(c->db, "SELECT 1 FROM sqlite_master LIMIT 1", NULL,
			  NULL, NULL);
	if (rc != SQLITE_OK) {
		int code;

		if (is_busy(rc))
			code = cv_error_set(err, CV_ELOCKED,
					    "database is locked (waited %g s)",
					    seconds(c->timeout_ms));
		else
			code = db_error(c, rc, NULL, err);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return code;
	}
	return 0;
}

static int sqlite_commit(struct cv_db *db, struct cv_error *err)
{
	struct sqlite_db *c = to_sqlite(db);
	int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);

	if (rc == SQLITE_OK) {
		wait_for(c, c->timeout_ms);
		drop_lock(c);
		return 0;
	}
	/* Readers kept the commit out; the transaction is still open. */
	if (is_busy(rc))
		return cv_error_set(err, CV_ELOCKED,
				    "cannot commit: database is in use by "
				    "readers (waited %g s)",
				    seconds(c->timeout_ms > READERS_WAIT_MS ?
					    c->timeout_ms : READERS_WAIT_MS));
	return db_error(c, rc, "COMMIT", err);
}

static int sqlite_rollback(struct cv_db *db)
{
	struct sqlite_db *c = to_sqlite(db);
	int rc = 0;

	if (!c)
		return 0;
	/* SQLite may have rolled back by itself (an I/O error, a full
	 * disk): converge's lock still goes with the transaction. */
	if (!sqlite3_get_autocommit(c->db)) {
		wait_for(c, c->timeout_ms);
		if (sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL) !=
		    SQLITE_OK)
			rc = CV_EDB;
	}
	drop_lock(c);
	return rc;
}

/* ---- statements --------------------------------------------------- */

static int sqlite_exec_script(struct cv_db *db, const char *sql,
			      struct cv_error *err)
{
	struct sqlite_db *c = to_sqlite(db);
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);

	if (rc == SQLITE_OK)
		return 0;
	cv_error_set(err, error_code(rc), "sqlite: %s",
		     msg ? msg : sqlite3_errstr(rc));
	cv_error_set_sql(err, NULL, sql);
	sqlite3_free(msg);
	return error_code(rc);
}

static int sqlite_exec(struct cv_db *db, const char *sql,
		       const char *const *params, size_t nparams,
		       struct cv_error *err)
{
	struct sqlite_db *c = to_sqlite(db);
	sqlite3_stmt *stmt = NULL;
	bool own = false;
	int rc;

	rc = get_stmt(c, sql, &stmt, &own, err);
	if (rc < 0 || !stmt)
		goto out;
	rc = bind_params(c, stmt, sql, params, nparams, err);
	if (rc < 0)
		goto out;
	/* Rows of a statement run for its effect are stepped past. */
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE) {
		rc = db_error(c, rc, sql, err);
		goto out;
	}
	rc = 0;

out:
	put_stmt(stmt, own);
	return rc;
}

/* Rows of up to this many columns need no allocation. */
#define ROW_INLINE 32

static int sqlite_query(struct cv_db *db, const char *sql,
			const char *const *params, size_t nparams,
			cv_row_fn fn, void *ctx, struct cv_error *err)
{
	struct sqlite_db *c = to_sqlite(db);
	const char *inl_cols[ROW_INLINE];
	size_t inl_lens[ROW_INLINE];
	const char **cols = inl_cols;
	size_t *lens = inl_lens;
	sqlite3_stmt *stmt = NULL;
	bool own = false;
	int ncols, rc;

	rc = get_stmt(c, sql, &stmt, &own, err);
	if (rc < 0 || !stmt)
		goto out;
	rc = bind_params(c, stmt, sql, params, nparams, err);
	if (rc < 0)
		goto out;
	ncols = sqlite3_column_count(stmt);
	if (ncols > ROW_INLINE) {
		cols = cv_calloc((size_t)ncols, sizeof(*cols));
		lens = cv_calloc((size_t)ncols, sizeof(*lens));
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++) {
			const unsigned char *t = sqlite3_column_text(stmt, i);

			/* No text: SQL NULL, an empty blob, or no memory. */
			if (!t && sqlite3_column_type(stmt, i) != SQLITE_NULL) {
				if (sqlite3_errcode(c->db) == SQLITE_NOMEM)
					cv_die("out of memory in sqlite");
				t = (const unsigned char *)"";
			}
			cols[i] = (const char *)t;
			lens[i] = t ? (size_t)sqlite3_column_bytes(stmt, i) : 0;
		}
		rc = fn(ctx, cols, lens, ncols);
		if (rc)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = db_error(c, rc, sql, err);
		goto out;
	}
	rc = 0;

out:
	if (cols != inl_cols) {
		free(cols);
		free(lens);
	}
	put_stmt(stmt, own);
	return rc;
}

/* ---- catalogue ---------------------------------------------------- */

static int set_true(void *ctx, const char *const *cols, const size_t *lens,
		    int ncols)
{
	(void)lens;
	*(bool *)ctx = ncols > 0 && cols[0] && strcmp(cols[0], "0") != 0;
	return 0;
}

static int sqlite_table_exists(struct cv_db *db, const char *table, bool *out,
			       struct cv_error *err)
{
	const char *params[] = { table };

	*out = false;
	/*
	 * A table in the schema SQLite already holds in memory: no query.
	 * That covers every table; a view, or one of SQLite's own names,
	 * takes the query.  A plan going down a long chain asks once for
	 * every table it drops, and the query scans sqlite_master each time.
	 */
	if (strncasecmp(table, "sqlite_", 7) != 0 &&
	    sqlite3_table_column_metadata(to_sqlite(db)->db, "main", table,
					  NULL, NULL, NULL, NULL, NULL,
					  NULL) == SQLITE_OK) {
		*out = true;
		return 0;
	}
	/* SQLite names are case-insensitive in ASCII, as NOCASE is. */
	return sqlite_query(db,
			    "SELECT 1 FROM sqlite_master WHERE type IN "
			    "('table', 'view') AND name = ?1 COLLATE NOCASE",
			    params, 1, set_true, out, err);
}

static int sqlite_column_exists(struct cv_db *db, const char *table,
				const char *column, bool *out,
				struct cv_error *err)
{
	const char *params[] = { table, column };

	*out = false;
	/*
	 * table_info looks in temp, main and the attached databases, as an
	 * unqualified name in a query does, and lists a view's columns too;
	 * a table has at least one column.  Names are ASCII-case-insensitive.
	 */
	return sqlite_query(db,
			    "SELECT 1 FROM pragma_table_info(?1) "
			    "WHERE ?2 IS NULL OR name = ?2 COLLATE NOCASE LIMIT 1",
			    params, 2, set_true, out, err);
}

static int sqlite_column_not_null(struct cv_db *db, const char *table,
				  const char *column, bool *out,
				  struct cv_error *err)
{
	const char *params[] = { table, column };

	*out = false;
	/* The column as column_exists finds it, with its NOT NULL. */
	return sqlite_query(db,
			    "SELECT 1 FROM pragma_table_info(?1) "
			    "WHERE name = ?2 COLLATE NOCASE AND \"notnull\" "
			    "LIMIT 1",
			    params, 2, set_true, out, err);
}

static void sqlite_quote_ident(struct cv_buf *out, const char *name)
{
	cv_buf_addch(out, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			cv_buf_addch(out, '"');
		cv_buf_addch(out, *p);
	}
	cv_buf_addch(out, '"');
}

static int sqlite_table_has_rows(struct cv_db *db, const char *table,
				 bool *out, struct cv_error *err)
{
	struct cv_buf sql = CV_BUF_INIT;
	int rc;

	*out = false;
	cv_buf_adds(&sql, "SELECT EXISTS (SELECT 1 FROM ");
	sqlite_quote_ident(&sql, table);
	cv_buf_adds(&sql, ")");
	rc = sqlite_query(db, sql.buf, NULL, 0, set_true, out, err);
	cv_buf_release(&sql);
	return rc;
}

/* Only main's: converge attaches no other database. */
static int sqlite_table_rows(struct cv_db *db, const char *schema,
			     const char *table, bool *out,
			     struct cv_error *err)
{
	bool exists = false;
	int rc;

	*out = false;
	if (schema && strcasecmp(schema, "main") != 0)
		return 0;
	rc = sqlite_table_exists(db, table, &exists, err);
	if (!rc && exists)
		rc = sqlite_table_has_rows(db, table, out, err);
	return rc;
}

struct fk_report {
	struct cv_buf msg;
	size_t count;
};

static int fk_row(void *ctx, const char *const *cols, const size_t *lens,
		  int ncols)
{
	struct fk_report *r = ctx;

	(void)lens;
	if (ncols < 3)
		return 0;
	if (r->count++ >= FK_SHOWN)
		return 0;
	cv_buf_adds(&r->msg, r->count == 1 ? ": " : "; ");
	cv_buf_addf(&r->msg, "table '%s' ", cv_shorten(cols[0]));
	if (cols[1])
		cv_buf_addf(&r->msg, "row %s ", cols[1]);
	else
		cv_buf_adds(&r->msg, "row (without rowid) ");
	cv_buf_addf(&r->msg, "references '%s'", cv_shorten(cols[2]));
	return 0;
}

static int sqlite_foreign_key_check(struct cv_db *db, struct cv_error *err)
{
	struct fk_report r = { CV_BUF_INIT, 0 };
	int rc;

	rc = sqlite_query(db, "PRAGMA foreign_key_check", NULL, 0, fk_row, &r,
			  err);
	if (rc < 0 || !r.count)
		goto out;
	if (r.count > FK_SHOWN)
		cv_buf_addf(&r.msg, " (and %zu more)", r.count - FK_SHOWN);
	rc = cv_error_set(err, CV_EDB, "foreign key check failed%s",
			  cv_buf_str(&r.msg));
	cv_error_set_sql(err, NULL, "PRAGMA foreign_key_check");

out:
	cv_buf_release(&r.msg);
	return rc;
}

/* ---- snapshots ---------------------------------------------------- */

/*
 * Copies the whole "main" database of src into dst with the backup API.
 * `what` names the operation for messages.
 */
static int backup(sqlite3 *dst, sqlite3 *src, const char *what,
		  long timeout_ms, struct cv_error *err)
{
	sqlite3_backup *b;
	int rc, frc;

	b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b)
		return cv_error_set(err, CV_EDB, "%s: sqlite: %s", what,
				    sqlite3_errmsg(dst));
	rc = sqlite3_backup_step(b, -1);
	frc = sqlite3_backup_finish(b);
	if (rc == SQLITE_DONE && frc == SQLITE_OK)
		return 0;
	if (rc == SQLITE_DONE || rc == SQLITE_OK)
		rc = frc;
	if (is_busy(rc))
		return cv_error_set(err, CV_ELOCKED,
				    "%s: database is locked (waited %g s)",
				    what, seconds(timeout_ms));
	return cv_error_set(err, CV_EDB, "%s: sqlite: %s", what,
			    sqlite3_errmsg(dst));
}

static void remove_partial(const char *path)
{
	char *journal = cv_asprintf("%s-journal", path);

	unlink(path);
	unlink(journal);
	free(journal);
}

/*
 * A number that changes whenever another connection commits to the
 * database (PRAGMA data_version); -1 when it cannot be read.
 */
static long long data_version(sqlite3 *db)
{
	sqlite3_stmt *stmt = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &stmt,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static int sqlite_snapshot(struct cv_db *db, const char *path,
			   struct cv_error *err)
{
	struct sqlite_db *c = to_sqlite(db);
	sqlite3 *dst = NULL, *src = NULL;
	const char *file;
	char *partial = NULL;
	int fd, rc;

	/*
	 * Create the file ourselves, exclusively and 0600 from the start: a
	 * snapshot holds everything in the database, and must never replace
	 * an earlier one.  It is written under another name and renamed
	 * when whole, so that a run killed meanwhile leaves nothing that
	 * `snapshots` would list or `restore` would take.
	 */
	fd = cv_partial_create(path, &partial);
	if (fd < 0) {
		if (errno == EEXIST)
			return cv_error_set(err, CV_EIO,
					    "snapshot '%s' already exists", path);
		return cv_error_set(err, CV_EIO, "cannot create snapshot '%s': %s",
				    path, strerror(errno));
	}
	close(fd);

	rc = open_handle(&dst, partial, 0, c->timeout_ms);
	if (rc != SQLITE_OK) {
		rc = cv_error_set(err, CV_EIO, "cannot open snapshot '%s': sqlite: %s",
				  path, dst ? sqlite3_errmsg(dst) :
				  sqlite3_errstr(rc));
		goto out;
	}

	/*
	 * The backup API refuses a source connection that is in a write
	 * transaction, which ours is when apply snapshots under its lock.
	 * Nothing is written yet at that point, so what a second, read-only
	 * connection sees is exactly the state the run starts from.
	 */
	src = c->db;
	if (!sqlite3_get_autocommit(c->db)) {
		file = sqlite3_db_filename(c->db, "main");
		src = NULL;
		rc = open_handle(&src, file, CV_DB_READONLY | OPEN_SIBLING,
				 c->timeout_ms);
		if (rc != SQLITE_OK) {
			rc = cv_error_set(err, CV_EDB,
					  "snapshot '%s': cannot reopen '%s': "
					  "sqlite: %s", path, file,
					  src ? sqlite3_errmsg(src) :
					  sqlite3_errstr(rc));
			goto out;
		}
	}

	rc = backup(dst, src, "snapshot failed", c->timeout_ms, err);
	if (rc < 0)
		goto out;
	/*
	 * A copy of a WAL database is marked WAL too, and would grow -wal and
	 * -shm files whenever it is read.  A snapshot is one file that can
	 * be moved around alone; restoring it into a WAL database keeps
	 * that database in WAL mode.
	 */
	rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL,
			  NULL);
	if (rc != SQLITE_OK) {
		rc = cv_error_set(err, CV_EIO, "cannot write snapshot '%s': "
				  "sqlite: %s", path, sqlite3_errmsg(dst));
		goto out;
	}
	rc = sqlite3_close(dst);
	dst = NULL;
	if (rc != SQLITE_OK) {
		rc = cv_error_set(err, CV_EIO, "cannot write snapshot '%s': %s",
				  path, sqlite3_errstr(rc));
		goto out;
	}
	if (cv_partial_publish(partial, path) < 0) {
		rc = cv_error_set(err, CV_EIO, "cannot write snapshot '%s': %s",
				  path, strerror(errno));
		goto out;
	}
	free(partial);
	partial = NULL;
	rc = 0;
	/* Under the write lock nobody else commits: this is the state the
	 * snapshot holds, as far as other connections go. */
	c->snap_version = sqlite3_get_autocommit(c->db) ? -1 :
			  data_version(c->db);

out:
	if (src && src != c->db)
		sqlite3_close(src);
	sqlite3_close(dst);
	if (partial)
		remove_partial(partial);
	free(partial);
	return rc;
}

/*
 * Opens a snapshot to restore from, *src set on success.  `thorough`
 * checks every page (restore, before the first page is copied: the
 * backup API copies pages as they are, and a damaged snapshot must leave
 * the database as it was); else reading its schema is enough to tell a
 * file that is no database at all (check_snapshot, which restore follows).
 */
static int open_snapshot(const struct sqlite_db *c, const char *path,
			 bool thorough, sqlite3 **src, struct cv_error *err)
{
	sqlite3_stmt *stmt = NULL;
	struct stat st;
	const char *res;
	int rc;

	*src = NULL;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return cv_error_set(err, CV_ENOTFOUND,
					    "snapshot '%s' does not exist", path);
		return cv_error_set(err, CV_EIO, "cannot read snapshot '%s': %s",
				    path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return cv_error_set(err, CV_EIO, "snapshot '%s' is not a file",
				    path);
	if (cv_same_file(c->path, path))
		return cv_error_set(err, CV_EINVAL,
				    "snapshot '%s' is the database itself; name a file in its snapshot directory (converge snapshots lists them)",
				    path);

	rc = open_handle(src, path, CV_DB_READONLY, c->timeout_ms);
	if (rc != SQLITE_OK) {
		rc = cv_error_set(err, CV_EIO, "cannot open snapshot '%s': sqlite: %s",
				  path, *src ? sqlite3_errmsg(*src) :
				  sqlite3_errstr(rc));
		goto out;
	}
	rc = sqlite3_prepare_v2(*src, thorough ? "PRAGMA quick_check(1)" :
				"SELECT 'ok' FROM (SELECT count(*) FROM sqlite_master)",
				-1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		rc = cv_error_set(err, CV_EDB,
				  "snapshot '%s' is not a usable sqlite database: %s",
				  path, sqlite3_errmsg(*src));
		goto out;
	}
	res = (const char *)sqlite3_column_text(stmt, 0);
	rc = 0;
	if (!res || strcmp(res, "ok") != 0)
		rc = cv_error_set(err, CV_EDB, "snapshot '%s' is damaged: %s",
				  path, res ? cv_shorten(res) : "unknown error");
out:
	sqlite3_finalize(stmt);
	if (rc) {
		sqlite3_close(*src);
		*src = NULL;
	}
	return rc;
}

static int sqlite_check_snapshot(struct cv_db *db, const char *path,
				 struct cv_error *err)
{
	sqlite3 *src;
	int rc = open_snapshot(to_sqlite(db), path, false, &src, err);

	sqlite3_close(src);
	return rc;
}

/*
 * Copies src into the database under converge's lock: the backup API
 * writes the whole of it in one transaction of its own, so the database
 * is either replaced or left as it was.
 */
static int restore_from(struct sqlite_db *c, sqlite3 *src,
			struct cv_error *err)
{
	bool took;
	int rc;

	/*
	 * converge's lock, for the restore alone unless the caller holds it
	 * already (hold_lock, from before its snapshot), so that no other
	 * apply, rollback or restore runs in between.
	 */
	took = !c->locked;
	rc = take_lock(c, NULL, err);
	if (rc)
		return rc;

	/*
	 * restore snapshots the database under the lock first, then has to
	 * let SQLite's lock go: the backup API takes the destination's lock
	 * itself and cannot run inside a transaction.  converge's lock keeps
	 * other converge runs out; the application may still write.  A
	 * commit by another connection since that snapshot would be
	 * overwritten without being in it: refuse, so that the caller
	 * snapshots again.  What is left is the moment between this check
	 * and the backup's first step.
	 */
	if (c->snap_version >= 0 && data_version(c->db) != c->snap_version) {
		rc = cv_error_set(err, CV_ESTALE,
				  "'%s' changed after its snapshot was taken; nothing was restored",
				  c->path);
		goto out;
	}
	/* The schema changes under the cached statements: start over. */
	cache_clear(c);
	c->snap_version = -1;
	rc = backup(c->db, src, "restore failed", c->timeout_ms, err);

out:
	if (took)
		drop_lock(c);
	return rc;
}

/*
 * The snapshot copied into a temporary database (SQLite's own, deleted
 * when closed, however the process ends), with what `record` writes, in
 * *out: the copy that then replaces the database in one backup, so that
 * a run killed in between leaves the database as it was, never restored
 * but unrecorded.
 */
static int stage(struct sqlite_db *c, sqlite3 *src,
		 int (*record)(struct cv_db *into, void *arg,
			       struct cv_error *err),
		 void *arg, sqlite3 **out, struct cv_error *err)
{
	struct sqlite_db st;
	int rc;

	rc = open_handle(out, "", CV_DB_CREATE, c->timeout_ms);
	if (rc != SQLITE_OK)
		return cv_error_set(err, CV_EIO, "restore failed: cannot make a temporary database: sqlite: %s",
				    *out ? sqlite3_errmsg(*out) :
				    sqlite3_errstr(rc));
	rc = backup(*out, src, "restore failed", c->timeout_ms, err);
	if (rc < 0)
		return rc;
	/* A handle on the copy, with no lock of its own: nobody else can
	 * open a temporary database. */
	memset(&st, 0, sizeof(st));
	handle_init(&st, *out, c->path, c->timeout_ms, -1);
	rc = record(&st.base, arg, err);
	cache_clear(&st);
	return rc;
}

static int sqlite_restore_recorded(struct cv_db *db, const char *path,
				   int (*record)(struct cv_db *into, void *arg,
						 struct cv_error *err),
				   void *arg, struct cv_error *err)
{
	struct sqlite_db *c = to_sqlite(db);
	sqlite3 *src = NULL, *tmp = NULL;
	int rc;

	if (!sqlite3_get_autocommit(c->db))
		return cv_error_set(err, CV_EDB,
				    "cannot restore '%s' inside a transaction",
				    path);
	rc = open_snapshot(c, path, true, &src, err);
	if (!rc && record)
		rc = stage(c, src, record, arg, &tmp, err);
	if (!rc)
		rc = restore_from(c, tmp ? tmp : src, err);
	sqlite3_close(tmp);
	sqlite3_close(src);
	return rc;
}

static int sqlite_restore(struct cv_db *db, const char *path,
			  struct cv_error *err)
{
	return sqlite_restore_recorded(db, path, NULL, NULL, err);
}

static void sqlite_param(struct cv_buf *out, unsigned n)
{
	cv_buf_addf(out, "?%u", n);
}

const struct cv_backend cv_sqlite_backend = {
	.name = "sqlite",
	.snapshot_ext = ".db",
	.open = sqlite_open,
	.close = sqlite_close,
	.set_lock_timeout = sqlite_set_lock_timeout,
	.begin = sqlite_begin,
	.begin_read = sqlite_begin_read,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.hold_lock = sqlite_hold_lock,
	.release_lock = sqlite_release_lock,
	.lock_holder = sqlite_lock_holder,
	.exec_script = sqlite_exec_script,
	.exec = sqlite_exec,
	.query = sqlite_query,
	.table_exists = sqlite_table_exists,
	.table_has_rows = sqlite_table_has_rows,
	.table_rows = sqlite_table_rows,
	.column_exists = sqlite_column_exists,
	.column_not_null = sqlite_column_not_null,
	.foreign_key_check = sqlite_foreign_key_check,
	.snapshot = sqlite_snapshot,
	.restore = sqlite_restore,
	.restore_recorded = sqlite_restore_recorded,
	.check_snapshot = sqlite_check_snapshot,
	.quote_ident = sqlite_quote_ident,
	.param = sqlite_param,
	.table_suffix = " WITHOUT ROWID",
	.insert_rows = 32,  /* 32 * 18 parameters: under SQLite's old 999 */
	.bool_type = "INTEGER",
};
