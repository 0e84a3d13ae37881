// SPDX-License-Identifier: BSD-2-Clause
/* One agent per pin root: the agent holds an exclusive flock on <pin root>/agent (a
 * directory: bpffs holds no regular files) for its whole life; a second agent is refused
 * and told which process serves the pins. The CLI asks the same lock whether an agent
 * serves the pins, to say that the agent will restore what it owns. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dp_internal.h"
#include "log.h"

static int claim_dir(const char *pin_root, char *path, size_t len)
{
	snprintf(path, len, "%s/agent", pin_root ? pin_root : BS_DEFAULT_PIN_ROOT);
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* The process holding an flock on the inode of fd, from /proc/locks (0 when unknown). */
static pid_t lock_holder(int fd)
{
	struct stat st;
	char line[256];
	pid_t pid = 0;
	FILE *f;

	if (fstat(fd, &st))
		return 0;
	f = fopen("/proc/locks", "r");
	if (!f)
		return 0;
	while (!pid && fgets(line, sizeof(line), f)) {
		unsigned int maj, min;
		unsigned long ino;
		int p;

		/* "1: FLOCK  ADVISORY  WRITE 1234 00:1e:5678 0 EOF" */
		if (strstr(line, "FLOCK") && strstr(line, "->") == NULL &&
		    sscanf(strchr(line, ':') + 1, " FLOCK %*s %*s %d %x:%x:%lu", &p, &maj, &min, &ino) == 4 &&
		    ino == st.st_ino)
			pid = p;
	}
	fclose(f);
	return pid;
}

int bs_dp_claim_agent(const char *pin_root, int *fd_out, int *holder)
{
	char path[PATH_MAX];
	int fd, err = claim_dir(pin_root, path, sizeof(path));

	*holder = 0;
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == -EBUSY)
			*holder = lock_holder(fd);
		close(fd);
		return err;
	}
	*fd_out = fd;
	return 0;
}

int bs_dp_agent_serving(const char *pin_root, int *holder)
{
	char path[PATH_MAX];
	int fd, busy = 0;

	*holder = 0;
	snprintf(path, sizeof(path), "%s/agent", pin_root ? pin_root : BS_DEFAULT_PIN_ROOT);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB)) {
		busy = errno == EWOULDBLOCK;
		if (busy)
			*holder = lock_holder(fd);
	} else {
		flock(fd, LOCK_UN);
	}
	close(fd);
	return busy;
}

int bs_dp_unclaim(const char *pin_root)
{
	char path[PATH_MAX];

	/* Only when unloading: an agent exiting leaves the directory, so that a starting
	 * agent never locks a directory that is being removed under it. */
	snprintf(path, sizeof(path), "%s/agent", pin_root ? pin_root : BS_DEFAULT_PIN_ROOT);
	return rmdir(path) && errno != ENOENT ? -errno : 0;
}
