/* The scenarios of spec.tsv about metrics: a box's usage and counts through
 * boxlite_box_metrics, a runtime's through boxlite_runtime_metrics. */
#define _XOPEN_SOURCE 700

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MIB (1ull << 20)

/* A command that must fail to start (command not found): counted as an exec error. */
static int exec_missing(struct ctx *c, BoxliteBox *box) {
    const char *const argv[] = {"no-such-command", NULL};
    BoxliteCommand *cmd = NULL;
    BoxliteExecution *exec = NULL;
    BoxliteError *err = NULL;
    int failed = command(c, &cmd, argv) ||
                 expect_code(c, "boxlite_box_exec", boxlite_box_exec(box, cmd, &exec, &err), &err,
                             "command_not_found");
    boxlite_command_free(cmd);
    return failed;
}

static int read_metrics(struct ctx *c, BoxliteBox *box, BoxliteBoxMetrics *m) {
    BoxliteError *err = NULL;
    return expect_ok(c, "boxlite_box_metrics", boxlite_box_metrics(box, m, &err), &err);
}

/* The scenario's parameter `key` as a number. */
static int number(struct ctx *c, const char *key, unsigned long long *out) {
    const char *value;
    if (param(c, key, &value)) {
        return 1;
    }
    *out = strtoull(value, NULL, 10);
    return 0;
}

static int expect_usage(struct ctx *c, const BoxliteBoxMetrics *m) {
    unsigned long long memory_mib, fill_mib, write_mib, execs, errors;
    if (number(c, "memory_mib", &memory_mib) || number(c, "fill_mib", &fill_mib) ||
        number(c, "write_mib", &write_mib) || number(c, "execs", &execs) ||
        number(c, "exec_errors", &errors)) {
        return 1;
    }
    if (!m->has_cgroup || m->cpu_time_usec == 0 || !m->has_cpu_percent || m->cpu_percent <= 0) {
        return fail(c, "cpu: has_cgroup %d, %llu us, has_cpu_percent %d, %g%%", m->has_cgroup,
                    (unsigned long long)m->cpu_time_usec, m->has_cpu_percent, m->cpu_percent);
    }
    if (m->memory_peak_bytes < fill_mib * MIB || m->memory_limit_bytes != memory_mib * MIB) {
        return fail(c, "memory: peak %llu B after a %llu MiB fill, limit %llu B, want %llu MiB",
                    (unsigned long long)m->memory_peak_bytes, fill_mib,
                    (unsigned long long)m->memory_limit_bytes, memory_mib);
    }
    if (m->pids_current < 1 || m->block_write_bytes < write_mib * MIB) {
        return fail(c, "pids %llu, block writes %llu B after a %llu MiB write",
                    (unsigned long long)m->pids_current,
                    (unsigned long long)m->block_write_bytes, write_mib);
    }
    if (m->commands_executed_total != execs || m->exec_errors_total != errors) {
        return fail(c, "execs %llu, errors %llu, want %llu, %llu",
                    (unsigned long long)m->commands_executed_total,
                    (unsigned long long)m->exec_errors_total, execs, errors);
    }
    if (!m->has_start_times || m->total_create_duration_ms <= 0) {
        return fail(c, "start times: has %d, total %g ms", m->has_start_times,
                    m->total_create_duration_ms);
    }
    return 0;
}

int box_metrics_report_usage(struct ctx *c) {
    const char *image;
    unsigned long long memory_mib, fill_mib, write_mib, execs;
    if (run_image(c, &image) || number(c, "memory_mib", &memory_mib) ||
        number(c, "fill_mib", &fill_mib) || number(c, "write_mib", &write_mib) ||
        number(c, "execs", &execs)) {
        return 1;
    }
    char options[1024];
    snprintf(options, sizeof options, "{\"image\": \"%s\", \"memory_mib\": %llu}", image,
             memory_mib);
    char script[512];
    snprintf(script, sizeof script,
             "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; "
             "head -c %llu /dev/zero > /tmp/fill && rm /tmp/fill; "
             "dd if=/dev/zero of=/root/blob bs=1M count=%llu conv=fsync 2>/dev/null",
             fill_mib * MIB, write_mib);
    const char *const argv[] = {"sh", "-c", script, NULL};
    BoxliteRuntime *rt = NULL;
    BoxliteBox *box = NULL;
    BoxliteError *err = NULL;
    BoxliteBoxMetrics m;
    int failed = open_runtime(c, &rt) || box_up(c, rt, options, NULL, true, &box) ||
                 run_expect(c, box, argv, "") || exec_missing(c, box) ||
                 read_metrics(c, box, &m) || expect_usage(c, &m);
    if (!failed) {
        failed = expect_ok(c, "boxlite_box_stop", boxlite_box_stop(box, STOP_GRACE_MS, &err),
                           &err) ||
                 read_metrics(c, box, &m);
    }
    if (!failed && (m.has_cgroup || m.has_network || m.has_cpu_percent ||
                    m.commands_executed_total != execs || !m.has_start_times)) {
        failed = fail(c, "stopped: has_cgroup %d, has_network %d, execs %llu, start times %d",
                      m.has_cgroup, m.has_network, (unsigned long long)m.commands_executed_total,
                      m.has_start_times);
    }
    failed |= box_down(c, rt, box);
    boxlite_runtime_free(rt);
    return failed;
}

static int read_runtime_metrics(struct ctx *c, BoxliteRuntime *rt, BoxliteRuntimeMetrics *m) {
    BoxliteError *err = NULL;
    return expect_ok(c, "boxlite_runtime_metrics", boxlite_runtime_metrics(rt, m, &err), &err);
}

int runtime_metrics_count_boxes(struct ctx *c) {
    const char *bad_image;
    unsigned long long created, failed_starts, running, execs, errors;
    if (param(c, "bad_image", &bad_image) || number(c, "created", &created) ||
        number(c, "failed", &failed_starts) || number(c, "running", &running) ||
        number(c, "execs", &execs) || number(c, "exec_errors", &errors)) {
        return 1;
    }
    const char *const ok_argv[] = {"true", NULL};
    BoxliteRuntime *rt = NULL;
    BoxliteBox *up = NULL, *idle = NULL, *bad = NULL;
    BoxliteError *err = NULL;
    BoxliteRuntimeMetrics m;
    int failed = open_runtime(c, &rt) || read_runtime_metrics(c, rt, &m);
    if (!failed && (m.boxes_created_total | m.boxes_failed_total | m.num_running_boxes |
                    m.total_commands_executed | m.total_exec_errors) != 0) {
        failed = fail(c, "a fresh runtime counted something");
    }
    failed = failed || box_up(c, rt, NULL, NULL, true, &up) || run_expect(c, up, ok_argv, "") ||
             exec_missing(c, up) || box_up(c, rt, NULL, NULL, false, &idle) ||
             expect_ok(c, "boxlite_box_create",
                       boxlite_box_create(rt, bad_image, NULL, &bad, &err), &err);
    if (!failed && boxlite_box_start(bad, &err) == BOXLITE_OK) {
        failed = fail(c, "a box of %s started", bad_image);
    }
    boxlite_error_free(err);
    err = NULL;
    failed = failed || read_runtime_metrics(c, rt, &m);
    if (!failed && (m.boxes_created_total != created || m.boxes_failed_total != failed_starts ||
                    m.num_running_boxes != running || m.total_commands_executed != execs ||
                    m.total_exec_errors != errors)) {
        failed = fail(c, "created %llu, failed %llu, running %llu, execs %llu, errors %llu",
                      (unsigned long long)m.boxes_created_total,
                      (unsigned long long)m.boxes_failed_total,
                      (unsigned long long)m.num_running_boxes,
                      (unsigned long long)m.total_commands_executed,
                      (unsigned long long)m.total_exec_errors);
    }
    if (!failed) {
        failed = expect_ok(c, "boxlite_box_stop", boxlite_box_stop(up, STOP_GRACE_MS, &err),
                           &err) ||
                 read_runtime_metrics(c, rt, &m);
        if (!failed && m.num_running_boxes != 0) {
            failed = fail(c, "%llu running after the stop", (unsigned long long)m.num_running_boxes);
        }
    }
    failed |= box_down(c, rt, up);
    failed |= box_down(c, rt, idle);
    failed |= box_down(c, rt, bad);
    boxlite_runtime_free(rt);
    return failed;
}
