//! A string that must never reach a log.

use std::fmt;

/// A secret value (password, AES key, AES IV) as written in the configuration.
///
/// `Debug` and `Display` print `<redacted>`, so a `Config` can be logged with `{:?}` without
/// leaking credentials. The content is only reachable through [`Secret::expose`], whose name
/// makes every use visible in review.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret text itself. Never log or print it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `true` when the secret is the empty string.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert!(!format!("{s:#?}").contains("hunter2"));
    }

    #[test]
    fn expose_and_is_empty() {
        let s = Secret::from("k3y");
        assert_eq!(s.expose(), "k3y");
        assert!(!s.is_empty());
        assert!(Secret::default().is_empty());
        assert_eq!(Secret::from(String::from("a")), Secret::new("a"));
    }
}
