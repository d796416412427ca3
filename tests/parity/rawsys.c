/* rawsys N...: makes syscall N with zero arguments and prints N=result
 * (-errno on failure): what a seccomp filter answers, seen from inside. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		long r = syscall(strtol(argv[i], NULL, 0), 0, 0, 0, 0, 0, 0);
		printf("%s=%ld\n", argv[i], r < 0 ? -(long)errno : r);
	}
	return 0;
}
