/* report.h - the run's summary as text (stdout) and JSON (--json), and the per-request
 * records (--records), all from the same stats. */
#ifndef LOADGEN_REPORT_H
#define LOADGEN_REPORT_H

#include <stdio.h>

#include "flags.h"
#include "stats.h"

void report_text(FILE *f, const struct lg_config *cfg, const struct lg_stats *st);
int report_json(const char *path, const struct lg_config *cfg, const struct lg_stats *st);
int report_records(const char *path, const struct lg_config *cfg, const struct lg_stats *st);

#endif
