/*
 * converge: the verb table and global options.
 */
#include <stdio.h>
#include <string.h>

#include "converge/util.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		puts("converge 0.1.0");
		return 0;
	}
	fputs("usage: converge VERB [OPTIONS]\n", stderr);
	return 64;
}
