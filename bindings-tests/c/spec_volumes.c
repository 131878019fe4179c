/* Volumes through the C binding (bindings-tests/spec.tsv, volume_shares_files). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* Writes `text` to `path`; 0 or a failure. */
static int write_file(struct ctx *c, const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        return fail(c, "write %s failed", path);
    }
    return 0;
}

/* The info of `box` lists volume `index` as `host` on `guest`, read-only or not. */
static int expect_volume(struct ctx *c, BoxliteBoxInfo *info, size_t index, const char *host,
                         const char *guest, bool read_only) {
    const char *got_host = boxlite_box_info_volume_host_path(info, index);
    const char *got_guest = boxlite_box_info_volume_guest_path(info, index);
    if (got_host == NULL || got_guest == NULL || strcmp(got_host, host) != 0 ||
        strcmp(got_guest, guest) != 0 ||
        boxlite_box_info_volume_read_only(info, index) != read_only) {
        return fail(c, "info volume %zu is %s:%s (read-only %d), want %s:%s (%d)", index,
                    got_host ? got_host : "(null)", got_guest ? got_guest : "(null)",
                    boxlite_box_info_volume_read_only(info, index), host, guest, read_only);
    }
    return 0;
}

static int expect_volumes(struct ctx *c, BoxliteBox *box, const char *dir) {
    BoxliteBoxInfo *info = NULL;
    BoxliteError *err = NULL;
    if (expect_ok(c, "boxlite_box_info", boxlite_box_info(box, &info, &err), &err)) {
        return 1;
    }
    size_t count = boxlite_box_info_volume_count(info);
    int failed = count != 2 ? fail(c, "info has %zu volumes, want 2", count)
                            : expect_volume(c, info, 0, dir, "/data", false) ||
                                  expect_volume(c, info, 1, dir, "/ro", true);
    boxlite_box_info_free(info);
    return failed;
}

/* Runs argv in `box`; its exit code in `*exit_code`. */
static int exit_code_of(struct ctx *c, BoxliteBox *box, const char *const *argv, int *exit_code) {
    BoxliteCommand *cmd = NULL;
    BoxliteExecResult result;
    int failed = command(c, &cmd, argv) || run_command(c, box, cmd, NULL, &result);
    boxlite_command_free(cmd);
    if (!failed) {
        *exit_code = result.exit_code;
    }
    return failed;
}

int volume_shares_files(struct ctx *c) {
    const char *image, *file, *content, *written, *code;
    if (run_image(c, &image) || param(c, "file", &file) || param(c, "content", &content) ||
        param(c, "written", &written) || param(c, "code", &code)) {
        return 1;
    }
    char dir[512], path[1024], text[512];
    snprintf(dir, sizeof dir, "%s/shared", c->home);
    if (mkdir(dir, 0755) != 0) {
        return fail(c, "mkdir %s failed", dir);
    }
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(text, sizeof text, "%s\n", content);
    if (write_file(c, path, text)) {
        return 1;
    }
    char options[2048];
    snprintf(options, sizeof options,
             "{\"image\": \"%s\", \"volumes\": ["
             "{\"host_path\": \"%s\", \"guest_path\": \"/data\", \"read_only\": false}, "
             "{\"host_path\": \"%s\", \"guest_path\": \"/ro\", \"read_only\": true}]}",
             image, dir, dir);
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    int failed = open_runtime(c, &rt) || box_up(c, rt, options, NULL, false, &box) ||
                 expect_volumes(c, box, dir);
    if (!failed) {
        BoxliteError *err = NULL;
        failed = expect_ok(c, "boxlite_box_start", boxlite_box_start(box, &err), &err);
    }
    if (!failed) {
        char in_box[256];
        snprintf(in_box, sizeof in_box, "/ro/%s", file);
        const char *const cat[] = {"cat", in_box, NULL};
        failed = run_expect(c, box, cat, text);
    }
    if (!failed) {
        char script[256];
        snprintf(script, sizeof script, "echo %s > /data/out", written);
        const char *const write[] = {"sh", "-c", script, NULL};
        const char *const touch[] = {"touch", "/ro/denied", NULL};
        int wrote = -1, touched = 0;
        failed = exit_code_of(c, box, write, &wrote) || exit_code_of(c, box, touch, &touched);
        char got[256] = "";
        snprintf(path, sizeof path, "%s/out", dir);
        FILE *f = failed ? NULL : fopen(path, "r");
        if (f != NULL) {
            size_t n = fread(got, 1, sizeof got - 1, f);
            got[n] = '\0';
            fclose(f);
        }
        snprintf(text, sizeof text, "%s\n", written);
        snprintf(path, sizeof path, "%s/denied", dir);
        if (!failed && (wrote != 0 || strcmp(got, text) != 0)) {
            failed = fail(c, "writing /data/out exited %d; the host reads \"%s\"", wrote, got);
        } else if (!failed && (touched == 0 || access(path, F_OK) == 0)) {
            failed = fail(c, "touch /ro/denied exited %d in a read-only volume", touched);
        }
    }
    failed |= box_down(c, rt, box);
    if (!failed) {
        char missing[600], gone[2048], proc[2048];
        snprintf(missing, sizeof missing, "%s/missing", dir);
        snprintf(gone, sizeof gone,
                 "{\"image\": \"%s\", \"volumes\": [{\"host_path\": \"%s\", \"guest_path\": "
                 "\"/data\"}]}",
                 c->spec->image, missing);
        snprintf(proc, sizeof proc,
                 "{\"image\": \"%s\", \"volumes\": [{\"host_path\": \"%s\", \"guest_path\": "
                 "\"/proc/x\"}]}",
                 c->spec->image, dir);
        const char *const names_missing[] = {missing, NULL};
        const char *const names_proc[] = {"/proc", NULL};
        failed = create_refused(c, rt, gone, code, names_missing) ||
                 create_refused(c, rt, proc, code, names_proc) || expect_no_boxes(c, rt);
    }
    boxlite_runtime_free(rt);
    return failed;
}
