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
