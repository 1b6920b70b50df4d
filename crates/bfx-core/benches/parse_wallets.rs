//! Parsing a `POST /v2/auth/r/wallets` body of 1 000 rows: `bfx_core::parse_wallets`.
//! `cargo bench -p bfx-core --bench parse_wallets`; see BENCHMARKS.md.

use bfx_core::parse_wallets;
use divan::{Bencher, black_box, counter::ItemsCount};

fn main() {
    divan::main();
}

/// A body of `rows` wallet rows in Bitfinex's positional shape, cycling through the three wallet
/// types and the row variants seen on the wire: `null` available, metadata objects, exponents.
fn wallets_body(rows: usize) -> String {
    let types = ["exchange", "margin", "funding"];
    let mut body = String::from("[");
    for i in 0..rows {
        if i > 0 {
            body.push(',');
        }
        let kind = types[i % 3];
        let currency = format!("C{i:04}");
        let row = match i % 4 {
            0 => format!(r#"["{kind}","{currency}",{i}.12345678,0,null,null,null]"#),
            1 => format!(
                r#"["{kind}","{currency}",0.{i:08},0,0.{i:08},"Trading fees for 0.1 BTC (BTCUSD) @ 50000.0 on BFX (0.2%)",{{"reason":"TRADE","order_id":{i},"order_id_oppo":{i},"trade_price":"50000.0","trade_amount":"0.1"}}]"#
            ),
            2 => format!(r#"["{kind}","{currency}",1e-8,0,null,"Deposit (BTC) #{i}",null]"#),
            _ => format!(r#"["{kind}","{currency}",123456789.123456789,-0.5,1000.5]"#),
        };
        body.push_str(&row);
    }
    body.push(']');
    body
}

#[divan::bench(args = [1_000])]
fn rows(bencher: Bencher, rows: usize) {
    let body = wallets_body(rows);
    assert_eq!(parse_wallets(body.as_bytes()).map(|w| w.len()), Ok(rows), "generated body must parse");
    bencher.counter(ItemsCount::new(rows)).bench(|| parse_wallets(black_box(body.as_bytes())));
}
