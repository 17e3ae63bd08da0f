/*
 * libpq, loaded when a PostgreSQL URL is first met rather than at start.
 *
 * Linking libpq makes every run, SQLite ones included, load it and the
 * two dozen libraries it needs (Kerberos, LDAP, GnuTLS...): about 8 ms of
 * dynamic linking before main, half the cost of a small apply.  So the
 * binary does not link it.  The one place that calls libpq includes this
 * header instead of <libpq-fe.h> alone: each PQ* name below becomes a call
 * through a pointer that cv_pq_load() fills with dlsym(), and the pointer
 * types come from libpq's own prototypes, so the compiler still checks
 * every call.  Everything else (types, enums) is libpq-fe.h's.
 *
 * Call cv_pq_load() before the first PQ* call; it is cheap after the first.
 */
#ifndef CONVERGE_PQ_H
#define CONVERGE_PQ_H

#include <libpq-fe.h>

#include "converge/error.h"

#define CV_PQ_FUNCS(X)                                                        \
	X(PQclear) X(PQcmdStatus) X(PQconnectdbParams) X(PQconninfo)          \
	X(PQconninfoFree) X(PQconninfoParse) X(PQdb)                          \
	X(PQdescribePrepared) X(PQerrorMessage) X(PQescapeIdentifier)         \
	X(PQexec) X(PQfinish) X(PQfreemem) X(PQgetCopyData)                   \
	X(PQgetResult) X(PQgetisnull) X(PQgetlength) X(PQgetvalue)            \
	X(PQhost) X(PQnfields) X(PQnparams) X(PQntuples)                      \
	X(PQparamtype) X(PQpass) X(PQport) X(PQprepare)                       \
	X(PQputCopyData) X(PQputCopyEnd) X(PQresStatus)                       \
	X(PQresultErrorField) X(PQresultErrorMessage)                         \
	X(PQresultStatus) X(PQsendQueryParams) X(PQsendQueryPrepared)         \
	X(PQsetNoticeProcessor) X(PQsetSingleRowMode) X(PQstatus)             \
	X(PQtransactionStatus) X(PQuser)

/*
 * Pipeline mode (libpq 14 and later): optional, a NULL pointer when the
 * libpq loaded is older, and statements then wait for their results one
 * by one.
 */
#define CV_PQ_OPTIONAL(X)                                                     \
	X(PQenterPipelineMode) X(PQexitPipelineMode) X(PQpipelineSync)

struct cv_pq {
#define CV_PQ_FIELD(name) __typeof__(name) *name;
	CV_PQ_FUNCS(CV_PQ_FIELD)
	CV_PQ_OPTIONAL(CV_PQ_FIELD)
#undef CV_PQ_FIELD
};
extern struct cv_pq cv_pq;

/*
 * Loads libpq.so.5 once (or the file CONVERGE_LIBPQ names, for a libpq
 * outside the loader's path).  Returns 0, or CV_ERR with a message saying that
 * PostgreSQL needs libpq and how to get it.  A failure is remembered.
 */
int cv_pq_load(struct cv_error *err);

/* From here on, PQexec(...) is (cv_pq.PQexec)(...); pq.c, which fills
 * the table, needs the plain names. */
#ifndef CV_PQ_LOADER
#define PQclear (cv_pq.PQclear)
#define PQcmdStatus (cv_pq.PQcmdStatus)
#define PQconnectdbParams (cv_pq.PQconnectdbParams)
#define PQconninfo (cv_pq.PQconninfo)
#define PQconninfoFree (cv_pq.PQconninfoFree)
#define PQconninfoParse (cv_pq.PQconninfoParse)
#define PQdb (cv_pq.PQdb)
#define PQdescribePrepared (cv_pq.PQdescribePrepared)
#define PQenterPipelineMode (cv_pq.PQenterPipelineMode)
#define PQerrorMessage (cv_pq.PQerrorMessage)
#define PQescapeIdentifier (cv_pq.PQescapeIdentifier)
#define PQexec (cv_pq.PQexec)
#define PQexitPipelineMode (cv_pq.PQexitPipelineMode)
#define PQfinish (cv_pq.PQfinish)
#define PQfreemem (cv_pq.PQfreemem)
#define PQgetCopyData (cv_pq.PQgetCopyData)
#define PQgetResult (cv_pq.PQgetResult)
#define PQgetisnull (cv_pq.PQgetisnull)
#define PQgetlength (cv_pq.PQgetlength)
#define PQgetvalue (cv_pq.PQgetvalue)
#define PQhost (cv_pq.PQhost)
#define PQnfields (cv_pq.PQnfields)
#define PQnparams (cv_pq.PQnparams)
#define PQntuples (cv_pq.PQntuples)
#define PQparamtype (cv_pq.PQparamtype)
#define PQpass (cv_pq.PQpass)
#define PQpipelineSync (cv_pq.PQpipelineSync)
#define PQport (cv_pq.PQport)
#define PQprepare (cv_pq.PQprepare)
#define PQputCopyData (cv_pq.PQputCopyData)
#define PQputCopyEnd (cv_pq.PQputCopyEnd)
#define PQresStatus (cv_pq.PQresStatus)
#define PQresultErrorField (cv_pq.PQresultErrorField)
#define PQresultErrorMessage (cv_pq.PQresultErrorMessage)
#define PQresultStatus (cv_pq.PQresultStatus)
#define PQsendQueryParams (cv_pq.PQsendQueryParams)
#define PQsendQueryPrepared (cv_pq.PQsendQueryPrepared)
#define PQsetNoticeProcessor (cv_pq.PQsetNoticeProcessor)
#define PQsetSingleRowMode (cv_pq.PQsetSingleRowMode)
#define PQstatus (cv_pq.PQstatus)
#define PQtransactionStatus (cv_pq.PQtransactionStatus)
#define PQuser (cv_pq.PQuser)
#endif

#endif
