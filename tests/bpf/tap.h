/* tap.h - the BPF tests' TAP output: one "ok N - ..." or "not ok N - ..." line a check, and
 * the closing count tests/run.sh shows. */
#ifndef ILB_TEST_TAP_H
#define ILB_TEST_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int test_num, test_failed;

static inline void ok(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	test_num++;
	if (!pass)
		test_failed++;
	printf("%sok %d - ", pass ? "" : "not ", test_num);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static inline void tap_summary(void)
{
	printf("# %d passed, %d failed\n", test_num - test_failed, test_failed);
}

#endif
