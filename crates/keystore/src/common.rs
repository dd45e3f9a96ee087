//! What both backends share: the rows' meaning, and keeping secrets out of messages.

use zeroize::Zeroizing;

use crate::{ManagerKey, SensorRecord, StoreError};

/// Longest wait for a lock or a busy database before a call fails.
pub(crate) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The manager key of the first `manager_key` row, whose `system.id` is `id` and whose
/// `content` is `content` (`None` for SQL `NULL` or a non-text value).
pub(crate) fn parse_key_row(
    db: &str,
    id: i64,
    content: Option<Zeroizing<Vec<u8>>>,
) -> Result<ManagerKey, StoreError> {
    content
        .as_deref()
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(ManagerKey::from_json)
        .ok_or_else(|| StoreError::BadKeyRow {
            db: db.to_owned(),
            id,
        })
}

/// A `sensors` row as read: `NULL` name or host read as empty, a `NULL` port as 0.
pub(crate) fn sensor_from_row(
    db: &str,
    id_sensor: u32,
    name: Option<String>,
    host: Option<String>,
    port: Option<i64>,
) -> Result<SensorRecord, StoreError> {
    let port = port.unwrap_or(0);
    let port = u16::try_from(port).map_err(|_| StoreError::Query {
        db: db.to_owned(),
        reason: format!("sensors.port of id_sensor {id_sensor} is {port}, not a TCP port"),
    })?;
    Ok(SensorRecord {
        id_sensor,
        name: name.unwrap_or_default(),
        host: host.unwrap_or_default(),
        port,
    })
}

/// `text` with every occurrence of each non-empty secret replaced by `<redacted>`.
///
/// Drivers' messages are not meant to echo passwords or bound values, but a message built
/// from one reaches logs: this is the last line of defence, applied to every error text.
pub(crate) fn scrub(text: String, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text, |text, secret| text.replace(secret, "<redacted>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rows() {
        let json = |s: &str| Some(Zeroizing::new(s.as_bytes().to_vec()));
        let key = parse_key_row("db", 1, json(r#"{"key":"a2V5","iv":"aXY="}"#)).expect("valid");
        assert_eq!(key, ManagerKey::new("a2V5", "aXY="));
        for bad in [
            json(r#"{"key":"x"}"#),
            json("{"),
            Some(Zeroizing::new(vec![0xff])),
            None,
        ] {
            match parse_key_row("sqlite /x", 7, bad) {
                Err(StoreError::BadKeyRow { db, id }) => {
                    assert_eq!((db.as_str(), id), ("sqlite /x", 7))
                }
                other => panic!("expected BadKeyRow, got {other:?}"),
            }
        }
    }

    #[test]
    fn sensor_rows() {
        let r = sensor_from_row("db", 3, None, Some("h".into()), Some(5029)).expect("valid");
        assert_eq!(
            r,
            SensorRecord {
                id_sensor: 3,
                name: String::new(),
                host: "h".into(),
                port: 5029
            }
        );
        assert_eq!(
            sensor_from_row("db", 3, None, None, None)
                .expect("nulls")
                .port,
            0
        );
        let err = sensor_from_row("db", 3, None, None, Some(70_000)).expect_err("out of range");
        assert!(err.to_string().contains("70000"), "{err}");
        assert!(sensor_from_row("db", 3, None, None, Some(-1)).is_err());
    }

    #[test]
    fn scrub_removes_secrets() {
        let text = "Access denied for hunter2 (hunter2) key a2V5".to_owned();
        assert_eq!(
            scrub(text, &["hunter2", "", "a2V5"]),
            "Access denied for <redacted> (<redacted>) key <redacted>"
        );
    }
}
