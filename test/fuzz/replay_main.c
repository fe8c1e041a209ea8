/*
 * replay_main.c: a main() for the fuzz targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named, or in a folder named
 * (sorted, not recursive). A folder that does not exist is skipped (no
 * regression input yet); no input at all is an error. Exit 0 when every
 * input ran; a broken property aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int
run_file(const char *path)
{
	FILE    *f = fopen(path, "rb");
	uint8_t *buf;
	long     n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
	    || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read %s: %s\n", path,
		    strerror(errno));
		if (f != NULL) {
			fclose(f);
		}
		return -1;
	}
	/* A copy of exactly n bytes, so ASan sees any read past the end. */
	buf = malloc(n > 0 ? (size_t) n : 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	(void) LLVMFuzzerTestOneInput(buf, (size_t) n);
	free(buf);
	return 1;
}

static int
names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
run_dir(const char *dir)
{
	DIR           *d = opendir(dir);
	struct dirent *e;
	char         **names = NULL;
	size_t         n = 0, cap = 0;
	int            total = 0;

	if (d == NULL) {
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		if (n == cap) {
			cap   = cap != 0 ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (names == NULL) {
				abort();
			}
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), names_cmp);
	for (size_t i = 0; i < n; i++) {
		char        path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		free(names[i]);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			continue;
		}
		if (run_file(path) < 0) {
			total = -1;
		} else if (total >= 0) {
			total++;
		}
	}
	free(names);
	return total;
}

int
main(int argc, char **argv)
{
	int total = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		int         n;
		if (stat(argv[i], &st) != 0) {
			continue;
		}
		n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
		if (n < 0) {
			return 1;
		}
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no input in any of the %d paths\n",
		    argc - 1);
		return 1;
	}
	printf("replay: %d inputs ran\n", total);
	return 0;
}
