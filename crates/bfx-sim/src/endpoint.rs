//! The endpoints the emulator serves, named as Bitfinex's rate-limit table names them.
//!
//! An endpoint's name keys its rate-limit budget (per client IP), its entry in the state file's
//! `[limits].per_minute`, and, for `auth/…` endpoints, the path that is signed (`/api/v2/` + name).

/// One emulated endpoint. `ticker/{symbol}` and `conf/{keys}` each share one budget across all
/// their arguments, as on Bitfinex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    Wallets,
    Permissions,
    UserInfo,
    Positions,
    /// `auth/r/ledgers/hist` and `auth/r/ledgers/{CURRENCY}/hist`: one budget, as in the spec's table.
    Ledgers,
    Tickers,
    Ticker,
    Conf,
    PlatformStatus,
    /// `candles/{key}/hist` and `candles/{key}/last`: one budget across every key and section.
    Candles,
}

impl Endpoint {
    pub(crate) const ALL: [Endpoint; 10] = [
        Endpoint::Wallets,
        Endpoint::Permissions,
        Endpoint::UserInfo,
        Endpoint::Positions,
        Endpoint::Ledgers,
        Endpoint::Tickers,
        Endpoint::Ticker,
        Endpoint::Conf,
        Endpoint::PlatformStatus,
        Endpoint::Candles,
    ];

    /// The name used in the spec's rate-limit table and in `[limits].per_minute`.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Endpoint::Wallets => "auth/r/wallets",
            Endpoint::Permissions => "auth/r/permissions",
            Endpoint::UserInfo => "auth/r/info/user",
            Endpoint::Positions => "auth/r/positions",
            Endpoint::Ledgers => "auth/r/ledgers/hist",
            Endpoint::Tickers => "tickers",
            Endpoint::Ticker => "ticker",
            Endpoint::Conf => "conf",
            Endpoint::PlatformStatus => "platform/status",
            Endpoint::Candles => "candles",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Requests per window allowed by default: each endpoint's documented per-minute budget.
    pub(crate) const fn default_limit(self) -> u32 {
        match self {
            // Candles: "Rate Limit: 30 reqs/min" on the current candles page (older pages: 90).
            Endpoint::Tickers | Endpoint::PlatformStatus | Endpoint::Candles => 30,
            Endpoint::Wallets
            | Endpoint::Permissions
            | Endpoint::UserInfo
            | Endpoint::Positions
            | Endpoint::Ledgers
            | Endpoint::Ticker
            | Endpoint::Conf => 90,
        }
    }

    /// The permission scope an authenticated endpoint needs read access to. The docs don't say;
    /// the spec infers `wallets`, `account`, `positions` and `history` from the scope names.
    /// `permissions` needs none.
    pub(crate) const fn required_scope(self) -> Option<&'static str> {
        match self {
            Endpoint::Wallets => Some("wallets"),
            Endpoint::UserInfo => Some("account"),
            Endpoint::Positions => Some("positions"),
            Endpoint::Ledgers => Some("history"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(endpoint.name()), Some(endpoint));
        }
        assert_eq!(Endpoint::from_name("auth/r/wallets/hist"), None);
        assert_eq!(Endpoint::from_name("auth/r/positions"), Some(Endpoint::Positions));
    }

    #[test]
    fn budgets_follow_the_spec_table() {
        let budgets: Vec<(&str, u32)> = Endpoint::ALL.iter().map(|e| (e.name(), e.default_limit())).collect();
        assert_eq!(
            budgets,
            [
                ("auth/r/wallets", 90),
                ("auth/r/permissions", 90),
                ("auth/r/info/user", 90),
                ("auth/r/positions", 90),
                ("auth/r/ledgers/hist", 90),
                ("tickers", 30),
                ("ticker", 90),
                ("conf", 90),
                ("platform/status", 30),
                ("candles", 30),
            ]
        );
    }
}
