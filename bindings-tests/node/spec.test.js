'use strict';
// The shared behaviour spec (bindings-tests/spec.tsv) against the Node binding, one test per
// scenario named by its id, plus checks of what only the Node face has. Real runtime, real
// SQLite, a fresh temp home per test. Run by scripts/test-node.sh (`node --test`).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Boxlite, Box, statusNames, errorCodes } = require('boxlite');

const REPO = path.resolve(__dirname, '..', '..');
const TESTKIT =
  process.env.BOXLITE_TESTKIT ||
  path.join(REPO, 'target', 'x86_64-unknown-linux-gnu', 'debug', 'boxlite-testkit');

/** Parses spec.tsv as its header documents: records by kind, scenarios with their params. */
function loadSpec(file) {
  const spec = { status: [], error_code: [], image: [], scenarios: new Map() };
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
  return spec;
}

const spec = loadSpec(path.join(REPO, 'bindings-tests', 'spec.tsv'));
const IMAGE = spec.image[0];

/** Runs `fn(home)` with a fresh home directory and removes it afterwards. */
async function withHome(fn) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'boxlite-node-'));
  try {
    return await fn(home);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** The same, for synchronous tests. */
function withHomeSync(fn) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'boxlite-node-'));
  try {
    return fn(home);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** Asserts that `promise` rejects with a boxlite error of `code`. */
async function rejectsWithCode(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`);
    assert.equal(err.code, code, `code of: ${err.message}`);
    assert.ok(err.message.length > 0);
    return true;
  });
}

const scenarios = {
  async create_is_configured() {
    await withHome(async (home) => {
      const rt = Boxlite.open(home);
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
    await withHome(async (home) => {
      await rejectsWithCode(Boxlite.open(home).create({ image: IMAGE }, name), code);
    });
  },

  async duplicate_name_is_already_exists({ name, code }) {
    await withHome(async (home) => {
      const rt = Boxlite.open(home);
      await rt.create({ image: IMAGE }, name);
      await rejectsWithCode(rt.create({ image: IMAGE }, name), code);
    });
  },

  async remove_then_get_is_none() {
    await withHome(async (home) => {
      const rt = Boxlite.open(home);
      const box = await rt.create({ image: IMAGE });
      await rt.remove(box.id);
      assert.equal(await rt.get(box.id), null);
      assert.equal(await rt.getInfo(box.id), null);
    });
  },

  async missing_box_is_not_found({ key, code }) {
    await withHome(async (home) => {
      await rejectsWithCode(Boxlite.open(home).remove(key), code);
    });
  },

  async list_is_newest_first() {
    await withHome(async (home) => {
      const rt = Boxlite.open(home);
      const first = await rt.create({ image: IMAGE });
      const second = await rt.create({ image: IMAGE });
      const ids = (await rt.listInfo()).map((info) => info.id);
      assert.deepEqual(ids, [second.id, first.id]);
    });
  },

  async failed_record_is_visible({ reason }) {
    await withHome(async (home) => {
      const box = await Boxlite.open(home).create({ image: IMAGE });
      // Another process writes the failure through core; this one must read it from the DB.
      execFileSync(TESTKIT, ['mark-failed', home, box.id, reason], { stdio: 'inherit' });
      const info = await Boxlite.open(home).getInfo(box.id);
      assert.equal(info.status, 'failed');
      assert.equal(info.errorReason, reason);
      assert.equal(info.state.status, 'failed');
      assert.equal(info.state.errorReason, reason);
      assert.equal(info.state.running, false);
    });
  },
};

for (const [id, params] of spec.scenarios) {
  test(id, async () => {
    assert.ok(id in scenarios, `scenario ${id} is listed in spec.tsv but has no Node implementation`);
    await scenarios[id](params);
  });
}

test('every implemented scenario is listed in spec.tsv', () => {
  assert.deepEqual(Object.keys(scenarios).sort(), [...spec.scenarios.keys()].sort());
});

// ---- What only the Node face has ------------------------------------------------------------

test('node: a synchronous failure also carries the core code', () => {
  withHomeSync((home) => {
    const file = path.join(home, 'not-a-dir');
    fs.writeFileSync(file, '');
    assert.throws(() => Boxlite.open(file), (err) => {
      assert.ok(err instanceof Error);
      assert.equal(err.code, 'io');
      assert.match(err.message, /not-a-dir/);
      return true;
    });
  });
});

test('node: options are camelCase and converted into core', async () => {
  await withHome(async (home) => {
    const rt = new Boxlite({ homeDir: home });
    assert.equal(rt.homeDir, home);
    const options = {
      image: IMAGE,
      env: [['A', '1'], ['B', 'x=y']],
      workingDir: '/srv',
      cmd: ['sh', '-c', 'true'],
      entrypoint: ['/bin/env'],
      user: '1000:1000',
      cpus: 0.5,
      memoryMib: 256,
      autoRemove: true,
      detach: true,
    };
    const box = await rt.create(options, 'full');
    assert.ok(box instanceof Box);
    assert.equal(box.name, 'full');
    assert.equal((await rt.create({ image: IMAGE })).name, null);
    // Core validates; the binding only refuses what a JS number cannot say as an integer.
    await rejectsWithCode(rt.create({ image: IMAGE, workingDir: 'relative' }), 'invalid_argument');
    await rejectsWithCode(rt.create({ image: IMAGE, memoryMib: 1.5 }), 'invalid_argument');
    await rejectsWithCode(rt.create({ image: IMAGE, memoryMib: -1 }), 'invalid_argument');
  });
});

test('node: getOrCreate, and a handle to a removed box', async () => {
  await withHome(async (home) => {
    const rt = Boxlite.open(home);
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

test('node: the README example runs as written', () => {
  const readme = fs.readFileSync(path.join(REPO, 'sdks', 'node', 'README.md'), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(example, 'sdks/node/README.md has a ```js example');
  withHomeSync((home) => {
    // From the repo root, `require('boxlite')` resolves to this package as for a user.
    const out = execFileSync(process.execPath, ['-'], {
      cwd: REPO,
      input: example[1],
      env: { ...process.env, BOXLITE_HOME: home },
      encoding: 'utf8',
    });
    assert.deepEqual(out.trim().split('\n'), ['configured', 'already_exists', 'null']);
  });
});
