//! The VoIPmonitor manager API wire format, without I/O.
//!
//! Shared by the server and the client so they cannot drift apart:
//!
//! - [`framing`]: when a request is complete (the 500 ms / `\r\n\r\n` / `:sea` rules) and how
//!   its bytes become one command line;
//! - [`registry`]: the command table, its AES policy flags and the lookup rules;
//! - [`dispatch`]: access rules (`need aes!`) and the pure command handlers, which read the
//!   sensor through the [`dispatch::SensorState`] trait;
//! - [`listcalls`], [`listregisters`], [`sniffer_stat`], [`help`]: reply formats, byte-exact
//!   with the reference sniffer's recorded replies;
//! - [`json`]: table values and the reference's JSON conventions; [`zip`]: the gzip stage;
//!   [`output`]: gzip and AES for replies produced piece by piece;
//! - [`files`]: the file commands' arguments, path confinement rules, spool directory choice,
//!   replies, and where a pcap still being written may be cut.
//!
//! Nothing here reads a clock, a socket or a file: the server passes bytes in and gets bytes out
//! (for the file commands it also resolves, opens and streams the file).

pub mod aes;
pub mod dispatch;
pub mod files;
pub mod filter;
pub mod framing;
pub mod help;
pub mod json;
pub mod listcalls;
pub mod listregisters;
pub mod output;
pub mod registry;
pub mod sniffer_stat;
pub mod zip;

/// The manager API level reported by `getversion`.
///
/// GUIs written for VoIPmonitor enable features by comparing the sniffer's version, so the
/// sensor reports the reference release whose manager API it implements; the build string says
/// what is really answering.
pub const VERSION: &str = "2026.04.0";

/// The build reported by `getbuild`: this implementation and its version.
pub const BUILD: &str = concat!("voipsensor-", env!("CARGO_PKG_VERSION"));
