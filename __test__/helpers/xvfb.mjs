// Moved to tools/ (shared with the demo and the benchmark).
export * from '../../tools/xvfb.mjs'
