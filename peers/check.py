#!/usr/bin/env python3
"""Check that unmodified third-party Bitfinex clients read balances, the ledger and candles from `bfx sim`.

Usage: check.py BASE_URL        (e.g. http://127.0.0.1:8787, as printed by `bfx sim`)

The expected balances, ledger entries and candles come from peers/state.toml, the file the emulator
was started with.
Prints one PASS/FAIL line per check and a closing `peers: N passed, M failed` line;
exits 1 if any check failed.
"""

import calendar
import datetime
import sys
import tomllib
import traceback
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import ccxt
from bfxapi import Client
from bfxapi.exceptions import InvalidCredentialError

STATE_FILE = Path(__file__).with_name("state.toml")
BFXAPI_KEY = "peers-bfxapi"  # microsecond nonces (bitfinex-api-py)
CCXT_KEY = "peers-ccxt"  # millisecond nonces (ccxt): must not share a key with the above
WALLET_TYPES = ("exchange", "margin", "funding")
# ccxt's bitfinex `commonCurrencies` renames many ids; state.toml only uses these two of them.
CCXT_RENAMES = {"UST": "USDT", "UDC": "USDC"}
CANDLE_PAIR = "tBTCUSD"  # ccxt's BTC/USD
DAY_MS = 86_400_000


def num(value):
    """A number as the clients hold it (float/int) or as state.toml writes it (str) -> Decimal.

    Both clients parse JSON numbers into floats; repr() gives the shortest text that round-trips,
    so an amount that survives the float exactly compares equal to the state's text.
    """
    if value is None:
        return None
    return Decimal(value if isinstance(value, str) else repr(value))


def load_state():
    state = tomllib.loads(STATE_FILE.read_text())
    secrets, wallets, ledgers = {}, {}, {}
    for account in state["account"]:
        for key in account.get("key", []):
            secrets[key["key"]] = (key["secret"], account["name"])
        wallets[account["name"]] = account.get("wallet", [])
        ledgers[account["name"]] = account.get("ledger", [])
    return state, secrets, wallets, ledgers


def newest_first(entries):
    """Ledger entries in the order Bitfinex answers: MTS, then ID, descending."""
    return sorted(entries, key=lambda e: (e["mts"], e["id"]), reverse=True)


def wallet_of(description):
    """The wallet a ledger description names in its ` on wallet <name>` suffix."""
    return description.rsplit(" on wallet ", 1)[1].strip().lower()


def expected_ledger(entries, renames=None):
    """(id, currency, amount, balance, wallet) per entry, amounts as exact decimals."""
    renames = renames or {}
    return [
        (e["id"], renames.get(e["currency"], e["currency"]), num(e["amount"]), num(e["balance"]), e["wallet"])
        for e in newest_first(entries)
    ]


def candle_mts(value):
    """A [[candle]] mts: milliseconds, or a TOML date (its UTC midnight)."""
    if isinstance(value, datetime.date):
        return calendar.timegm(value.timetuple()) * 1000
    return value


def daily_candles(state, pair):
    """The pair's 1D [[candle]] rows as (MTS, OPEN, CLOSE, HIGH, LOW, VOLUME), oldest first."""
    rows = [
        (candle_mts(c["mts"]), num(c["open"]), num(c["close"]), num(c["high"]), num(c["low"]), num(c["volume"]))
        for c in state.get("candle", [])
        if c["pair"] == pair and c.get("tf", "1D") == "1D"
    ]
    return sorted(rows)


def weekly_candles(days):
    """Days folded into Monday-to-Sunday weeks (UTC), as the emulator builds 1W (= 7D), oldest first."""
    weeks = []
    for mts, open_, close, high, low, volume in days:
        start = mts - (mts // DAY_MS - 4) % 7 * DAY_MS  # 1970-01-05 was a Monday
        if weeks and weeks[-1][0] == start:
            _, w_open, _, w_high, w_low, w_volume = weeks[-1]
            weeks[-1] = (start, w_open, close, max(w_high, high), min(w_low, low), w_volume + volume)
        else:
            weeks.append((start, open_, close, high, low, volume))
    return weeks


def expected_rows(wallets):
    return {
        (w["type"], w["currency"], num(w["balance"]), num(w["unsettled_interest"]), num(w.get("available")))
        for w in wallets
    }


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn):
        try:
            detail = fn()
        except AssertionError as e:
            self.failed += 1
            print(f"FAIL {name}: {e}")
        except Exception as e:  # a crash inside a client is a failure of that check, not of the run
            self.failed += 1
            print(f"FAIL {name}: unexpected {type(e).__module__}.{type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stdout)
        else:
            self.passed += 1
            print(f"PASS {name}" + (f": {detail}" if detail else ""))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    base = sys.argv[1].rstrip("/")
    state, secrets, wallets_by_account, ledgers_by_account = load_state()
    for key in (BFXAPI_KEY, CCXT_KEY):
        if key not in secrets:
            sys.exit(f"{STATE_FILE}: no key {key!r}")
    bfx_secret, bfx_account = secrets[BFXAPI_KEY]
    ccxt_secret, ccxt_account = secrets[CCXT_KEY]
    print(f"peers: ccxt {version('ccxt')}, bitfinex-api-py {version('bitfinex-api-py')}, emulator {base}")

    def ccxt_exchange(secret):
        # ccxt sends public calls to urls.api.public and auth calls to urls.api.private, each + "/v2/…"
        # (sign(): url = urls['api'][api] + '/' + version + '/' + path); 'v1' is unused by fetch_balance.
        return ccxt.bitfinex({
            "apiKey": CCXT_KEY,
            "secret": secret,
            "urls": {"api": {"public": base, "private": base, "v1": base}},
        })

    checks = Checks()

    # --- bitfinex-api-py: one POST /v2/auth/r/wallets, no body, signs "/api/v2/auth/r/wallets" + nonce.
    def bfxapi_wallets():
        client = Client(rest_host=base + "/v2", api_key=BFXAPI_KEY, api_secret=bfx_secret)
        got = {
            (w.wallet_type, w.currency, num(w.balance), num(w.unsettled_interest), num(w.available_balance))
            for w in client.rest.auth.get_wallets()
        }
        want = expected_rows(wallets_by_account[bfx_account])
        assert got == want, f"missing {sorted(want - got, key=str)}; unexpected {sorted(got - want, key=str)}"
        return f"{len(got)} wallets"

    checks.run("bitfinex-api-py get_wallets", bfxapi_wallets)

    # --- ccxt: load_markets (two joined GET /v2/conf/… requests) must build markets from our conf.
    exchange = ccxt_exchange(ccxt_secret)

    def ccxt_markets():
        markets = exchange.load_markets()
        conf = state.get("conf", {})
        pairs = conf.get("pub:info:pair", []) + conf.get("pub:info:pair:futures", [])
        assert len(markets) == len(pairs), f"{len(markets)} markets {sorted(markets)}, state lists {len(pairs)} pairs"
        ids = [c for c in conf.get("pub:list:currency", []) if not c.endswith("F0")]  # ccxt skips F0 ids
        missing = {CCXT_RENAMES.get(c, c) for c in ids} - set(exchange.currencies)
        assert not missing, f"currencies missing from ccxt: {sorted(missing)}"
        return f"{len(markets)} markets, {len(exchange.currencies)} currencies"

    checks.run("ccxt load_markets", ccxt_markets)

    # --- ccxt: fetch_balance returns one wallet type per call (one POST auth/r/wallets each, body "{}").
    def ccxt_balance(wallet_type):
        def check():
            balance = exchange.fetch_balance({"type": wallet_type})
            got = {code: (num(balance[code]["total"]), num(balance[code]["free"])) for code in balance["total"]}
            want = {
                CCXT_RENAMES.get(w["currency"], w["currency"]): (num(w["balance"]), num(w.get("available")))
                for w in wallets_by_account[ccxt_account]
                if w["type"] == wallet_type
            }
            assert got == want, f"got (total, free) {got}, want {want}"
            return ", ".join(f"{code} {balance['total'][code]}" for code in sorted(got))

        return check

    for wallet_type in WALLET_TYPES:
        checks.run(f"ccxt fetch_balance type={wallet_type}", ccxt_balance(wallet_type))

    # --- bitfinex-api-py: get_ledgers(currency=None, *, category, start, end, limit) posts to
    # auth/r/ledgers/hist or auth/r/ledgers/{currency}/hist; it drops None fields from the body and
    # reads rows by position (ID, CURRENCY, MTS, AMOUNT, BALANCE, DESCRIPTION; not WALLET).
    bfx_ledger = ledgers_by_account[bfx_account]

    def bfxapi_ledgers():
        client = Client(rest_host=base + "/v2", api_key=BFXAPI_KEY, api_secret=bfx_secret)
        got = [
            (e.id, e.currency, num(e.amount), num(e.balance), wallet_of(e.description))
            for e in client.rest.auth.get_ledgers(limit=2500)
        ]
        want = expected_ledger(bfx_ledger)
        assert got == want, f"got {got}, want {want}"
        btc = [e.id for e in client.rest.auth.get_ledgers("BTC")]
        want_btc = [e["id"] for e in newest_first(bfx_ledger) if e["currency"] == "BTC"]
        assert btc == want_btc, f"get_ledgers('BTC') ids {btc}, want {want_btc}"
        # start/end typed as str by the client: inclusive bounds on MTS.
        window = [e.id for e in client.rest.auth.get_ledgers(start="1700000100000", end="1700000300000")]
        want_window = [e["id"] for e in newest_first(bfx_ledger) if 1700000100000 <= e["mts"] <= 1700000300000]
        assert window == want_window, f"start/end ids {window}, want {want_window}"
        return f"{len(got)} entries, newest {got[0]}"

    checks.run("bitfinex-api-py get_ledgers", bfxapi_ledgers)

    # --- ccxt: fetch_ledger(code, since, limit) posts auth/r/ledgers[/{currency}]/hist with start and
    # limit; it answers oldest first, the raw row in info['result'] (WALLET at index 2).
    ccxt_ledger = ledgers_by_account[ccxt_account]

    def ccxt_ledger_rows(entries):
        return [
            (int(e["id"]), e["currency"], num(e["amount"]), num(e["after"]), e["info"]["result"][2])
            for e in sorted(entries, key=lambda e: (e["timestamp"], int(e["id"])), reverse=True)
        ]

    def ccxt_fetch_ledger():
        got = ccxt_ledger_rows(exchange.fetch_ledger(limit=2500))
        want = expected_ledger(ccxt_ledger, CCXT_RENAMES)
        assert got == want, f"got {got}, want {want}"
        btc = ccxt_ledger_rows(exchange.fetch_ledger("BTC"))
        want_btc = [row for row in want if row[1] == "BTC"]
        assert btc == want_btc, f"fetch_ledger('BTC') {btc}, want {want_btc}"
        since = [row[0] for row in ccxt_ledger_rows(exchange.fetch_ledger(since=1700000300000))]
        want_since = [e["id"] for e in newest_first(ccxt_ledger) if e["mts"] >= 1700000300000]
        assert since == want_since, f"since ids {since}, want {want_since}"
        return f"{len(got)} entries, newest {got[0]}"

    checks.run("ccxt fetch_ledger", ccxt_fetch_ledger)

    # --- a wrong secret must surface as each client's own authentication error class.
    # bitfinex-api-py maps ["error", 10100, …] to InvalidCredentialError whatever the HTTP status;
    # ccxt maps it to AuthenticationError only for HTTP 500 (its handle_errors reads error arrays on
    # 500 only). PermissionDenied is a subclass of AuthenticationError, hence the exact type test.
    def bfxapi_wrong_secret():
        client = Client(rest_host=base + "/v2", api_key=BFXAPI_KEY, api_secret=bfx_secret + "-wrong")
        try:
            client.rest.auth.get_wallets()
        except InvalidCredentialError as e:
            return f"InvalidCredentialError: {e}"
        raise AssertionError("get_wallets() with a wrong secret raised nothing")

    def ccxt_wrong_secret():
        try:
            ccxt_exchange(ccxt_secret + "-wrong").fetch_balance({"type": "exchange"})
        except ccxt.AuthenticationError as e:
            assert type(e) is ccxt.AuthenticationError, f"{type(e).__name__} (want AuthenticationError): {e}"
            return f"AuthenticationError: {e}"
        raise AssertionError("fetch_balance() with a wrong secret raised nothing")

    # --- candles: public GET candles/trade:{TF}:{SYMBOL}/hist (and /last), rows [MTS, OPEN, CLOSE, HIGH, LOW,
    # VOLUME]. The Python client sends tf as given and its params (sort, start, end, limit) as a query;
    # ccxt maps 1d -> 1D and 1w -> 7D, sends limit (default 100) and, with since, start and sort=1, and
    # returns [MTS, OPEN, HIGH, LOW, CLOSE, VOLUME] oldest first.
    days = daily_candles(state, CANDLE_PAIR)
    weeks = weekly_candles(days)
    if len(days) < 5 or len(weeks) < 2:
        sys.exit(f"{STATE_FILE}: the candle checks need >= 5 daily {CANDLE_PAIR} candles over >= 2 weeks")

    def bfxapi_candles():
        public = Client(rest_host=base + "/v2").rest.public

        def rows(candles):
            return [(c.mts, num(c.open), num(c.close), num(c.high), num(c.low), num(c.volume)) for c in candles]

        got = rows(public.get_candles_hist(CANDLE_PAIR, tf="1D"))
        assert got == days[::-1], f"1D newest first: got {got}, want {days[::-1]}"
        # start/end typed as str by the client: inclusive bounds on MTS.
        window = rows(public.get_candles_hist(CANDLE_PAIR, "1D", sort=1, start=str(days[1][0]), end=str(days[3][0])))
        assert window == days[1:4], f"sort=1 start..end: got {window}, want {days[1:4]}"
        last = rows([public.get_candles_last(CANDLE_PAIR, tf="1D")])
        assert last == days[-1:], f"last: got {last}, want {days[-1]}"
        week = rows(public.get_candles_hist(CANDLE_PAIR, tf="1W"))
        assert week == weeks[::-1], f"1W: got {week}, want {weeks[::-1]}"
        return f"{len(got)} days, {len(week)} weeks, last {last[0]}"

    checks.run("bitfinex-api-py get_candles_hist", bfxapi_candles)

    def ccxt_candles():
        def rows(ohlcv):
            return [(c[0], num(c[1]), num(c[4]), num(c[2]), num(c[3]), num(c[5])) for c in ohlcv]

        got = rows(exchange.fetch_ohlcv("BTC/USD", "1d"))
        assert got == days, f"1d: got {got}, want {days}"
        since = rows(exchange.fetch_ohlcv("BTC/USD", "1d", since=days[2][0], limit=2))
        assert since == days[2:4], f"since, limit=2: got {since}, want {days[2:4]}"
        week = rows(exchange.fetch_ohlcv("BTC/USD", "1w"))
        assert week == weeks, f"1w (sent as 7D): got {week}, want {weeks}"
        return f"{len(got)} days, {len(week)} weeks"

    checks.run("ccxt fetch_ohlcv", ccxt_candles)

    checks.run("bitfinex-api-py wrong secret -> InvalidCredentialError", bfxapi_wrong_secret)
    checks.run("ccxt wrong secret -> AuthenticationError", ccxt_wrong_secret)

    print(f"peers: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
