/*
 * Database URLs: which backend a --db string names, and that no password
 * survives into what is displayed or into an error message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "converge/backend.h"

static void assert_no_secret(const char *text, const char *secret)
{
	if (text && strstr(text, secret))
		fail_msg("'%s' shows the password '%s'", text, secret);
}

static void check_sqlite(const char *text, const char *path)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;

	assert_int_equal(cv_url_parse(&url, text, &err), 0);
	assert_ptr_equal(url.backend, &cv_sqlite_backend);
	assert_string_equal(url.type, "sqlite");
	assert_string_equal(url.path, path);
	assert_null(url.conninfo);
	assert_string_equal(url.display, text);
	cv_url_release(&url);
	cv_error_release(&err);
}

static void check_postgres(const char *text, const char *display,
			   const char *secret)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	char *redacted;

	assert_int_equal(cv_url_parse(&url, text, &err), 0);
	assert_ptr_equal(url.backend, &cv_postgres_backend);
	assert_string_equal(url.type, "postgres");
	assert_null(url.path);
	assert_string_equal(url.conninfo, text);
	assert_string_equal(url.display, display);
	assert_no_secret(url.display, secret);
	redacted = cv_url_redact(text);
	assert_string_equal(redacted, display);
	free(redacted);
	cv_url_release(&url);
	cv_error_release(&err);
}

static void check_invalid(const char *text, const char *secret,
			  const char *msg_part)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;

	assert_int_equal(cv_url_parse(&url, text, &err), CV_EUSAGE);
	assert_int_equal(err.code, CV_EUSAGE);
	assert_non_null(err.msg);
	if (secret)
		assert_no_secret(err.msg, secret);
	if (msg_part && !strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
	assert_null(url.path);
	assert_null(url.conninfo);
	assert_null(url.display);
	cv_url_release(&url);
	cv_error_release(&err);
}

static void check_redact(const char *text, const char *want)
{
	char *got = cv_url_redact(text);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_url__sqlite_forms(void **state)
{
	(void)state;
	check_sqlite("sqlite:app.db", "app.db");
	check_sqlite("sqlite:data/app", "data/app");
	check_sqlite("sqlite://rel/app.db", "rel/app.db");
	check_sqlite("sqlite:///abs/path/app.db", "/abs/path/app.db");
	check_sqlite("app.db", "app.db");
	check_sqlite("/var/lib/x/app.sqlite", "/var/lib/x/app.sqlite");
	check_sqlite("../app.sqlite3", "../app.sqlite3");
	/* Looks like key=value, but libpq has no option "a": a file name. */
	check_sqlite("a=b.db", "a=b.db");
	/* A path with characters that mean something in a URI. */
	check_sqlite("sqlite:/tmp/u:x@y.db", "/tmp/u:x@y.db");
	/* URL schemes are case-insensitive. */
	check_sqlite("SQLITE:u10.db", "u10.db");
	check_sqlite("SQLite:///abs/u10.db", "/abs/u10.db");
}

static void test_url__sqlite_file_uri(void **state)
{
	(void)state;
	/* SQLite would open u9.db, converge would name snapshots file:u9-…. */
	check_invalid("file:u9.db", NULL, "SQLite 'file:' URIs are not supported");
	check_invalid("sqlite:file:u9.db?mode=ro", NULL,
		      "SQLite 'file:' URIs are not supported");
	check_invalid("sqlite://file:u9.db", NULL,
		      "SQLite 'file:' URIs are not supported");
}

static void test_url__sqlite_missing_path(void **state)
{
	(void)state;
	check_invalid("sqlite:", NULL, "missing file path");
	check_invalid("sqlite://", NULL, "missing file path");
}

static void test_url__postgres_uri(void **state)
{
	(void)state;
	check_postgres("postgres://u:s3cret@h/db", "postgres://u@h/db",
		       "s3cret");
	check_postgres("postgresql://u:s3cret@h:5432/db?sslmode=require&password=x",
		       "postgresql://u@h:5432/db?sslmode=require", "s3cret");
	check_postgres("postgresql://u:s3cret@h:5432/db?password=x&sslmode=require",
		       "postgresql://u@h:5432/db?sslmode=require", "s3cret");
	check_postgres("postgresql://h/db?password=s3cret",
		       "postgresql://h/db", "s3cret");
	check_postgres("postgres://h/db", "postgres://h/db", "s3cret");
	check_postgres("postgres://", "postgres://", "s3cret");
	check_postgres("postgres://u@h,h2:5433/db", "postgres://u@h,h2:5433/db",
		       "s3cret");
	/* A percent-encoded keyword is still the password for libpq. */
	check_postgres("postgres://h/db?pass%77ord=s3cret&application_name=x",
		       "postgres://h/db?application_name=x", "s3cret");
	check_postgres("postgresql://h/db?sslpassword=s3cret&sslmode=require",
		       "postgresql://h/db?sslmode=require", "s3cret");
	/* A percent-encoded '@' is how a password holds one. */
	check_postgres("postgresql://u:S3cret%40PW@h/db", "postgresql://u@h/db",
		       "S3cret");
}

static void test_url__postgres_key_value(void **state)
{
	(void)state;
	check_postgres("host=h user=u password='a b\\' c' dbname=d",
		       "host=h user=u dbname=d", "a b");
	check_postgres("password=s3cret host=h", "host=h", "s3cret");
	check_postgres("host=h password = s3cret", "host=h", "s3cret");
	check_postgres("host=h  port=5432\tpassword='s3 cret'  dbname=d",
		       "host=h  port=5432\tdbname=d", "s3");
	check_postgres("dbname=app.db", "dbname=app.db", "s3cret");
	/* libpq expands a dbname that is itself a connection string. */
	check_postgres("dbname='postgresql://u:s3cret@h/d' connect_timeout=3",
		       "dbname='postgresql://u@h/d' connect_timeout=3", "s3cret");
	check_postgres("dbname='host=h password=s3cret'", "dbname='host=h'",
		       "s3cret");
	/* The client key's passphrase is a secret too. */
	check_postgres("host=h sslpassword=s3cret dbname=d", "host=h dbname=d",
		       "s3cret");
	check_postgres("host=h sslpassword='s3 cret'", "host=h", "s3");
}

static void test_url__invalid(void **state)
{
	(void)state;
	check_invalid("", NULL, "empty database URL");
	check_invalid("mysql://u:s3cret@h/db", "s3cret",
		      "unrecognised database URL 'mysql://u@h/db'");
	check_invalid("app.txt", NULL, "unrecognised database URL 'app.txt'");
	check_invalid("just some words password=s3cret", "s3cret",
		      "unrecognised database URL");
	check_invalid("postgres://u:s3cret@h/db?bogus=1", "s3cret",
		      "invalid database URL 'postgres://u@h/db?bogus=1'");
	check_invalid("host=h password=s3cret bogus=1", "s3cret",
		      "invalid database URL 'host=h bogus=1'");
	check_invalid("host=h password='s3cret", "s3cret",
		      "invalid database URL 'host=h'");
	/* libpq quotes the bad token, which here is the password itself. */
	check_invalid("postgres://u:t0psecret%zz@h/db", "t0psecret",
		      "invalid database URL 'postgres://u@h/db': libpq refuses");
	check_invalid("host=h password s3cret", "s3cret", "invalid database URL");
	/*
	 * libpq ends the userinfo at the first '@' or '/', and would take
	 * "PW@127.0.0.1" for the host and quote it: refused, showing no part
	 * of the password.
	 */
	check_invalid("postgresql://u:S3cret@PW@127.0.0.1:1/db", "PW",
		      "'postgresql://u@127.0.0.1:1/db': a '@' or '/' in the user name or password must be percent-encoded");
	check_invalid("postgresql://u:S3cret@PW@127.0.0.1:1/db", "S3cret", NULL);
	check_invalid("postgres://u:x9q/z7k@h/db", "x9q", "must be percent-encoded");
	check_invalid("postgres://me@corp@h/db", NULL, "must be percent-encoded");
	/* Keys libpq does not know, meant as a password all the same. */
	check_invalid("host=h PASSWORD=s3cret", "s3cret", "PASSWORD");
	check_invalid("postgresql://h/db?Password=s3cret", "s3cret", "Password");
	check_invalid("host=h sslpassword=s3cret bogus=1", "s3cret",
		      "invalid database URL 'host=h bogus=1'");
}

static void test_url__redact(void **state)
{
	(void)state;
	assert_null(cv_url_redact(NULL));
	check_redact("", "");
	check_redact("app.db", "app.db");
	check_redact("sqlite:///tmp/u:x@y.db", "sqlite:///tmp/u:x@y.db");
	check_redact("postgres://u:s3cret@h/db", "postgres://u@h/db");
	check_redact("postgres://:s3cret@h/db", "postgres://h/db");
	check_redact("postgres://u:@h/db", "postgres://u@h/db");
	check_redact("postgres://u@h/db", "postgres://u@h/db");
	/* Raw '@', '/' and '?' in a password still go. */
	check_redact("postgres://u:p@ss/w?rd@h/db?sslmode=require",
		     "postgres://u@h/db?sslmode=require");
	check_redact("postgres://u:p?w@h/db", "postgres://u@h/db");
	check_redact("postgres://u:p=w@h/db?user=x@y",
		     "postgres://u@h/db?user=x@y");
	check_redact("postgres://u:p?w=x@h/db", "postgres://u@h/db");
	check_redact("postgres://u:pw@h/db?user=me@corp",
		     "postgres://u@h/db?user=me@corp");
	check_redact("postgres://h/db?user=me@corp", "postgres://h/db?user=me@corp");
	check_redact("postgres://h/db?password=", "postgres://h/db");
	check_redact("mysql://root:s3cret@h/db", "mysql://root@h/db");
	check_redact("host=h password=s3cret", "host=h");
	check_redact("host=h password='it\\'s' user=u", "host=h user=u");
	check_redact("password=", "");
	check_redact("host=h user=u", "host=h user=u");
	check_redact("host=h sslpassword=s3cret", "host=h");
	check_redact("postgres://h/db?sslpassword=s3cret", "postgres://h/db");
	check_redact("SQLITE:u:x@y.db", "SQLITE:u:x@y.db");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url__sqlite_forms),
		cmocka_unit_test(test_url__sqlite_missing_path),
		cmocka_unit_test(test_url__sqlite_file_uri),
		cmocka_unit_test(test_url__postgres_uri),
		cmocka_unit_test(test_url__postgres_key_value),
		cmocka_unit_test(test_url__invalid),
		cmocka_unit_test(test_url__redact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
