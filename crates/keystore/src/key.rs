//! Manager key material as stored, and its generator.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

/// A manager key and IV as the database and config hold them: base64 text. Wiped on drop;
/// `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagerKey {
    key: Zeroizing<String>,
    iv: Zeroizing<String>,
}

impl std::fmt::Debug for ManagerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManagerKey(<redacted>)")
    }
}

impl ManagerKey {
    /// From the base64 texts of key and IV.
    pub fn new(key: impl Into<String>, iv: impl Into<String>) -> Self {
        Self {
            key: Zeroizing::new(key.into()),
            iv: Zeroizing::new(iv.into()),
        }
    }

    /// The key, base64.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The IV, base64.
    pub fn iv(&self) -> &str {
        &self.iv
    }

    /// The `system.content` JSON: `{"key":"…","iv":"…"}`.
    pub fn to_json(&self) -> Zeroizing<String> {
        let quote = |s: &str| serde_json::Value::from(s).to_string();
        Zeroizing::new(format!(
            r#"{{"key":{},"iv":{}}}"#,
            quote(self.key()),
            quote(self.iv())
        ))
    }

    /// Parses `system.content`; `None` unless both members are non-empty strings.
    pub fn from_json(content: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(content).ok()?;
        let key = v.get("key")?.as_str().filter(|s| !s.is_empty())?;
        let iv = v.get("iv")?.as_str().filter(|s| !s.is_empty())?;
        Some(Self::new(key, iv))
    }
}

/// Characters of generated keys: `0`..=`y` (0x30..=0x79), the 74 values the reference's
/// generator produces in practice (spec §2.2: `floor(rand()/RAND_MAX * 74)` reaches 74, `z`,
/// only when `rand()` returns exactly `RAND_MAX`).
const ALPHABET_START: u8 = b'0';
const ALPHABET_LEN: u8 = 74;

/// A new manager key from the operating system's CSPRNG, in the reference's shape: 32 printable
/// characters of key and 16 of IV, stored base64.
pub fn generate_manager_key() -> ManagerKey {
    let key = Zeroizing::new(random_chars(32));
    let iv = Zeroizing::new(random_chars(16));
    ManagerKey::new(BASE64.encode(&*key), BASE64.encode(&*iv))
}

/// `n` characters drawn uniformly from the alphabet (rejection sampling: no modulo bias).
fn random_chars(n: usize) -> Vec<u8> {
    let limit = 256 - 256 % u16::from(ALPHABET_LEN);
    let mut out = Vec::with_capacity(n);
    let mut pool = Zeroizing::new([0u8; 64]);
    while out.len() < n {
        // The OS CSPRNG failing is not recoverable: there is no safe key without it.
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut *pool).expect("the operating system's random number generator failed");
        for &b in pool.iter() {
            if u16::from(b) < limit && out.len() < n {
                out.push(ALPHABET_START + b % ALPHABET_LEN);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_reference_shape() {
        let k = generate_manager_key();
        let key = BASE64.decode(k.key()).expect("base64");
        let iv = BASE64.decode(k.iv()).expect("base64");
        assert_eq!((key.len(), iv.len()), (32, 16));
        assert!(key.iter().chain(&iv).all(|&c| (b'0'..=b'y').contains(&c)));
        assert_ne!(generate_manager_key(), k, "two keys differ");
    }

    #[test]
    fn all_alphabet_values_occur() {
        let chars = random_chars(20_000);
        for c in b'0'..=b'y' {
            assert!(chars.contains(&c), "{} never drawn", c as char);
        }
        assert!(!chars.contains(&b'z'), "z is outside the alphabet");
    }

    #[test]
    fn json_round_trip_and_rules() {
        let k = ManagerKey::new("a2V5", "aXY=");
        assert_eq!(*k.to_json(), r#"{"key":"a2V5","iv":"aXY="}"#);
        assert_eq!(ManagerKey::from_json(&k.to_json()), Some(k.clone()));
        assert_eq!(
            ManagerKey::from_json(r#"{"key":"a2V5","iv":"aXY="}"#),
            Some(k)
        );
        assert_eq!(ManagerKey::from_json(r#"{"key":"a2V5"}"#), None);
        assert_eq!(ManagerKey::from_json(r#"{"key":"","iv":"aXY="}"#), None);
        assert_eq!(ManagerKey::from_json("not json"), None);
        assert_eq!(
            format!("{:?}", generate_manager_key()),
            "ManagerKey(<redacted>)"
        );
    }
}
