//! The tasks that keep a [`crate::live::Model`] current, each delivering on a channel that the
//! caller's loop applies to the model (`bfx watch` and `bfx serve` run the same ones): every
//! account's stream, the market over REST, open positions over REST. Each task ends once its
//! receiver is dropped.

use std::time::{Duration, Instant};

use bfx_core::portfolio::AccountError;
use bfx_core::{Market, Position};
use tokio::sync::mpsc;

use crate::client::Client;
use crate::portfolio::Account;
use crate::stream::{StreamEvent, StreamOptions};

/// How often the market is fetched: 6 of the 30 `tickers` requests a minute Bitfinex allows.
pub const PRICE_REFRESH: Duration = Duration::from_secs(10);

/// Fetches the market now and every [`PRICE_REFRESH`], each with the time it was asked for. A
/// failed fetch keeps the last market (or none: values then say "no prices").
pub fn price_refresh(client: Client) -> mpsc::Receiver<(Market, Instant)> {
    let (sender, receiver) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let asked = Instant::now();
            if let Ok(market) = client.market().await
                && sender.send((market, asked)).await.is_err()
            {
                return;
            }
            tokio::time::sleep(PRICE_REFRESH).await;
        }
    });
    receiver
}

/// One stream per account, their events merged on one channel (account name, event); the
/// channel closes once every stream has ended.
pub fn account_streams(
    client: &Client,
    accounts: Vec<Account>,
    options: StreamOptions,
) -> mpsc::Receiver<(String, StreamEvent)> {
    let (lines, receiver) = mpsc::channel::<(String, StreamEvent)>(256);
    // Each stream sends here itself: a channel and a forwarding task per account cost ~2 KiB
    // each (1 000 accounts: 2 MiB). Dropping the receiver stops them all.
    for account in accounts {
        client.shared_account_stream(account.name, account.credentials, options.clone(), lines.clone());
    }
    receiver
}

/// Reads every account's open positions now and then every `every` (the stream does not carry
/// them), one account after the other inside the client's shared budget, each failure as
/// `bfx balances --json` records it (the wallets stay valid).
pub fn positions_refresh(
    client: Client,
    accounts: &[Account],
    every: Duration,
) -> mpsc::Receiver<(String, Result<Vec<Position>, AccountError>)> {
    let accounts = accounts.to_vec();
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            for account in &accounts {
                let read = client.positions(&account.credentials).await.map_err(|e| e.account_error());
                if sender.send((account.name.clone(), read)).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(every).await;
        }
    });
    receiver
}
