'use strict';
// The shared behaviour spec (bindings-tests/spec.tsv) against the Node SDK, one test per
// scenario named by its id. Real runtime, real SQLite, real boxes from $BOXLITE_TEST_IMAGE, a
// fresh temp home per test. Writes target/spec-results/node.tsv. Run by scripts/test-node.sh.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile, execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const { Boxlite, statusNames, errorCodes } = require('boxlite');
const { REPO, loadSpec, runImage, withHome, withRuntime, rejectsWithCode, readAll, run, within } = require('./helpers.js');

const TESTKIT =
  process.env.BOXLITE_TESTKIT ||
  path.join(REPO, 'target', 'x86_64-unknown-linux-gnu', 'debug', 'boxlite-testkit');

const spec = loadSpec();
const IMAGE = spec.image[0];
const RUN_IMAGE_VAR = spec.run_image[0];
/** Long enough for a start on a loaded 2-core machine, short enough to fail a wedged test. */
const TEST_TIMEOUT_MS = 120_000;

/** A box from the run image that stays in the home when it stops (so its status can be read). */
async function runBox(rt, options = {}, name) {
  return rt.create({ image: runImage(RUN_IMAGE_VAR), autoRemove: false, ...options }, name);
}

/**
 * Runs `fn(registry)` with a registry on 127.0.0.1 holding the run image pushed as each of
 * `pushes` (`registry` is the fixture's JSON line), then closes the fixture's stdin and waits
 * for it to exit.
 */
/** The body of GET / on host:port, as the test's own HTTP client reads it to EOF. */
function httpGet(host, port) {
  return new Promise((resolve, reject) => {
    const conn = net.connect({ host, port }, () => conn.write('GET / HTTP/1.0\r\n\r\n'));
    const chunks = [];
    conn.on('data', (chunk) => chunks.push(chunk));
    conn.on('error', reject);
    conn.on('end', () => resolve(Buffer.concat(chunks).toString().split('\r\n\r\n')[1] ?? ''));
  });
}

async function withRegistry(pushes, fn, auth = 'none') {
  const args = [path.join(REPO, 'scripts', 'registry-fixture.py'), '--auth', auth];
  for (const dest of pushes) args.push('--push', `${runImage(RUN_IMAGE_VAR)}=${dest}`);
  const child = spawn('python3', args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const line = await within(300_000, 'registry-fixture.py ready', new Promise((resolve, reject) => {
      let buffered = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        buffered += chunk;
        const nl = buffered.indexOf('\n');
        if (nl >= 0) resolve(buffered.slice(0, nl));
      });
      exited.then((code) => reject(new Error(`registry-fixture.py exited with ${code} before it was ready`)));
    }));
    return await fn(JSON.parse(line));
  } finally {
    child.stdin.end();
    assert.equal(await within(30_000, 'registry-fixture.py exit', exited), 0);
  }
}

/** Runs `node script args...` and resolves to its stdout; rejects with its stderr. */
function node(script, args) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${script} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** `snake_case` as the Node SDK spells it (`nofile_soft` -> `nofileSoft`). */
function camel(name) {
  return name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

/** A scenario's BoxLimits fields, camelCase, as numbers. */
function boundValues(params) {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [camel(k), Number(v)]));
}

const scenarios = {
  async create_is_configured() {
    await withRuntime(async (rt) => {
      const box = await rt.create({ image: IMAGE });
      const info = await box.info();
      assert.equal(info.status, 'configured');
      assert.equal(info.state.status, info.status);
      assert.equal(info.state.running, false);
      assert.equal(info.id, box.id);
      assert.equal(info.image, IMAGE);
    });
  },

  async status_names_match_core() {
    assert.deepEqual(statusNames(), spec.status);
  },

  async error_codes_match_core() {
    assert.deepEqual(errorCodes(), spec.error_code);
  },

  async invalid_name_is_invalid_argument({ name, code }) {
    await withRuntime(async (rt) => {
      await rejectsWithCode(rt.create({ image: IMAGE }, name), code);
    });
  },

  async duplicate_name_is_already_exists({ name, code }) {
    await withRuntime(async (rt) => {
      await rt.create({ image: IMAGE }, name);
      await rejectsWithCode(rt.create({ image: IMAGE }, name), code);
    });
  },

  async remove_then_get_is_none() {
    await withRuntime(async (rt) => {
      const box = await rt.create({ image: IMAGE });
      await rt.remove(box.id);
      assert.equal(await rt.get(box.id), null);
      assert.equal(await rt.getInfo(box.id), null);
    });
  },

  async missing_box_is_not_found({ key, code }) {
    await withRuntime(async (rt) => {
      await rejectsWithCode(rt.remove(key), code);
    });
  },

  async list_is_newest_first() {
    await withRuntime(async (rt) => {
      const first = await rt.create({ image: IMAGE });
      const second = await rt.create({ image: IMAGE });
      const ids = (await rt.listInfo()).map((info) => info.id);
      assert.deepEqual(ids, [second.id, first.id]);
    });
  },

  async failed_record_is_visible({ reason }) {
    await withRuntime(async (rt, home) => {
      const box = await rt.create({ image: IMAGE });
      // Another process writes the failure through core; this one must read it from the DB.
      execFileSync(TESTKIT, ['mark-failed', home, box.id, reason], { stdio: 'inherit' });
      const info = await new Boxlite({ homeDir: home }).getInfo(box.id);
      assert.equal(info.status, 'failed');
      assert.equal(info.errorReason, reason);
      assert.equal(info.state.status, 'failed');
      assert.equal(info.state.errorReason, reason);
      assert.equal(info.state.running, false);
    });
  },

  async lifecycle_start_stop_start_remove() {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      assert.equal((await box.info()).status, 'configured');
      for (let round = 0; round < 2; round++) {
        await box.start();
        const running = await box.info();
        assert.equal(running.status, 'running');
        assert.equal(running.state.running, true);
        assert.ok(Number.isInteger(running.pid) && running.pid > 0, `pid ${running.pid}`);
        await box.stop();
        const stopped = await box.info();
        assert.equal(stopped.status, 'stopped');
        assert.equal(stopped.pid, null);
      }
      await rt.remove(box.id);
      assert.equal(await rt.get(box.id), null);
    });
  },

  async exec_stdout_stderr_exit_code({ stdout, stderr, exit_code }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const result = await run(box, 'sh', ['-c', `echo ${stdout}; echo ${stderr} >&2; exit ${exit_code}`]);
      assert.equal(result.stdout, `${stdout}\n`);
      assert.equal(result.stderr, `${stderr}\n`);
      assert.equal(result.exitCode, Number(exit_code));
      assert.equal(result.timedOut, false);
      assert.equal(result.signal, null);
    });
  },

  async exec_env({ name, value }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const result = await run(box, 'sh', ['-c', `echo "$${name}"`], [[name, value]]);
      assert.equal(result.stdout, `${value}\n`);
      assert.equal(result.exitCode, 0);
    });
  },

  async exec_cwd({ cwd }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const result = await run(box, 'pwd', [], null, false, null, null, cwd);
      assert.equal(result.stdout, `${cwd}\n`);
    });
  },

  async exec_user({ user, uid }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const result = await run(box, 'id', ['-u'], null, false, user);
      assert.equal(result.stdout, `${uid}\n`);
    });
  },

  async exec_stdin({ input }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const execution = await box.exec('cat');
      const stdout = readAll(execution.stdout());
      await execution.stdin().write(Buffer.from(input));
      await execution.stdin().close();
      assert.equal(await stdout, input);
      assert.equal((await execution.wait()).exitCode, 0);
    });
  },

  async exec_tty({ rows, cols }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const script = 'test -t 0 && test -t 1 && echo is-a-tty; read line; stty size';
      const execution = await box.exec('sh', ['-c', script], null, true);
      const stdout = execution.stdout();
      const stderr = execution.stderr();
      const first = await stdout.next();
      assert.ok(first !== null && first.includes('is-a-tty'), `first line ${JSON.stringify(first)}`);
      await execution.resizeTty(Number(rows), Number(cols));
      await execution.stdin().write('\n');
      const rest = await readAll(stdout);
      assert.match(rest, new RegExp(`\\b${rows} ${cols}\\b`));
      // With a terminal everything is on stdout.
      assert.equal(await stderr.next(), null);
      assert.equal((await execution.wait()).exitCode, 0);
    });
  },

  async exec_timeout_kills({ timeout_secs }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const started = Date.now();
      const execution = await box.exec('sh', ['-c', 'trap "" TERM; sleep 60'], null, false, null, Number(timeout_secs));
      await execution.stdin().close();
      // Timeout, then the kill grace (1 s), then slack for a loaded machine; far below 60 s.
      const result = await within(15_000, 'the timed-out exec', execution.wait());
      assert.equal(result.timedOut, true);
      assert.ok(Date.now() - started >= Number(timeout_secs) * 1000);
      assert.equal(result.signal, 9);
      assert.equal(result.exitCode, 128 + 9);
      const ps = await run(box, 'ps', ['-o', 'pid,args']);
      assert.doesNotMatch(ps.stdout, /sleep 60/);
    });
  },

  async exec_oom_killed({ memory_mib, hog_mib }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt, { memoryMib: Number(memory_mib) });
      const fine = await run(box, 'echo', ['fine']);
      assert.deepEqual([fine.stdout, fine.exitCode, fine.oomKilled], ['fine\n', 0, false]);
      const hog = `x=$(head -c ${Number(hog_mib) * 1048576} /dev/zero | tr '\\0' a); echo \${#x}`;
      const killed = await run(box, 'sh', ['-c', hog]);
      assert.deepEqual([killed.signal, killed.exitCode, killed.oomKilled], [9, 137, true]);
      assert.match(killed.errorMessage, /OOM killer/);
      const itself = await run(box, 'sh', ['-c', 'kill -9 $$']);
      assert.deepEqual([itself.signal, itself.exitCode, itself.oomKilled], [9, 137, false]);
      await box.stop();
    });
  },

  async exec_command_not_found({ command, code }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      await rejectsWithCode(box.exec(command), code);
    });
  },

  async exec_not_executable({ command, code }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      await rejectsWithCode(box.exec(command), code);
    });
  },

  async exec_bad_working_dir({ cwd, code }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const err = await rejectsWithCode(box.exec('pwd', [], null, false, null, null, cwd), code);
      assert.match(err.message, new RegExp(cwd));
    });
  },

  async failed_start_is_visible({ image, code }) {
    await withRuntime(async (rt) => {
      const box = await rt.create({ image, autoRemove: false });
      await rejectsWithCode(box.start(), code);
      const info = await rt.getInfo(box.id);
      assert.equal(info.status, 'failed');
      assert.equal(info.state.status, 'failed');
      const layout = image.replace(/^oci:/, '').replace(/:[^/:]*$/, '');
      assert.ok(info.errorReason && info.errorReason.includes(layout), `reason ${info.errorReason}`);
    });
  },

  async files_survive_stop_start({ content }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const write = await run(box, 'sh', ['-c', 'printf %s "$0" > /root/spec-file', content]);
      assert.equal(write.exitCode, 0, write.stderr);
      await box.stop();
      await box.start();
      const read = await run(box, 'cat', ['/root/spec-file']);
      assert.equal(read.stdout, content);
    });
  },

  async list_shows_running_boxes() {
    await withRuntime(async (rt) => {
      const running = [await runBox(rt), await runBox(rt)];
      const configured = await runBox(rt);
      await Promise.all(running.map((box) => box.start()));
      const status = new Map((await rt.listInfo()).map((info) => [info.id, info.status]));
      assert.equal(status.size, 3);
      for (const box of running) assert.equal(status.get(box.id), 'running');
      assert.equal(status.get(configured.id), 'configured');
    });
  },

  async get_missing_is_none({ key }) {
    await withRuntime(async (rt) => {
      assert.equal(await rt.get(key), null);
      assert.equal(await rt.getInfo(key), null);
    });
  },

  async detached_box_reattached({ name, output }) {
    await withRuntime(async (rt, home) => {
      const box = await runBox(rt, { detach: true }, name);
      await box.start();
      const child = path.join(__dirname, 'fixtures', 'reattach.js');
      const printed = await node(child, [home, name, output]);
      assert.equal(printed, `${output}\n`);
      assert.equal((await box.info()).status, 'running');
      await box.stop();
      await rt.remove(name);
      assert.equal(await rt.get(name), null);
    });
  },

  async shutdown_stops_boxes() {
    await withRuntime(async (rt, home) => {
      const boxes = [await runBox(rt), await runBox(rt)];
      await Promise.all(boxes.map((box) => box.start()));
      await rt.shutdown();
      const reader = new Boxlite({ homeDir: home });
      for (const box of boxes) {
        assert.equal((await reader.getInfo(box.id)).status, 'stopped');
      }
      await rt.shutdown();
      await rejectsWithCode(rt.listInfo(), 'invalid_state');
      await rejectsWithCode(rt.create({ image: IMAGE }), 'invalid_state');
    });
  },

  async exec_concurrent_streams({ lines }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      const script = `i=0; while [ $i -lt ${lines} ]; do echo out$i; echo err$i >&2; i=$((i+1)); done`;
      const result = await within(60_000, 'both streams', run(box, 'sh', ['-c', script]));
      const out = result.stdout.split('\n').filter(Boolean);
      const err = result.stderr.split('\n').filter(Boolean);
      assert.equal(out.length, Number(lines));
      assert.equal(err.length, Number(lines));
      assert.equal(out[out.length - 1], `out${Number(lines) - 1}`);
      assert.equal(err[0], 'err0');
      assert.equal(result.exitCode, 0);
    });
  },

  async default_limits_reported(params) {
    await withRuntime(async (rt) => {
      const info = await (await rt.create({ image: IMAGE })).info();
      assert.deepEqual(info.limits, { ...boundValues(params), cpus: null, notEnforced: [] });
    });
  },

  async limits_overridden_in_force(params) {
    const bounds = boundValues(params);
    await withRuntime(async (rt) => {
      const box = await runBox(rt, bounds);
      await box.start();
      assert.deepEqual((await box.info()).limits, { ...bounds, notEnforced: [] });
      const script = 'ulimit -n; ulimit -Hn; df -m /tmp | tail -n 1; df -m / | tail -n 1';
      const got = await run(box, 'sh', ['-c', script]);
      assert.equal(got.exitCode, 0, got.stderr);
      const [soft, hard, df, root] = got.stdout.trimEnd().split('\n');
      assert.deepEqual([Number(soft), Number(hard)], [bounds.nofileSoft, bounds.nofileHard]);
      assert.deepEqual(df.split(/\s+/).slice(0, 2), ['tmpfs', String(bounds.tmpSizeMib)], df);
      const diskMib = bounds.diskSizeGb * 1024;
      const rootMib = Number(root.split(/\s+/)[1]);
      assert.ok(rootMib > diskMib * 0.9 && rootMib <= diskMib, root);
      await box.stop();
    });
  },

  async disk_size_gb_refused({ disk_size_gb, code }) {
    await withRuntime(async (rt) => {
      const err = await rejectsWithCode(rt.create({ image: IMAGE, diskSizeGb: Number(disk_size_gb) }), code);
      assert.match(err.message, /disk_size_gb/);
      assert.deepEqual(await rt.listInfo(), []);
    });
  },

  async capabilities_in_force({ cap_add, cap_drop, cap_eff }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt, { capAdd: cap_add.split(','), capDrop: cap_drop.split(',') });
      await box.start();
      const got = await run(box, 'sh', ['-c', "grep -E '^Cap(Eff|Bnd)' /proc/self/status"]);
      assert.equal(got.exitCode, 0, got.stderr);
      assert.deepEqual(got.stdout.trimEnd().split('\n'), [`CapEff:\t${cap_eff}`, `CapBnd:\t${cap_eff}`]);
      await box.stop();
    });
  },

  async capability_unknown_refused({ cap_add, code }) {
    await withRuntime(async (rt) => {
      const err = await rejectsWithCode(rt.create({ image: IMAGE, capAdd: [cap_add] }), code);
      assert.ok(err.message.includes('cap_add') && err.message.includes(cap_add), err.message);
      assert.deepEqual(await rt.listInfo(), []);
    });
  },

  async userns_private_by_default({ userns, size }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      await box.start();
      const info = await box.info();
      assert.deepEqual([info.userns, info.warnings], [userns, []]);
      const got = await run(box, 'cat', ['/proc/self/uid_map']);
      assert.equal(got.exitCode, 0, got.stderr);
      const [inside, host, count] = got.stdout.trim().split(/\s+/).map(Number);
      assert.deepEqual([inside, count], [0, Number(size)], got.stdout);
      assert.notEqual(host, 0, got.stdout);
      await box.stop();
    });
  },

  async userns_host_is_loud({ userns, warning, uid_map, code }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt, { userns });
      await box.start();
      const info = await box.info();
      assert.equal(info.userns, userns);
      assert.ok(info.warnings.length === 1 && info.warnings[0].includes(warning), info.warnings);
      const got = await run(box, 'cat', ['/proc/self/uid_map']);
      assert.equal(got.exitCode, 0, got.stderr);
      assert.deepEqual(got.stdout.trim().split(/\s+/), uid_map.split(' '));
      await box.stop();
    });
    await withRuntime(async (rt) => {
      const err = await rejectsWithCode(rt.create({ image: IMAGE, userns: 'nobody' }), code);
      assert.match(err.message, /userns/);
      assert.deepEqual(await rt.listInfo(), []);
    });
  },

  async seccomp_unconfined_is_loud({ seccomp, warning, mode, profile, code }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt, { seccomp });
      await box.start();
      const info = await box.info();
      assert.equal(info.seccomp, seccomp);
      assert.ok(info.warnings.length === 1 && info.warnings[0].includes(warning), info.warnings);
      const got = await run(box, 'grep', ['Seccomp:', '/proc/self/status']);
      assert.equal(got.exitCode, 0, got.stderr);
      assert.deepEqual(got.stdout.trim().split(/\s+/), ['Seccomp:', mode]);
      await box.stop();
    });
    await withRuntime(async (rt) => {
      const err = await rejectsWithCode(rt.create({ image: IMAGE, seccomp: profile }), code);
      assert.ok(err.message.includes('seccomp') && err.message.includes(profile), err.message);
      assert.deepEqual(await rt.listInfo(), []);
    });
  },

  async seccomp_profile_replaces_default({ profile, warning, said, notify, code }) {
    await withRuntime(async (rt) => {
      // An object here: the TypeScript layer sends it as the profile's JSON text.
      const box = await runBox(rt, { seccomp: JSON.parse(profile) });
      await box.start();
      const info = await box.info();
      assert.equal(info.seccomp, 'profile');
      assert.ok(info.warnings.length === 1 && info.warnings[0].includes(warning), info.warnings);
      const made = await run(box, 'mkdir', ['/tmp/d']);
      assert.ok(made.exitCode !== 0 && made.stderr.includes(said), JSON.stringify(made));
      const got = await run(box, 'grep', ['Seccomp:', '/proc/self/status']);
      assert.equal(got.exitCode, 0, got.stderr);
      assert.deepEqual(got.stdout.trim().split(/\s+/), ['Seccomp:', '2']);
      await box.stop();
    });
    await withRuntime(async (rt) => {
      const err = await rejectsWithCode(rt.create({ image: IMAGE, seccomp: notify }), code);
      assert.ok(err.message.includes('SCMP_ACT_NOTIFY'), err.message);
      assert.deepEqual(await rt.listInfo(), []);
    });
  },

  async network_enabled_has_eth0({ network, ifaces, resolv, bogus, bad_allow, code }) {
    await withRuntime(async (rt) => {
      const box = await runBox(rt, { network });
      await box.start();
      assert.equal((await box.info()).network, network);
      const got = await run(box, 'sh', ['-c', 'ls /sys/class/net; cat /etc/resolv.conf']);
      assert.equal(got.exitCode, 0, got.stderr);
      const want = ifaces.split(' ').map((name) => `${name}\n`).join('') + `${resolv}\n`;
      assert.equal(got.stdout, want);
      await box.stop();
      const plain = await runBox(rt);
      assert.equal((await plain.info()).network, 'enabled');
      const off = await runBox(rt, { network: 'disabled' });
      assert.equal((await off.info()).network, 'disabled');
    });
    await withRuntime(async (rt) => {
      const err = await rejectsWithCode(rt.create({ image: IMAGE, network: bogus }), code);
      assert.ok(err.message.includes('network') && err.message.includes(bogus), err.message);
      const noNet = { image: IMAGE, network: 'disabled', dns: ['10.0.0.1'] };
      const alone = await rejectsWithCode(rt.create(noNet), code);
      assert.match(alone.message, /dns/);
      const listed = { image: IMAGE, network: 'enabled', allowNet: [bad_allow] };
      const bad = await rejectsWithCode(rt.create(listed), code);
      assert.ok(bad.message.includes('allow_net') && bad.message.includes(bad_allow), bad.message);
      assert.deepEqual(await rt.listInfo(), []);
    });
  },

  async published_port_reaches_box({ guest_port, body, host_ip, code }) {
    const guestPort = Number(guest_port);
    await withRuntime(async (rt) => {
      const box = await runBox(rt, { network: 'enabled', ports: [{ guestPort }] });
      await box.start();
      const ports = (await box.info()).ports;
      assert.equal(ports.length, 1);
      const [port] = ports;
      assert.deepEqual([port.hostIp, port.guestPort, port.protocol], [host_ip, guestPort, 'tcp']);
      assert.ok(Number.isInteger(port.hostPort) && port.hostPort > 0, `${port.hostPort}`);
      const serve = `mkdir -p /www && echo ${body} > /www/index.html && httpd -p ${guestPort} -h /www`;
      const served = await run(box, 'sh', ['-c', serve]);
      assert.equal(served.exitCode, 0, served.stderr);
      assert.equal(await within(30_000, 'GET', httpGet(port.hostIp, port.hostPort)), `${body}\n`);
      const counters = ['Sent', 'Received'].flatMap((way) => [`networkBytes${way}`, `networkPackets${way}`]);
      const counted = await box.metrics();
      assert.ok(counters.every((c) => counted[c] > 0), JSON.stringify(counted));
      await box.stop();
      assert.deepEqual((await box.info()).ports.map((p) => p.hostPort), [null]);
      const stopped = await box.metrics();
      assert.deepEqual(counters.map((c) => stopped[c]), [null, null, null, null]);
    });
    await withRuntime(async (rt) => {
      const off = { image: IMAGE, network: 'disabled', ports: [{ guestPort }] };
      assert.match((await rejectsWithCode(rt.create(off), code)).message, /ports/);
      const zero = { image: IMAGE, network: 'enabled', ports: [{ guestPort: 0 }] };
      assert.match((await rejectsWithCode(rt.create(zero), code)).message, /guest port/);
      assert.deepEqual(await rt.listInfo(), []);
    });
  },

  async volume_shares_files({ file, content, written, code }) {
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'bl-volume-'));
    try {
      fs.writeFileSync(path.join(dir, file), `${content}\n`);
      const volumes = [
        { hostPath: dir, guestPath: '/data', readOnly: false },
        { hostPath: dir, guestPath: '/ro', readOnly: true },
      ];
      await withRuntime(async (rt) => {
        const box = await runBox(rt, { volumes });
        assert.deepEqual((await box.info()).volumes, volumes);
        await box.start();
        const read = await run(box, 'cat', [`/ro/${file}`]);
        assert.deepEqual([read.stdout, read.exitCode], [`${content}\n`, 0], read.stderr);
        const wrote = await run(box, 'sh', ['-c', `echo ${written} > /data/out`]);
        assert.equal(wrote.exitCode, 0, wrote.stderr);
        assert.equal(fs.readFileSync(path.join(dir, 'out'), 'utf8'), `${written}\n`);
        assert.notEqual((await run(box, 'touch', ['/ro/denied'])).exitCode, 0);
        assert.ok(!fs.existsSync(path.join(dir, 'denied')));
        await box.stop();
      });
      await withRuntime(async (rt) => {
        const missing = path.join(dir, 'missing');
        const gone = { image: IMAGE, volumes: [{ hostPath: missing, guestPath: '/data' }] };
        assert.ok((await rejectsWithCode(rt.create(gone), code)).message.includes(missing));
        const proc = { image: IMAGE, volumes: [{ hostPath: dir, guestPath: '/proc/x' }] };
        assert.match((await rejectsWithCode(rt.create(proc), code)).message, /\/proc/);
        assert.deepEqual(await rt.listInfo(), []);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },

  async box_metrics_report_usage({ memory_mib, fill_mib, write_mib, execs, exec_errors }) {
    const mib = 2 ** 20;
    await withRuntime(async (rt) => {
      const box = await runBox(rt, { memoryMib: Number(memory_mib) });
      await box.start();
      const work =
        'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; ' +
        `head -c ${Number(fill_mib) * mib} /dev/zero > /tmp/fill && rm /tmp/fill; ` +
        `dd if=/dev/zero of=/root/blob bs=1M count=${write_mib} conv=fsync 2>/dev/null`;
      const done = await run(box, 'sh', ['-c', work]);
      assert.equal(done.exitCode, 0, done.stderr);
      await assert.rejects(box.exec('no-such-command'));
      const m = await box.metrics();
      const shown = JSON.stringify(m);
      assert.ok(m.cpuTimeUsec > 0 && m.cpuPercent > 0, shown);
      assert.ok(m.memoryPeakBytes >= Number(fill_mib) * mib, shown);
      assert.equal(m.memoryLimitBytes, Number(memory_mib) * mib, shown);
      assert.ok(m.pidsCurrent >= 1 && m.blockWriteBytes >= Number(write_mib) * mib, shown);
      const counts = [Number(execs), Number(exec_errors)];
      assert.deepEqual([m.commandsExecutedTotal, m.execErrorsTotal], counts, shown);
      assert.ok(m.totalCreateDurationMs > 0, shown);
      await box.stop();
      const stopped = await box.metrics();
      assert.deepEqual([stopped.cpuTimeUsec, stopped.memoryBytes, stopped.pidsCurrent], [null, null, null]);
      assert.deepEqual([stopped.commandsExecutedTotal, stopped.execErrorsTotal], counts);
    });
  },

  async runtime_metrics_count_boxes({ created, failed, running, execs, exec_errors, bad_image }) {
    const counted = (m) => [
      m.boxesCreatedTotal, m.boxesFailedTotal, m.numRunningBoxes, m.totalCommandsExecuted, m.totalExecErrors,
    ];
    await withRuntime(async (rt) => {
      assert.deepEqual(counted(await rt.metrics()), [0, 0, 0, 0, 0]);
      const up = await runBox(rt);
      await up.start();
      assert.equal((await run(up, 'true')).exitCode, 0);
      await assert.rejects(up.exec('no-such-command'));
      await runBox(rt);
      const bad = await rt.create({ image: bad_image, autoRemove: false });
      await assert.rejects(bad.start());
      const want = [created, failed, running, execs, exec_errors].map(Number);
      assert.deepEqual(counted(await rt.metrics()), want);
      await up.stop();
      assert.equal((await rt.metrics()).numRunningBoxes, 0);
    });
  },

  async copy_in_and_out_roundtrip({ file, content, mode, sub_file, sub_content, dest }) {
    await withRuntime((rt) =>
      withHome(async (tmp) => {
        const box = await runBox(rt);
        await box.start();
        const src = path.join(tmp, 'src');
        fs.mkdirSync(path.dirname(path.join(src, sub_file)), { recursive: true });
        fs.writeFileSync(path.join(src, file), content);
        fs.chmodSync(path.join(src, file), parseInt(mode, 8));
        fs.writeFileSync(path.join(src, sub_file), sub_content);
        const stats = await box.copyIn(src, dest);
        assert.deepEqual(stats, { entries: 4, bytes: content.length + sub_content.length });
        const stat = await run(box, 'stat', ['-c', '%a', `${dest}/${file}`]);
        assert.deepEqual([stat.stdout, stat.exitCode], [`${mode}\n`, 0], stat.stderr);
        const cat = await run(box, 'cat', [`${dest}/${sub_file}`]);
        assert.deepEqual([cat.stdout, cat.exitCode], [sub_content, 0], cat.stderr);
        const back = path.join(tmp, 'back');
        await box.copyOut(dest, back, { recursive: true });
        assert.equal(fs.readFileSync(path.join(back, file), 'utf8'), content);
        assert.equal(fs.statSync(path.join(back, file)).mode & 0o7777, parseInt(mode, 8));
        assert.equal(fs.readFileSync(path.join(back, sub_file), 'utf8'), sub_content);
      }),
    );
  },

  async small_files_write_read_list({ path: filePath, content, mode }) {
    const parent = filePath.slice(0, filePath.lastIndexOf('/'));
    const name = filePath.slice(filePath.lastIndexOf('/') + 1);
    await withRuntime(async (rt) => {
      const box = await runBox(rt);
      await box.start();
      await box.writeFile(filePath, content, parseInt(mode, 8));
      const read = await box.readFile(filePath);
      assert.ok(Buffer.isBuffer(read));
      assert.equal(read.toString('utf8'), content);
      const stat = await run(box, 'stat', ['-c', '%a', filePath]);
      assert.deepEqual([stat.stdout, stat.exitCode], [`${mode}\n`, 0], stat.stderr);
      const made = await run(box, 'sh', ['-c', `mkdir ${parent}/d && ln -s ${name} ${parent}/ln`]);
      assert.equal(made.exitCode, 0, made.stderr);
      const entries = await box.listDir(parent);
      assert.deepEqual(entries.map((e) => [e.name, e.kind]), [['d', 'dir'], ['ln', 'symlink'], [name, 'file']]);
      const [d, ln, f] = entries;
      assert.deepEqual([f.path, f.size, f.mode, f.linkTarget], [filePath, Buffer.byteLength(content), parseInt(mode, 8), null]);
      assert.equal(ln.linkTarget, name);
      assert.ok(f.mtimeMs > 0 && d.linkTarget === null);
    });
  },

  async copy_refuses_hostile_sources({ fifo, code, missing, missing_code }) {
    await withRuntime((rt) =>
      withHome(async (tmp) => {
        const box = await runBox(rt);
        await box.start();
        const made = await run(box, 'mkfifo', [fifo]);
        assert.equal(made.exitCode, 0, made.stderr);
        const err = await rejectsWithCode(box.copyOut(fifo, path.join(tmp, 'out')), code);
        assert.ok(err.message.includes(fifo), err.message);
        assert.equal((await box.info()).status, 'running');
        await rejectsWithCode(box.readFile(missing), missing_code);
      }),
    );
  },

  async image_pull_list_remove({ repo, tag }) {
    const dest = `${repo}:${tag}`;
    await withRegistry([dest], (reg) =>
      withRuntime(async (rt) => {
        const ref = `${reg.addr}/${dest}`;
        const info = await within(60_000, 'pull', rt.images.pull(ref));
        assert.deepEqual([info.reference, info.repository, info.tag], [ref, `${reg.addr}/${repo}`, tag]);
        assert.deepEqual([info.id, info.source], [reg.pushed[dest], reg.addr]);
        assert.match(info.configDigest, /^sha256:[0-9a-f]{64}$/);
        assert.notEqual(info.configDigest, info.id);
        assert.ok(info.layers.length > 0 && info.layers.every((d) => d.startsWith('sha256:')));
        assert.ok(info.size > 0);
        assert.match(info.cachedAt, /Z$/);
        assert.deepEqual((await rt.images.list()).map((i) => [i.reference, i.id]), [[ref, info.id]]);
        for (const key of [ref, info.id.replace('sha256:', '').slice(0, 12)]) {
          const found = await rt.images.inspect(key);
          assert.deepEqual([found?.reference, found?.id], [ref, info.id], key);
        }
        await rt.images.remove(ref);
        assert.deepEqual(await rt.images.list(), []);
        assert.equal(await rt.images.inspect(ref), null);
        assert.deepEqual(await rt.images.prune(), { blobsRemoved: 0, rootfsRemoved: 0, bytesFreed: 0 });
      }),
    );
  },

  async image_missing_not_found({ repo, code }) {
    await withRegistry(['library/busybox:latest'], (reg) =>
      withRuntime(async (rt) => {
        const ref = `${reg.addr}/${repo}:latest`;
        const err = await rejectsWithCode(within(60_000, 'pull', rt.images.pull(ref)), code);
        assert.ok(err.message.includes(repo), err.message);
        assert.equal(await rt.images.inspect(ref), null);
        await rejectsWithCode(rt.images.remove(ref), code);
        assert.deepEqual(await rt.images.list(), []);
      }),
    );
  },

  async image_unauthorized({ repo, code }) {
    const dest = `${repo}:latest`;
    await withRegistry(
      [dest],
      (reg) =>
        withRuntime(async (_rt, home) => {
          const ref = `${reg.addr}/${dest}`;
          const wrong = { username: reg.user, password: `${reg.password}-wrong` };
          for (const imageRegistries of [[], [{ host: reg.addr, auth: wrong }]]) {
            const rt = new Boxlite({ homeDir: home, imageRegistries });
            await rejectsWithCode(within(60_000, 'pull', rt.images.pull(ref)), code);
            assert.deepEqual(await rt.images.list(), []);
          }
          const auth = { username: reg.user, password: reg.password };
          const rt = new Boxlite({ homeDir: home, imageRegistries: [{ host: reg.addr, transport: 'http', auth }] });
          const info = await within(60_000, 'pull', rt.images.pull(ref));
          assert.deepEqual([info.reference, info.id], [ref, reg.pushed[dest]]);
          await rt.images.remove(ref);
          // Credentials of both kinds, or a key napi would drop, are refused where written.
          assert.throws(() => new Boxlite({ homeDir: home, imageRegistries: [{ host: reg.addr, auth: { ...auth, token: 't' } }] }),
            (e) => e.code === 'invalid_argument');
          assert.throws(() => new Boxlite({ homeDir: home, imageRegistries: [{ host: reg.addr, user: 'x' }] }),
            (e) => e.code === 'invalid_argument' && e.message.includes('user'));
        }),
      'basic',
    );
  },

  async image_registry_options({ name }) {
    await withRegistry([`library/${name}:latest`], (reg) =>
      withRuntime(async (_rt, home) => {
        const mirrored = new Boxlite({ homeDir: home, imageRegistries: [{ host: 'docker.io', mirrors: [reg.addr] }] });
        let info = await within(60_000, 'pull via mirror', mirrored.images.pull(name));
        assert.deepEqual([info.reference, info.source], [`docker.io/library/${name}:latest`, reg.addr]);
        assert.equal(info.id, reg.pushed[`library/${name}:latest`]);
        await mirrored.images.remove(info.reference);
        const searched = new Boxlite({ homeDir: home, imageRegistries: [{ host: reg.addr, search: true }] });
        info = await within(60_000, 'pull via search', searched.images.pull(name));
        assert.deepEqual([info.reference, info.source], [`${reg.addr}/library/${name}:latest`, reg.addr]);
        assert.deepEqual((await searched.images.list()).map((i) => i.reference), [info.reference]);
        await searched.images.remove(info.reference);
        assert.deepEqual(await searched.images.list(), []);
      }),
    );
  },
};

const results = new Map();

for (const [id, params] of spec.scenarios) {
  test(id, { timeout: TEST_TIMEOUT_MS }, async () => {
    results.set(id, 'fail');
    assert.ok(id in scenarios, `scenario ${id} is listed in spec.tsv but has no Node implementation`);
    await scenarios[id](params);
    results.set(id, 'pass');
  });
}

test('every implemented scenario is listed in spec.tsv', () => {
  assert.deepEqual(Object.keys(scenarios).sort(), [...spec.scenarios.keys()].sort());
});

after(() => {
  const dir = path.join(REPO, 'target', 'spec-results');
  fs.mkdirSync(dir, { recursive: true });
  const rows = [...spec.scenarios.keys()].map((id) => `${id}\t${results.get(id) ?? 'fail'}\n`);
  fs.writeFileSync(path.join(dir, 'node.tsv'), rows.join(''));
});
