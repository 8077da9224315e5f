/*
 * eddy_strerror: a sentence for every error code ctx/ returns.
 */
#include "check.h"

#include <limits.h>
#include <string.h>

#include "eddy.h"

EDDY_SUITE(ctx_strerror);

static const int ctx_errors[] = { -ENOENT, -EALREADY, -EINVAL, -EBUSY,
				  -ENOMEM, -EPERM, -EDDY_ECONFLICT };
#define NERRORS (sizeof ctx_errors / sizeof ctx_errors[0])

Test(ctx_strerror, each_ctx_error_has_a_sentence)
{
	for (size_t i = 0; i < NERRORS; i++) {
		const char *s = eddy_strerror(ctx_errors[i]);
		cr_assert_not_null(s, "no text for %d", ctx_errors[i]);
		cr_assert_gt(strlen(s), 10, "\"%s\" is not a sentence", s);
	}
}

Test(ctx_strerror, ctx_errors_have_distinct_sentences)
{
	for (size_t i = 0; i < NERRORS; i++)
		for (size_t j = i + 1; j < NERRORS; j++)
			cr_assert_str_neq(eddy_strerror(ctx_errors[i]),
					  eddy_strerror(ctx_errors[j]));
}

Test(ctx_strerror, positive_code_gives_the_same_sentence)
{
	for (size_t i = 0; i < NERRORS; i++)
		cr_assert_str_eq(eddy_strerror(-ctx_errors[i]),
				 eddy_strerror(ctx_errors[i]));
}

Test(ctx_strerror, other_codes_still_get_text)
{
	cr_assert_gt(strlen(eddy_strerror(0)), 0);
	cr_assert_gt(strlen(eddy_strerror(-ECANCELED)), 0);
	cr_assert_gt(strlen(eddy_strerror(-123456)), 0);
}

Test(ctx_strerror, a_conflict_before_any_merge_failed_names_no_variable)
{
	const char *s = eddy_strerror(-EDDY_ECONFLICT);
	cr_assert_not_null(strstr(s, "a variable"), "%s", s);
	cr_assert_null(eddy_ctx_conflict_var());
}

/* INT_MIN has no positive counterpart: negating it would overflow. */
Test(ctx_strerror, the_most_negative_int_gets_text)
{
	cr_assert_str_eq(eddy_strerror(INT_MIN), "unknown error code");
	cr_assert_str_eq(eddy_strerror(INT_MAX), "unknown error code");
}
