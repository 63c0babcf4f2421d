/* probe.h - the measuring side of bench row 7 (control plane): its subcommands and what
 * they share (clocks, /proc readers, pinned pool sets, HTTP answers, JSON lines). */
#ifndef ROW7_PROBE_H
#define ROW7_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "kern/maps.h"

struct cJSON;

int cmd_ready(int argc, char **argv);
int cmd_conns(int argc, char **argv);
int cmd_sync(int argc, char **argv);

/* ---- clocks and processes (util.c) ---- */

double now_ms(void); /* CLOCK_MONOTONIC */
double wall_s(void); /* CLOCK_REALTIME, as `date +%s.%N` gives the bench's t0 */
void sleep_s(double seconds);
double round_to(double v, int decimals);
/* A "Field:  N kB" line of /proc/PID/status (VmRSS, VmHWM); -1 when unreadable. */
long proc_status_kb(pid_t pid, const char *field);
/* Open fds of the process; -1 when unreadable. */
long proc_fd_count(pid_t pid);
/* utime + stime of every thread of the process, in clock ticks; -1 when unreadable. */
long proc_cpu_ticks(pid_t pid);
/* Prints obj as one JSON line on stdout and flushes it. */
int print_json_line(const struct cJSON *obj);
/* Adds key: v, or key: null when v is NaN (not measured). */
struct cJSON *json_add_number(struct cJSON *obj, const char *key, double v);

/* ---- options (opts.c) ---- */

enum probe_opt_kind {
	OPT_STR, /* dest: const char * */
	OPT_INT, /* dest: int */
	OPT_NUM, /* dest: double */
	OPT_OFF, /* a flag without a value; dest: bool, set false */
};

struct probe_opt {
	const char *name; /* --name */
	enum probe_opt_kind kind;
	void *dest;
	const char *value; /* what the value is, for the usage line */
	bool required;
};

/* Parses argv against the n options of cmd. -EINVAL after printing the usage (written from
 * the table) on a mistake or a missing required option; a number that is not one exits. */
int parse_opts(const char *cmd, int argc, char **argv, const struct probe_opt *opts, size_t n);
#define OPTS_N(opts) (sizeof(opts) / sizeof((opts)[0]))

/* ---- the pools' ready sets in the pinned maps, read as XDP reads them (pool_sets.c) ---- */

struct pool_sets {
	struct ilb_maps maps; /* the pools, pool_backends and backends fds only */
	uint32_t max_backends; /* entries of `backends` */
};

/* Opens <pin_dir>/{pools,pool_backends,backends} and checks their value sizes against
 * include/inferlb.h. -errno with a reason in err. */
int pool_sets_open(struct pool_sets *s, const char *pin_dir, char *err, size_t err_len);
void pool_sets_close(struct pool_sets *s);
/* The id of the pool named "namespace/name", 0 when the kernel has none. */
uint32_t pool_sets_find_pool(struct pool_sets *s, const char *name);
/* The backend id of IPv4 address ip in pool pool_id, 0 when there is none. */
uint32_t pool_sets_find_backend(struct pool_sets *s, uint32_t pool_id, const char *ip);
/* Ready backends in the pool's active generation; -errno when the pool cannot be read. */
int pool_sets_count(struct pool_sets *s, uint32_t pool_id);
/* True when backend id is in the pool's active ready set. */
bool pool_sets_has(struct pool_sets *s, uint32_t pool_id, uint32_t id);

/* ---- HTTP/1.1 answers on the probes' connections (http_reply.c) ---- */

struct http_reply {
	int status;
	long content_length; /* -1 when the head has none */
	bool close; /* Connection: close */
	size_t head_len; /* through the blank line */
};

/* Reads the head at the start of buf: 0 with reply filled, -EAGAIN while it is incomplete,
 * -EBADMSG when it is not an HTTP/1.x response. */
int http_reply_parse(const char *buf, size_t len, struct http_reply *reply);
/* A chat completion request for model, its body asking content in at most max_tokens.
 * Returns a malloc'd request (length in *len), NULL when out of memory. */
char *chat_request(const char *host, const char *model, const char *content, int max_tokens, size_t *len);

#endif
