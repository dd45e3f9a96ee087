//! Configuration loader for voipsensor, compatible with VoIPmonitor's `voipmonitor.conf`.
//!
//! The file is INI text read the way the VoIPmonitor sniffer reads it (only section
//! `[general]`, case-insensitive keys, `;`/`#` comment lines, ` #` trailing comments, repeated
//! keys, `y`/`Y`/`1` booleans). Loading happens in two layers: [`parse_str`] first splits the
//! text into raw `key = value` entries, then resolves the options voipsensor implements into the
//! typed [`Config`], strictly: a bad value is a [`ConfigError`] naming file, line and key.
//! Command-line [`Override`]s always win over the file.
//!
//! Nothing here is fatal that VoIPmonitor would accept: options VoIPmonitor knows but voipsensor
//! does not implement are collected in [`Loaded::unimplemented`], and unknown keys, ignored
//! duplicates, ignored sections and booleans that read as "no" by surprise become
//! [`Warning`]s for the caller to log.
//!
//! Secrets (`mysqlpassword`, `manager_aes_key`, `manager_aes_iv`) are wrapped in [`Secret`], which
//! never prints its content.
//!
//! ```
//! use std::path::Path;
//! use voipsensor_config::{Override, parse_str};
//!
//! let text = "managerport = 5030 # trailing comment\nsipport = 5060,5070-5080\n";
//! let flags = [Override {
//!     key: "managerip".into(),
//!     value: "::1".into(),
//!     source: "--managerip".into(),
//! }];
//! let loaded = parse_str(text, Path::new("/etc/voipsensor.conf"), &flags)?;
//! assert_eq!(loaded.config.manager_port, 5030);
//! assert_eq!(loaded.config.manager_ip.to_string(), "::1");
//! assert_eq!(loaded.config.sip_ports.to_reference_list(), "5060,5070-5080,");
//! assert!(loaded.warnings.is_empty());
//! # Ok::<(), voipsensor_config::ConfigError>(())
//! ```

mod error;
mod known;
mod options;
mod parse;
mod ports;
mod secret;
mod values;

use std::path::Path;

pub use error::{ConfigError, Location, Warning};
pub use known::{KNOWN_UNIMPLEMENTED, is_known_unimplemented};
pub use options::{
    Config, DEFAULT_MANAGER_MAX_CONNECTIONS, DEFAULT_MANAGER_MAX_REQUEST_BYTES,
    DEFAULT_MANAGER_PORT, DEFAULT_MANAGER_REQUEST_TIMEOUT, DEFAULT_MYSQL_DATABASE,
    DEFAULT_MYSQL_HOST, DEFAULT_MYSQL_PORT, DEFAULT_MYSQL_USERNAME, DEFAULT_SIP_PORT,
    DEFAULT_SPOOLDIR, DEFAULT_SQLITE_PATH, Database, IMPLEMENTED, MIN_MANAGER_MAX_REQUEST_BYTES,
    MIN_MANAGER_REQUEST_TIMEOUT, MysqlConfig, SaveRtp, SpoolLimits,
};
pub use ports::PortSet;
pub use secret::Secret;
pub use values::MAX_UNIX_SOCKET_PATH_BYTES;

use options::Collected;

/// A setting given on the command line; it beats the file's value of the same option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Option name as in the file (case-insensitive), e.g. `managerport`.
    pub key: String,
    /// The value, in the file's syntax (e.g. `5060,5070-5080` for `sipport`).
    pub value: String,
    /// The flag as the user typed it, used in messages, e.g. `--managerport`.
    pub source: String,
}

/// The result of loading: the typed configuration plus what the caller should report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The resolved configuration.
    pub config: Config,
    /// Non-fatal problems, in file order (command-line ones last); log each at warn level.
    pub warnings: Vec<Warning>,
    /// VoIPmonitor options that were set but that voipsensor does not implement, sorted and
    /// deduplicated; report them once, in one line, at debug level.
    pub unimplemented: Vec<String>,
}

/// Loads the configuration file at `path` (or only the built-in defaults when `None`) and
/// applies `overrides` on top.
///
/// # Errors
///
/// [`ConfigError::Io`] when the file cannot be read (a missing file included), otherwise as
/// [`parse_str`].
pub fn load(path: Option<&Path>, overrides: &[Override]) -> Result<Loaded, ConfigError> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            parse_str(&text, path, overrides)
        }
        None => {
            let mut collected = Collected::default();
            collected.apply_overrides(overrides)?;
            collected.resolve()
        }
    }
}

/// Parses configuration text; `origin` is the file name used in messages.
///
/// # Errors
///
/// [`ConfigError::Syntax`] for a line that is not a comment, section header or `key = value`;
/// [`ConfigError::Value`] for a bad value of an implemented option; [`ConfigError::Override`]
/// for a bad override value or an override of an option this loader does not know.
pub fn parse_str(text: &str, origin: &Path, overrides: &[Override]) -> Result<Loaded, ConfigError> {
    let raw = parse::parse_ini(text, origin)?;
    let mut collected = Collected::from_file(raw, origin);
    collected.apply_overrides(overrides)?;
    collected.resolve()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn flag(key: &str, value: &str) -> Override {
        Override {
            key: key.to_owned(),
            value: value.to_owned(),
            source: format!("--{key}"),
        }
    }

    #[test]
    fn no_file_gives_defaults() {
        let loaded = load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.warnings.is_empty());
        assert!(loaded.unimplemented.is_empty());
    }

    #[test]
    fn no_file_with_overrides() {
        let loaded = load(None, &[flag("managerport", "0"), flag("sipport", "5080")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.config.manager_port, 0);
        assert_eq!(loaded.config.sip_ports.to_reference_list(), "5080,");
    }

    #[test]
    fn missing_file_is_io_error_naming_path() {
        let path = PathBuf::from("/nonexistent/voipsensor-test.conf");
        let err = load(Some(&path), &[]).err();
        assert!(matches!(&err, Some(ConfigError::Io { path: p, .. }) if *p == path));
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with("cannot read config file /nonexistent/voipsensor-test.conf: "),
            "{msg}"
        );
    }
}
