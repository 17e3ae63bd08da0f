/*
 * Fuzz target: the stored form of a step's statements (converge_steps'
 * forward_sql/forward_stmts columns), which rollback decodes from a
 * journal that anyone with write access to the database may have edited.
 *
 * The input is the SQL column, a NUL, then the code column.  Checks: a
 * decoded list encodes to a form that decodes again, and encoding that
 * gives the same two columns (the stored form is stable).
 */
#include <stdlib.h>
#include <string.h>

#include "converge/journal.h"
#include "converge/plan.h"
#include "converge/util.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cv_arena arena;
	struct cv_buf sql1 = CV_BUF_INIT, code1 = CV_BUF_INIT;
	struct cv_buf sql2 = CV_BUF_INIT, code2 = CV_BUF_INIT;
	struct cv_stmt *stmts;
	uint32_t n;
	char *text = malloc(size + 2), *code;

	memcpy(text, data, size);
	text[size] = text[size + 1] = '\0';
	code = text + strlen(text) + 1;
	if (code > text + size)
		code = text + size + 1; /* no NUL in the input: no code */
	cv_arena_init(&arena);
	if (cv_stmts_decode(&arena, text, code, &stmts, &n) == 0) {
		cv_stmts_encode(&sql1, &code1, stmts, n);
		fuzz_check(cv_stmts_decode(&arena, cv_buf_str(&sql1),
					   cv_buf_str(&code1), &stmts, &n) == 0,
			   "encoded statements decode", data, size);
		cv_stmts_encode(&sql2, &code2, stmts, n);
		fuzz_check(sql1.len == sql2.len && code1.len == code2.len &&
			   !memcmp(cv_buf_str(&sql1), cv_buf_str(&sql2), sql1.len) &&
			   !memcmp(cv_buf_str(&code1), cv_buf_str(&code2), code1.len),
			   "the stored form is stable", data, size);
	}
	cv_buf_release(&sql1);
	cv_buf_release(&code1);
	cv_buf_release(&sql2);
	cv_buf_release(&code2);
	cv_arena_release(&arena);
	free(text);
	return 0;
}
