/* fields.h - reading the agent's JSON with defaults, and the text forms of ages, durations
 * and addresses that every table shares. */
#ifndef ILB_CLI_FIELDS_H
#define ILB_CLI_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* A member of obj, or def when it is missing or of another type. */
const char *jstr(const struct cJSON *obj, const char *name, const char *def);
double jnum(const struct cJSON *obj, const char *name, double def);
bool jbool(const struct cJSON *obj, const char *name, bool def);
/* An array member, or NULL. */
const struct cJSON *jarray(const struct cJSON *obj, const char *name);
const struct cJSON *jobject(const struct cJSON *obj, const char *name);

/* "31ms", "2.4s", "3m12s", "never" (ms < 0). */
const char *fmt_age_ms(double ms, char *buf, size_t len);
/* "45s", "12m03s", "3h04m", "2d05h". */
const char *fmt_duration_s(double s, char *buf, size_t len);
/* "10.0.0.1:80" or "[fd00::1]:80"; family is 4 or 6, port in host order. */
const char *fmt_addr_port(uint8_t family, const uint8_t addr[16], uint16_t port, char *buf, size_t len);
/* A string or "-" when it is empty, for table cells. */
const char *or_dash(const char *s);

#endif
