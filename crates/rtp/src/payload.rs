//! RTP payload types and their clock rates (RFC 3551 static table).

/// A 7-bit RTP payload type. Any value is valid: unknown and dynamic types are not errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(pub u8);

impl PayloadType {
    /// G.711 µ-law.
    pub const PCMU: Self = Self(0);
    /// GSM 06.10.
    pub const GSM: Self = Self(3);
    /// G.723.1.
    pub const G723: Self = Self(4);
    /// G.711 A-law.
    pub const PCMA: Self = Self(8);
    /// G.722 (16 kHz audio, 8000 Hz RTP clock for historical reasons).
    pub const G722: Self = Self(9);
    /// Comfort noise.
    pub const CN: Self = Self(13);
    /// G.729.
    pub const G729: Self = Self(18);

    /// True for 96–127, whose meaning comes from an SDP `a=rtpmap`.
    pub fn is_dynamic(self) -> bool {
        (96..=127).contains(&self.0)
    }

    /// Encoding name from the static table, `None` for dynamic or unassigned types.
    pub fn static_name(self) -> Option<&'static str> {
        static_entry(self.0).map(|(name, _)| name)
    }

    /// RTP clock rate in Hz from the static table, `None` for dynamic or unassigned types.
    pub fn static_clock_rate(self) -> Option<u32> {
        static_entry(self.0).map(|(_, rate)| rate)
    }
}

fn static_entry(pt: u8) -> Option<(&'static str, u32)> {
    Some(match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        5 => ("DVI4", 8000),
        6 => ("DVI4", 16000),
        7 => ("LPC", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        10 | 11 => ("L16", 44100),
        12 => ("QCELP", 8000),
        13 => ("CN", 8000),
        14 => ("MPA", 90000),
        15 => ("G728", 8000),
        16 => ("DVI4", 11025),
        17 => ("DVI4", 22050),
        18 => ("G729", 8000),
        25 => ("CelB", 90000),
        26 => ("JPEG", 90000),
        28 => ("nv", 90000),
        31 => ("H261", 90000),
        32 => ("MPV", 90000),
        33 => ("MP2T", 90000),
        34 => ("H263", 90000),
        _ => return None,
    })
}

/// Clock rates of the dynamic payload types of one stream, learned from `a=rtpmap`.
///
/// Fixed capacity ([`ClockRates::CAPACITY`] entries) so a stream never allocates; further
/// entries are ignored and those types fall back to [`ClockRates::DEFAULT_RATE`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ClockRates {
    entries: [(u8, u32); Self::CAPACITY],
    len: u8,
}

impl ClockRates {
    /// How many dynamic mappings a stream keeps.
    pub const CAPACITY: usize = 6;
    /// Rate used when neither the static table nor an rtpmap knows the type (narrowband voice).
    pub const DEFAULT_RATE: u32 = 8000;

    /// Records (or replaces) the rate of `pt`; a zero rate is ignored.
    pub fn set(&mut self, pt: PayloadType, rate: u32) {
        if rate == 0 {
            return;
        }
        let len = usize::from(self.len);
        if let Some(e) = self.entries[..len].iter_mut().find(|e| e.0 == pt.0) {
            e.1 = rate;
        } else if len < Self::CAPACITY {
            self.entries[len] = (pt.0, rate);
            self.len += 1;
        }
    }

    /// Rate of `pt`: an rtpmap entry first, then the static table, then 8000 Hz.
    pub fn rate(&self, pt: PayloadType) -> u32 {
        self.entries[..usize::from(self.len)]
            .iter()
            .find(|e| e.0 == pt.0)
            .map(|e| e.1)
            .or_else(|| pt.static_clock_rate())
            .unwrap_or(Self::DEFAULT_RATE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_table() {
        assert_eq!(PayloadType::PCMU.static_clock_rate(), Some(8000));
        assert_eq!(PayloadType::G722.static_clock_rate(), Some(8000));
        assert_eq!(PayloadType(6).static_clock_rate(), Some(16000));
        assert_eq!(PayloadType::G729.static_name(), Some("G729"));
        assert_eq!(PayloadType(101).static_clock_rate(), None);
        assert!(PayloadType(101).is_dynamic());
        assert_eq!(PayloadType(50).static_name(), None);
    }

    #[test]
    fn dynamic_rates() {
        let mut r = ClockRates::default();
        r.set(PayloadType(111), 48000);
        r.set(PayloadType(96), 16000);
        r.set(PayloadType(96), 32000);
        r.set(PayloadType(97), 0);
        assert_eq!(r.rate(PayloadType(111)), 48000);
        assert_eq!(r.rate(PayloadType(96)), 32000);
        assert_eq!(r.rate(PayloadType(97)), 8000);
        assert_eq!(r.rate(PayloadType::PCMA), 8000);
        for pt in 100..120 {
            r.set(PayloadType(pt), 16000);
        }
        assert_eq!(r.rate(PayloadType(119)), 8000, "beyond capacity → default");
    }
}
