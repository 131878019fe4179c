'use strict';
// Runs every ```js block of sdks/node/README.md as a user would (from the repo root, where
// `require('boxlite')` / `import 'boxlite'` resolve to this package) and checks what it prints
// against the block's `// → TEXT` comments, in order. Blocks that `import` run as ESM.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { Boxlite } = require('boxlite');
const { REPO, runImage, withHome } = require('./helpers.js');

const README = path.join(REPO, 'sdks', 'node', 'README.md');

function blocks() {
  const text = fs.readFileSync(README, 'utf8');
  return [...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

function expectedOutput(code) {
  return [...code.matchAll(/\/\/\s*→ (.*)$/gm)].map((m) => m[1].trimEnd());
}

function runNode(code, env) {
  const esm = /^import /m.test(code);
  const args = esm ? ['--input-type=module', '-'] : ['-'];
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { cwd: REPO, env, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`README block failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    child.stdin.end(code);
  });
}

test('readme: the file has runnable blocks', () => {
  assert.ok(blocks().length >= 2, 'sdks/node/README.md has its ```js quickstart blocks');
});

blocks().forEach((code, index) => {
  test(`readme: block ${index + 1} runs and prints what it says`, { timeout: 180_000 }, async () => {
    // The blocks name the fixture by its path in the repo; it must be there.
    runImage();
    await withHome(async (home) => {
      try {
        const out = await runNode(code, { ...process.env, BOXLITE_HOME: home });
        assert.deepEqual(out.trimEnd().split('\n').map((l) => l.trimEnd()), expectedOutput(code));
      } finally {
        const rt = new Boxlite({ homeDir: home });
        for (const info of await rt.listInfo()) await rt.remove(info.id, true);
        await rt.shutdown();
      }
    });
  });
});
