/* log.h - one logger for the agent, the CLI and the tests: pr_warn/pr_info/pr_debug,
 * each -v one level more. */
#ifndef ILB_LOG_H
#define ILB_LOG_H

enum ilb_log_level { ILB_LOG_WARN = 0, ILB_LOG_INFO = 1, ILB_LOG_DEBUG = 2 };

extern int ilb_log_level;
void ilb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_warn(...) ilb_log(ILB_LOG_WARN, __VA_ARGS__)
#define pr_info(...) ilb_log(ILB_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) ilb_log(ILB_LOG_DEBUG, __VA_ARGS__)

#endif
