//! The command table (spec §4.1, §5): names, AES policy and help texts, and the lookup rules.

/// Every command this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `exists_aes_key`: `yes`/`no`.
    ExistsAesKey,
    /// `failed_aes_decrypt`: `failed aes decrypt!\n`.
    FailedAesDecrypt,
    /// `file_exists NAME[|NAME…] [SPOOL_INDEX [TYPE]]`: sizes of spool files.
    FileExists,
    /// `fileexists PATH`: size of a spool file as a signed 32-bit number.
    FileExistsSize,
    /// `getfile REL [SPOOL_INDEX [TYPE]]`: a spool file.
    GetFile,
    /// `getfile_is_zip_support`: `OK`.
    GetFileIsZipSupport,
    /// `getfile_zip REL [SPOOL_INDEX [TYPE]]`: a spool file, gzipped.
    GetFileZip,
    /// `getbuild`.
    GetBuild,
    /// `getverbuild`: `VERSION (BUILD)`.
    GetVerBuild,
    /// `getversion`.
    GetVersion,
    /// `help [NAME ]`.
    Help,
    /// `listcalls [JSON]`.
    ListCalls,
    /// `listregisters [JSON]`.
    ListRegisters,
    /// `manager_file start [PATH]` / `manager_file stop`.
    ManagerFile,
    /// `need_aes`: `need aes!\n`.
    NeedAes,
    /// `pcapstat`: capture counters per interface.
    PcapStat,
    /// `sipports`: configured SIP ports.
    SipPorts,
    /// `sniffer_stat [plain]`.
    SnifferStat,
    /// `support_aes`: `yes`/`no`.
    SupportAes,
    /// `totalcalls`.
    TotalCalls,
    /// `totalregisters`.
    TotalRegisters,
}

/// Whether a command may be run from a plaintext TCP request while a key exists (spec §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AesPolicy {
    /// Flag 0: refused with `need aes!` unless encrypted or otherwise exempt.
    Protected,
    /// Flag 1 (`notNeedAes`): always served.
    Exempt,
}

/// One row of the command table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The command name as clients send it.
    pub name: &'static str,
    /// Which handler runs it.
    pub command: Command,
    /// Its AES policy.
    pub aes: AesPolicy,
    /// Help text without the final period; empty = not listed by `help`.
    pub help: &'static str,
}

const fn entry(name: &'static str, command: Command, aes: AesPolicy, help: &'static str) -> Entry {
    Entry {
        name,
        command,
        aes,
        help,
    }
}

use AesPolicy::{Exempt, Protected};

/// The table, in byte-wise ascending order of names (the order `help` lists them in and the
/// substring fallback walks). Help texts and flags are the reference's (spec §5).
pub static COMMANDS: &[Entry] = &[
    entry("exists_aes_key", Command::ExistsAesKey, Exempt, ""),
    entry("failed_aes_decrypt", Command::FailedAesDecrypt, Exempt, ""),
    entry("file_exists", Command::FileExists, Protected, "file exists"),
    entry(
        "fileexists",
        Command::FileExistsSize,
        Protected,
        "file exists 2",
    ),
    entry(
        "getbuild",
        Command::GetBuild,
        Exempt,
        "return the build number of the sniffer",
    ),
    entry("getfile", Command::GetFile, Protected, "get file"),
    entry(
        "getfile_is_zip_support",
        Command::GetFileIsZipSupport,
        Protected,
        "check getfile zip support",
    ),
    entry(
        "getfile_zip",
        Command::GetFileZip,
        Protected,
        "get zipped file",
    ),
    entry(
        "getverbuild",
        Command::GetVerBuild,
        Exempt,
        "return the version and build number of the sniffer",
    ),
    entry(
        "getversion",
        Command::GetVersion,
        Exempt,
        "return the version of the sniffer",
    ),
    entry("help", Command::Help, Protected, "print command's help"),
    entry(
        "listcalls",
        Command::ListCalls,
        Protected,
        "lists active calls",
    ),
    entry(
        "listregisters",
        Command::ListRegisters,
        Protected,
        "return the list of registers. Possible params:",
    ),
    entry("manager_file", Command::ManagerFile, Exempt, ""),
    entry("need_aes", Command::NeedAes, Exempt, ""),
    entry(
        "pcapstat",
        Command::PcapStat,
        Protected,
        "return pcap's statistics",
    ),
    entry(
        "sipports",
        Command::SipPorts,
        Protected,
        "return list of used sip ports",
    ),
    entry(
        "sniffer_stat",
        Command::SnifferStat,
        Exempt,
        "return sniffer's statistics (use 'plain' for key=value format)",
    ),
    entry("support_aes", Command::SupportAes, Exempt, ""),
    entry(
        "totalcalls",
        Command::TotalCalls,
        Exempt,
        "return the number of total calls",
    ),
    entry(
        "totalregisters",
        Command::TotalRegisters,
        Protected,
        "return the number of total registers",
    ),
];

/// A command found for a line.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    /// The table row.
    pub entry: &'static Entry,
    /// Byte offset in the line just past the matched name (arguments start here).
    pub name_end: usize,
    /// True when found by the lenient substring rule rather than as the exact first token.
    pub by_substring: bool,
}

/// Finds the command for a command line (spec §4.1): the exact first token, else the first
/// name in table order that occurs anywhere in the line. Case-sensitive, as the reference.
pub fn lookup(line: &[u8]) -> Option<Found> {
    let token_end = line
        .iter()
        .position(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(line.len());
    let token = &line[..token_end];
    if let Some(entry) = COMMANDS.iter().find(|e| e.name.as_bytes() == token) {
        return Some(Found {
            entry,
            name_end: token_end,
            by_substring: false,
        });
    }
    COMMANDS.iter().find_map(|entry| {
        crate::framing::find(line, entry.name.as_bytes(), 0).map(|at| Found {
            entry,
            name_end: at + entry.name.len(),
            by_substring: true,
        })
    })
}

/// Looks a command up by its exact name.
pub fn by_name(name: &[u8]) -> Option<&'static Entry> {
    COMMANDS.iter().find(|e| e.name.as_bytes() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_byte_order() {
        for pair in COMMANDS.windows(2) {
            assert!(
                pair[0].name.as_bytes() < pair[1].name.as_bytes(),
                "{}",
                pair[1].name
            );
        }
    }

    #[test]
    fn exact_token_first() {
        let f = lookup(b"listcalls {\"limit\":1}").expect("found");
        assert_eq!(f.entry.command, Command::ListCalls);
        assert_eq!(f.name_end, 9);
        assert!(!f.by_substring);
        assert_eq!(
            lookup(b"getverbuild").map(|f| f.entry.command),
            Some(Command::GetVerBuild)
        );
        assert_eq!(
            lookup(b"help\tx").map(|f| f.entry.command),
            Some(Command::Help)
        );
    }

    #[test]
    fn substring_fallback() {
        let f = lookup(b"xgetversion").expect("found");
        assert_eq!(f.entry.command, Command::GetVersion);
        assert!(f.by_substring);
        assert_eq!(f.name_end, 11);
        assert_eq!(
            lookup(b"foogetverbuildbar").map(|f| f.entry.command),
            Some(Command::GetVerBuild)
        );
        assert_eq!(
            lookup(b"  getversion").map(|f| f.entry.command),
            Some(Command::GetVersion)
        );
        assert_eq!(
            lookup(b"xlistcalls").map(|f| f.entry.command),
            Some(Command::ListCalls)
        );
    }

    #[test]
    fn file_commands_are_protected_and_distinct() {
        for (line, command) in [
            (&b"getfile a.pcap"[..], Command::GetFile),
            (b"getfile_zip a.pcap", Command::GetFileZip),
            (b"getfile_is_zip_support", Command::GetFileIsZipSupport),
            (b"file_exists a|b", Command::FileExists),
            (b"fileexists /x", Command::FileExistsSize),
        ] {
            let f = lookup(line).expect("found");
            assert_eq!(f.entry.command, command);
            assert!(!f.by_substring);
            assert_eq!(f.entry.aes, Protected, "spec §2.6: flag 0");
        }
    }

    #[test]
    fn case_sensitive_and_unknown() {
        assert!(lookup(b"GETVERSION").is_none());
        assert!(lookup(b"nosuchcmd").is_none());
        assert!(lookup(b"zzz qqq").is_none());
        assert!(lookup(b"").is_none());
    }
}
