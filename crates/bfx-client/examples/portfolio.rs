//! Reads one account and prints its valued wallets and total: the library call behind
//! `bfx balances`.
//!
//! ```text
//! BFX_API_URL=http://127.0.0.1:8787 BFX_API_KEY=demo-main BFX_API_SECRET=demo-main-secret \
//!     cargo run -p bfx-client --example portfolio -- USD
//! ```
//! `BFX_API_URL` defaults to Bitfinex itself; the argument is the quote (default `USD`).

use std::process::ExitCode;

use bfx_client::{Account, Client, Credentials, Endpoints};
use bfx_core::format_decimal;
use bfx_core::portfolio::Valuation;
use secrecy::SecretString;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let endpoints = match std::env::var("BFX_API_URL") {
        Ok(url) => Endpoints::single(&url)?,
        Err(_) => Endpoints::bitfinex(),
    };
    // The secret is a `SecretString` from the moment it is read: it never prints.
    let secret = SecretString::from(var("BFX_API_SECRET")?);
    let account = Account { name: "main".into(), credentials: Credentials::new(var("BFX_API_KEY")?, secret) };
    let quote = std::env::args().nth(1).unwrap_or_else(|| "USD".to_owned());

    let client = Client::builder().endpoints(endpoints).build()?;
    let portfolio = client.portfolio(&[account], &Valuation::new(&quote)).await?;

    let text = |v: Option<rust_decimal::Decimal>| v.map_or_else(|| "-".to_owned(), format_decimal);
    for account in &portfolio.accounts {
        if let Some(error) = &account.error {
            return Err(format!("account {}: {} ({:?})", account.name, error.message, error.code).into());
        }
        for w in &account.wallets {
            let worth = match &w.unpriced {
                None => format!("{} {quote}", text(w.value)),
                Some(why) => format!("unpriced: {why}"),
            };
            println!("{:<9} {:<8} {:>24}  {worth}", w.wallet_type, w.currency, format_decimal(w.balance));
        }
    }
    println!(
        "total {} {quote}{}",
        text(portfolio.total),
        if portfolio.complete { "" } else { " (incomplete)" }
    );
    Ok(())
}
