/* log.c - writes log lines to stderr with a monotonic timestamp, filtered by level. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "log.h"

int ilb_log_level = ILB_LOG_INFO;

void ilb_log(int level, const char *fmt, ...)
{
	static const char *const tags[] = { "warn", "info", "debug" };
	struct timespec ts;
	va_list ap;

	if (level > ilb_log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%ld.%03ld inferlb %s: ", (long)ts.tv_sec, ts.tv_nsec / 1000000, tags[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
