/* Reader of bindings-tests/spec.tsv (the behaviour every binding shows) and the per-scenario
 * temporary home. Kept apart from the scenarios so spec_test.c reads as the list of cases. */
#ifndef BOXLITE_SPEC_H
#define BOXLITE_SPEC_H

#include <stddef.h>

struct spec_param {
    char *key;
    char *value;
};

struct spec_scenario {
    char *id;
    struct spec_param *params;
    size_t n_params;
};

struct spec {
    char **statuses;        /* `status` lines, in file order */
    size_t n_statuses;
    char **error_codes;     /* `error_code` lines, in file order */
    size_t n_error_codes;
    char *image;            /* the `image` line, or NULL */
    char *run_image_env;    /* the `run_image` line: the variable naming the running image */
    struct spec_scenario *scenarios;
    size_t n_scenarios;
    char **problems;        /* malformed lines, reported as failures */
    size_t n_problems;
};

/* Reads `path` into `spec`. Returns 0, or -1 with errno set when the file cannot be read;
 * malformed lines do not stop the reading, they are listed in spec->problems. */
int spec_load(const char *path, struct spec *spec);

void spec_free(struct spec *spec);

/* The value of `key` in the scenario's parameters, or NULL. */
const char *spec_param(const struct spec_scenario *sc, const char *key);

/* Makes a fresh private directory under /tmp; returns a malloc'd path or NULL (errno set). */
char *temp_home_new(void);

/* Removes the directory tree at `path` (like rm -rf) and frees `path`. Returns 0 or -1. */
int temp_home_free(char *path);

#endif /* BOXLITE_SPEC_H */
