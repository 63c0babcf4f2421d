/* l7_resolve.c - the walk's resolve step: a whole request becomes a route (the gateway's own
 * paths answered here, the OpenAI body read, host, path, port, model and objective matched to
 * a pool) and the pods to schedule over; the request's own state is reset here too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "l7_conn.h"
#include "oai.h"
#include "route.h"

void l7_request_clear(struct l7_client *c)
{
	struct l7_request *r = &c->req;

	free(r->forward);
	free(r->pods);
	free(r->prompt);
	ilb_prefix_blocks_free(&r->blocks);
	ilb_route_put(r->table);
	memset(r, 0, sizeof(*r));
	r->pool = -1;
}

static void respond(struct ilb_l7 *l7, struct l7_client *c, int status, const char *type, const char *body,
		    size_t len)
{
	char head[65536];
	struct ilb_http_resp resp = {
		.status = status, .content_type = type, .body = body, .body_len = len, .keep_alive = c->req.keep_alive
	};
	ssize_t n = len < sizeof(head) - 512 ? ilb_http_write_response(&resp, head, sizeof(head)) : -ENOSPC;

	if (n > 0)
		l7_client_write(l7, c, head, n);
	l7_response_end(l7, c, L7_END_ANSWERED, 0);
}

/* GET /v1/models: every model and adapter the gateway can route. */
static void list_models(struct ilb_l7 *l7, struct l7_client *c)
{
	const struct ilb_route_table *t = l7->table;
	struct ilb_oai_model *m = calloc(t->n_models + 64, sizeof(*m));
	size_t n = 0;
	char *json;

	if (!m) {
		l7_answer_error(l7, c, L7_UNCOUNTED, 500, "out of memory", false, NULL);
		return;
	}
	for (int i = 0; i < t->n_models; i++) {
		bool seen = false;

		for (size_t j = 0; j < n; j++)
			seen |= !strcmp(m[j].id, t->models[i].model);
		if (!seen && t->models[i].model[0])
			m[n++] = (struct ilb_oai_model){ .id = t->models[i].model, .owned_by = "inferlb",
							 .created = time(NULL) };
	}
	/* The base model each pod serves (its metrics' model_name), and the adapters pods
	 * report running or waiting, with that model as their parent. */
	struct ilb_pod_load *loads = ilb_route_loads(t); /* the names below point into it */

	for (int p = 0, k = 0; loads && p < t->n_pools; p++) {
		for (int b = 0; b < t->pools[p].n_backends; b++) {
			const struct ilb_pod_load *ld = &loads[k++];
			bool seen = !ld->model[0];

			for (size_t j = 0; j < n; j++)
				seen |= !strcmp(m[j].id, ld->model);
			if (!seen && n < (size_t)t->n_models + 64)
				m[n++] = (struct ilb_oai_model){ .id = ld->model, .owned_by = "vllm", .created = time(NULL) };

			for (int a = 0; a < ld->n_running_lora + ld->n_waiting_lora && a < 2 * ILB_MAX_LORA_NAMES; a++) {
				const char *name = a < ld->n_running_lora ? ld->running_lora[a] :
									   ld->waiting_lora[a - ld->n_running_lora];
				bool seen = false;

				for (size_t j = 0; j < n; j++)
					seen |= !strcmp(m[j].id, name);
				if (!seen && n < (size_t)t->n_models + 64)
					m[n++] = (struct ilb_oai_model){ .id = name, .owned_by = "vllm",
									 .parent = ld->model[0] ? ld->model : NULL,
									 .created = time(NULL) };
			}
		}
	}
	json = ilb_oai_models_json(m, n);
	free(m);
	free(loads);
	if (!json) {
		l7_answer_error(l7, c, L7_UNCOUNTED, 500, "out of memory", false, NULL);
		return;
	}
	respond(l7, c, 200, "application/json", json, strlen(json));
	free(json);
}

/* The request names a LoRA adapter when a pod of the pool reports it. */
static bool is_adapter(const struct ilb_rt_pool *pool, const char *model)
{
	for (int b = 0; b < pool->n_backends; b++) {
		struct ilb_pod_load copy;
		const struct ilb_pod_load *ld = ilb_rt_backend_load(&pool->backends[b], &copy);

		for (int a = 0; a < ld->n_running_lora && a < ILB_MAX_LORA_NAMES; a++)
			if (!strcmp(ld->running_lora[a], model))
				return true;
		for (int a = 0; a < ld->n_waiting_lora && a < ILB_MAX_LORA_NAMES; a++)
			if (!strcmp(ld->waiting_lora[a], model))
				return true;
	}
	return false;
}

void l7_request_start(struct ilb_l7 *l7, struct l7_client *c)
{
	struct l7_request *r = &c->req;
	const struct ilb_http_req *req = &c->reader.req;
	const struct ilb_route_table *t = l7->table;
	struct ilb_oai_req oreq = { 0 };
	struct ilb_route_result route;
	enum ilb_route_status rs;
	char msg[256], path[512];
	uint16_t port;
	int rc;

	r->keep_alive = req->keep_alive;
	r->head_request = !strcmp(req->method, "HEAD");
	r->pool = -1;
	snprintf(path, sizeof(path), "%.*s", (int)(req->path_len < sizeof(path) ? req->path_len : sizeof(path) - 1),
		 req->path);
	port = c->local_port;
	if (!t) {
		l7_answer_error(l7, c, ILB_L7_NO_POD, 503, "the gateway has no routes yet", false, "1");
		return;
	}
	if (!strcmp(req->method, "GET") && !strcmp(path, "/v1/models")) {
		list_models(l7, c);
		return;
	}
	if (!strcmp(req->method, "GET") && (!strcmp(path, "/health") || !strcmp(path, "/healthz"))) {
		respond(l7, c, 200, "text/plain", "ok\n", 3);
		return;
	}
	rc = ilb_oai_parse(&oreq, ilb_oai_api_from_path(path, strlen(path)), req->body ? req->body : "", req->body_len,
			   msg, sizeof(msg));
	if (rc) {
		l7_answer_error(l7, c, ILB_L7_BAD_REQUEST, rc == -ENOMEM ? 500 : 400,
				rc == -ENOMEM ? "out of memory" : msg, r->keep_alive, NULL);
		return;
	}
	rs = ilb_route_resolve(t, req->host, path, port, oreq.model, req->objective, (uint32_t)random(), &route);
	if (rs != ILB_ROUTE_OK) {
		if (rs == ILB_ROUTE_NO_HOST)
			snprintf(msg, sizeof(msg), "No route for host `%.100s`.", req->host);
		else
			snprintf(msg, sizeof(msg), "The model `%.200s` does not exist.", oreq.model);
		ilb_oai_req_free(&oreq);
		l7_answer_error(l7, c, ILB_L7_NOT_FOUND, 404, msg, r->keep_alive, NULL);
		return;
	}
	const struct ilb_rt_pool *pool = &t->pools[route.pool];

	/* the request keeps its table: pods[].health and the pick's index point into it */
	ilb_route_get(l7->table);
	r->table = l7->table;
	r->pool = route.pool;
	snprintf(r->model, sizeof(r->model), "%s", route.model);
	r->prompt = oreq.prompt ? strdup(oreq.prompt) : NULL;
	r->pods = calloc(pool->n_backends ? pool->n_backends : 1, sizeof(*r->pods));
	if (!r->pods) {
		ilb_oai_req_free(&oreq);
		l7_answer_error(l7, c, L7_UNCOUNTED, 500, "out of memory", false, NULL);
		return;
	}
	r->n_pods = pool->n_backends;
	for (int i = 0; i < pool->n_backends; i++) {
		const struct ilb_rt_backend *be = &pool->backends[i];

		if (!l7->prefix[be->id])
			l7->prefix[be->id] = ilb_prefix_lru_new(0);
		r->pods[i] = (struct ilb_sched_pod){ .id = be->id, .ready = be->ready, .draining = be->draining,
						     .health = be->health,
						     .prefix = l7->prefix[be->id] };
	}
	r->sreq.model = r->model;
	r->sreq.adapter = is_adapter(pool, r->model) ? r->model : NULL;
	r->sreq.prompt = r->prompt ? r->prompt : "";
	r->sreq.prompt_len = r->prompt ? strlen(r->prompt) : 0;
	r->sreq.priority = route.priority;
	if (ilb_prefix_hash_blocks(r->model, r->sreq.prompt, r->sreq.prompt_len, ILB_PREFIX_DEFAULT_MAX_BLOCKS,
				   &r->blocks) >= 0)
		r->sreq.blocks = &r->blocks;
	l7_schedule(l7, c, &oreq);
	ilb_oai_req_free(&oreq);
}
