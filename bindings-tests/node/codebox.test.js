'use strict';
// CodeBox on the Python-capable fixture image (target/images/python, made by
// scripts/make-python-image.sh). Without that image these tests fail, saying how to build it.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const { CodeBox, ExecError } = require('boxlite');
const { REPO, withRuntime } = require('./helpers.js');

const TIMEOUT = { timeout: 180_000 };
const LAYOUT = process.env.BOXLITE_PYTHON_IMAGE_DIR || path.join(REPO, 'target', 'images', 'python');

function pythonLayout() {
  assert.ok(
    fs.existsSync(path.join(LAYOUT, 'index.json')),
    `no Python fixture image at ${LAYOUT}: build it with bash scripts/make-python-image.sh`,
  );
  return LAYOUT;
}

// One box for every check: unpacking the Debian image into a fresh home is most of the cost.
test('codebox: run, runScript, installPackage; failures as ExecError', TIMEOUT, async () => {
  await withRuntime(async (rt) => {
    const box = new CodeBox({ rootfsPath: pythonLayout(), runtime: rt });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codebox-'));
    try {
      // The first call unpacks the whole Debian image and starts the box: seconds of work,
      // none of it on the JS thread, which keeps serving timers meanwhile.
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      assert.equal(await box.run('print(6 * 7)'), '42\n');
      delay.disable();
      const maxLagMs = delay.max / 1e6;
      assert.ok(maxLagMs < 1000, `the event loop stalled for ${maxLagMs} ms during start`);
      const script = path.join(dir, 's.py');
      fs.writeFileSync(script, 'import sys\nprint(sys.version_info[0])\n');
      assert.equal(await box.runScript(script), '3\n');
      await assert.rejects(box.run('raise SystemExit("bad input")'), (err) => {
        assert.ok(err instanceof ExecError);
        assert.equal(err.name, 'ExecError');
        assert.equal(err.exitCode, 1);
        assert.match(err.stderr, /bad input/);
        return true;
      });
      // pip runs and its failure comes back typed (a local path, so no network is needed).
      await assert.rejects(box.installPackage('/nonexistent/boxlite-test-pkg'), (err) => {
        assert.ok(err instanceof ExecError);
        assert.notEqual(err.exitCode, 0);
        assert.match(err.command, /boxlite-test-pkg/);
        assert.match(err.stderr, /nonexistent/);
        return true;
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await box.stop();
    }
  });
});
