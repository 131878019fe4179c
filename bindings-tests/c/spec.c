/* See spec.h. */
#define _XOPEN_SOURCE 700 /* getline, strdup, mkdtemp, nftw */

#include "spec.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns `array` (of `*len` elements of `size` bytes) grown by `item`; exits on OOM, which a
 * test harness cannot recover from anyway. */
static void *append(void *array, size_t *len, size_t size, const void *item) {
    char *grown = realloc(array, (*len + 1) * size);
    if (grown == NULL) {
        perror("spec: realloc");
        exit(2);
    }
    memcpy(grown + *len * size, item, size);
    *len += 1;
    return grown;
}

static char *xstrdup(const char *s) {
    char *copy = strdup(s);
    if (copy == NULL) {
        perror("spec: strdup");
        exit(2);
    }
    return copy;
}

static void problem(struct spec *spec, size_t line_no, const char *what, const char *line) {
    char buf[512];
    snprintf(buf, sizeof buf, "spec line %zu: %s: %s", line_no, what, line);
    char *copy = xstrdup(buf);
    spec->problems = append(spec->problems, &spec->n_problems, sizeof copy, &copy);
}

/* Splits `line` in place at tabs; returns the number of fields (at most `max`). */
static size_t split_tabs(char *line, char **fields, size_t max) {
    size_t n = 0;
    char *cursor = line;
    while (n < max) {
        fields[n++] = cursor;
        char *tab = strchr(cursor, '\t');
        if (tab == NULL) {
            break;
        }
        *tab = '\0';
        cursor = tab + 1;
    }
    return n;
}

static void parse_line(struct spec *spec, size_t line_no, char *line) {
    char *original = xstrdup(line);
    char *fields[32];
    size_t n = split_tabs(line, fields, sizeof fields / sizeof fields[0]);
    const char *kind = fields[0];
    if (strcmp(kind, "status") == 0 && n == 2) {
        char *name = xstrdup(fields[1]);
        spec->statuses = append(spec->statuses, &spec->n_statuses, sizeof name, &name);
    } else if (strcmp(kind, "error_code") == 0 && n == 2) {
        char *code = xstrdup(fields[1]);
        spec->error_codes = append(spec->error_codes, &spec->n_error_codes, sizeof code, &code);
    } else if (strcmp(kind, "image") == 0 && n == 2 && spec->image == NULL) {
        spec->image = xstrdup(fields[1]);
    } else if (strcmp(kind, "run_image") == 0 && n == 2 && spec->run_image_env == NULL) {
        spec->run_image_env = xstrdup(fields[1]);
    } else if (strcmp(kind, "scenario") == 0 && n >= 2) {
        struct spec_scenario sc = {xstrdup(fields[1]), NULL, 0};
        for (size_t i = 2; i < n; i++) {
            char *eq = strchr(fields[i], '=');
            if (eq == NULL) {
                problem(spec, line_no, "parameter without '='", original);
                continue;
            }
            *eq = '\0';
            struct spec_param param = {xstrdup(fields[i]), xstrdup(eq + 1)};
            sc.params = append(sc.params, &sc.n_params, sizeof param, &param);
        }
        spec->scenarios = append(spec->scenarios, &spec->n_scenarios, sizeof sc, &sc);
    } else {
        problem(spec, line_no, "unknown or malformed record", original);
    }
    free(original);
}

int spec_load(const char *path, struct spec *spec) {
    memset(spec, 0, sizeof *spec);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t line_no = 0;
    while ((len = getline(&line, &cap, file)) != -1) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        if (len == 0 || line[0] == '#') {
            continue;
        }
        parse_line(spec, line_no, line);
    }
    int read_error = ferror(file);
    free(line);
    fclose(file);
    if (read_error) {
        errno = EIO;
        return -1;
    }
    return 0;
}

void spec_free(struct spec *spec) {
    for (size_t i = 0; i < spec->n_statuses; i++) {
        free(spec->statuses[i]);
    }
    free(spec->statuses);
    for (size_t i = 0; i < spec->n_error_codes; i++) {
        free(spec->error_codes[i]);
    }
    free(spec->error_codes);
    free(spec->image);
    free(spec->run_image_env);
    for (size_t i = 0; i < spec->n_scenarios; i++) {
        struct spec_scenario *sc = &spec->scenarios[i];
        for (size_t j = 0; j < sc->n_params; j++) {
            free(sc->params[j].key);
            free(sc->params[j].value);
        }
        free(sc->params);
        free(sc->id);
    }
    free(spec->scenarios);
    for (size_t i = 0; i < spec->n_problems; i++) {
        free(spec->problems[i]);
    }
    free(spec->problems);
    memset(spec, 0, sizeof *spec);
}

const char *spec_param(const struct spec_scenario *sc, const char *key) {
    for (size_t i = 0; i < sc->n_params; i++) {
        if (strcmp(sc->params[i].key, key) == 0) {
            return sc->params[i].value;
        }
    }
    return NULL;
}

char *temp_home_new(void) {
    char *path = xstrdup("/tmp/boxlite-c-spec-XXXXXX");
    if (mkdtemp(path) == NULL) {
        int saved = errno;
        free(path);
        errno = saved;
        return NULL;
    }
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int temp_home_free(char *path) {
    /* FTW_DEPTH: children before their directory; FTW_PHYS: never follow a symlink out. */
    int rc = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
    return rc == 0 ? 0 : -1;
}
