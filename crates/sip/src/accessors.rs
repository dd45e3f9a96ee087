//! Typed accessors on [`Message`]: what the call and registration tables need.

use crate::header::{HeaderIter, HeaderKind};
use crate::message::{Message, StartLine};
use crate::method::Method;
use crate::multipart::find_sdp_part;
use crate::name_addr::NameAddr;
use crate::text::{CommaSplit, eq_lower, parse_u32};
use crate::uri::Uri;
use crate::values::{AuthParams, CSeq, ContactIter, media_type};
use crate::via::{Via, ViaIter};

/// Iterator over the values of the headers with one name, from [`Message::headers_named`].
#[derive(Debug, Clone)]
pub struct HeaderValues<'h, 'b, 'n> {
    headers: HeaderIter<'h, 'b>,
    kind: HeaderKind,
    name: &'n [u8],
}

impl<'b> Iterator for HeaderValues<'_, 'b, '_> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        let (kind, name) = (self.kind, self.name);
        if kind != HeaderKind::Other {
            return self.headers.next_of(kind);
        }
        self.headers
            .find(|h| h.kind == kind && h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

impl<'h, 'b> Message<'h, 'b> {
    /// The method of a request.
    pub fn method(&self) -> Option<Method<'b>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status_code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The parsed Request-URI of a request.
    pub fn request_uri(&self) -> Option<Uri<'b>> {
        match self.start {
            StartLine::Request { uri, .. } => Uri::parse(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The first header of a known kind (an index lookup, no scan).
    pub fn header_kind(&self, kind: HeaderKind) -> Option<&'b [u8]> {
        let i = self.first[kind as usize];
        self.index.get(usize::from(i)).map(|h| h.value(self.base))
    }

    /// The headers from the first one of `kind` on (none if there is none).
    fn headers_from(&self, kind: HeaderKind) -> HeaderIter<'h, 'b> {
        let i = usize::from(self.first[kind as usize]);
        HeaderIter {
            index: self.index.get(i..).unwrap_or_default().iter(),
            base: self.base,
        }
    }

    /// The value of the first header called `name` (case-insensitive; compact forms match their
    /// full names and vice versa).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers_named(name).next()
    }

    /// The values of all headers called `name`, in order.
    pub fn headers_named<'n>(&self, name: &'n str) -> HeaderValues<'h, 'b, 'n> {
        let kind = HeaderKind::from_name(name.as_bytes());
        HeaderValues {
            headers: self.headers_from(kind),
            kind,
            name: name.as_bytes(),
        }
    }

    /// Call-ID.
    pub fn call_id(&self) -> Option<&'b [u8]> {
        self.header_kind(HeaderKind::CallId)
    }

    /// From, parsed.
    pub fn from(&self) -> Option<NameAddr<'b>> {
        self.header_kind(HeaderKind::From).and_then(NameAddr::parse)
    }

    /// To, parsed.
    pub fn to(&self) -> Option<NameAddr<'b>> {
        self.header_kind(HeaderKind::To).and_then(NameAddr::parse)
    }

    /// CSeq, parsed.
    pub fn cseq(&self) -> Option<CSeq<'b>> {
        self.header_kind(HeaderKind::CSeq).and_then(CSeq::parse)
    }

    /// All Via values (several headers and comma-separated values), top first.
    pub fn vias(&self) -> ViaIter<'h, 'b> {
        ViaIter {
            headers: self.headers_from(HeaderKind::Via),
            current: CommaSplit::new(b""),
        }
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<Via<'b>> {
        self.vias().next()
    }

    /// All Contact values (several headers and comma-separated values).
    pub fn contacts(&self) -> ContactIter<'h, 'b> {
        ContactIter {
            headers: self.headers_from(HeaderKind::Contact),
            current: CommaSplit::new(b""),
        }
    }

    /// The Expires header as a number of seconds (`None` when absent or not a number).
    pub fn expires(&self) -> Option<u32> {
        self.header_kind(HeaderKind::Expires).and_then(parse_u32)
    }

    /// User-Agent.
    pub fn user_agent(&self) -> Option<&'b [u8]> {
        self.header_kind(HeaderKind::UserAgent)
    }

    /// Server.
    pub fn server(&self) -> Option<&'b [u8]> {
        self.header_kind(HeaderKind::Server)
    }

    /// Credentials from Authorization, else Proxy-Authorization.
    pub fn authorization(&self) -> Option<AuthParams<'b>> {
        self.header_kind(HeaderKind::Authorization)
            .or_else(|| self.header_kind(HeaderKind::ProxyAuthorization))
            .and_then(AuthParams::parse)
    }

    /// Challenge from WWW-Authenticate, else Proxy-Authenticate.
    pub fn challenge(&self) -> Option<AuthParams<'b>> {
        self.header_kind(HeaderKind::WwwAuthenticate)
            .or_else(|| self.header_kind(HeaderKind::ProxyAuthenticate))
            .and_then(AuthParams::parse)
    }

    /// The Content-Type value (with parameters).
    pub fn content_type(&self) -> Option<&'b [u8]> {
        self.header_kind(HeaderKind::ContentType)
    }

    /// The SDP of this message: the body when Content-Type is `application/sdp`, or the
    /// `application/sdp` part of a `multipart/mixed` (or other multipart) body.
    pub fn sdp_body(&self) -> Option<&'b [u8]> {
        let ct = self.content_type()?;
        let mt = media_type(ct);
        if eq_lower(mt, b"application/sdp") {
            Some(self.body).filter(|b| !b.is_empty())
        } else if mt.len() > 10 && eq_lower(&mt[..10], b"multipart/") {
            find_sdp_part(self.body, ct)
        } else {
            None
        }
    }
}
