'use strict';
// SimpleBox against real boxes: lazy creation, exec's argument forms, concurrent streams,
// reuse, stop with auto-remove, async dispose.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { SimpleBox, BoxliteError } = require('boxlite');
const { runImage, withRuntime } = require('./helpers.js');

const TIMEOUT = { timeout: 120_000 };

test('simplebox: created on first exec; output, exit code, env last', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const box = new SimpleBox({ image: runImage(), runtime: rt, name: 'simple' });
    assert.equal(box.created, null);
    assert.throws(() => box.id, (err) => err instanceof BoxliteError && err.code === 'invalid_state');
    assert.deepEqual(await rt.listInfo(), [], 'nothing is created before the first use');

    const hello = await box.exec('echo', 'hello', 'world');
    assert.deepEqual(hello, {
      exitCode: 0,
      stdout: 'hello world\n',
      stderr: '',
      oomKilled: false,
      errorMessage: undefined,
    });
    assert.equal(box.created, true);
    assert.equal((await rt.get('simple')).id, box.id);
    assert.equal((await box.info()).status, 'running');

    const both = await box.exec('sh', '-c', 'echo "$GREETING"; echo oops >&2; exit 4', { GREETING: 'hi there' });
    assert.deepEqual([both.exitCode, both.stdout, both.stderr], [4, 'hi there\n', 'oops\n']);

    const withOptions = await box.exec('sh', ['-c', 'pwd; id -u'], undefined, { cwd: '/etc', user: '65534' });
    assert.equal(withOptions.stdout, '/etc\n65534\n');

    // stdin is empty: cat ends at once.
    assert.equal((await box.exec('cat')).stdout, '');

    await box.stop();
    // autoRemove defaults to true: a stopped SimpleBox is gone.
    assert.equal(await rt.get('simple'), null);
  });
});

test('simplebox: 5000 lines on each stream, read concurrently', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const box = new SimpleBox({ image: runImage(), runtime: rt });
    try {
      const script = 'i=0; while [ $i -lt 5000 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done';
      const { exitCode, stdout, stderr } = await box.exec('sh', '-c', script);
      assert.equal(exitCode, 0);
      assert.equal(stdout.split('\n').filter(Boolean).length, 5000);
      assert.equal(stderr.split('\n').filter(Boolean).length, 5000);
    } finally {
      await box.stop();
    }
  });
});

test('simplebox: reuseExisting finds the named box; created says which', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const first = new SimpleBox({ image: runImage(), runtime: rt, name: 'kept', autoRemove: false });
    await first.exec('sh', '-c', 'echo mark > /root/mark');
    assert.equal(first.created, true);
    const second = new SimpleBox({ image: runImage(), runtime: rt, name: 'kept', reuseExisting: true });
    assert.equal((await second.exec('cat', '/root/mark')).stdout, 'mark\n');
    assert.equal(second.created, false);
    assert.equal(second.id, first.id);
    // Without reuseExisting the name is taken.
    const third = new SimpleBox({ image: runImage(), runtime: rt, name: 'kept' });
    await assert.rejects(third.exec('true'), (err) => err.code === 'already_exists');
    await first.stop();
    assert.equal((await rt.getInfo('kept')).status, 'stopped');
  });
});

test('simplebox: Symbol.asyncDispose (await using) stops the box; bad options are refused at construction', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    let id;
    {
      const box = new SimpleBox({ image: runImage(), runtime: rt, autoRemove: false });
      try {
        id = (await box.exec('true')) && box.id;
      } finally {
        await box[Symbol.asyncDispose]();
      }
    }
    assert.equal((await rt.getInfo(id)).status, 'stopped');
    assert.throws(
      () => new SimpleBox({ image: runImage(), runtime: rt, secrets: [{ name: 'k', value: 'v' }] }),
      /option secrets is not implemented/,
    );
    assert.throws(() => new SimpleBox({ runtime: rt }), /image or rootfsPath is required/);
    // stop() of a box never created does nothing.
    await new SimpleBox({ image: runImage(), runtime: rt }).stop();
    assert.equal((await rt.listInfo()).length, 1);
  });
});

test('simplebox: a command that does not exist rejects with its code', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const box = new SimpleBox({ image: runImage(), runtime: rt });
    try {
      await assert.rejects(box.exec('no-such-command'), (err) => err.code === 'command_not_found');
    } finally {
      await box.stop();
    }
  });
});
