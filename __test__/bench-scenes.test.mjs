// The benchmark's scene player (xpaint `scene`, `scene-restart`, `scene-log`, `scene-parts`)
// under a private Xvfb: any picture it logged can be rebuilt exactly from its parts, the log's
// times are on the clock peers stamp their grabs with, and a restarted scene shows the same
// pictures again. The benchmark's in-motion quality and its run-to-run fairness rest on these.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { startXvfb } from './helpers/xvfb.mjs'
import { nowMs } from './helpers/capture.mjs'
import { startPlayer } from '../bench/lib/player.mjs'
import { loadScene, pictureRows, readSceneLog } from '../bench/lib/quality.mjs'

const W = 800
const H = 600

/** Where two BGRX pictures differ in B, G or R (the X pad byte is not part of a picture). */
function firstDifference(a, b) {
  assert.equal(a.length, b.length)
  for (let i = 0; i < a.length; i++) {
    if ((i & 3) !== 3 && a[i] !== b[i]) return { pixel: i >> 2, x: (i >> 2) % W, y: Math.floor((i >> 2) / W) }
  }
  return null
}

describe('benchmark scene player', () => {
  let xvfb
  let player
  let dir
  before(async () => {
    xvfb = await startXvfb({ width: W, height: H, depth: 24 })
    player = await startPlayer(xvfb.display)
    dir = mkdtempSync(join(tmpdir(), 'stripecast-scenes-'))
  })
  after(async () => {
    await player?.close()
    await xvfb?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  for (const name of ['video', 'window-video', 'scroll', 'scroll-window', 'scroll-lines']) {
    it(`${name}: the last logged picture, rebuilt from the parts, is the screen`, async () => {
      const t = nowMs()
      await player.start(name, 60)
      await new Promise((r) => setTimeout(r, 400))
      await player.pause()
      const parts = join(dir, name)
      await player.cmd(`scene-parts ${parts}`)
      await player.cmd(`scene-log ${join(parts, 'log.jsonl')}`)
      const screen = join(dir, `${name}.bgrx`)
      await player.dump(0, 0, W, H, screen)
      const scene = loadScene(parts)
      const log = readSceneLog(join(parts, 'log.jsonl'))
      assert.ok(log.length >= 10, `${log.length} pictures logged in 0.4 s at 60 fps`)
      for (const [i, d] of log.entries()) {
        assert.equal(d.picture, i, 'pictures numbered from the set-up picture, 0')
        assert.ok(d.t0 <= d.t1, 'drawn before the round trip ends')
        if (i) assert.ok(d.t0 >= log[i - 1].t1, 'one picture at a time')
      }
      // CLOCK_MONOTONIC, like process.hrtime and the capture stamps.
      assert.ok(log[0].t0 >= t && log.at(-1).t1 <= nowMs(), `log ${log[0].t0}..${log.at(-1).t1} outside ${t}..now`)

      const last = log.at(-1)
      const shown = readFileSync(screen)
      assert.equal(firstDifference(pictureRows(scene, last, 0, H), shown), null, 'the screen')
      // A band of rows on its own, and a neighbouring picture is told apart from it.
      const rows = pictureRows(scene, last, 100, 50)
      assert.equal(firstDifference(rows, shown.subarray(100 * W * 4, 150 * W * 4)), null, 'rows 100..150')
      assert.notEqual(firstDifference(pictureRows(scene, log.at(-2), 0, H), shown), null, 'the picture before differs')

      // Restarted: the set-up picture again, alone in the log, and the same pictures follow.
      await player.cmd('scene-restart')
      await player.cmd(`scene-log ${join(parts, 'restarted.jsonl')}`)
      const again = readSceneLog(join(parts, 'restarted.jsonl'))
      assert.equal(again.length, 1)
      assert.deepEqual([again[0].picture, again[0].x, again[0].y], [0, log[0].x, log[0].y])
      await player.dump(0, 0, W, H, screen)
      assert.equal(firstDifference(pictureRows(scene, again[0], 0, H), readFileSync(screen)), null, 'the set-up picture')
      await player.start(name, 60)
      await new Promise((r) => setTimeout(r, 200))
      await player.pause()
      await player.cmd(`scene-log ${join(parts, 'restarted.jsonl')}`)
      const rerun = readSceneLog(join(parts, 'restarted.jsonl'))
      assert.ok(rerun.length >= 5)
      for (const d of rerun) {
        const first = log.find((e) => e.picture === d.picture)
        if (first) assert.deepEqual([d.x, d.y], [first.x, first.y], `picture ${d.picture} where it was the first time`)
      }
    })
  }

  it('typing restarts on an empty typing area', async () => {
    await player.start('typing', 60)
    await new Promise((r) => setTimeout(r, 300))
    await player.pause()
    const typed = join(dir, 'typed.bgrx')
    await player.dump(0, 0, W, H, typed)
    await player.cmd('scene-restart')
    const fresh = join(dir, 'fresh.bgrx')
    await player.dump(0, 0, W, H, fresh)
    await player.start('typing', 60)
    await new Promise((r) => setTimeout(r, 300))
    await player.pause()
    await player.cmd('scene-restart')
    const fresh2 = join(dir, 'fresh2.bgrx')
    await player.dump(0, 0, W, H, fresh2)
    assert.notEqual(firstDifference(readFileSync(typed), readFileSync(fresh)), null, 'the typed text is gone')
    assert.equal(firstDifference(readFileSync(fresh), readFileSync(fresh2)), null, 'every restart looks the same')
  })

  it('a scene without parts says so', async () => {
    await player.start('typing', 60)
    await player.pause()
    await assert.rejects(player.cmd(`scene-parts ${join(dir, 'typing')}`), /typing.*no parts/)
  })
})
