/* Files in and out of a running box through the C binding (bindings-tests/spec.tsv:
 * copy_in_and_out_roundtrip, small_files_write_read_list, copy_refuses_hostile_sources). */
#define _XOPEN_SOURCE 700 /* chmod, mkdir */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

/* Writes `text` to `path` (mode 0644 before chmod). */
static int write_text(struct ctx *c, const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return fail(c, "open %s: %s", path, strerror(errno));
    }
    int failed = fputs(text, f) < 0 ? fail(c, "write %s: %s", path, strerror(errno)) : 0;
    if (fclose(f) != 0 && !failed) {
        failed = fail(c, "close %s: %s", path, strerror(errno));
    }
    return failed;
}

/* Fails unless the host file `path` holds exactly `want`. */
static int expect_text(struct ctx *c, const char *path, const char *want) {
    char got[256] = {0};
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return fail(c, "open %s: %s", path, strerror(errno));
    }
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    return strcmp(got, want) != 0 ? fail(c, "%s holds \"%s\", want \"%s\"", path, got, want) : 0;
}

/* A started box of the run image in a fresh runtime, and a temporary host directory. */
struct files_box {
    BoxliteRuntime *rt;
    BoxliteBox *box;
    char *tmp;
};

static int files_box_up(struct ctx *c, struct files_box *b) {
    b->rt = NULL;
    b->box = NULL;
    b->tmp = temp_home_new();
    if (b->tmp == NULL) {
        return fail(c, "mkdtemp: %s", strerror(errno));
    }
    return open_runtime(c, &b->rt) || box_up(c, b->rt, NULL, NULL, true, &b->box);
}

static int files_box_down(struct ctx *c, struct files_box *b, int failed) {
    failed |= box_down(c, b->rt, b->box);
    boxlite_runtime_free(b->rt);
    if (b->tmp != NULL && temp_home_free(b->tmp) != 0) {
        failed |= fail(c, "could not remove the temporary directory");
    }
    return failed;
}

int copy_in_and_out_roundtrip(struct ctx *c) {
    const char *file, *content, *mode, *sub_file, *sub_content, *dest;
    if (param(c, "file", &file) || param(c, "content", &content) || param(c, "mode", &mode) ||
        param(c, "sub_file", &sub_file) || param(c, "sub_content", &sub_content) ||
        param(c, "dest", &dest)) {
        return 1;
    }
    struct files_box b;
    BoxliteError *err = NULL;
    int failed = files_box_up(c, &b);
    char src[256], path[1024], sub_dir[1024], back[256];
    mode_t want_mode = (mode_t)strtol(mode, NULL, 8);
    if (!failed) {
        snprintf(src, sizeof src, "%s/src", b.tmp);
        snprintf(path, sizeof path, "%s/%s", src, sub_file);
        snprintf(sub_dir, sizeof sub_dir, "%s", path);
        *strrchr(sub_dir, '/') = '\0';
        failed = (mkdir(src, 0755) != 0 || mkdir(sub_dir, 0755) != 0)
                     ? fail(c, "mkdir %s: %s", sub_dir, strerror(errno))
                     : write_text(c, path, sub_content);
    }
    if (!failed) {
        snprintf(path, sizeof path, "%s/%s", src, file);
        failed = write_text(c, path, content) ||
                 (chmod(path, want_mode) != 0 ? fail(c, "chmod: %s", strerror(errno)) : 0);
    }
    BoxliteCopyStats stats = {0, 0};
    failed = failed || expect_ok(c, "boxlite_box_copy_in",
                                 boxlite_box_copy_in(b.box, src, dest, NULL, &stats, &err), &err);
    if (!failed && (stats.entries != 4 || stats.bytes != strlen(content) + strlen(sub_content))) {
        failed = fail(c, "copy_in stats %llu entries, %llu bytes",
                      (unsigned long long)stats.entries, (unsigned long long)stats.bytes);
    }
    char box_file[512], box_sub[512], want_mode_line[32];
    snprintf(box_file, sizeof box_file, "%s/%s", dest, file);
    snprintf(box_sub, sizeof box_sub, "%s/%s", dest, sub_file);
    snprintf(want_mode_line, sizeof want_mode_line, "%s\n", mode);
    const char *const stat_argv[] = {"stat", "-c", "%a", box_file, NULL};
    const char *const cat_argv[] = {"cat", box_sub, NULL};
    failed = failed || run_expect(c, b.box, stat_argv, want_mode_line) ||
             run_expect(c, b.box, cat_argv, sub_content);
    if (!failed) {
        BoxliteCopyOptions opts = boxlite_copy_options_default();
        snprintf(back, sizeof back, "%s/back", b.tmp);
        failed = expect_ok(c, "boxlite_box_copy_out",
                           boxlite_box_copy_out(b.box, dest, back, &opts, NULL, &err), &err);
    }
    if (!failed) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", back, file);
        failed = expect_text(c, path, content);
        if (!failed && (stat(path, &st) != 0 || (st.st_mode & 07777) != want_mode)) {
            failed = fail(c, "%s has mode %o, want %s", path, (unsigned)(st.st_mode & 07777), mode);
        }
        snprintf(path, sizeof path, "%s/%s", back, sub_file);
        failed = failed || expect_text(c, path, sub_content);
    }
    return files_box_down(c, &b, failed);
}

/* Fails unless entry `i` of `list` is named `name` and of kind `kind`. */
static int expect_entry(struct ctx *c, const BoxliteDirList *list, size_t i, const char *name,
                        const char *kind) {
    const char *got_name = boxlite_dir_list_name(list, i);
    const char *got_kind = boxlite_dir_list_kind(list, i);
    if (got_name == NULL || got_kind == NULL || strcmp(got_name, name) != 0 ||
        strcmp(got_kind, kind) != 0) {
        return fail(c, "entry %zu is %s (%s), want %s (%s)", i, got_name ? got_name : "(null)",
                    got_kind ? got_kind : "(null)", name, kind);
    }
    return 0;
}

int small_files_write_read_list(struct ctx *c) {
    const char *path, *content, *mode;
    if (param(c, "path", &path) || param(c, "content", &content) || param(c, "mode", &mode)) {
        return 1;
    }
    char parent[256], make[640], want_mode_line[32];
    snprintf(parent, sizeof parent, "%s", path);
    *strrchr(parent, '/') = '\0';
    const char *name = strrchr(path, '/') + 1;
    snprintf(make, sizeof make, "mkdir %s/d && ln -s %s %s/ln", parent, name, parent);
    snprintf(want_mode_line, sizeof want_mode_line, "%s\n", mode);
    uint32_t want_mode = (uint32_t)strtol(mode, NULL, 8);
    struct files_box b;
    BoxliteError *err = NULL;
    int failed = files_box_up(c, &b) ||
                 expect_ok(c, "boxlite_box_write_file",
                           boxlite_box_write_file(b.box, path, (const uint8_t *)content,
                                                  strlen(content), want_mode, &err),
                           &err);
    uint8_t *data = NULL;
    size_t len = 0;
    failed = failed || expect_ok(c, "boxlite_box_read_file",
                                 boxlite_box_read_file(b.box, path, &data, &len, &err), &err);
    if (!failed && (len != strlen(content) || memcmp(data, content, len) != 0)) {
        failed = fail(c, "read_file gave %zu bytes \"%.*s\", want \"%s\"", len, (int)len,
                      (const char *)data, content);
    }
    boxlite_bytes_free(data, len);
    const char *const stat_argv[] = {"stat", "-c", "%a", path, NULL};
    const char *const make_argv[] = {"sh", "-c", make, NULL};
    failed = failed || run_expect(c, b.box, stat_argv, want_mode_line) ||
             run_expect(c, b.box, make_argv, "");
    BoxliteDirList *list = NULL;
    failed = failed || expect_ok(c, "boxlite_box_list_dir",
                                 boxlite_box_list_dir(b.box, parent, &list, &err), &err);
    if (!failed && boxlite_dir_list_count(list) != 3) {
        failed = fail(c, "list_dir has %zu entries, want 3", boxlite_dir_list_count(list));
    }
    failed = failed || expect_entry(c, list, 0, "d", "dir") ||
             expect_entry(c, list, 1, "ln", "symlink") || expect_entry(c, list, 2, name, "file");
    if (!failed) {
        const char *file_path = boxlite_dir_list_path(list, 2);
        const char *target = boxlite_dir_list_link_target(list, 1);
        if (strcmp(file_path, path) != 0 || boxlite_dir_list_size(list, 2) != strlen(content) ||
            boxlite_dir_list_mode(list, 2) != want_mode ||
            boxlite_dir_list_link_target(list, 2) != NULL || target == NULL ||
            strcmp(target, name) != 0 || boxlite_dir_list_mtime_ms(list, 2) <= 0) {
            failed = fail(c, "file entry %s size %llu mode %o, link target %s", file_path,
                          (unsigned long long)boxlite_dir_list_size(list, 2),
                          boxlite_dir_list_mode(list, 2), target ? target : "(null)");
        }
    }
    boxlite_dir_list_free(list);
    return files_box_down(c, &b, failed);
}

int copy_refuses_hostile_sources(struct ctx *c) {
    const char *fifo, *code, *missing, *missing_code;
    if (param(c, "fifo", &fifo) || param(c, "code", &code) || param(c, "missing", &missing) ||
        param(c, "missing_code", &missing_code)) {
        return 1;
    }
    struct files_box b;
    BoxliteError *err = NULL;
    const char *const mkfifo_argv[] = {"mkfifo", fifo, NULL};
    int failed = files_box_up(c, &b) || run_expect(c, b.box, mkfifo_argv, "");
    if (!failed) {
        char out[512];
        snprintf(out, sizeof out, "%s/out", b.tmp);
        BoxliteErrorCode rc = boxlite_box_copy_out(b.box, fifo, out, NULL, NULL, &err);
        const char *message = boxlite_error_message(err);
        if (rc != BOXLITE_OK && (message == NULL || strstr(message, fifo) == NULL)) {
            failed = fail(c, "copy_out of the FIFO: message \"%s\" does not name %s",
                          message ? message : "(null)", fifo);
        }
        failed |= expect_code(c, "boxlite_box_copy_out of a FIFO", rc, &err, code);
    }
    failed = failed || expect_status(c, b.box, "running");
    if (!failed) {
        uint8_t *data = NULL;
        size_t len = 0;
        BoxliteErrorCode rc = boxlite_box_read_file(b.box, missing, &data, &len, &err);
        failed = expect_code(c, "boxlite_box_read_file of a missing file", rc, &err, missing_code);
        if (rc == BOXLITE_OK) {
            boxlite_bytes_free(data, len);
        }
    }
    if (!failed) {
        /* NULL where a value is required: refused with invalid_argument, never a crash. */
        BoxliteErrorCode rc = boxlite_box_write_file(b.box, NULL, NULL, 0, 0644, &err);
        failed = expect_code(c, "boxlite_box_write_file with a NULL path", rc, &err,
                             "invalid_argument");
    }
    return files_box_down(c, &b, failed);
}
