/* file.h - a source's files read whole: a kubeconfig, a manifest. */
#ifndef ILB_SOURCE_FILE_H
#define ILB_SOURCE_FILE_H

#include <stddef.h>

/* Reads the regular file at path into *text (malloc'd, NUL-terminated) and its length into
 * *len, fewer bytes when it shrank while read. Returns 0, -ENOENT when it is gone or not a
 * regular file, -EFBIG past max bytes, or -errno; *text is NULL on error. */
int ilb_file_read(const char *path, size_t max, char **text, size_t *len);

#endif
