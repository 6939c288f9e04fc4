// The benchmark's scene player (xpaint `scene`, `scene-log`, `scene-parts`) under a private
// Xvfb: any picture it logged can be rebuilt exactly from its parts, and the log's times are on
// the clock peers stamp their grabs with. The benchmark's in-motion quality rests on both.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { startXvfb } from './helpers/xvfb.mjs'
import { startPlayer } from '../bench/lib/player.mjs'
import { loadScene, pictureRows } from '../bench/lib/quality.mjs'

const W = 800
const H = 600
const nowMs = () => Number(process.hrtime.bigint()) / 1e6

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

  for (const name of ['video', 'window-video', 'scroll']) {
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
      const scene = loadScene(parts, join(parts, 'log.jsonl'))

      const { log } = scene
      assert.ok(log.length >= 10, `${log.length} pictures logged in 0.4 s at 60 fps`)
      for (const [i, d] of log.entries()) {
        assert.equal(d.picture, i + 1, 'pictures numbered from 1 after the set-up picture')
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
    })
  }

  it('a scene without parts says so', async () => {
    await player.start('typing', 60)
    await player.pause()
    await assert.rejects(player.cmd(`scene-parts ${join(dir, 'typing')}`), /typing.*no parts/)
  })
})
