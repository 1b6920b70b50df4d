//! An API key and its secret. The key is not secret (Bitfinex shows it in the UI and it travels in
//! a header); the secret is held as a [`SecretString`] from the moment it is read and is never
//! printed, logged or included in errors.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

#[derive(Clone)]
pub struct Credentials {
    key: String,
    secret: SecretString,
}

impl Credentials {
    pub fn new(key: impl Into<String>, secret: SecretString) -> Credentials {
        Credentials { key: key.into(), secret }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn secret_bytes(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("key", &self.key).field("secret", &"[REDACTED]").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let creds = Credentials::new("my-key", SecretString::from("CANARY-7f3a9c"));
        let debug = format!("{creds:?} {creds:#?}");
        assert!(debug.contains("my-key"));
        assert!(!debug.contains("CANARY-7f3a9c"), "{debug}");
    }
}
