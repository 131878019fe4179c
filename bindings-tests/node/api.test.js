'use strict';
// What only the Node face has: CommonJS names, option conversion and refusal, the lazy open,
// error classes, and Execution details the shared spec does not pin down.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const boxlite = require('boxlite');
const { Boxlite, JsBoxlite, Box, BoxliteError, ExecError, TimeoutError, ParseError } = boxlite;
const { loadSpec, runImage, withHome, withRuntime, rejectsWithCode, readAll } = require('./helpers.js');

const IMAGE = loadSpec().image[0];
const TIMEOUT = { timeout: 120_000 };

test('node: require gives every public name', () => {
  for (const name of [
    'Boxlite', 'JsBoxlite', 'Box', 'Execution', 'ExecOutput', 'ExecStdin', 'SimpleBox', 'CodeBox',
    'BoxliteError', 'ExecError', 'TimeoutError', 'ParseError', 'statusNames', 'errorCodes',
  ]) {
    assert.equal(typeof boxlite[name], 'function', name);
  }
  assert.equal(JsBoxlite, Boxlite);
});

test('node: error classes carry their name and code', () => {
  const base = new BoxliteError('m', { code: 'not_found' });
  assert.equal(base.name, 'BoxliteError');
  assert.equal(base.code, 'not_found');
  const exec = new ExecError('run()', 2, 'boom');
  assert.equal(exec.name, 'ExecError');
  assert.deepEqual([exec.command, exec.exitCode, exec.stderr, exec.code], ['run()', 2, 'boom', 'exec']);
  assert.equal(new TimeoutError('t').name, 'TimeoutError');
  assert.equal(new TimeoutError('t').code, 'timeout');
  assert.equal(new ParseError('p').name, 'ParseError');
  for (const err of [exec, new TimeoutError('t'), new ParseError('p')]) {
    assert.ok(err instanceof BoxliteError && err instanceof Error);
  }
});

test('node: the constructor does no I/O; the first call opens the home and reports its failure', async () => {
  await withHome(async (home) => {
    const file = path.join(home, 'not-a-dir');
    fs.writeFileSync(file, '');
    const rt = new Boxlite({ homeDir: file }); // must not throw: nothing is opened yet
    const err = await rejectsWithCode(rt.listInfo(), 'io');
    assert.match(err.message, /not-a-dir/);
    // Not cached: a later call tries again (and fails the same way).
    await rejectsWithCode(rt.getInfo('x'), 'io');
    assert.equal(fs.existsSync(path.join(home, 'db')), false);
  });
});

test('node: runtime options are checked, imageRegistries entry by entry', () => {
  const refused = {
    'must be an array': { host: 'ghcr.io' },
    'host must be a non-empty string': [{}],
    'unknown option hots': [{ host: 'ghcr.io', hots: 'x' }],
    'search must be a boolean': [{ host: 'ghcr.io', search: 'yes' }],
    'unknown option user': [{ host: 'ghcr.io', auth: { user: 'u', password: 'p' } }],
    'not a mix': [{ host: 'ghcr.io', auth: { username: 'u', password: 'p', token: 't' } }],
    'transport must be': [{ host: 'ghcr.io', transport: 'ftp' }],
    // core's own check of the entry, at construction
    'mirror "ghcr.io" must be another host': [{ host: 'ghcr.io', mirrors: ['ghcr.io'] }],
  };
  for (const [message, imageRegistries] of Object.entries(refused)) {
    assert.throws(() => new Boxlite({ imageRegistries }), (err) => {
      assert.ok(err instanceof BoxliteError, String(err));
      assert.equal(err.code, 'invalid_argument');
      assert.ok(err.message.includes(message), `${err.message} should say ${message}`);
      return true;
    });
  }
  const ok = [{ host: '127.0.0.1:5000', transport: 'http', search: true, auth: { token: 't' }, mirrors: [] }];
  assert.ok(new Boxlite({ imageRegistries: ok }) instanceof Boxlite);
  assert.throws(() => new Boxlite({ homedir: '/x' }), /unknown option homedir/);
  // An empty list, as upstream's defaults pass it, is fine.
  assert.ok(new Boxlite({ imageRegistries: [] }) instanceof Boxlite);
});

test('node: options upstream has and this version lacks are refused, each by name', async () => {
  await withRuntime(async (rt) => {
    const unimplemented = {
      secrets: [{ name: 'k', value: 'v' }],
      security: { jailerEnabled: true },
      healthCheck: { interval: 1, timeout: 1, retries: 1, startPeriod: 1 },
      advanced: { capabilities: { add: ['NET_ADMIN'] } },
    };
    for (const [key, value] of Object.entries(unimplemented)) {
      const err = await rejectsWithCode(rt.create({ image: IMAGE, [key]: value }), 'invalid_argument');
      assert.match(err.message, new RegExp(`option ${key} is not implemented`));
    }
    await assert.rejects(rt.create({ image: IMAGE, memroyMib: 64 }), /unknown option memroyMib/);
    // A port's keys are checked too: napi would drop a misspelt one.
    const typo = { image: IMAGE, network: 'enabled', ports: [{ guestPort: 80, hostport: 8080 }] };
    assert.match((await rejectsWithCode(rt.create(typo), 'invalid_argument')).message, /hostport/);
    // A volume's keys too: a dropped `readonly` would leave the volume writable.
    const ro = { image: IMAGE, volumes: [{ hostPath: '/tmp', guestPath: '/mnt', readonly: true }] };
    assert.match((await rejectsWithCode(rt.create(ro), 'invalid_argument')).message, /readonly/);
    const missing = { image: IMAGE, volumes: [{ hostPath: '/nonexistent/x', guestPath: '/mnt' }] };
    assert.match((await rejectsWithCode(rt.create(missing), 'invalid_argument')).message, /does not exist/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bl-vol-'));
    try {
      const box = await rt.create({ image: IMAGE, volumes: [{ hostPath: dir, guestPath: '/mnt', readOnly: true }] });
      assert.deepEqual((await box.info()).volumes, [{ hostPath: dir, guestPath: '/mnt', readOnly: true }]);
      await rt.remove(box.id);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // Unset (undefined/null) is not set: upstream code passes those around.
    await rt.create({ image: IMAGE, volumes: undefined, ports: null });
    assert.equal((await rt.listInfo()).length, 1);
  });
});

test('node: options are camelCase and converted into core', async () => {
  await withRuntime(async (rt) => {
    const options = {
      image: IMAGE,
      env: [['A', '1'], ['B', 'x=y']],
      workingDir: '/srv',
      cmd: ['sh', '-c', 'true'],
      entrypoint: ['/bin/env'],
      user: '1000:1000',
      cpus: 0.5,
      memoryMib: 256,
      autoRemove: false,
      detach: true,
    };
    const box = await rt.create(options, 'full');
    assert.ok(box instanceof Box);
    assert.equal(box.name, 'full');
    const info = await box.info();
    assert.equal(info.cpus, 0.5);
    assert.equal(info.memoryMib, 256);
    assert.equal((await rt.create({ image: IMAGE })).name, null);
    // Core validates; the binding only refuses what a JS number cannot say as an integer.
    await rejectsWithCode(rt.create({ image: IMAGE, workingDir: 'relative' }), 'invalid_argument');
    await rejectsWithCode(rt.create({ image: IMAGE, memoryMib: 1.5 }), 'invalid_argument');
    await rejectsWithCode(rt.create({ image: IMAGE, memoryMib: -1 }), 'invalid_argument');
    // The bounds are whole numbers too, each named in the refusal.
    for (const key of ['pidsMax', 'nofileSoft', 'nofileHard', 'tmpSizeMib', 'logMaxSizeMib', 'logMaxFiles']) {
      const refused = await rejectsWithCode(rt.create({ image: IMAGE, [key]: 2.5 }), 'invalid_argument');
      assert.match(refused.message, new RegExp(`invalid ${key} 2.5`));
    }
    const tooMany = await rejectsWithCode(rt.create({ image: IMAGE, logMaxFiles: 2 ** 40 }), 'invalid_argument');
    assert.match(tooMany.message, /log_max_files/);
    const bounded = await rt.create({ image: IMAGE, nofileHard: 512, logMaxFiles: 3, pidsMax: null });
    const { nofileSoft, nofileHard, logMaxFiles, pidsMax } = (await bounded.info()).limits;
    assert.deepEqual([nofileSoft, nofileHard, logMaxFiles, pidsMax], [512, 512, 3, 4096]);
    // autoRemove defaults to true as upstream's, so detach alone is refused by core.
    const err = await rejectsWithCode(rt.create({ image: IMAGE, detach: true }), 'invalid_argument');
    assert.match(err.message, /auto_remove/);
    // The env shapes upstream code uses are all accepted.
    await rt.create({ image: IMAGE, env: { A: '1' } });
    await rt.create({ image: IMAGE, env: [{ key: 'A', value: '1' }] });
    await rejectsWithCode(rt.create({ image: IMAGE, env: [['A']] }), 'invalid_argument');
  });
});

test('node: rootfsPath takes an OCI layout directory', async () => {
  await withRuntime(async (rt) => {
    const box = await rt.create({ rootfsPath: 'some/layout' });
    assert.equal((await box.info()).image, `oci:${path.resolve('some/layout')}`);
    await rejectsWithCode(rt.create({ image: IMAGE, rootfsPath: '/x' }), 'invalid_argument');
    await rejectsWithCode(rt.create({}), 'invalid_argument');
  });
});

test('node: getOrCreate, and a handle to a removed box', async () => {
  await withRuntime(async (rt) => {
    const made = await rt.getOrCreate({ image: IMAGE }, 'web');
    assert.equal(made.created, true);
    assert.ok(made.box instanceof Box);
    const again = await rt.getOrCreate({ image: IMAGE }, 'web');
    assert.equal(again.created, false);
    assert.equal(again.box.id, made.box.id);
    assert.equal((await rt.get('web')).id, made.box.id);
    await rt.remove('web', false);
    await rejectsWithCode(made.box.info(), 'not_found');
  });
});

test('node: withDefaultConfig is one shared runtime on $BOXLITE_HOME, renewed after shutdown', async () => {
  await withHome(async (home) => {
    const saved = process.env.BOXLITE_HOME;
    process.env.BOXLITE_HOME = home;
    try {
      const rt = Boxlite.withDefaultConfig();
      assert.equal(Boxlite.withDefaultConfig(), rt);
      const box = await rt.create({ image: IMAGE }, 'shared');
      assert.equal((await new Boxlite({ homeDir: home }).get('shared')).id, box.id);
      await rt.shutdown();
      const fresh = Boxlite.withDefaultConfig();
      assert.notEqual(fresh, rt);
      await fresh.remove('shared');
      await fresh.shutdown();
    } finally {
      if (saved === undefined) delete process.env.BOXLITE_HOME;
      else process.env.BOXLITE_HOME = saved;
    }
  });
});

test('node: an execution can be killed while wait() is pending', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const box = await rt.create({ image: runImage(), autoRemove: false });
    const execution = await box.exec('sleep', ['60']);
    assert.equal(typeof execution.id(), 'string');
    const waited = execution.wait();
    await execution.kill();
    const result = await waited;
    assert.equal(result.signal, 9);
    assert.equal(result.exitCode, 137);
    assert.equal(result.timedOut, false);
    assert.match(result.errorMessage, /signal 9/);
    // wait() answers the same again.
    assert.deepEqual(await execution.wait(), result);
  });
});

test('node: signal(n) reaches the process; resizeTty without a TTY is invalid_state', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const box = await rt.create({ image: runImage(), autoRemove: false });
    const execution = await box.exec('sh', ['-c', 'trap "echo got-usr1; exit 7" USR1; echo ready; while true; do sleep 0.1; done']);
    const stdout = execution.stdout();
    assert.equal(await stdout.next(), 'ready\n');
    await rejectsWithCode(execution.resizeTty(30, 90), 'invalid_state');
    await execution.signal(10); // SIGUSR1
    assert.equal(await stdout.next(), 'got-usr1\n');
    assert.equal((await execution.wait()).exitCode, 7);
  });
});

test('node: streams decode UTF-8 split across chunks and keep a last line without newline', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const box = await rt.create({ image: runImage(), autoRemove: false });
    // printf writes the two bytes of é in separate writes, so they may arrive apart.
    const execution = await box.exec('sh', ['-c', "printf 'caf\\303'; sleep 0.2; printf '\\251\\nend'"]);
    assert.equal(await readAll(execution.stdout()), 'café\nend');
    assert.equal(execution.stdout(), execution.stdout(), 'the same stream object each call');
    assert.equal((await execution.wait()).exitCode, 0);
  });
});

test('node: breaking out of a stream early does not stall the command', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const box = await rt.create({ image: runImage(), autoRemove: false });
    const execution = await box.exec('sh', ['-c', 'i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done']);
    await execution.stdin().close();
    for await (const line of execution.stdout()) {
      assert.equal(line, 'line0\n');
      break;
    }
    assert.equal((await execution.wait()).exitCode, 0);
    // Closing stdin twice, and after the command ended, is fine.
    await execution.stdin().close();
  });
});

test('node: an untaken stream is discarded by wait(), which never stalls on it', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const box = await rt.create({ image: runImage(), autoRemove: false });
    const execution = await box.exec('sh', ['-c', 'i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done']);
    await execution.stdin().close();
    assert.equal((await execution.wait()).exitCode, 0);
    assert.throws(() => execution.stdout(), (err) => err.code === 'invalid_state');
  });
});
