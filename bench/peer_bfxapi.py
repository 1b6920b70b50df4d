#!/usr/bin/env python3
"""The `bfx balances --json` job done with bitfinex-api-py (pinned in peers/requirements.txt).

Usage: peer_bfxapi.py BASE_URL KEY SECRET

One fresh process per run: import bfxapi, rest.auth.get_wallets() (one POST auth/r/wallets) and
rest.public.get_t_tickers("ALL") (one GET tickers?symbols=ALL), then print the balances as JSON.
"""

import json
import sys

from bfxapi import Client


def main():
    base, key, secret = sys.argv[1:4]
    client = Client(rest_host=base.rstrip("/") + "/v2", api_key=key, api_secret=secret)
    wallets = client.rest.auth.get_wallets()
    tickers = client.rest.public.get_t_tickers("ALL")
    rows = [[w.wallet_type, w.currency, w.balance, w.available_balance] for w in wallets]
    json.dump({"wallets": rows, "tickers": len(tickers)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
