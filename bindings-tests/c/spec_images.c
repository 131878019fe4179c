/* The image scenarios of spec.tsv: each starts scripts/registry-fixture.py (a real registry on
 * 127.0.0.1 with the run image pushed into it), reads its one JSON line, and closes its stdin
 * at the end, waiting for it to exit. */
#define _XOPEN_SOURCE 700 /* posix_spawn, strdup */

#include <boxlite.h>

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

struct registry {
    pid_t pid;
    int stdin_fd;   /* closing it stops the registry */
    char line[8192]; /* the fixture's JSON line */
    char addr[256];
    char user[256];
    char password[256];
};

/* The string value of `"key": "..."` in `json`, into `out`; the fixture's values need no
 * escapes (a value with one fails the scenario rather than being misread). */
static int json_string(struct ctx *c, const char *json, const char *key, char *out, size_t cap) {
    char pattern[300];
    snprintf(pattern, sizeof pattern, "\"%s\": \"", key);
    const char *start = strstr(json, pattern);
    if (start == NULL) {
        return fail(c, "registry-fixture line has no string %s: %s", key, json);
    }
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (end == NULL || memchr(start, '\\', (size_t)(end - start)) != NULL ||
        (size_t)(end - start) >= cap) {
        return fail(c, "registry-fixture line: cannot read %s: %s", key, json);
    }
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 0;
}

/* Starts the fixture with the run image pushed as each of `dests` (NULL-terminated). */
static int registry_start(struct ctx *c, const char *auth, const char *const *dests,
                          struct registry *reg) {
    memset(reg, 0, sizeof *reg);
    reg->pid = -1;
    reg->stdin_fd = -1;
    const char *image = NULL;
    if (run_image(c, &image)) {
        return 1;
    }
    char *argv[32] = {"python3", "scripts/registry-fixture.py", "--auth", (char *)auth};
    char pushes[8][1024];
    size_t argc = 4;
    for (size_t i = 0; dests[i] != NULL; i++) {
        if (i >= 8) {
            return fail(c, "too many pushes");
        }
        snprintf(pushes[i], sizeof pushes[i], "%s=%s", image, dests[i]);
        argv[argc++] = "--push";
        argv[argc++] = pushes[i];
    }
    argv[argc] = NULL;
    int in[2], out[2];
    if (pipe(in) != 0) {
        return fail(c, "pipe: %s", strerror(errno));
    }
    if (pipe(out) != 0) {
        close(in[0]);
        close(in[1]);
        return fail(c, "pipe: %s", strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, in[0]);
    posix_spawn_file_actions_addclose(&actions, in[1]);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, out[1]);
    int rc = posix_spawnp(&reg->pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
        close(in[1]);
        close(out[0]);
        reg->pid = -1;
        return fail(c, "spawn registry-fixture.py: %s", strerror(rc));
    }
    reg->stdin_fd = in[1];
    /* One line, then the fixture serves; it bounds its own start and pushes. */
    size_t len = 0;
    for (;;) {
        char ch;
        ssize_t n = read(out[0], &ch, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || ch == '\n' || len + 1 >= sizeof reg->line) {
            break;
        }
        reg->line[len++] = ch;
    }
    reg->line[len] = '\0';
    close(out[0]);
    if (len == 0) {
        return fail(c, "registry-fixture.py printed no line (did it fail to start?)");
    }
    return json_string(c, reg->line, "addr", reg->addr, sizeof reg->addr);
}

/* The manifest digest the fixture reported for the push to `dest`. */
static int pushed_digest(struct ctx *c, const struct registry *reg, const char *dest, char *out,
                         size_t cap) {
    return json_string(c, reg->line, dest, out, cap);
}

/* Closes the fixture's stdin and waits for it to exit 0. */
static int registry_stop(struct ctx *c, struct registry *reg) {
    if (reg->stdin_fd >= 0) {
        close(reg->stdin_fd);
        reg->stdin_fd = -1;
    }
    if (reg->pid < 0) {
        return 0;
    }
    int status;
    while (waitpid(reg->pid, &status, 0) == -1) {
        if (errno != EINTR) {
            return fail(c, "waitpid registry-fixture.py: %s", strerror(errno));
        }
    }
    reg->pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return fail(c, "registry-fixture.py ended with wait status %d", status);
    }
    return 0;
}

static int open_with(struct ctx *c, const char *registries_json, BoxliteRuntime **rt) {
    char json[4096];
    snprintf(json, sizeof json, "{\"home_dir\": \"%s\", \"image_registries\": %s}", c->home,
             registries_json);
    BoxliteError *err = NULL;
    return expect_ok(c, "boxlite_runtime_open_json", boxlite_runtime_open_json(json, rt, &err),
                     &err);
}

static int expect_str(struct ctx *c, const char *what, const char *got, const char *want) {
    if (got == NULL || strcmp(got, want) != 0) {
        return fail(c, "%s is %s, want %s", what, got ? got : "NULL", want);
    }
    return 0;
}

static int image_count(struct ctx *c, BoxliteRuntime *rt, size_t want) {
    BoxliteImageList *list = NULL;
    BoxliteError *err = NULL;
    int failed = expect_ok(c, "boxlite_image_list", boxlite_image_list(rt, &list, &err), &err);
    if (!failed && boxlite_image_list_len(list) != want) {
        failed = fail(c, "boxlite_image_list has %zu images, want %zu",
                      boxlite_image_list_len(list), want);
    }
    boxlite_image_list_free(list);
    return failed;
}

/* Checks what a pull returned against the scenario's expectations. */
static int check_pulled(struct ctx *c, const BoxliteImageInfo *info, const char *ref,
                        const char *repository, const char *tag, const char *id,
                        const char *source) {
    uint64_t size = 0;
    const char *config = boxlite_image_info_config_digest(info);
    const char *cached_at = boxlite_image_info_cached_at(info);
    size_t layers = boxlite_image_info_layer_count(info);
    if (expect_str(c, "reference", boxlite_image_info_reference(info), ref) ||
        expect_str(c, "repository", boxlite_image_info_repository(info), repository) ||
        expect_str(c, "tag", boxlite_image_info_tag(info), tag) ||
        expect_str(c, "id", boxlite_image_info_id(info), id) ||
        expect_str(c, "source", boxlite_image_info_source(info), source)) {
        return 1;
    }
    if (config == NULL || strncmp(config, "sha256:", 7) != 0 || strcmp(config, id) == 0) {
        return fail(c, "config digest %s is not a sha256 digest other than the id",
                    config ? config : "NULL");
    }
    if (layers == 0 || boxlite_image_info_layer(info, layers) != NULL) {
        return fail(c, "%zu layers, or a layer past the end", layers);
    }
    for (size_t i = 0; i < layers; i++) {
        if (strncmp(boxlite_image_info_layer(info, i), "sha256:", 7) != 0) {
            return fail(c, "layer %zu is %s", i, boxlite_image_info_layer(info, i));
        }
    }
    if (!boxlite_image_info_size(info, &size) || size == 0) {
        return fail(c, "size unknown or 0");
    }
    if (cached_at == NULL || cached_at[0] == '\0' || cached_at[strlen(cached_at) - 1] != 'Z') {
        return fail(c, "cached_at %s is not RFC 3339 UTC", cached_at ? cached_at : "NULL");
    }
    return 0;
}

int image_pull_list_remove(struct ctx *c) {
    const char *repo, *tag;
    if (param(c, "repo", &repo) || param(c, "tag", &tag)) {
        return 1;
    }
    char dest[256], ref[512] = "", repository[512], digest[128] = "";
    snprintf(dest, sizeof dest, "%s:%s", repo, tag);
    const char *dests[] = {dest, NULL};
    struct registry reg;
    BoxliteRuntime *rt = NULL;
    BoxliteImageInfo *info = NULL, *found = NULL;
    BoxliteImageList *list = NULL;
    BoxliteError *err = NULL;
    int failed = registry_start(c, "none", dests, &reg) ||
                 pushed_digest(c, &reg, dest, digest, sizeof digest) || open_runtime(c, &rt);
    if (!failed) {
        snprintf(ref, sizeof ref, "%s/%s", reg.addr, dest);
        snprintf(repository, sizeof repository, "%s/%s", reg.addr, repo);
        failed = expect_ok(c, "boxlite_image_pull", boxlite_image_pull(rt, ref, &info, &err),
                           &err) ||
                 check_pulled(c, info, ref, repository, tag, digest, reg.addr) ||
                 expect_ok(c, "boxlite_image_list", boxlite_image_list(rt, &list, &err), &err);
    }
    if (!failed && (boxlite_image_list_len(list) != 1 ||
                    strcmp(boxlite_image_info_id(boxlite_image_list_get(list, 0)), digest) != 0 ||
                    boxlite_image_list_get(list, 1) != NULL)) {
        failed = fail(c, "the list does not hold exactly the pulled image");
    }
    /* By reference, then by the first 12 hex digits of the id. */
    char prefix[13] = "";
    snprintf(prefix, sizeof prefix, "%s", digest + strlen("sha256:"));
    const char *keys[] = {ref, prefix};
    for (size_t i = 0; i < 2 && !failed; i++) {
        failed = expect_ok(c, "boxlite_image_inspect",
                           boxlite_image_inspect(rt, keys[i], &found, &err), &err);
        if (!failed && (found == NULL || strcmp(boxlite_image_info_id(found), digest) != 0 ||
                        strcmp(boxlite_image_info_reference(found), ref) != 0)) {
            failed = fail(c, "boxlite_image_inspect(%s) does not find the pulled image", keys[i]);
        }
        boxlite_image_info_free(found);
        found = NULL;
    }
    failed = failed ||
             expect_ok(c, "boxlite_image_remove", boxlite_image_remove(rt, ref, false, &err),
                       &err) ||
             image_count(c, rt, 0) ||
             expect_ok(c, "boxlite_image_inspect", boxlite_image_inspect(rt, ref, &found, &err),
                       &err);
    if (!failed && found != NULL) {
        failed = fail(c, "boxlite_image_inspect finds the removed image");
    }
    BoxliteImagePruneReport report = {1, 1, 1};
    failed = failed || expect_ok(c, "boxlite_image_prune", boxlite_image_prune(rt, &report, &err),
                                 &err);
    if (!failed && (report.blobs_removed || report.rootfs_removed || report.bytes_freed)) {
        failed = fail(c, "prune after remove removed %llu blobs, %llu roots, %llu bytes",
                      (unsigned long long)report.blobs_removed,
                      (unsigned long long)report.rootfs_removed,
                      (unsigned long long)report.bytes_freed);
    }
    boxlite_image_info_free(found);
    boxlite_image_list_free(list);
    boxlite_image_info_free(info);
    boxlite_runtime_free(rt);
    return registry_stop(c, &reg) || failed;
}

int image_missing_not_found(struct ctx *c) {
    const char *repo, *code;
    if (param(c, "repo", &repo) || param(c, "code", &code)) {
        return 1;
    }
    const char *dests[] = {"library/busybox:latest", NULL};
    struct registry reg;
    BoxliteRuntime *rt = NULL;
    BoxliteImageInfo *info = NULL;
    BoxliteError *err = NULL;
    char ref[512];
    int failed = registry_start(c, "none", dests, &reg) || open_runtime(c, &rt);
    if (!failed) {
        snprintf(ref, sizeof ref, "%s/%s:latest", reg.addr, repo);
        BoxliteErrorCode got = boxlite_image_pull(rt, ref, &info, &err);
        if (err != NULL && strstr(boxlite_error_message(err), repo) == NULL) {
            failed = fail(c, "the error does not name %s: %s", repo, boxlite_error_message(err));
        }
        failed = failed || expect_code(c, "boxlite_image_pull", got, &err, code);
        if (!failed && info != NULL) {
            failed = fail(c, "a failed pull wrote an info");
        }
        failed = failed || expect_ok(c, "boxlite_image_inspect",
                                     boxlite_image_inspect(rt, ref, &info, &err), &err);
        if (!failed && info != NULL) {
            failed = fail(c, "boxlite_image_inspect finds an image that was never pulled");
        }
        failed = failed || expect_code(c, "boxlite_image_remove",
                                       boxlite_image_remove(rt, ref, false, &err), &err, code) ||
                 image_count(c, rt, 0);
    }
    boxlite_image_info_free(info);
    boxlite_runtime_free(rt);
    return registry_stop(c, &reg) || failed;
}

int image_unauthorized(struct ctx *c) {
    const char *repo, *code;
    if (param(c, "repo", &repo) || param(c, "code", &code)) {
        return 1;
    }
    char dest[256], ref[512], digest[128] = "", json[2048];
    snprintf(dest, sizeof dest, "%s:latest", repo);
    const char *dests[] = {dest, NULL};
    struct registry reg;
    BoxliteRuntime *rt = NULL;
    BoxliteImageInfo *info = NULL;
    BoxliteError *err = NULL;
    int failed = registry_start(c, "basic", dests, &reg) ||
                 json_string(c, reg.line, "user", reg.user, sizeof reg.user) ||
                 json_string(c, reg.line, "password", reg.password, sizeof reg.password) ||
                 pushed_digest(c, &reg, dest, digest, sizeof digest);
    snprintf(ref, sizeof ref, "%s/%s", reg.addr, dest);
    /* No credentials, then the right user with a wrong password. */
    for (int attempt = 0; attempt < 2 && !failed; attempt++) {
        if (attempt == 0) {
            snprintf(json, sizeof json, "[]");
        } else {
            snprintf(json, sizeof json,
                     "[{\"host\": \"%s\", \"auth\": {\"type\": \"basic\", \"username\": \"%s\", "
                     "\"password\": \"%s-wrong\"}}]",
                     reg.addr, reg.user, reg.password);
        }
        failed = open_with(c, json, &rt) ||
                 expect_code(c, "boxlite_image_pull", boxlite_image_pull(rt, ref, &info, &err),
                             &err, code) ||
                 image_count(c, rt, 0);
        boxlite_runtime_free(rt);
        rt = NULL;
    }
    snprintf(json, sizeof json,
             "[{\"host\": \"%s\", \"transport\": \"http\", \"auth\": {\"type\": \"basic\", "
             "\"username\": \"%s\", \"password\": \"%s\"}}]",
             reg.addr, reg.user, reg.password);
    failed = failed || open_with(c, json, &rt) ||
             expect_ok(c, "boxlite_image_pull", boxlite_image_pull(rt, ref, &info, &err), &err);
    if (!failed) {
        failed = expect_str(c, "reference", boxlite_image_info_reference(info), ref) ||
                 expect_str(c, "id", boxlite_image_info_id(info), digest) ||
                 expect_ok(c, "boxlite_image_remove", boxlite_image_remove(rt, ref, false, &err),
                           &err);
    }
    /* An unknown field in the runtime options is refused, naming it. */
    BoxliteRuntime *bad = NULL;
    if (!failed) {
        BoxliteErrorCode got =
            boxlite_runtime_open_json("{\"home_dir\": \"/tmp\", \"registries\": []}", &bad, &err);
        if (err != NULL && strstr(boxlite_error_message(err), "registries") == NULL) {
            failed = fail(c, "the error does not name the field: %s", boxlite_error_message(err));
        }
        failed = failed || expect_code(c, "boxlite_runtime_open_json", got, &err,
                                       "invalid_argument");
    }
    boxlite_runtime_free(bad);
    boxlite_image_info_free(info);
    boxlite_runtime_free(rt);
    return registry_stop(c, &reg) || failed;
}

int image_registry_options(struct ctx *c) {
    const char *name;
    if (param(c, "name", &name)) {
        return 1;
    }
    char dest[256], digest[128] = "", json[1024], want[512];
    snprintf(dest, sizeof dest, "library/%s:latest", name);
    const char *dests[] = {dest, NULL};
    struct registry reg;
    BoxliteRuntime *rt = NULL;
    BoxliteImageInfo *info = NULL;
    BoxliteError *err = NULL;
    int failed = registry_start(c, "none", dests, &reg) ||
                 pushed_digest(c, &reg, dest, digest, sizeof digest);
    /* Mirror: docker.io served by the registry. */
    snprintf(json, sizeof json, "[{\"host\": \"docker.io\", \"mirrors\": [\"%s\"]}]", reg.addr);
    snprintf(want, sizeof want, "docker.io/library/%s:latest", name);
    failed = failed || open_with(c, json, &rt) ||
             expect_ok(c, "boxlite_image_pull (mirror)", boxlite_image_pull(rt, name, &info, &err),
                       &err) ||
             expect_str(c, "reference", boxlite_image_info_reference(info), want) ||
             expect_str(c, "source", boxlite_image_info_source(info), reg.addr) ||
             expect_str(c, "id", boxlite_image_info_id(info), digest) ||
             expect_ok(c, "boxlite_image_remove", boxlite_image_remove(rt, want, false, &err),
                       &err);
    boxlite_image_info_free(info);
    info = NULL;
    boxlite_runtime_free(rt);
    rt = NULL;
    /* Search: the registry searched for unqualified names. */
    snprintf(json, sizeof json, "[{\"host\": \"%s\", \"search\": true}]", reg.addr);
    snprintf(want, sizeof want, "%s/library/%s:latest", reg.addr, name);
    failed = failed || open_with(c, json, &rt) ||
             expect_ok(c, "boxlite_image_pull (search)", boxlite_image_pull(rt, name, &info, &err),
                       &err) ||
             expect_str(c, "reference", boxlite_image_info_reference(info), want) ||
             expect_str(c, "source", boxlite_image_info_source(info), reg.addr) ||
             image_count(c, rt, 1) ||
             expect_ok(c, "boxlite_image_remove", boxlite_image_remove(rt, want, false, &err),
                       &err) ||
             image_count(c, rt, 0);
    boxlite_image_info_free(info);
    boxlite_runtime_free(rt);
    return registry_stop(c, &reg) || failed;
}
