//! Key permissions from `auth/r/permissions`: `[[SCOPE, READ, WRITE], …]` with 0/1 flags.
//!
//! Documented scopes are `account`, `history`, `orders`, `positions`, `funding`, `settings`,
//! `wallets`, `withdraw`, `ui_withdraw`, `bfxpay`; others appear in practice and are kept.

use serde::Serialize;

use crate::parse::{ParseError, Row, top_level_rows};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    pub scope: String,
    pub read: bool,
    pub write: bool,
}

const WHAT: &str = "permissions";

/// What a balance reader's key should be: `wallets` read, and no write permission at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Reads wallets, writes nothing.
    Ok,
    /// Can write something: whoever holds the key can act on the account.
    OverPrivileged,
    /// Cannot read wallets: useless for balances.
    Missing,
}

/// A key's permissions judged for reading balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub verdict: Verdict,
    /// Scopes the key can read.
    pub read: Vec<String>,
    /// Scopes the key can write, each with why that matters.
    pub write: Vec<WriteRisk>,
    pub wallets_read: bool,
    /// Open positions can be read too (their P/L makes the net total).
    pub positions_read: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteRisk {
    pub scope: String,
    pub risk: String,
}

/// Judges a key by its permissions: any write is over-privileged (that outranks a missing read).
pub fn audit(permissions: &[Permission]) -> Audit {
    let read: Vec<String> = permissions.iter().filter(|p| p.read).map(|p| p.scope.clone()).collect();
    let write: Vec<WriteRisk> = permissions
        .iter()
        .filter(|p| p.write)
        .map(|p| WriteRisk { scope: p.scope.clone(), risk: write_risk(&p.scope) })
        .collect();
    let wallets_read = permissions.iter().any(|p| p.scope == "wallets" && p.read);
    let verdict = if !write.is_empty() {
        Verdict::OverPrivileged
    } else if !wallets_read {
        Verdict::Missing
    } else {
        Verdict::Ok
    };
    let positions_read = permissions.iter().any(|p| p.scope == "positions" && p.read);
    Audit { verdict, read, write, wallets_read, positions_read }
}

fn write_risk(scope: &str) -> String {
    match scope {
        "withdraw" | "ui_withdraw" => "can withdraw funds from the account".to_owned(),
        "orders" => "can place and cancel orders: trade the balances away".to_owned(),
        "funding" => "can offer, take and cancel funding (lend or borrow the balances)".to_owned(),
        "positions" => "can claim, close and change margin positions".to_owned(),
        "wallets" => "can transfer funds between wallets and create deposit addresses".to_owned(),
        "settings" | "account" => "can change account settings".to_owned(),
        "bfxpay" => "can create and manage Bitfinex Pay invoices".to_owned(),
        other => format!("can write {other}"),
    }
}

pub fn parse_permissions(body: &[u8]) -> Result<Vec<Permission>, ParseError> {
    top_level_rows(WHAT, body)?
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let row = Row::new(WHAT, Some(index), raw)?;
            Ok(Permission {
                scope: row.string(0, "SCOPE")?,
                read: flag(&row, 1, "READ")?,
                write: flag(&row, 2, "WRITE")?,
            })
        })
        .collect()
}

fn flag(row: &Row<'_>, i: usize, name: &'static str) -> Result<bool, ParseError> {
    match row.integer(i, name)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(row.error(name, format!("expected 0 or 1, found {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_and_unknown_scopes() {
        let perms = parse_permissions(
            br#"[["account",1,0],["wallets",1,0],["withdraw",0,1],["eaas_agreement",1,1]]"#,
        )
        .unwrap();
        assert_eq!(perms.len(), 4);
        assert_eq!(perms[1], Permission { scope: "wallets".into(), read: true, write: false });
        assert_eq!(perms[2], Permission { scope: "withdraw".into(), read: false, write: true });
        assert_eq!(perms[3].scope, "eaas_agreement");
    }

    fn perms(list: &[(&str, bool, bool)]) -> Vec<Permission> {
        list.iter().map(|(s, r, w)| Permission { scope: (*s).into(), read: *r, write: *w }).collect()
    }

    #[test]
    fn audits() {
        let ok =
            audit(&perms(&[("account", true, false), ("wallets", true, false), ("orders", false, false)]));
        assert_eq!(
            (ok.verdict, ok.read.clone()),
            (Verdict::Ok, vec!["account".to_owned(), "wallets".to_owned()])
        );
        let over =
            audit(&perms(&[("wallets", true, false), ("orders", true, true), ("withdraw", false, true)]));
        assert_eq!(over.verdict, Verdict::OverPrivileged);
        assert_eq!(over.write.iter().map(|w| w.scope.as_str()).collect::<Vec<_>>(), ["orders", "withdraw"]);
        assert_eq!(over.write[1].risk, "can withdraw funds from the account");
        let missing = audit(&perms(&[("account", true, false), ("wallets", false, false)]));
        assert_eq!(missing.verdict, Verdict::Missing);
        let both = audit(&perms(&[("withdraw", true, true)]));
        assert_eq!((both.verdict, both.wallets_read), (Verdict::OverPrivileged, false));
        assert_eq!(
            audit(&perms(&[("eaas_x", true, true), ("wallets", true, false)])).write[0].risk,
            "can write eaas_x"
        );
    }

    #[test]
    fn bad_flags_name_the_field() {
        let e = parse_permissions(br#"[["account",1,0],["orders",2,0]]"#).unwrap_err();
        assert_eq!((e.row, e.field), (Some(1), Some("READ")));
        let e = parse_permissions(br#"[["orders",1]]"#).unwrap_err();
        assert_eq!((e.row, e.field), (Some(0), Some("WRITE")));
        let e = parse_permissions(br#"[["orders",true,false]]"#).unwrap_err();
        assert_eq!(e.field, Some("READ"));
    }
}
