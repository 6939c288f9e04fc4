// A lossy link for tests: a network namespace joined to this one by a veth pair, with random
// packet loss in both directions, and a Chromium that runs inside the namespace.
//
//   const net = await makeLossyLink({ lossPercent: 3 })
//   net.hostAddr        // this side of the veth (bind the server here), e.g. '10.213.17.1'
//   net.chromiumPath    // an executable that starts Chromium inside the namespace
//   net.counters()      // { toViewer: {packets, dropped}, fromViewer: {packets, dropped} }
//   await net.close()
//
// The loss is nftables' `numgen random` drop in the namespace's own ruleset (input and output
// of its veth end), not `tc netem`: the kernels this runs on (the build machine's 6.18, CI's)
// are built without sch_netem, while nf_tables with numgen is built in. Both drop each packet
// independently with the given probability. Needs root (CAP_NET_ADMIN), iproute2's `ip` and
// the `nft` command (Debian: nftables); throws naming what is missing, never skips.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CHROMIUM_PATH } from './browser.mjs'

function which(cmd) {
  for (const d of ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin']) {
    if (existsSync(join(d, cmd))) return join(d, cmd)
  }
  return null
}

function run(argv, input) {
  try {
    return execFileSync(argv[0], argv.slice(1), { input, stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8' })
  } catch (e) {
    throw new Error(`${argv.join(' ')} failed: ${(e.stderr || e.message).trim()}`)
  }
}

/**
 * @param {object} [o]
 * @param {number} [o.lossPercent=3] chance of each packet being dropped, each direction
 */
export async function makeLossyLink({ lossPercent = 3 } = {}) {
  const ip = which('ip')
  const nft = which('nft')
  const missing = [!ip && "iproute2's ip (apt-get install iproute2)", !nft && 'nft (apt-get install nftables)'].filter(Boolean)
  if (missing.length) throw new Error(`the loss test needs ${missing.join(' and ')}`)
  if (process.getuid?.() !== 0) {
    throw new Error(`the loss test makes a network namespace and a veth pair: it needs root (CAP_NET_ADMIN); running as uid ${process.getuid?.()}`)
  }
  // names and a /30 of our own, so that concurrent runs do not collide
  const tag = `${process.pid % 100000}${Math.floor(Math.random() * 36).toString(36)}`
  const ns = `stripecast-loss-${tag}`
  const hostIf = `scl${tag}h`
  const nsIf = `scl${tag}n`
  const subnet = `10.213.${1 + Math.floor(Math.random() * 250)}`
  const hostAddr = `${subnet}.1`
  const nsAddr = `${subnet}.2`
  const perMille = Math.round(lossPercent * 10)
  const inNs = (...argv) => run([ip, 'netns', 'exec', ns, ...argv])
  const dir = mkdtempSync(join(tmpdir(), 'stripecast-lossy-'))
  let made = false

  function cleanup() {
    // deleting one end of the veth deletes both; the namespace takes its ruleset with it
    try {
      execFileSync(ip, ['link', 'del', hostIf], { stdio: 'ignore' })
    } catch {}
    if (made) {
      try {
        execFileSync(ip, ['netns', 'del', ns], { stdio: 'ignore' })
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', cleanup) // a crashed test leaves no namespace behind

  try {
    try {
      run([ip, 'netns', 'add', ns])
    } catch (e) {
      throw new Error(`cannot make a network namespace (needs CAP_NET_ADMIN, e.g. root outside a restricted container): ${e.message}`)
    }
    made = true
    run([ip, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf])
    run([ip, 'link', 'set', nsIf, 'netns', ns])
    run([ip, 'addr', 'add', `${hostAddr}/30`, 'dev', hostIf])
    run([ip, 'link', 'set', hostIf, 'up'])
    inNs(ip, 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf)
    inNs(ip, 'link', 'set', nsIf, 'up')
    inNs(ip, 'link', 'set', 'lo', 'up')
    // each direction: count every packet, then drop perMille of 1000 at random
    const ruleset = `table inet stripecast_loss {
  chain in { type filter hook input priority 0; iifname "${nsIf}" counter; iifname "${nsIf}" numgen random mod 1000 < ${perMille} counter drop; }
  chain out { type filter hook output priority 0; oifname "${nsIf}" counter; oifname "${nsIf}" numgen random mod 1000 < ${perMille} counter drop; }
}
`
    try {
      inNs(nft, '-f', '-', ruleset)
    } catch (e) {
      throw new Error(`cannot set up random loss with nftables (the kernel needs nf_tables with numgen): ${e.message}`)
    }
  } catch (e) {
    cleanup()
    process.off('exit', cleanup)
    throw e
  }

  const chromiumPath = join(dir, 'chromium-in-netns')
  // playwright talks to Chromium over inherited pipes, which `ip netns exec` keeps
  writeFileSync(chromiumPath, `#!/bin/sh\nexec ${ip} netns exec ${ns} ${CHROMIUM_PATH} "$@"\n`)
  chmodSync(chromiumPath, 0o755)

  return {
    ns,
    hostAddr,
    nsAddr,
    lossPercent: perMille / 10,
    chromiumPath,
    /** Packets seen and dropped each way, from the namespace's nftables counters. */
    counters() {
      const rules = JSON.parse(inNs(nft, '-j', 'list', 'table', 'inet', 'stripecast_loss')).nftables.filter((x) => x.rule)
      const count = (chain) => {
        const cs = rules.filter((r) => r.rule.chain === chain).map((r) => r.rule.expr.find((x) => x.counter)?.counter.packets ?? 0)
        return { packets: cs[0], dropped: cs[1] }
      }
      return { toViewer: count('in'), fromViewer: count('out') }
    },
    async close() {
      process.off('exit', cleanup)
      cleanup()
    },
  }
}
