//! SIP request methods as an open enum.

/// A SIP method. Methods are case-sensitive (RFC 3261 §7.1); anything not listed is
/// [`Method::Other`], never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method<'b> {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// REGISTER
    Register,
    /// OPTIONS
    Options,
    /// INFO
    Info,
    /// UPDATE
    Update,
    /// PRACK
    Prack,
    /// SUBSCRIBE
    Subscribe,
    /// NOTIFY
    Notify,
    /// REFER
    Refer,
    /// MESSAGE
    Message,
    /// PUBLISH
    Publish,
    /// Any other token.
    Other(&'b [u8]),
}

/// The known methods and their wire names, for parsing and resynchronisation.
pub(crate) const KNOWN: [(&[u8], Method<'static>); 14] = [
    (b"INVITE", Method::Invite),
    (b"ACK", Method::Ack),
    (b"BYE", Method::Bye),
    (b"CANCEL", Method::Cancel),
    (b"REGISTER", Method::Register),
    (b"OPTIONS", Method::Options),
    (b"INFO", Method::Info),
    (b"UPDATE", Method::Update),
    (b"PRACK", Method::Prack),
    (b"SUBSCRIBE", Method::Subscribe),
    (b"NOTIFY", Method::Notify),
    (b"REFER", Method::Refer),
    (b"MESSAGE", Method::Message),
    (b"PUBLISH", Method::Publish),
];

impl<'b> Method<'b> {
    /// Maps a method token to its variant (exact, case-sensitive match).
    pub fn from_bytes(b: &'b [u8]) -> Self {
        // A `match` on the literals (a length dispatch) rather than a search through `KNOWN`.
        match b {
            b"INVITE" => Self::Invite,
            b"ACK" => Self::Ack,
            b"BYE" => Self::Bye,
            b"CANCEL" => Self::Cancel,
            b"REGISTER" => Self::Register,
            b"OPTIONS" => Self::Options,
            b"INFO" => Self::Info,
            b"UPDATE" => Self::Update,
            b"PRACK" => Self::Prack,
            b"SUBSCRIBE" => Self::Subscribe,
            b"NOTIFY" => Self::Notify,
            b"REFER" => Self::Refer,
            b"MESSAGE" => Self::Message,
            b"PUBLISH" => Self::Publish,
            _ => Self::Other(b),
        }
    }

    /// The wire name.
    pub fn as_bytes(&self) -> &'b [u8] {
        match *self {
            Self::Other(b) => b,
            known => KNOWN
                .iter()
                .find(|(_, m)| *m == known)
                .map_or(&b""[..], |(name, _)| name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for (name, m) in KNOWN {
            assert_eq!(Method::from_bytes(name), m);
            assert_eq!(m.as_bytes(), name);
        }
        assert_eq!(Method::from_bytes(b"invite"), Method::Other(b"invite"));
        assert_eq!(Method::from_bytes(b"NEWMETHOD").as_bytes(), b"NEWMETHOD");
    }
}
