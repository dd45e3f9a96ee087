//! Errors, warnings and the place a setting came from.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a setting came from: a line of a configuration file or a command-line flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A line of a configuration file (lines count from 1).
    File {
        /// The configuration file as it was given to the loader.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A command-line flag (an [`Override`](crate::Override)).
    CommandLine {
        /// The flag as the user typed it, e.g. `--managerport`.
        flag: String,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, line } => write!(f, "{}:{line}", path.display()),
            Self::CommandLine { flag } => write!(f, "command line {flag}"),
        }
    }
}

/// A problem that does not stop loading: an unknown option, an ignored duplicate, a boolean
/// spelled in a way that VoIPmonitor reads as "no", an ignored section.
///
/// Displays as `FILE:LINE: KEY: message` (or `FILE:LINE: message` when no key is involved, and
/// `command line FLAG: message` for command-line overrides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where the problem is.
    pub location: Location,
    /// The option concerned (lowercased), if any.
    pub key: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.location, &self.key) {
            (Location::File { .. }, Some(key)) => {
                write!(f, "{}: {key}: {}", self.location, self.message)
            }
            _ => write!(f, "{}: {}", self.location, self.message),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A line that is neither a comment, a section header nor `key = value`.
    #[error("{}:{line}: {message}", file.display())]
    Syntax {
        /// The configuration file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// A value in the file that does not parse as the option's type.
    #[error("{}:{line}: {key}: {message}", file.display())]
    Value {
        /// The configuration file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The option (lowercased).
        key: String,
        /// What is wrong with the value.
        message: String,
    },
    /// A bad command-line override (bad value or an option this loader does not know).
    #[error("command line {flag}: {message}")]
    Override {
        /// The flag as the user typed it, e.g. `--managerport`.
        flag: String,
        /// The option (lowercased).
        key: String,
        /// What is wrong with the value.
        message: String,
    },
}

impl ConfigError {
    /// Builds the error for a bad value of `key` found at `location`.
    pub(crate) fn value(location: &Location, key: &str, message: String) -> Self {
        match location {
            Location::File { path, line } => Self::Value {
                file: path.clone(),
                line: *line,
                key: key.to_owned(),
                message,
            },
            Location::CommandLine { flag } => Self::Override {
                flag: flag.clone(),
                key: key.to_owned(),
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_location() -> Location {
        Location::File {
            path: PathBuf::from("/etc/x.conf"),
            line: 12,
        }
    }

    #[test]
    fn value_error_in_file_names_file_line_and_key() {
        let e = ConfigError::value(
            &file_location(),
            "managerport",
            "invalid port \"70000\" (expected 0-65535)".to_owned(),
        );
        assert_eq!(
            e.to_string(),
            "/etc/x.conf:12: managerport: invalid port \"70000\" (expected 0-65535)"
        );
    }

    #[test]
    fn value_error_on_command_line_names_the_flag() {
        let location = Location::CommandLine {
            flag: "--managerport".to_owned(),
        };
        let e = ConfigError::value(&location, "managerport", "invalid port \"x\"".to_owned());
        assert_eq!(
            e.to_string(),
            "command line --managerport: invalid port \"x\""
        );
    }

    #[test]
    fn warning_display() {
        let w = Warning {
            location: file_location(),
            key: Some("managerprot".to_owned()),
            message: "unknown option".to_owned(),
        };
        assert_eq!(w.to_string(), "/etc/x.conf:12: managerprot: unknown option");
        let w = Warning { key: None, ..w };
        assert_eq!(w.to_string(), "/etc/x.conf:12: unknown option");
    }

    #[test]
    fn io_error_names_path() {
        let e = ConfigError::Io {
            path: PathBuf::from("/nonexistent.conf"),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert!(
            e.to_string()
                .starts_with("cannot read config file /nonexistent.conf: ")
        );
    }
}
