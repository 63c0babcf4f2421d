/* file.c - a source's files read whole: a kubeconfig, a manifest. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

int ilb_file_read(const char *path, size_t max, char **text, size_t *len)
{
	struct stat st;
	ssize_t got = 0;
	int fd, err = 0;

	*text = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err = -ENOENT;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		err = -EFBIG;
		goto out;
	}
	*text = malloc(st.st_size + 1);
	if (!*text) {
		err = -ENOMEM;
		goto out;
	}
	for (*len = 0; *len < (size_t)st.st_size; *len += got) {
		got = read(fd, *text + *len, st.st_size - *len);
		if (got < 0 && errno == EINTR) {
			got = 0;
			continue;
		}
		if (got <= 0)
			break; /* shrunk while reading: what is there is the file */
	}
	if (got < 0) {
		err = -errno;
		free(*text);
		*text = NULL;
		goto out;
	}
	(*text)[*len] = '\0';
out:
	close(fd);
	return err;
}
