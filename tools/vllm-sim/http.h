/* http.h - the OpenAI-compatible HTTP/1.1 front end on libmicrohttpd: one epoll
 * thread, requests parked (suspended) while the engine works on them. */
#ifndef VLLM_SIM_HTTP_H
#define VLLM_SIM_HTTP_H

#include "config.h"
#include "engine.h"
#include "metrics.h"

struct http_server;

int http_start(const struct sim_config *cfg, struct engine *eng, struct metrics *m, struct http_server **out);

/* The engine's wake-up: resumes a parked connection. */
void http_wake(void *waiter);

#endif
