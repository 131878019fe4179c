'use strict';
// What the Node suites share: the spec file, temporary homes, the run image, and assertions on
// boxlite errors. Every helper cleans up what it made, also when the test fails.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Boxlite, BoxliteError } = require('boxlite');

const REPO = path.resolve(__dirname, '..', '..');

/** Parses spec.tsv as its header documents: records by kind, scenarios with their params. */
function loadSpec(file = path.join(REPO, 'bindings-tests', 'spec.tsv')) {
  const spec = { status: [], error_code: [], image: [], run_image: [], scenarios: new Map() };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [kind, ...cols] = line.split('\t');
    if (kind === 'scenario') {
      const [id, ...pairs] = cols;
      const params = {};
      for (const pair of pairs) {
        const eq = pair.indexOf('=');
        assert.ok(eq > 0, `spec.tsv: scenario ${id}: ${JSON.stringify(pair)} is not KEY=VALUE`);
        params[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      spec.scenarios.set(id, params);
    } else if (kind in spec) {
      spec[kind].push(cols[0]);
    } else {
      // A new kind of record means this suite has something to learn: fail, don't skip it.
      throw new Error(`spec.tsv: unknown record kind ${JSON.stringify(kind)}`);
    }
  }
  assert.equal(spec.image.length, 1, 'spec.tsv has exactly one image line');
  assert.equal(spec.run_image.length, 1, 'spec.tsv has exactly one run_image line');
  return spec;
}

/**
 * The image of scenarios that run boxes. Unset is a failure of the test that needs it, never
 * a skip: `eval "$(bash scripts/fixtures.sh)"` sets it.
 */
function runImage(variable = 'BOXLITE_TEST_IMAGE') {
  const image = process.env[variable];
  assert.ok(
    image,
    `$${variable} is unset: run eval "$(bash scripts/fixtures.sh)" first (this test starts boxes)`,
  );
  return image;
}

function makeHome() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'boxlite-node-'));
}

/** Runs `fn(home)` with a fresh home directory and removes it afterwards. */
async function withHome(fn) {
  const home = makeHome();
  try {
    return await fn(home);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Runs `fn(rt, home)` with a runtime on a fresh home. Afterwards every box still in the home is
 * force-removed (through a fresh runtime, in case `fn` shut `rt` down), then the home.
 */
async function withRuntime(fn) {
  return withHome(async (home) => {
    const rt = new Boxlite({ homeDir: home });
    try {
      return await fn(rt, home);
    } finally {
      const cleaner = new Boxlite({ homeDir: home });
      for (const info of await cleaner.listInfo()) {
        await cleaner.remove(info.id, true);
      }
      await cleaner.shutdown();
    }
  });
}

/** Asserts that `promise` rejects with a BoxliteError of `code`; returns the error. */
async function rejectsWithCode(promise, code) {
  let caught;
  await assert.rejects(promise, (err) => {
    caught = err;
    assert.ok(err instanceof BoxliteError, `expected a BoxliteError, got ${err}`);
    assert.equal(err.code, code, `code of: ${err.message}`);
    assert.ok(err.message.length > 0);
    return true;
  });
  return caught;
}

/** Reads a whole output stream. */
async function readAll(stream) {
  const lines = [];
  for await (const line of stream) lines.push(line);
  return lines.join('');
}

/** Runs `cmd args` in `box` and collects stdout, stderr and the result, both streams at once. */
async function run(box, cmd, args = [], ...rest) {
  const execution = await box.exec(cmd, args, ...rest);
  await execution.stdin().close();
  const [stdout, stderr] = await Promise.all([readAll(execution.stdout()), readAll(execution.stderr())]);
  const result = await execution.wait();
  return { ...result, stdout, stderr };
}

/** Rejects when `promise` takes longer than `ms`, naming `what`. */
async function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

module.exports = {
  REPO,
  loadSpec,
  runImage,
  makeHome,
  withHome,
  withRuntime,
  rejectsWithCode,
  readAll,
  run,
  within,
};
