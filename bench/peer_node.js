#!/usr/bin/env node
// The `bfx balances --json` job done with bfx-api-node-rest (pinned in bench/package.json,
// installed into bench/node_modules by bench/compare), for bench/compare.
//
// Usage: node peer_node.js BASE_URL KEY SECRET
//
// One fresh process per run: require the client, wallets() (one POST auth/r/wallets) and
// tickers({ symbols: ['ALL'] }) (one GET tickers?symbols=ALL), then print the balances as JSON.
'use strict'

const { RESTv2 } = require('bfx-api-node-rest')

async function main () {
  const [base, apiKey, apiSecret] = process.argv.slice(2)
  const rest = new RESTv2({ apiKey, apiSecret, url: base.replace(/\/+$/, ''), transform: true })
  const wallets = await rest.wallets()
  const tickers = await rest.tickers({ symbols: ['ALL'] })
  const rows = wallets.map((w) => [w.type, w.currency, w.balance, w.balanceAvailable])
  process.stdout.write(JSON.stringify({ wallets: rows, tickers: tickers.length }) + '\n')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
