/*
 * rf-fuzz-replay: runs the fuzz target on inputs, without libFuzzer (so without clang): the
 * corpus replay of `./run test` (suite fuzz), and a way to rerun one crash input under gdb.
 *
 *   rf-fuzz-replay FILE|DIR...
 *
 * Each file is one input (input.c says what an input is); a folder stands for its files, in
 * name order. Built with AddressSanitizer and UndefinedBehaviorSanitizer where the compiler
 * links them: any report, an lwIP assertion or a leak found by the reset ends the program
 * with a non-zero status, naming the input it was running.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static unsigned long inputs, bytes;

static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0) {
		fprintf(stderr, "rf-fuzz-replay: %s: %s\n", path, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	buf = malloc(len ? (size_t)len : 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		fprintf(stderr, "rf-fuzz-replay: %s: cannot read %ld bytes\n", path, len);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	fprintf(stderr, "input %s (%ld bytes)\n", path, len);
	fz_run_input(buf, (size_t)len);
	free(buf);
	inputs++;
	bytes += (unsigned long)len;
	return 0;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
replay_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name), rc = 0;

	if (n < 0) {
		fprintf(stderr, "rf-fuzz-replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = replay_file(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fprintf(argc < 2 ? stderr : stdout,
			"usage: rf-fuzz-replay FILE|DIR...\n"
			"Runs rawflow's fuzz target on each input (a folder: its files, in name "
			"order);\nany sanitizer report, assertion or leak ends it with a non-zero "
			"status.\n");
		return argc < 2 ? 2 : 0;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int rc;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "rf-fuzz-replay: %s: %s\n", argv[i], strerror(errno));
			return 2;
		}
		rc = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]);
		if (rc != 0)
			return 2;
	}
	printf("rf-fuzz-replay: %lu inputs (%lu bytes) replayed: no crash, no sanitizer report, "
	       "no leak\n", inputs, bytes);
	return inputs == 0 ? 1 : 0;
}
