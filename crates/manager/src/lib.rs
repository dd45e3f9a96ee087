//! voipsensor's manager API over the network: the server (TCP and Unix sockets, limits,
//! runtime sockets, graceful shutdown) and a blocking client.
//!
//! The wire format itself lives in `voipsensor-manager-proto`; this crate only moves bytes.
//! [`Server::run`] takes bound listeners and a cancellation token, so tests bind port 0 and
//! speak raw bytes to it.

pub mod client;
mod files;
pub mod keys;
pub mod server;
pub mod unix_socket;

pub use keys::{KeyProvider, StaticKey};
pub use server::{Limits, Listeners, Server, Settings};
pub use tokio_util::sync::CancellationToken;
pub use unix_socket::{BindError, SocketFile};
