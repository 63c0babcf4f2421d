/* stats.h - one record per finished request, and the distributions the report prints.
 * Times are nanoseconds since the start of the run; -1 means the event never happened. */
#ifndef LOADGEN_STATS_H
#define LOADGEN_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lg_err {
	LG_OK,
	LG_ERR_STATUS,	/* a complete response with a status other than 2xx */
	LG_ERR_CONNECT, /* connect failed (refused, unreachable) */
	LG_ERR_TIMEOUT, /* --timeout expired */
	LG_ERR_IO,	/* connection reset or closed before the response ended */
	LG_ERR_PARSE,	/* the response is not valid HTTP/1.1 */
	LG_ERR_STREAM,	/* 2xx, but the body carried an error object */
	LG_ERR_MAX,
};

struct lg_record {
	uint64_t index;
	int model;
	int group, prompt;
	int status;
	enum lg_err err;
	bool stream;
	bool usage; /* out_tokens came from the server's usage, not from counting chunks */
	bool reused; /* sent on a kept-alive connection */
	int64_t t_sched, t_send, t_first_byte, t_first_token, t_done;
	uint32_t in_tokens, out_tokens, chunks, max_tokens;
	uint64_t bytes_sent, bytes_recv;
};

enum lg_metric { M_TTFT, M_TPOT, M_E2E, M_MAX };

struct lg_dist {
	size_t n;
	double mean, min, p50, p90, p99, max;
};

#define LG_MAX_STATUS 32

/* A row of a table of statuses (HTTP status, or an error kind) and how often each came. */
struct lg_status_count {
	int status;
	size_t count;
	char msg[160]; /* a sample error message, when the table keeps them */
};

struct lg_stats {
	struct lg_record *recs;
	size_t n, cap;
	/* one sample error message per status (or error kind), for the report */
	struct lg_status_count status[LG_MAX_STATUS];
	int n_status;
	uint64_t conns_opened, conns_closed_by_server, retries;
	uint64_t issued;
	int64_t last_sched; /* arrival time of the last request issued */
	int64_t t_end;	    /* when the last request ended */
};

const char *lg_err_name(enum lg_err e);
int stats_add(struct lg_stats *s, const struct lg_record *r);
/* The row of status among the *n rows of a table of LG_MAX_STATUS, added zeroed (*n grows)
 * when it is new; NULL when the table is full. */
struct lg_status_count *lg_status_row(struct lg_status_count *rows, int *n, int status);
/* Keeps the first message seen for a status. */
void stats_error_sample(struct lg_stats *s, int status, const char *msg, size_t len);
/* The metric of one record in milliseconds, or < 0 when it does not apply. */
double record_metric(const struct lg_record *r, enum lg_metric m);
/* Distribution of a metric over the successful requests (of one model, or all: -1). */
int stats_dist(const struct lg_stats *s, enum lg_metric m, int model, struct lg_dist *d);
double percentile(const double *sorted, size_t n, double p);
void stats_free(struct lg_stats *s);

#endif
