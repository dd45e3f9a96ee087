//! Header names: the known kinds (with RFC 3261 compact forms) and the header index entry.

/// Headers the sensor looks at, recognised once at parse time so lookups compare one byte.
/// Names are case-insensitive; compact forms map to the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderKind {
    /// `Call-ID` / `i`
    CallId,
    /// `From` / `f`
    From,
    /// `To` / `t`
    To,
    /// `Contact` / `m`
    Contact,
    /// `Via` / `v`
    Via,
    /// `CSeq`
    CSeq,
    /// `Content-Type` / `c`
    ContentType,
    /// `Content-Length` / `l`
    ContentLength,
    /// `Content-Encoding` / `e`
    ContentEncoding,
    /// `Supported` / `k`
    Supported,
    /// `Subject` / `s`
    Subject,
    /// `Session-Expires` / `x`
    SessionExpires,
    /// `Event` / `o`
    Event,
    /// `Allow-Events` / `u`
    AllowEvents,
    /// `Refer-To` / `r`
    ReferTo,
    /// `Referred-By` / `b`
    ReferredBy,
    /// `Expires`
    Expires,
    /// `User-Agent`
    UserAgent,
    /// `Server`
    Server,
    /// `Authorization`
    Authorization,
    /// `Proxy-Authorization`
    ProxyAuthorization,
    /// `WWW-Authenticate`
    WwwAuthenticate,
    /// `Proxy-Authenticate`
    ProxyAuthenticate,
    /// `Record-Route`
    RecordRoute,
    /// `Route`
    Route,
    /// `Max-Forwards`
    MaxForwards,
    /// `Reason`
    Reason,
    /// `P-Asserted-Identity`
    PAssertedIdentity,
    /// `P-Preferred-Identity`
    PPreferredIdentity,
    /// `Remote-Party-ID`
    RemotePartyId,
    /// Any other header; compare names with [`Header::name`].
    Other,
}

/// Every full name, for tests that check the dispatch above.
#[cfg(test)]
const FULL: [(&[u8], HeaderKind); 30] = [
    (b"call-id", HeaderKind::CallId),
    (b"from", HeaderKind::From),
    (b"to", HeaderKind::To),
    (b"contact", HeaderKind::Contact),
    (b"via", HeaderKind::Via),
    (b"cseq", HeaderKind::CSeq),
    (b"content-type", HeaderKind::ContentType),
    (b"content-length", HeaderKind::ContentLength),
    (b"content-encoding", HeaderKind::ContentEncoding),
    (b"supported", HeaderKind::Supported),
    (b"subject", HeaderKind::Subject),
    (b"session-expires", HeaderKind::SessionExpires),
    (b"event", HeaderKind::Event),
    (b"allow-events", HeaderKind::AllowEvents),
    (b"refer-to", HeaderKind::ReferTo),
    (b"referred-by", HeaderKind::ReferredBy),
    (b"expires", HeaderKind::Expires),
    (b"user-agent", HeaderKind::UserAgent),
    (b"server", HeaderKind::Server),
    (b"authorization", HeaderKind::Authorization),
    (b"proxy-authorization", HeaderKind::ProxyAuthorization),
    (b"www-authenticate", HeaderKind::WwwAuthenticate),
    (b"proxy-authenticate", HeaderKind::ProxyAuthenticate),
    (b"record-route", HeaderKind::RecordRoute),
    (b"route", HeaderKind::Route),
    (b"max-forwards", HeaderKind::MaxForwards),
    (b"reason", HeaderKind::Reason),
    (b"p-asserted-identity", HeaderKind::PAssertedIdentity),
    (b"p-preferred-identity", HeaderKind::PPreferredIdentity),
    (b"remote-party-id", HeaderKind::RemotePartyId),
];

impl HeaderKind {
    /// Classifies a header name (case-insensitive, compact forms included).
    pub fn from_name(name: &[u8]) -> Self {
        if let [c] = name {
            return match c.to_ascii_lowercase() {
                b'i' => Self::CallId,
                b'f' => Self::From,
                b't' => Self::To,
                b'm' => Self::Contact,
                b'v' => Self::Via,
                b'c' => Self::ContentType,
                b'l' => Self::ContentLength,
                b'e' => Self::ContentEncoding,
                b'k' => Self::Supported,
                b's' => Self::Subject,
                b'x' => Self::SessionExpires,
                b'o' => Self::Event,
                b'u' => Self::AllowEvents,
                b'r' => Self::ReferTo,
                b'b' => Self::ReferredBy,
                _ => Self::Other,
            };
        }
        // Lower-case into a small stack buffer and let the compiler build the length/byte
        // dispatch of one `match` over literals.
        let mut lower = [0u8; 20];
        let Some(dst) = lower.get_mut(..name.len()) else {
            return Self::Other;
        };
        for (d, s) in dst.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        match &*dst {
            b"call-id" => Self::CallId,
            b"from" => Self::From,
            b"to" => Self::To,
            b"contact" => Self::Contact,
            b"via" => Self::Via,
            b"cseq" => Self::CSeq,
            b"content-type" => Self::ContentType,
            b"content-length" => Self::ContentLength,
            b"content-encoding" => Self::ContentEncoding,
            b"supported" => Self::Supported,
            b"subject" => Self::Subject,
            b"session-expires" => Self::SessionExpires,
            b"event" => Self::Event,
            b"allow-events" => Self::AllowEvents,
            b"refer-to" => Self::ReferTo,
            b"referred-by" => Self::ReferredBy,
            b"expires" => Self::Expires,
            b"user-agent" => Self::UserAgent,
            b"server" => Self::Server,
            b"authorization" => Self::Authorization,
            b"proxy-authorization" => Self::ProxyAuthorization,
            b"www-authenticate" => Self::WwwAuthenticate,
            b"proxy-authenticate" => Self::ProxyAuthenticate,
            b"record-route" => Self::RecordRoute,
            b"route" => Self::Route,
            b"max-forwards" => Self::MaxForwards,
            b"reason" => Self::Reason,
            b"p-asserted-identity" => Self::PAssertedIdentity,
            b"p-preferred-identity" => Self::PPreferredIdentity,
            b"remote-party-id" => Self::RemotePartyId,
            _ => Self::Other,
        }
    }
}

/// A header of a parsed message: slices of the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    /// The name as written (any case, possibly a compact form).
    pub name: &'b [u8],
    /// The value without surrounding whitespace. A folded value keeps its inner line breaks;
    /// the typed accessors treat them as whitespace.
    pub value: &'b [u8],
    /// The recognised kind.
    pub kind: HeaderKind,
}

impl Header<'_> {
    /// Whether this header has the given name (case-insensitive, compact forms included).
    pub fn is_named(&self, name: &[u8]) -> bool {
        match HeaderKind::from_name(name) {
            HeaderKind::Other => {
                self.kind == HeaderKind::Other && self.name.eq_ignore_ascii_case(name)
            }
            kind => self.kind == kind,
        }
    }
}

/// One entry of a header index: where a header sits in its message (16 bytes, no borrow), so
/// one `[HeaderPos::EMPTY; MAX_HEADERS]` can be reused for every message without
/// re-initialising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPos {
    name_start: u32,
    value_start: u32,
    value_len: u32,
    name_len: u16,
    kind: HeaderKind,
}

impl HeaderPos {
    /// An unused entry, for initialising an index.
    pub const EMPTY: Self = Self {
        name_start: 0,
        value_start: 0,
        value_len: 0,
        name_len: 0,
        kind: HeaderKind::Other,
    };

    /// Records a header from offsets into its message; `None` when they do not fit.
    pub(crate) fn new(
        name: (usize, usize),
        value: (usize, usize),
        kind: HeaderKind,
    ) -> Option<Self> {
        Some(Self {
            name_start: u32::try_from(name.0).ok()?,
            name_len: u16::try_from(name.1).ok()?,
            value_start: u32::try_from(value.0).ok()?,
            value_len: u32::try_from(value.1).ok()?,
            kind,
        })
    }

    /// The recognised kind.
    pub fn kind(&self) -> HeaderKind {
        self.kind
    }

    /// The value inside `base` (empty if the entry does not belong to it).
    pub(crate) fn value<'b>(&self, base: &'b [u8]) -> &'b [u8] {
        let start = self.value_start as usize;
        base.get(start..start + self.value_len as usize)
            .unwrap_or_default()
    }

    /// The header inside `base`.
    pub(crate) fn view<'b>(&self, base: &'b [u8]) -> Header<'b> {
        let start = self.name_start as usize;
        Header {
            name: base
                .get(start..start + usize::from(self.name_len))
                .unwrap_or_default(),
            value: self.value(base),
            kind: self.kind,
        }
    }
}

/// Iterator over the headers of a message, in order ([`crate::Message::headers`]).
#[derive(Debug, Clone)]
pub struct HeaderIter<'h, 'b> {
    pub(crate) index: std::slice::Iter<'h, HeaderPos>,
    pub(crate) base: &'b [u8],
}

impl<'b> HeaderIter<'_, 'b> {
    /// The value of the next header of `kind`.
    pub(crate) fn next_of(&mut self, kind: HeaderKind) -> Option<&'b [u8]> {
        let base = self.base;
        self.index.find(|h| h.kind == kind).map(|h| h.value(base))
    }
}

impl<'b> Iterator for HeaderIter<'_, 'b> {
    type Item = Header<'b>;

    fn next(&mut self) -> Option<Header<'b>> {
        let base = self.base;
        self.index.next().map(|h| h.view(base))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.index.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case() {
        assert_eq!(HeaderKind::from_name(b"i"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"I"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"cAlL-iD"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"o"), HeaderKind::Event);
        assert_eq!(HeaderKind::from_name(b"u"), HeaderKind::AllowEvents);
        assert_eq!(HeaderKind::from_name(b"x"), HeaderKind::SessionExpires);
        assert_eq!(HeaderKind::from_name(b"X-Custom"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"z"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b""), HeaderKind::Other);
        for (n, k) in FULL {
            assert_eq!(HeaderKind::from_name(&n.to_ascii_uppercase()), k);
        }
    }

    #[test]
    fn is_named() {
        let h = Header {
            name: b"l",
            value: b"0",
            kind: HeaderKind::ContentLength,
        };
        assert!(h.is_named(b"Content-Length"));
        assert!(h.is_named(b"L"));
        let x = Header {
            name: b"X-Foo",
            value: b"1",
            kind: HeaderKind::Other,
        };
        assert!(x.is_named(b"x-foo"));
        assert!(!x.is_named(b"x-bar"));
    }
}
