//! `auth/r/info/user`: `[ID, EMAIL, USERNAME, MTS_ACCOUNT_CREATE, VERIFIED, …]` (up to 55 fields;
//! only the first three are read).

use serde::Serialize;

use crate::parse::{ParseError, Row};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub email: Option<String>,
    pub username: Option<String>,
}

pub fn parse_user_info(body: &[u8]) -> Result<UserInfo, ParseError> {
    const WHAT: &str = "user info";
    let raw: &serde_json::value::RawValue = serde_json::from_slice(body).map_err(|e| ParseError {
        what: WHAT,
        row: None,
        field: None,
        reason: e.to_string(),
    })?;
    let row = Row::new(WHAT, None, raw)?;
    Ok(UserInfo {
        id: row.integer(0, "ID")?,
        email: row.opt_string(1, "EMAIL")?,
        username: row.opt_string(2, "USERNAME")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_rows() {
        let u = parse_user_info(br#"[1001,"main@example.com","main"]"#).unwrap();
        assert_eq!(
            u,
            UserInfo { id: 1001, email: Some("main@example.com".into()), username: Some("main".into()) }
        );
        let u = parse_user_info(br#"[7,null,null,1600000000000,1,2,null,"UTC"]"#).unwrap();
        assert_eq!((u.id, u.email), (7, None));
        assert_eq!(parse_user_info(br#"["x"]"#).unwrap_err().field, Some("ID"));
    }
}
