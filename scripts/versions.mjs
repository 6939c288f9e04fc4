// Checks that the packages stripecast is released as agree on their version: package.json, its
// exact optionalDependencies on every platform package in npm/, those packages' own
// package.json, and the Rust crates. Exits 1 naming every mismatch. Run by scripts/package.sh
// (and so by `npm test`); `node scripts/versions.mjs` runs it alone.
import { readFileSync, readdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const json = (p) => JSON.parse(readFileSync(join(root, p), 'utf8'))
const main = json('package.json')
const v = main.version
const problems = []
const optional = main.optionalDependencies ?? {}
const platforms = readdirSync(join(root, 'npm'))
for (const dir of platforms) {
  const p = json(`npm/${dir}/package.json`)
  if (p.name !== `stripecast-${dir}`) problems.push(`npm/${dir}/package.json: name is ${p.name}, expected stripecast-${dir}`)
  if (p.version !== v) problems.push(`npm/${dir}/package.json: version ${p.version}, package.json has ${v}`)
  if (optional[p.name] !== v) {
    problems.push(`package.json: optionalDependencies["${p.name}"] is ${optional[p.name] ?? 'missing'}, expected exactly ${v}`)
  }
}
for (const name of Object.keys(optional)) {
  if (!platforms.some((d) => `stripecast-${d}` === name)) problems.push(`package.json: optionalDependencies names ${name}, which has no npm/ directory`)
}
for (const toml of ['Cargo.toml', 'crates/core/Cargo.toml']) {
  const m = /^\[package\][^[]*?^version\s*=\s*"([^"]+)"/ms.exec(readFileSync(join(root, toml), 'utf8'))
  if (!m) problems.push(`${toml}: no [package] version`)
  else if (m[1] !== v) problems.push(`${toml}: version ${m[1]}, package.json has ${v}`)
}
if (problems.length) {
  console.error(`stripecast versions disagree:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log(`stripecast versions: ${v} everywhere (${platforms.map((d) => `stripecast-${d}`).join(', ')})`)
