//! Typed parse errors. "Need more bytes" is not an error: see [`crate::Parsed::Partial`].

/// Why a SIP message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not a well-formed SIP message.
    #[error("invalid SIP message: {0}")]
    Invalid(InvalidReason),
    /// More headers than the caller's index (at most [`crate::MAX_HEADERS`]) can hold.
    #[error("too many SIP headers")]
    TooManyHeaders,
    /// A line longer than [`crate::MAX_LINE_LEN`] or a message longer than
    /// [`crate::MAX_MESSAGE_LEN`].
    #[error("SIP message or line exceeds the size limit")]
    TooLarge,
}

/// The specific defect behind [`ParseError::Invalid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// Nothing but line ends.
    Empty,
    /// The start line has too few parts.
    StartLine,
    /// The protocol version is not `SIP/2.0`.
    Version,
    /// The status code is not three digits.
    StatusCode,
    /// The method is not a token.
    Method,
    /// The Request-URI is missing.
    RequestUri,
    /// A header line without a colon or with a malformed name.
    HeaderLine,
    /// A continuation line before the first header.
    Fold,
    /// Content-Length is not a number, or two differing values.
    ContentLength,
    /// The header section ends in the middle (datagram framing only).
    Truncated,
}

impl std::fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty message",
            Self::StartLine => "malformed start line",
            Self::Version => "not SIP/2.0",
            Self::StatusCode => "malformed status code",
            Self::Method => "malformed method",
            Self::RequestUri => "missing Request-URI",
            Self::HeaderLine => "malformed header line",
            Self::Fold => "continuation line without a header",
            Self::ContentLength => "malformed Content-Length",
            Self::Truncated => "truncated header section",
        })
    }
}
