// The release packages (issue #19), as `npm install stripecast` gives them to a user without
// Rust: scripts/check-package.sh builds both tarballs (scripts/package.sh, incremental), installs
// them with a PATH that has no compiler, and captures JPEG and H.264 from the installed package.
// Its output says what failed; here it is one test so that `npm test` runs it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { repoRoot } from '../tools/xpaint.mjs'

test('the release packages install without a compiler and capture JPEG and H.264 (scripts/check-package.sh)', { timeout: 15 * 60 * 1000 }, (t) => {
  const started = Date.now()
  const r = spawnSync('bash', ['scripts/check-package.sh'], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 })
  const out = `${r.stdout}${r.stderr}`
  for (const line of out.split('\n')) if (/^(check-package|stripecast package|  )/.test(line)) t.diagnostic(line)
  t.diagnostic(`package build and check: ${((Date.now() - started) / 1000).toFixed(0)} s`)
  assert.equal(r.status, 0, `scripts/check-package.sh failed (status ${r.status}, signal ${r.signal}):\n${out.slice(-6000)}`)
})
