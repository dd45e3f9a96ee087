//! From a command line to a reply: access rules (spec §2.6) and the pure command handlers.

use crate::files::{self, FileRequest, SpoolDirs};
use crate::json::Row;
use crate::registry::{AesPolicy, Command, Found};
use crate::sniffer_stat::SnifferStat;
use crate::{help, listcalls, listregisters, zip};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

/// Reply to a protected command sent in plaintext over TCP while a key exists.
pub const NEED_AES: &[u8] = b"need aes!\n";
/// Reply to an encrypted request that could not be decrypted.
pub const FAILED_AES_DECRYPT: &[u8] = b"failed aes decrypt!\n";
/// Reply to an unknown command.
pub const COMMAND_NOT_FOUND: &[u8] = b"command not found\n";

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `managerip:managerport`.
    Tcp,
    /// `managersocket` or a `manager_file` socket: plaintext is always accepted.
    Unix,
}

/// What decides whether a plaintext request may run a protected command.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// The listener.
    pub transport: Transport,
    /// The request came encrypted.
    pub encrypted: bool,
    /// A manager key exists.
    pub key_exists: bool,
    /// `manager_enable_unencrypted = yes`.
    pub unencrypted_allowed: bool,
}

impl Access {
    /// Whether the command may run (spec §2.6 steps 1–3).
    pub fn permits(&self, policy: AesPolicy) -> bool {
        self.encrypted
            || self.transport == Transport::Unix
            || !self.key_exists
            || self.unencrypted_allowed
            || policy == AesPolicy::Exempt
    }
}

/// What the command handlers read from the running sensor.
pub trait SensorState: Send + Sync {
    /// Rows of the calls `listcalls` shows (any order).
    fn call_rows(&self) -> Vec<Row>;
    /// Call objects still held in memory (`totalcalls`).
    fn total_calls(&self) -> u64;
    /// Registration rows in internal (ascending ID) order.
    fn register_rows(&self) -> Vec<Row>;
    /// Number of registration records (`totalregisters`).
    fn total_registers(&self) -> u64;
    /// Summary fields of `listcalls`.
    fn summary(&self) -> listcalls::Summary;
    /// Figures for `sniffer_stat`.
    fn sniffer_stat(&self) -> SnifferStat;
    /// SIP ports as ranges each followed by `,` (`5060,5070-5080,`).
    fn sip_ports(&self) -> String;
    /// Capture counters per interface, `None` when not capturing live (see [`pcap_stat`]).
    fn capture_stats(&self) -> Option<Vec<InterfaceStats>>;
    /// The spool directories the file commands serve from; `None` (the default) = no spool,
    /// every file request fails.
    fn spool_dirs(&self) -> Option<SpoolDirs> {
        None
    }
}

/// Kernel and sensor drop counters of one capture interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceStats {
    /// Interface name (`eth0`, `any`).
    pub name: String,
    /// Packets the sensor dropped (its buffers full).
    pub sensor_drops: u64,
    /// Packets the capture ring dropped (kernel `tp_drops`).
    pub ring_drops: u64,
    /// Packets the interface dropped.
    pub interface_drops: u64,
}

/// The `pcapstat` reply (spec §4.10): `NAME : pdropsCount [N] pcapdrop [N] ifdrop [N]` per
/// interface, joined with ` | `; `ok` for an empty list; `no PcapQueue mode` when not capturing.
pub fn pcap_stat(stats: Option<&[InterfaceStats]>) -> String {
    match stats {
        None => "no PcapQueue mode".to_owned(),
        Some([]) => "ok".to_owned(),
        Some(list) => list
            .iter()
            .map(|s| {
                format!(
                    "{} : pdropsCount [{}] pcapdrop [{}] ifdrop [{}]",
                    s.name, s.sensor_drops, s.ring_drops, s.interface_drops
                )
            })
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

/// Key facts the AES commands report.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyState {
    /// `support_aes`: the server can decrypt requests.
    pub supported: bool,
    /// `exists_aes_key`: a key exists (after a forced reload).
    pub exists: bool,
}

/// A `manager_file` request, carried out by the server (it owns the sockets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerFileRequest {
    /// `manager_file start [PATH]`.
    Start(Option<PathBuf>),
    /// `manager_file stop`.
    Stop,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send these bytes (possibly none) and close.
    Reply(Vec<u8>),
    /// Start or stop a runtime socket, then reply.
    ManagerFile(ManagerFileRequest),
}

/// The file request `line` makes, when `found` is a file command (`getfile`, `getfile_zip`,
/// `file_exists`, `fileexists`); `None` for every other command.
///
/// A server that can read the spool carries these out itself (it resolves, opens and streams
/// files) and calls this before [`execute`]; [`execute`] answers them as a sensor without a
/// spool would ([`files::reply_without_spool`]).
pub fn file_request(found: &Found, line: &[u8]) -> Option<FileRequest> {
    let args = line.get(found.name_end..).unwrap_or_default();
    Some(match found.entry.command {
        Command::FileExists => files::parse_exists(args),
        Command::FileExistsSize => files::parse_size(args),
        // Reached by the substring rule, `getfile` still honours `getfile_zip` in the line, as
        // the reference's shared handler does.
        Command::GetFile => files::parse_get(
            args,
            found.by_substring && crate::framing::find(line, b"getfile_zip", 0).is_some(),
        ),
        Command::GetFileZip => files::parse_get(args, true),
        _ => return None,
    })
}

/// Runs the command found for `line`.
pub fn execute(found: &Found, line: &[u8], sensor: &dyn SensorState, keys: KeyState) -> Outcome {
    let args = line.get(found.name_end..).unwrap_or_default();
    let reply = |b: &[u8]| Outcome::Reply(b.to_vec());
    let yes_no = |b: bool| reply(if b { b"yes" } else { b"no" });
    match found.entry.command {
        Command::ExistsAesKey => yes_no(keys.exists),
        Command::SupportAes => yes_no(keys.supported),
        Command::FailedAesDecrypt => reply(FAILED_AES_DECRYPT),
        Command::FileExists | Command::FileExistsSize | Command::GetFile | Command::GetFileZip => {
            Outcome::Reply(
                file_request(found, line)
                    .map(|req| files::reply_without_spool(&req))
                    .unwrap_or_default(),
            )
        }
        Command::GetFileIsZipSupport => reply(files::ZIP_SUPPORTED),
        Command::NeedAes => reply(NEED_AES),
        Command::GetVersion => reply(crate::VERSION.as_bytes()),
        Command::GetBuild => reply(crate::BUILD.as_bytes()),
        Command::GetVerBuild => {
            Outcome::Reply(format!("{} ({})", crate::VERSION, crate::BUILD).into_bytes())
        }
        Command::Help => Outcome::Reply(help::reply(args)),
        Command::ListCalls => {
            let query = listcalls::Query::parse(args.trim_ascii_start());
            let body = listcalls::render(&query, sensor.call_rows(), &sensor.summary());
            Outcome::Reply(maybe_zip(body.into_bytes(), query.zip))
        }
        Command::ListRegisters => {
            let query = listregisters::Query::parse(args);
            let body = listregisters::render(&query, sensor.register_rows());
            Outcome::Reply(maybe_zip(body.into_bytes(), query.zip))
        }
        Command::ManagerFile => manager_file(args),
        Command::SipPorts => Outcome::Reply(format!("{}\n", sensor.sip_ports()).into_bytes()),
        Command::PcapStat => {
            Outcome::Reply(pcap_stat(sensor.capture_stats().as_deref()).into_bytes())
        }
        Command::SnifferStat => {
            let stat = sensor.sniffer_stat();
            let plain = crate::framing::find(line, b"plain", 0).is_some();
            Outcome::Reply(
                if plain {
                    stat.render_plain()
                } else {
                    stat.render_json()
                }
                .into_bytes(),
            )
        }
        Command::TotalCalls => Outcome::Reply(sensor.total_calls().to_string().into_bytes()),
        Command::TotalRegisters => {
            Outcome::Reply(sensor.total_registers().to_string().into_bytes())
        }
    }
}

fn maybe_zip(body: Vec<u8>, zip: bool) -> Vec<u8> {
    if zip { zip::gzip(&body) } else { body }
}

/// Parses `manager_file` arguments by their first word. The reference picks start/stop by
/// substring (so `manager_file stop /x/start` starts a socket); we do not reproduce that.
fn manager_file(args: &[u8]) -> Outcome {
    let args = args.trim_ascii_start();
    if let Some(rest) = args.strip_prefix(b"start") {
        let path = rest.strip_prefix(b" ").filter(|p| !p.is_empty());
        return Outcome::ManagerFile(ManagerFileRequest::Start(
            path.map(|p| PathBuf::from(OsStr::from_bytes(p))),
        ));
    }
    if args.starts_with(b"stop") {
        return Outcome::ManagerFile(ManagerFileRequest::Stop);
    }
    Outcome::Reply(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::lookup;

    struct Empty;
    impl SensorState for Empty {
        fn call_rows(&self) -> Vec<Row> {
            Vec::new()
        }
        fn total_calls(&self) -> u64 {
            0
        }
        fn register_rows(&self) -> Vec<Row> {
            Vec::new()
        }
        fn total_registers(&self) -> u64 {
            0
        }
        fn summary(&self) -> listcalls::Summary {
            listcalls::Summary {
                is_receiver: false,
                is_server: false,
                id_sensor: 7,
            }
        }
        fn sniffer_stat(&self) -> SnifferStat {
            SnifferStat {
                version: crate::VERSION.into(),
                ..SnifferStat::default()
            }
        }
        fn sip_ports(&self) -> String {
            "5060,5070-5080,".into()
        }
        fn capture_stats(&self) -> Option<Vec<InterfaceStats>> {
            None
        }
    }

    fn run(line: &[u8]) -> Outcome {
        let found = lookup(line).expect("known command");
        execute(&found, line, &Empty, KeyState::default())
    }

    fn text(line: &[u8]) -> Vec<u8> {
        match run(line) {
            Outcome::Reply(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn simple_replies() {
        assert_eq!(text(b"getversion"), crate::VERSION.as_bytes());
        assert_eq!(
            text(b"getverbuild"),
            format!("{} ({})", crate::VERSION, crate::BUILD).as_bytes()
        );
        assert_eq!(text(b"xgetversion"), crate::VERSION.as_bytes());
        assert_eq!(text(b"need_aes"), b"need aes!\n");
        assert_eq!(text(b"failed_aes_decrypt"), b"failed aes decrypt!\n");
        assert_eq!(text(b"support_aes"), b"no");
        assert_eq!(text(b"exists_aes_key"), b"no");
        assert_eq!(text(b"totalcalls"), b"0");
        assert_eq!(text(b"totalregisters"), b"0");
        assert_eq!(text(b"sipports"), b"5060,5070-5080,\n");
        assert_eq!(text(b"pcapstat"), b"no PcapQueue mode");
    }

    fn file_req(line: &[u8]) -> Option<FileRequest> {
        file_request(&lookup(line).expect("known command"), line)
    }

    #[test]
    fn file_commands_become_file_requests() {
        use crate::files::SpoolType;
        assert_eq!(text(b"getfile_is_zip_support"), b"OK");
        assert_eq!(file_req(b"getfile_is_zip_support"), None);
        assert_eq!(file_req(b"listcalls"), None);
        assert_eq!(
            file_req(b"getfile 2024/SIP/a.pcap 1 6"),
            Some(FileRequest::Get {
                rel: b"2024/SIP/a.pcap".to_vec(),
                index: 1,
                ty: SpoolType::Rtp,
                zip: false
            })
        );
        for zipped in [&b"getfile_zip a.pcap"[..], b"xgetfile_zip a.pcap"] {
            assert!(
                matches!(file_req(zipped), Some(FileRequest::Get { zip: true, .. })),
                "{}",
                String::from_utf8_lossy(zipped)
            );
        }
        assert!(matches!(
            file_req(b"file_exists a|b"),
            Some(FileRequest::Exists { multi: true, .. })
        ));
        assert_eq!(
            file_req(b"fileexists /x"),
            Some(FileRequest::Size {
                path: b"/x".to_vec()
            })
        );
        // Without a spool (a caller that does not intercept them): what such a sensor says.
        assert!(
            Empty.spool_dirs().is_none(),
            "no spool unless the sensor has one"
        );
        assert_eq!(text(b"getfile a.pcap"), b"error: cannot open file a.pcap");
        assert_eq!(
            zip::gunzip(&text(b"getfile_zip a.pcap")).expect("gzip"),
            b"error: cannot open file a.pcap"
        );
        assert_eq!(text(b"file_exists a|b"), b"not_exists");
        assert_eq!(text(b"fileexists /x"), b"0");
    }

    #[test]
    fn pcapstat_format_matches_the_reference_sample() {
        let lo = InterfaceStats {
            name: "lo".into(),
            sensor_drops: 0,
            ring_drops: 0,
            interface_drops: 0,
        };
        let sample = include_str!("../../../testdata/reference-replies/pcapstat.txt");
        assert_eq!(pcap_stat(Some(std::slice::from_ref(&lo))), sample);
        let eth = InterfaceStats {
            name: "eth0".into(),
            sensor_drops: 1,
            ring_drops: 2,
            interface_drops: 3,
        };
        assert_eq!(
            pcap_stat(Some(&[lo, eth])),
            "lo : pdropsCount [0] pcapdrop [0] ifdrop [0] | eth0 : pdropsCount [1] pcapdrop [2] ifdrop [3]"
        );
        assert_eq!(pcap_stat(Some(&[])), "ok");
    }

    #[test]
    fn list_commands() {
        assert!(text(b"listcalls").starts_with(br#"[["callreference","callid","#));
        assert!(
            text(b"listcalls {}")
                .ends_with(br#"[{"total":0,"is_receiver":0,"is_server":0,"id_sensor":7}]]"#)
        );
        assert!(text(b"listcalls{}").ends_with(br#""id_sensor":7}]]"#));
        let zipped = text(br#"listcalls {"zip":"yes"}"#);
        assert!(zip::is_gzip(&zipped));
        assert_eq!(zip::gunzip(&zipped).expect("gzip"), text(b"listcalls {}"));
        assert_eq!(
            zip::gunzip(&text(br#"listregisters {"zip":"yes"}"#)).expect("gzip"),
            text(b"listregisters")
        );
    }

    #[test]
    fn sniffer_stat_variants() {
        assert!(text(b"sniffer_stat").ends_with(b"\"disk_io\": null}\n"));
        assert!(text(b"sniffer_stat plain").starts_with(b"version="));
    }

    #[test]
    fn manager_file_parsing() {
        use ManagerFileRequest::{Start, Stop};
        assert_eq!(
            run(b"manager_file start"),
            Outcome::ManagerFile(Start(None))
        );
        assert_eq!(
            run(b"manager_file start /tmp/x y.sock"),
            Outcome::ManagerFile(Start(Some("/tmp/x y.sock".into())))
        );
        assert_eq!(
            run(b"manager_file start "),
            Outcome::ManagerFile(Start(None))
        );
        assert_eq!(run(b"manager_file stop"), Outcome::ManagerFile(Stop));
        assert_eq!(
            run(b"manager_file stop /x/start"),
            Outcome::ManagerFile(Stop)
        );
        assert_eq!(run(b"manager_file foo"), Outcome::Reply(Vec::new()));
    }

    #[test]
    fn access_rules() {
        let tcp = Access {
            transport: Transport::Tcp,
            encrypted: false,
            key_exists: true,
            unencrypted_allowed: false,
        };
        assert!(!tcp.permits(AesPolicy::Protected));
        assert!(tcp.permits(AesPolicy::Exempt));
        assert!(
            Access {
                transport: Transport::Unix,
                ..tcp
            }
            .permits(AesPolicy::Protected)
        );
        assert!(
            Access {
                encrypted: true,
                ..tcp
            }
            .permits(AesPolicy::Protected)
        );
        assert!(
            Access {
                key_exists: false,
                ..tcp
            }
            .permits(AesPolicy::Protected)
        );
        assert!(
            Access {
                unencrypted_allowed: true,
                ..tcp
            }
            .permits(AesPolicy::Protected)
        );
    }
}
