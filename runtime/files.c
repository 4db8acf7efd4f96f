/*
 * files.c: reading cache files that anyone with access to the cache folder may
 * have replaced (hostile use, issue 16): only regular files are read, and they
 * are opened without blocking, so a FIFO, a device node or a folder left in
 * place of an entry is reported as unusable instead of hanging the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

int rt_open_regular(const char *path, off_t *size) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno == ENOENT ? -1 : -2;
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return -2;
  }
  /* reads of a regular file do not block; clear the flag for plain reads */
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  if (size) *size = st.st_size;
  return fd;
}

int rt_read_regular(const char *path, size_t max, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  off_t size;
  int fd = rt_open_regular(path, &size);
  if (fd < 0) return fd;
  if (size < 0 || (uint64_t)size > max) {
    close(fd);
    return -2;
  }
  char *buf = malloc((size_t)size + 1);
  size_t n = 0;
  while (buf && n < (size_t)size) {
    ssize_t r = read(fd, buf + n, (size_t)size - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (!buf || n != (size_t)size) { /* out of memory, or it shrank while read */
    free(buf);
    return -2;
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return 0;
}
