#!/usr/bin/env python3
"""The `bfx balances --json` job done with ccxt (pinned in peers/requirements.txt), for bench/compare.

Usage: peer_ccxt.py BASE_URL KEY SECRET [--no-rate-limit]

ccxt throttles itself by default (enableRateLimit, bitfinex rateLimit 250 ms x endpoint cost), so
most of its wall time is sleeping; --no-rate-limit sets enableRateLimit False to time the rest.

One fresh process per run: import ccxt, fetch_balance for each wallet type (exchange, margin,
funding; ccxt returns one type per call) and fetch_tickers, then print the balances as JSON.
"""

import json
import sys

import ccxt


def main():
    base, key, secret = sys.argv[1:4]
    throttle = "--no-rate-limit" not in sys.argv[4:]
    exchange = ccxt.bitfinex({
        "apiKey": key,
        "secret": secret,
        "enableRateLimit": throttle,
        "urls": {"api": {"public": base, "private": base, "v1": base}},
    })
    out = {}
    for wallet_type in ("exchange", "margin", "funding"):
        balance = exchange.fetch_balance({"type": wallet_type})
        out[wallet_type] = {code: balance[code]["total"] for code in balance["total"]}
    tickers = exchange.fetch_tickers()
    json.dump({"balances": out, "tickers": len(tickers)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
