//! A compact set of TCP/UDP ports (`sipport`).

use std::fmt;
use std::ops::RangeInclusive;

/// A set of ports stored as sorted, merged, inclusive ranges.
///
/// Adjacent and overlapping ranges are merged, so `5060,5061` is one range `5060-5061`, the way
/// VoIPmonitor's port matrix behaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet {
    /// Invariant: sorted by start, non-overlapping, non-adjacent, each `start <= end`.
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding only `port`.
    #[must_use]
    pub fn single(port: u16) -> Self {
        let mut set = Self::new();
        set.insert(port);
        set
    }

    /// Adds one port.
    pub fn insert(&mut self, port: u16) {
        self.insert_range(port..=port);
    }

    /// Adds every port of `range`; an empty range (start > end) adds nothing.
    pub fn insert_range(&mut self, range: RangeInclusive<u16>) {
        let (start, end) = (*range.start(), *range.end());
        if start > end {
            return;
        }
        self.ranges.push((start, end));
        self.ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(self.ranges.len());
        for &(s, e) in &self.ranges {
            match merged.last_mut() {
                // `last.1 + 1 >= s` without overflow at 65535.
                Some(last) if u32::from(last.1) + 1 >= u32::from(s) => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.ranges = merged;
    }

    /// `true` when `port` is in the set.
    #[must_use]
    pub fn contains(&self, port: u16) -> bool {
        // Ranges are sorted and disjoint: find the last range starting at or before `port`.
        let idx = self.ranges.partition_point(|&(s, _)| s <= port);
        idx > 0 && self.ranges.get(idx - 1).is_some_and(|&(_, e)| port <= e)
    }

    /// `true` when the set holds no port.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of ports in the set.
    #[must_use]
    pub fn port_count(&self) -> usize {
        self.ranges
            .iter()
            .map(|&(s, e)| usize::from(e - s) + 1)
            .sum()
    }

    /// The merged ranges in ascending order.
    pub fn iter_ranges(&self) -> impl Iterator<Item = RangeInclusive<u16>> + '_ {
        self.ranges.iter().map(|&(s, e)| s..=e)
    }

    /// Renders the set the way VoIPmonitor's `sipports` manager command does: each range as `N`
    /// or `A-B` followed by `,`, ascending (e.g. `5060,5070-5080,`). An empty set renders as an
    /// empty string. The caller adds TLS ports and the final `\n`.
    #[must_use]
    pub fn to_reference_list(&self) -> String {
        let mut out = String::new();
        for &(s, e) in &self.ranges {
            out.push_str(&s.to_string());
            if s != e {
                out.push('-');
                out.push_str(&e.to_string());
            }
            out.push(',');
        }
        out
    }

    /// Adds the ports of a `sipport`-style list: items `N` or `A-B` separated by `,` or `;`,
    /// whitespace around items ignored, empty items skipped. Returns a message on error; the set
    /// is left unchanged then.
    pub(crate) fn extend_from_list(&mut self, text: &str) -> Result<(), String> {
        let mut parsed = Vec::new();
        for item in text
            .split([',', ';'])
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            parsed.push(parse_item(item)?);
        }
        if parsed.is_empty() {
            return Err("empty port list".to_owned());
        }
        for range in parsed {
            self.insert_range(range);
        }
        Ok(())
    }
}

impl fmt::Display for PortSet {
    /// Human form without the reference's trailing comma: `5060,5070-5080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(s, e)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if s == e {
                write!(f, "{s}")?;
            } else {
                write!(f, "{s}-{e}")?;
            }
        }
        Ok(())
    }
}

fn parse_item(item: &str) -> Result<RangeInclusive<u16>, String> {
    match item.split_once('-') {
        None => {
            let port = parse_port(item)?;
            Ok(port..=port)
        }
        Some((a, b)) => {
            let (start, end) = (parse_port(a.trim())?, parse_port(b.trim())?);
            if start > end {
                return Err(format!(
                    "invalid port range \"{item}\": start {start} is greater than end {end}"
                ));
            }
            Ok(start..=end)
        }
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    let invalid = || format!("invalid port \"{text}\" (expected 1-65535 or a range A-B)");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match text.parse::<u16>() {
        Ok(0) => Err("port 0 is not a valid SIP port".to_owned()),
        Ok(port) => Ok(port),
        Err(_) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PortSet, String> {
        let mut set = PortSet::new();
        set.extend_from_list(text)?;
        Ok(set)
    }

    #[test]
    fn single_ports_and_ranges() {
        let set = parse("5060,5061,5070-5080").unwrap_or_default();
        assert_eq!(set.to_reference_list(), "5060-5061,5070-5080,");
        assert!(set.contains(5060));
        assert!(set.contains(5061));
        assert!(!set.contains(5062));
        assert!(set.contains(5070));
        assert!(set.contains(5075));
        assert!(set.contains(5080));
        assert!(!set.contains(5081));
        assert!(!set.contains(0));
        assert_eq!(set.port_count(), 13);
        assert_eq!(set.to_string(), "5060-5061,5070-5080");
    }

    #[test]
    fn merging_overlapping_and_unordered() {
        let set = parse("6000-6010; 5060 , 6005-6020,5999,7000").unwrap_or_default();
        let ranges: Vec<_> = set.iter_ranges().collect();
        assert_eq!(ranges, vec![5060..=5060, 5999..=6020, 7000..=7000]);
        assert_eq!(set.to_reference_list(), "5060,5999-6020,7000,");
    }

    #[test]
    fn extremes_do_not_overflow() {
        let set = parse("65535,65534,1").unwrap_or_default();
        assert_eq!(set.to_reference_list(), "1,65534-65535,");
        assert!(set.contains(65535));
        assert_eq!(set.port_count(), 3);
        let mut all = PortSet::new();
        all.insert_range(1..=65535);
        assert_eq!(all.port_count(), 65535);
    }

    #[test]
    fn empty_items_are_skipped_but_an_empty_list_is_an_error() {
        assert_eq!(
            parse("5060,,5062,").map(|s| s.to_reference_list()),
            Ok("5060,5062,".into())
        );
        assert!(parse("").is_err());
        assert!(parse(" , ").is_err());
    }

    #[test]
    fn bad_items() {
        for bad in [
            "0",
            "5060-0",
            "abc",
            "70000",
            "5080-5070",
            "5060-",
            "-5060",
            "1-2-3",
            "+5",
        ] {
            let err = parse(bad).err();
            assert!(err.is_some(), "{bad} should fail");
        }
        let err = parse("5080-5070").err().unwrap_or_default();
        assert!(err.contains("5080-5070"), "{err}");
        let err = parse("5060,x").err().unwrap_or_default();
        assert!(err.contains("\"x\""), "{err}");
    }

    #[test]
    fn failed_parse_leaves_set_unchanged() {
        let mut set = PortSet::single(5060);
        assert!(set.extend_from_list("5070,bad").is_err());
        assert_eq!(set, PortSet::single(5060));
    }

    #[test]
    fn empty_set() {
        let set = PortSet::new();
        assert!(set.is_empty());
        assert_eq!(set.to_reference_list(), "");
        assert!(!set.contains(5060));
        let mut s = PortSet::new();
        #[allow(clippy::reversed_empty_ranges)]
        s.insert_range(10..=5);
        assert!(s.is_empty());
    }
}
