//! Header names: the known kinds (with RFC 3261 compact forms) and the header index entry.

use crate::text::{HI, SPACES, is_token, load_word, lower_word, simple_token_bytes, word_at};

/// Headers the sensor looks at, recognised once at parse time so that finding one is a table
/// lookup ([`crate::Message::header_kind`]) or a one-byte compare.
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

/// A header name of at most 24 bytes, ASCII lower-cased and packed into little-endian words
/// (unused bytes zero), so that recognising a name is a few word compares.
type NameKey = [u64; 3];

/// [`NameKey`] of a literal name, at compile time.
const fn key(name: &[u8]) -> NameKey {
    let mut k = [0u64; 3];
    let mut i = 0;
    while i < name.len() {
        k[i / 8] |= (name[i].to_ascii_lowercase() as u64) << (8 * (i % 8));
        i += 1;
    }
    k
}

impl HeaderKind {
    /// Number of kinds (`Other` is the last one).
    pub(crate) const COUNT: usize = Self::Other as usize + 1;

    /// Classifies a header name (case-insensitive, compact forms included).
    pub fn from_name(name: &[u8]) -> Self {
        Self::classify(name, name.len())
    }

    /// Classifies the name `s[..len]` (bytes after it are ignored).
    #[inline]
    pub(crate) fn classify(s: &[u8], len: usize) -> Self {
        if len > 20 || len > s.len() {
            return Self::Other;
        }
        let mut k: NameKey = [0; 3];
        let mut at = 0;
        while at < len {
            k[at / 8] = lower_word(load_word(s, at, (len - at).min(8)));
            at += 8;
        }
        Self::from_key(len, &k)
    }

    /// Reads the header name at the start of `s` (a header line and whatever follows it):
    /// its length (the run of token characters) and kind. Names of letters, digits and `-`
    /// (all of the usual ones) are read and recognised eight bytes at a time.
    #[inline(always)]
    pub(crate) fn scan_name(s: &[u8]) -> (usize, Self) {
        let mut k: NameKey = [0; 3];
        let mut at = 0;
        while at < k.len() * 8 {
            let Some(w) = word_at(s, at) else {
                break;
            };
            let other = !simple_token_bytes(w) & HI;
            if other == 0 {
                // Lower-cases exactly: these bytes are letters, digits or '-'.
                k[at / 8] = w | SPACES;
                at += 8;
                continue;
            }
            let i = (other.trailing_zeros() / 8) as usize;
            if s.get(at + i).is_some_and(|&b| is_token(b)) {
                // A rarer token character ('.', '_', '!', ...): take the slow path.
                break;
            }
            if i > 0 {
                k[at / 8] = (w | SPACES) & ((1u64 << (8 * i)) - 1);
            }
            let len = at + i;
            return (len, Self::from_key(len, &k));
        }
        let len = s.iter().position(|&b| !is_token(b)).unwrap_or(s.len());
        (len, Self::classify(s, len))
    }

    /// The kind of the `len`-byte name whose [`NameKey`] is `k`.
    #[inline(always)]
    fn from_key(len: usize, k: &NameKey) -> Self {
        if len == 1 {
            // The key holds the lower-cased letter.
            return Self::compact(k[0] as u8);
        }
        // Candidates by length, compared as whole words.
        let candidates: &[(NameKey, Self)] = match len {
            2 => const { &[(key(b"to"), Self::To)] },
            3 => const { &[(key(b"via"), Self::Via)] },
            4 => const { &[(key(b"from"), Self::From), (key(b"cseq"), Self::CSeq)] },
            5 => const { &[(key(b"route"), Self::Route), (key(b"event"), Self::Event)] },
            6 => {
                const {
                    &[
                        (key(b"server"), Self::Server),
                        (key(b"reason"), Self::Reason),
                    ]
                }
            }
            7 => {
                const {
                    &[
                        (key(b"call-id"), Self::CallId),
                        (key(b"contact"), Self::Contact),
                        (key(b"subject"), Self::Subject),
                        (key(b"expires"), Self::Expires),
                    ]
                }
            }
            8 => const { &[(key(b"refer-to"), Self::ReferTo)] },
            9 => const { &[(key(b"supported"), Self::Supported)] },
            10 => const { &[(key(b"user-agent"), Self::UserAgent)] },
            11 => const { &[(key(b"referred-by"), Self::ReferredBy)] },
            12 => {
                const {
                    &[
                        (key(b"content-type"), Self::ContentType),
                        (key(b"max-forwards"), Self::MaxForwards),
                        (key(b"allow-events"), Self::AllowEvents),
                        (key(b"record-route"), Self::RecordRoute),
                    ]
                }
            }
            13 => const { &[(key(b"authorization"), Self::Authorization)] },
            14 => const { &[(key(b"content-length"), Self::ContentLength)] },
            15 => {
                const {
                    &[
                        (key(b"session-expires"), Self::SessionExpires),
                        (key(b"remote-party-id"), Self::RemotePartyId),
                    ]
                }
            }
            16 => {
                const {
                    &[
                        (key(b"content-encoding"), Self::ContentEncoding),
                        (key(b"www-authenticate"), Self::WwwAuthenticate),
                    ]
                }
            }
            18 => const { &[(key(b"proxy-authenticate"), Self::ProxyAuthenticate)] },
            19 => {
                const {
                    &[
                        (key(b"proxy-authorization"), Self::ProxyAuthorization),
                        (key(b"p-asserted-identity"), Self::PAssertedIdentity),
                    ]
                }
            }
            20 => const { &[(key(b"p-preferred-identity"), Self::PPreferredIdentity)] },
            _ => return Self::Other,
        };
        candidates
            .iter()
            .find(|(c, _)| c == k)
            .map_or(Self::Other, |&(_, kind)| kind)
    }

    /// The kind of a one-letter (compact) name.
    fn compact(c: u8) -> Self {
        match c.to_ascii_lowercase() {
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
    fn scan_name_agrees_with_from_name() {
        let names = FULL.iter().map(|(n, _)| n.to_vec()).chain(
            [
                "i",
                "T",
                "x-foo",
                "Via_x",
                "call.id",
                "P-Asserted-Identity2",
                "a1-b2",
            ]
            .map(|n| n.as_bytes().to_vec()),
        );
        for name in names {
            for upper in [false, true] {
                let name = if upper {
                    name.to_ascii_uppercase()
                } else {
                    name.clone()
                };
                for tail in [&b": v\r\n"[..], b" :", b"", b"\r\n\r\nbody and more"] {
                    let line = [&name[..], tail].concat();
                    let (len, kind) = HeaderKind::scan_name(&line);
                    assert_eq!(len, name.len(), "{line:?}");
                    assert_eq!(kind, HeaderKind::from_name(&name), "{line:?}");
                }
            }
        }
        assert_eq!(HeaderKind::scan_name(b"Via\r: x"), (3, HeaderKind::Via));
        assert_eq!(
            HeaderKind::scan_name(b"\xc3\xa9: x"),
            (0, HeaderKind::Other)
        );
        assert_eq!(HeaderKind::from_name(b"call\rid"), HeaderKind::Other);
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
