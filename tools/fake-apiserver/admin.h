/* admin.h - the test-facing control endpoint: plain HTTP on 127.0.0.1 only. */
#ifndef FAS_ADMIN_H
#define FAS_ADMIN_H

#include <microhttpd.h>

struct MHD_Daemon *admin_start(int port);
/* Applies every object of a YAML/JSON file or of every *.yaml, *.yml, *.json in a
 * directory. Returns the number of objects or -errno (reason on stderr). */
int admin_load_path(const char *path);

#endif
