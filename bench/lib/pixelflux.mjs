// pixelflux 2.2.1 for the benchmarks that run it beside stripecast (run.mjs, rd.mjs): a Python
// that imports it, from $PIXELFLUX_PYTHON, bench/.venv or /tmp/pfx, else installed into
// bench/.venv.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = join(dirname(fileURLToPath(import.meta.url)), '..')

/** `{ python, version }`, or `{ error }` saying why there is none; `log` reports an install. */
export function findPython(log = () => {}) {
  const ok = (py) => {
    try {
      return execFileSync(py, ['-c', 'import importlib.metadata as m, pixelflux; print(m.version("pixelflux"))'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      }).toString().trim()
    } catch {
      return null
    }
  }
  const venv = join(here, '.venv')
  for (const py of [process.env.PIXELFLUX_PYTHON, join(venv, 'bin', 'python'), '/tmp/pfx/bin/python']) {
    if (py && existsSync(py)) {
      const v = ok(py)
      if (v) return { python: py, version: v }
    }
  }
  try {
    log('installing pixelflux 2.2.1 into bench/.venv')
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' })
    execFileSync(join(venv, 'bin', 'pip'), ['install', '-q', 'pixelflux==2.2.1'], { stdio: 'inherit' })
    const py = join(venv, 'bin', 'python')
    const v = ok(py)
    if (v) return { python: py, version: v }
    return { error: 'pixelflux installed but does not import' }
  } catch (e) {
    return { error: `could not install pixelflux: ${e.message.split('\n')[0]}` }
  }
}
