#include "check.h"

#include "eddy.h"

EDDY_SUITE(ctx_smoke);

Test(ctx_smoke, set_then_get)
{
	eddy_var *v = eddy_var_new("v");
	void *out;
	cr_assert_eq(eddy_var_get(v, &out), -ENOENT);
	cr_assert_eq(eddy_var_set(v, (void *)1, NULL), 0);
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(out, (void *)1);
	eddy_var_free(v);
}
