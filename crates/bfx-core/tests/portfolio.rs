//! The portfolio through its public API: sums per account and per asset, shares, the unpriced
//! list, paper currencies, failed accounts, open positions and the net total, amounts at the
//! decimal limit, and (property) totals that always equal the sum of their parts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::str::FromStr;

use bfx_core::portfolio::{
    AccountError, AccountInput, AccountValue, Holdings, Pricer, Totals, Valuation, value, value_account,
};
use bfx_core::{
    Market, Position, PriceKind, Unpriced, WalletRow, parse_positions, parse_tickers, parse_wallets,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

const TICKERS: &[u8] = br#"[
["tBTCUSD",99990,1,100010,1,0,0,100000,500,0,0],
["tETHUSD",3999,1,4001,1,0,0,4000,9000,0,0],
["tETHBTC",0.0399,1,0.0401,1,0,0,0.04,100,0,0],
["tUSTUSD",0.999,1,1.001,1,0,0,1,1000000,0,0],
["tEURUST",1.1,1,1.2,1,0,0,1.25,10000,0,0],
["tTESTBTC:TESTUSD",1,1,1,1,0,0,50000,1,0,0]
]"#;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn market() -> Market {
    Market::new(&parse_tickers(TICKERS).unwrap(), &[]).with_names([("UST".to_owned(), "USDt".to_owned())])
}

fn wallets(rows: &[(&str, &str, &str)]) -> Vec<WalletRow> {
    let json: Vec<String> =
        rows.iter().map(|(t, c, b)| format!(r#"["{t}","{c}",{b},0,null,null,null]"#)).collect();
    parse_wallets(format!("[{}]", json.join(",")).as_bytes()).unwrap()
}

fn positions(json: &str) -> Vec<Position> {
    parse_positions(json.as_bytes()).unwrap()
}

fn read(name: &str, rows: &[(&str, &str, &str)]) -> AccountInput {
    AccountInput::read(name, Holdings { wallets: wallets(rows), positions: Ok(Vec::new()) })
}

fn denied() -> AccountError {
    AccountError {
        code: Some(10001),
        message: "api_key: permission invalid".into(),
        kind: "permission".into(),
    }
}

#[test]
fn accounts_assets_shares_and_unpriced() {
    let accounts = [
        read("main", &[("exchange", "BTC", "1"), ("exchange", "UST", "1000"), ("exchange", "XYZ", "5")]),
        read("cold", &[("exchange", "BTC", "0.5"), ("margin", "ETH", "10")]),
    ];
    let p = value(&accounts, Some(&market()), &Valuation::new("USD"));
    assert_eq!(p.accounts[0].total, Some(dec("101000")), "XYZ is left out, not 0");
    assert_eq!(p.accounts[1].total, Some(dec("90000")));
    assert_eq!(p.total, Some(dec("191000")));
    let assets: Vec<_> = p.assets.iter().map(|a| (a.name.as_str(), a.balance, a.value, a.share)).collect();
    assert_eq!(
        assets,
        [
            ("BTC", Some(dec("1.5")), Some(dec("150000")), Some(dec("78.53"))),
            ("ETH", Some(dec("10")), Some(dec("40000")), Some(dec("20.94"))),
            ("USDt", Some(dec("1000")), Some(dec("1000")), Some(dec("0.52"))),
            ("XYZ", Some(dec("5")), None, None),
        ]
    );
    assert_eq!(p.unpriced.len(), 1);
    assert_eq!(p.unpriced[0].reason, Unpriced::NoRoute { quote: "USD".into() });
    assert!(!p.complete, "an unpriced asset leaves the total incomplete");
    let xyz = &p.accounts[0].wallets[2];
    assert_eq!((xyz.value, xyz.price_route.as_ref()), (None, None));
    assert_eq!(xyz.unpriced, Some(Unpriced::NoRoute { quote: "USD".into() }));
    assert_eq!(p.accounts[0].wallets[1].price_route.as_deref(), Some(&["tUSTUSD".to_owned()][..]));
}

#[test]
fn other_quotes_and_price_kinds() {
    let accounts = [read("main", &[("exchange", "ETH", "10"), ("exchange", "USD", "8000")])];
    let btc = value(&accounts, Some(&market()), &Valuation::new("BTC"));
    // ETH direct (0.04 × 10), USD inverse (8000 / 100000).
    assert_eq!(btc.total, Some(dec("0.48")));
    let eur = value(&accounts, Some(&market()), &Valuation::new("EUR"));
    // ETH → USD → UST → EUR: 4000 / 1 / 1.25 per ETH; USD: 1 / 1.25.
    assert_eq!(eur.accounts[0].wallets[0].price_route.as_ref().unwrap().len(), 3);
    assert_eq!(eur.total, Some(dec("38400")));
    let bid = Valuation { kind: PriceKind::Bid, ..Valuation::new("USD") };
    assert_eq!(value(&accounts, Some(&market()), &bid).total, Some(dec("47990")));
}

#[test]
fn paper_is_flagged_and_counted_only_when_asked() {
    let accounts = [read("paper", &[("exchange", "TESTBTC", "2"), ("exchange", "BTC", "1")])];
    let p = value(&accounts, Some(&market()), &Valuation::new("USD"));
    assert_eq!(p.total, Some(dec("100000")));
    assert!(p.complete, "paper is left out by design, not missing");
    assert!(p.accounts[0].wallets[0].paper);
    assert_eq!(p.unpriced[0].reason, Unpriced::Paper { currency: "TESTBTC".into() });
    let with = Valuation { include_paper: true, ..Valuation::new("USD") };
    assert_eq!(value(&accounts, Some(&market()), &with).total, Some(dec("200000")));
}

#[test]
fn failed_accounts_and_missing_prices_are_never_a_complete_total() {
    let failed = AccountInput {
        name: "bot".into(),
        holdings: Err(AccountError {
            code: Some(10100),
            message: "apikey: invalid".into(),
            kind: "auth".into(),
        }),
    };
    let accounts = [read("main", &[("exchange", "BTC", "1")]), failed];
    let p = value(&accounts, Some(&market()), &Valuation::new("USD"));
    assert_eq!(p.total, Some(dec("100000")));
    assert!(!p.complete);
    assert_eq!(p.failed().map(|(name, e)| (name, e.code)).collect::<Vec<_>>(), [("bot", Some(10100))]);
    assert_eq!(p.accounts[1].total, None);

    let p = value(&accounts[..1], None, &Valuation::new("USD"));
    assert_eq!(p.accounts[0].wallets[0].unpriced, Some(Unpriced::NoPrices));
    assert_eq!(p.unpriced[0].reason.to_string(), "prices unavailable");
    assert!(!p.complete);
}

#[test]
fn positions_pl_and_net_total() {
    let long_short = positions(
        r#"[["tBTCUSD","ACTIVE",0.5,90000,0,0,4900,null,null,null,null,1],
            ["tETHBTC","ACTIVE",-10,0.035,0,0,-0.05,null,null,null,null,2]]"#,
    );
    let accounts = [
        AccountInput::read(
            "margin",
            Holdings { wallets: wallets(&[("margin", "USD", "20000")]), positions: Ok(long_short) },
        ),
        AccountInput::read(
            "reader",
            Holdings { wallets: wallets(&[("exchange", "BTC", "1")]), positions: Err(denied()) },
        ),
    ];
    let p = value(&accounts, Some(&market()), &Valuation::new("USD"));
    let margin = &p.accounts[0];
    let pos = margin.positions.as_ref().unwrap();
    assert_eq!(pos[0].pl_currency.as_deref(), Some("USD"));
    assert_eq!(pos[0].pl_value, Some(dec("4900")));
    // −0.05 BTC at 100000 USD.
    assert_eq!((pos[1].pl_currency.as_deref(), pos[1].pl_value), (Some("BTC"), Some(dec("-5000"))));
    assert_eq!(margin.positions_pl, Some(dec("-100")));
    assert_eq!(margin.total, Some(dec("20000")), "wallet totals exclude P/L");
    let reader = &p.accounts[1];
    assert!(reader.positions.is_none());
    assert_eq!(reader.positions_error, Some(denied()));
    assert_eq!(p.total, Some(dec("120000")));
    assert_eq!(p.positions_pl, Some(dec("-100")));
    assert_eq!(p.net_total, Some(dec("119900")));
    // No account's positions read: their P/L is unknown, not 0.
    let p = value(&accounts[1..], Some(&market()), &Valuation::new("USD"));
    assert_eq!((p.total, p.positions_pl, p.net_total), (Some(dec("100000")), None, None));

    // A P/L Bitfinex did not send is unknown: no net total rather than a wrong one.
    let unknown = positions(r#"[["tBTCUSD","ACTIVE",0.5,90000,0,0,null]]"#);
    let accounts = [AccountInput::read(
        "m",
        Holdings { wallets: wallets(&[("margin", "USD", "1")]), positions: Ok(unknown) },
    )];
    let p = value(&accounts, Some(&market()), &Valuation::new("USD"));
    assert_eq!((p.positions_pl, p.net_total), (None, None));
    assert_eq!(p.total, Some(dec("1")));
}

#[test]
fn amounts_at_the_decimal_limit_never_panic() {
    let huge = "70000000000000000000000000000";
    let accounts =
        [read("main", &[("exchange", "USD", huge), ("margin", "USD", huge), ("exchange", "BTC", huge)])];
    let p = value(&accounts, Some(&market()), &Valuation::new("USD"));
    let main = &p.accounts[0];
    assert_eq!(main.wallets[0].value, Some(dec(huge)));
    assert_eq!(main.wallets[2].value, None);
    assert!(matches!(main.wallets[2].unpriced, Some(Unpriced::Overflow { .. })));
    assert_eq!(main.total, None, "7e28 + 7e28 does not fit");
    assert_eq!((p.total, p.net_total), (None, None));
    assert!(!p.complete);
    // USD's wallets are valued (in the account total, had it fitted), their sum is too large;
    // BTC's value itself does not fit: it is what the totals leave out.
    let usd = p.assets.iter().find(|a| a.currency == "USD").unwrap();
    assert_eq!((usd.balance, usd.value, &usd.unvalued), (None, None, &Some(Unpriced::SumOverflow)));
    let left_out: Vec<&str> = p.unpriced.iter().map(|u| u.currency.as_str()).collect();
    assert_eq!(left_out, ["BTC"]);
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["total"], serde_json::Value::Null);
}

/// A partial sum may overflow where the whole fits: the total is still found, exactly.
#[test]
fn totals_that_fit_are_found_whatever_the_wallet_order() {
    let big = "50000000000000000000000000000";
    let accounts = [
        read(
            "a",
            &[
                ("exchange", "USD", big),
                ("margin", "USD", big),
                ("exchange", "EUR", "-43200000000000000000000000000"),
            ],
        ),
        read("b", &[("exchange", "USD", big)]),
    ];
    let p = value(&accounts, Some(&market()), &Valuation::new("USD"));
    // EUR at 1.25 × 1 (tEURUST, tUSTUSD): −5.4e28.
    assert_eq!(p.accounts[0].total, Some(dec("46000000000000000000000000000")));
    assert_eq!(p.total, None, "4.6e28 + 5e28 does not fit");
    let p = value(&accounts[..1], Some(&market()), &Valuation::new("USD"));
    assert_eq!(p.total, Some(dec("46000000000000000000000000000")));
    assert!(p.complete, "everything valued and summed: nothing left out");
    let usd = p.assets.iter().find(|a| a.currency == "USD").unwrap();
    assert_eq!(
        (usd.value, &usd.unvalued),
        (None, &Some(Unpriced::SumOverflow)),
        "1e29 of USD cannot be shown"
    );
    assert!(p.unpriced.is_empty(), "but nothing was left out of the total");
}

/// One wallet of a currency left out (its value does not fit) leaves the others counted and
/// shown; only the one left out is listed.
#[test]
fn an_asset_partly_valued_shows_what_was_counted() {
    let accounts = [read("a", &[("exchange", "BTC", "1"), ("margin", "BTC", "7000000000000000000000000")])];
    let p = value(&accounts, Some(&market()), &Valuation::new("USD"));
    assert_eq!(p.total, Some(dec("100000")));
    let btc = &p.assets[0];
    assert_eq!((btc.value, btc.share), (Some(dec("100000")), Some(dec("100"))));
    assert_eq!(p.unpriced.len(), 1);
    assert_eq!(p.unpriced[0].balance, Some(dec("7000000000000000000000000")));
    assert!(matches!(p.unpriced[0].reason, Unpriced::Overflow { .. }));
    assert!(!p.complete);
}

/// Kept totals through wallets too large to value coming and going: what is left out, and why
/// (the first such wallet's amount, in account order), are what summing from scratch finds.
#[test]
fn kept_totals_follow_wallets_left_out_coming_and_going() {
    let (market, valuation) = (market(), Valuation::new("USD"));
    let huge = |n: u32| format!("{n}000000000000000000000000");
    let states = [
        [read("a", &[("exchange", "BTC", "1")]), read("b", &[("exchange", "BTC", "2")])],
        [
            read("a", &[("exchange", "BTC", "1"), ("margin", "BTC", &huge(7))]),
            read("b", &[("exchange", "BTC", "2")]),
        ],
        [
            read("a", &[("exchange", "BTC", "1"), ("margin", "BTC", &huge(7))]),
            read("b", &[("exchange", "BTC", "2"), ("margin", "BTC", &huge(8))]),
        ],
        [
            read("a", &[("exchange", "BTC", "1")]),
            read("b", &[("exchange", "BTC", "2"), ("margin", "BTC", &huge(8))]),
        ],
        [read("a", &[("exchange", "BTC", "1")]), read("b", &[("exchange", "BTC", "2")])],
    ];
    let mut pricer = Pricer::new(Some(&market), &valuation);
    let mut values: Vec<AccountValue> = states[0].iter().map(|a| value_account(a, &mut pricer)).collect();
    let mut totals = Totals::of(&values);
    let mut reasons = Vec::new();
    for (state, before) in states[1..].iter().zip(&states) {
        // Only the accounts that changed, as `bfx serve` does.
        for (index, input) in state.iter().enumerate().filter(|(i, input)| before[*i] != **input) {
            let new = value_account(input, &mut pricer);
            totals.remove(&values[index]);
            totals.add(&new);
            values[index] = new;
        }
        let kept = totals.portfolio(values.clone(), Some(&market), &valuation);
        assert_eq!(format!("{kept:?}"), format!("{:?}", value(state, Some(&market), &valuation)));
        reasons.push(kept.unpriced.iter().map(|u| (u.balance, u.reason.to_string())).collect::<Vec<_>>());
    }
    let overflow = |n: u32| format!("{} × 100000 does not fit in a decimal", huge(n));
    assert_eq!(
        reasons,
        [
            vec![(Some(dec(&huge(7))), overflow(7))],
            vec![(Some(dec(&huge(15))), overflow(7))],
            vec![(Some(dec(&huge(8))), overflow(8))],
            vec![],
        ]
    );
}

#[test]
fn json_keeps_the_contract_and_adds_positions() {
    let accounts = [read("main", &[("exchange", "BTC", "1.50")])];
    let json = serde_json::to_value(value(&accounts, Some(&market()), &Valuation::new("USD"))).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "quote": "USD", "price": "last",
            "accounts": [{
                "name": "main",
                "wallets": [{"type": "exchange", "currency": "BTC", "balance": "1.5", "available": null,
                             "unsettled_interest": "0", "price": "100000", "value": "150000",
                             "price_route": ["tBTCUSD"], "paper": false}],
                "total": "150000", "error": null,
                "positions": [], "positions_pl": "0", "positions_error": null,
            }],
            "assets": [{"currency": "BTC", "name": "BTC", "balance": "1.5", "value": "150000", "share": "100"}],
            "unpriced": [],
            "total": "150000", "positions_pl": "0", "net_total": "150000", "complete": true,
        })
    );
}

fn amount() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        4 => (-10_000_000i64..10_000_000, 0u32..=8).prop_map(|(m, s)| Decimal::new(m, s)),
        1 => (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
        1 => prop_oneof![Just(Decimal::MAX), Just(Decimal::MIN), Just(dec("70000000000000000000000000000"))],
    ]
}

fn holding() -> impl Strategy<Value = (String, Decimal)> {
    (prop::sample::select(vec!["BTC", "ETH", "UST", "USD", "EUR", "XYZ", "TESTBTC"]), amount())
        .prop_map(|(c, a)| (c.to_owned(), a))
}

/// An account read (its positions read, denied, or with a P/L in BTC), or failed.
fn account() -> impl Strategy<Value = AccountInput> {
    (prop::collection::vec(holding(), 0..6), 0..4u8, amount()).prop_map(|(rows, kind, pl)| {
        let wallets = rows
            .into_iter()
            .map(|(currency, balance)| WalletRow {
                wallet_type: "exchange".into(),
                currency,
                balance,
                unsettled_interest: None,
                available: None,
                last_change: None,
                last_change_metadata: None,
            })
            .collect();
        let positions = match kind {
            0 => return AccountInput { name: "a".into(), holdings: Err(denied()) },
            1 => Err(denied()),
            2 => {
                Ok(positions(&format!(r#"[["tETHBTC","ACTIVE",-10,0.035,0,0,{pl},null,null,null,null,2]]"#)))
            }
            _ => Ok(Vec::new()),
        };
        AccountInput::read("a", Holdings { wallets, positions })
    })
}

proptest! {
    /// Whatever the amounts, valuing never panics, and every total shown is the exact sum of its
    /// parts: accounts of their valued wallets, the portfolio of its accounts and of its assets;
    /// and the same holdings in another order give the same totals.
    #[test]
    fn totals_are_the_sum_of_their_parts(
        accounts in prop::collection::vec(prop::collection::vec(holding(), 0..8), 0..4),
        quote in prop::sample::select(vec!["USD", "BTC", "EUR", "UST"]),
    ) {
        let inputs: Vec<AccountInput> = accounts
            .iter()
            .enumerate()
            .map(|(i, rows)| {
                let wallets = rows
                    .iter()
                    .map(|(c, a)| WalletRow {
                        wallet_type: "exchange".into(),
                        currency: c.clone(),
                        balance: *a,
                        unsettled_interest: None,
                        available: None,
                        last_change: None,
                        last_change_metadata: None,
                    })
                    .collect();
                AccountInput::read(&format!("a{i}"), Holdings { wallets, positions: Ok(Vec::new()) })
            })
            .collect();
        let p = value(&inputs, Some(&market()), &Valuation::new(quote));
        // Added one by one, a sum is exact while no partial sum overflows or is rounded (its scale
        // is then the larger of its terms'): the totals must be it then (where it overflows
        // midway, or rounds, the total may still be exact: see the unit tests).
        let sum = |terms: Vec<Option<Decimal>>| {
            terms.into_iter().try_fold(Decimal::ZERO, |acc, t| {
                let t = t?;
                acc.checked_add(t).filter(|next| next.scale() == acc.scale().max(t.scale()))
            })
        };
        for account in &p.accounts {
            let valued: Vec<_> = account.wallets.iter().filter(|w| w.value.is_some()).map(|w| w.value).collect();
            if let Some(expected) = sum(valued) {
                prop_assert_eq!(account.total, Some(expected));
            }
        }
        match sum(p.accounts.iter().map(|a| a.total).collect()) {
            _ if p.accounts.is_empty() => prop_assert_eq!(p.total, None, "no account read: no total"),
            Some(expected) => prop_assert_eq!(p.total, Some(expected)),
            None => {}
        }
        if p.accounts.iter().any(|a| a.total.is_none()) {
            prop_assert_eq!(p.total, None, "an account total unknown: the grand total too");
        }
        // The assets' values add up to the total while none needed rounding: every realistic
        // portfolio.
        let realistic = accounts.iter().flatten().all(|(_, a)| a.abs() < dec("10000000000") && a.scale() <= 8);
        if p.complete && realistic {
            let priced = p.assets.iter().filter(|a| a.value.is_some()).map(|a| a.value).collect();
            prop_assert_eq!(p.total, sum(priced));
        }
        // Summed in another order, every sum is the same: exact sums, rounded once at the end.
        {
            let reversed: Vec<AccountInput> = inputs
                .iter()
                .rev()
                .map(|a| {
                    let mut a = a.clone();
                    if let Ok(h) = &mut a.holdings {
                        h.wallets.reverse();
                    }
                    a
                })
                .collect();
            let r = value(&reversed, Some(&market()), &Valuation::new(quote));
            prop_assert_eq!(r.total, p.total);
            let sums = |p: &bfx_core::portfolio::Portfolio| {
                let mut assets: Vec<_> = p.assets.iter().map(|a| (a.currency.clone(), a.balance, a.value)).collect();
                assets.sort();
                let unpriced: Vec<_> = p.unpriced.iter().map(|u| (u.currency.clone(), u.balance)).collect();
                (assets, unpriced, p.complete)
            };
            prop_assert_eq!(sums(&r), sums(&p));
        }
    }

    /// Totals kept across changes (each changed account's old value taken out, its new one put
    /// in) are those summed from scratch, whatever the changes: accounts failing and recovering,
    /// currencies coming and going, wallets priced or not, positions read or not.
    #[test]
    fn kept_totals_are_those_summed_from_scratch(
        accounts in prop::collection::vec(account(), 1..5),
        changes in prop::collection::vec((0usize..5, account()), 1..8),
    ) {
        let market = market();
        let valuation = Valuation::new("USD");
        let mut pricer = Pricer::new(Some(&market), &valuation);
        let mut inputs = accounts;
        let mut values: Vec<AccountValue> = inputs.iter().map(|a| value_account(a, &mut pricer)).collect();
        let mut totals = Totals::of(&values);
        for (index, input) in changes {
            let index = index % values.len();
            let new = value_account(&input, &mut pricer);
            totals.remove(&values[index]);
            totals.add(&new);
            values[index] = new;
            inputs[index] = input;
            let kept = totals.portfolio(values.clone(), Some(&market), &valuation);
            let scratch = value(&inputs, Some(&market), &valuation);
            prop_assert_eq!(format!("{kept:?}"), format!("{scratch:?}"));
        }
    }
}
