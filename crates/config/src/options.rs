//! Typed resolution: raw entries (file) + overrides (command line) → [`Config`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigError, Location, Warning};
use crate::known::{KNOWN_UNIMPLEMENTED, is_known_unimplemented};
use crate::parse::RawFile;
use crate::ports::PortSet;
use crate::secret::Secret;
use crate::values;
use crate::{Loaded, Override};

/// Default `managerport`.
pub const DEFAULT_MANAGER_PORT: u16 = 5029;
/// Default `manager_max_request_size` in bytes (1 MiB).
pub const DEFAULT_MANAGER_MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Smallest accepted `manager_max_request_size` in bytes.
pub const MIN_MANAGER_MAX_REQUEST_BYTES: usize = 64;
/// Shortest `manager_request_timeout` accepted.
pub const MIN_MANAGER_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Default `manager_request_timeout`.
pub const DEFAULT_MANAGER_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `manager_max_connections`.
pub const DEFAULT_MANAGER_MAX_CONNECTIONS: usize = 512;
/// Default `sipport`.
pub const DEFAULT_SIP_PORT: u16 = 5060;
/// Default `spooldir`.
pub const DEFAULT_SPOOLDIR: &str = "/var/spool/voipmonitor";
/// Default `sqlitedb`.
pub const DEFAULT_SQLITE_PATH: &str = "/var/lib/voipsensor/voipsensor.db";
/// Default `mysqlport`.
pub const DEFAULT_MYSQL_PORT: u16 = 3306;
/// Default `mysqlusername`.
pub const DEFAULT_MYSQL_USERNAME: &str = "root";
/// Default `mysqldb`.
pub const DEFAULT_MYSQL_DATABASE: &str = "voipmonitor";
/// `mysqlhost` used when `sqldriver = mysql` is given without a host.
pub const DEFAULT_MYSQL_HOST: &str = "localhost";

/// Options whose repeated keys accumulate instead of "first one wins".
const MULTI_VALUED: &[&str] = &["interface", "sipport"];

/// The option names voipsensor implements (lowercase), in the order of [`Config`]'s fields.
pub const IMPLEMENTED: &[&str] = &[
    "managerip",
    "managerport",
    "managersocket",
    "manager_enable_unencrypted",
    "manager_aes_key",
    "manager_aes_iv",
    "manager_max_request_size",
    "manager_request_timeout",
    "manager_max_connections",
    "id_sensor",
    "interface",
    "sipport",
    "spooldir",
    "spooldir_rtp",
    "spooldir_graph",
    "spooldir_audio",
    "spooldir_2",
    "savesip",
    "savertp",
    "savertcp",
    "save-sip-register",
    "convertchar",
    "maxpoolsize",
    "maxpooldays",
    "maxpoolsipsize",
    "maxpoolsipdays",
    "maxpoolrtpsize",
    "maxpoolrtpdays",
    "sqldriver",
    "sqlitedb",
    "mysqlhost",
    "mysqlport",
    "mysqlusername",
    "mysqlpassword",
    "mysqldb",
];

/// The resolved, typed configuration. `Default` gives the built-in defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `managerip`: address the manager TCP listener binds to.
    pub manager_ip: IpAddr,
    /// `managerport`: manager TCP port; 0 disables the TCP listener.
    pub manager_port: u16,
    /// `managersocket`: Unix socket for unencrypted manager access; `None` = no socket.
    pub manager_socket: Option<PathBuf>,
    /// `manager_enable_unencrypted`: accept plaintext commands over TCP although a key is set.
    pub manager_enable_unencrypted: bool,
    /// `manager_aes_key`: base64 AES key as written (validated by the manager).
    pub manager_aes_key: Option<Secret>,
    /// `manager_aes_iv`: base64 AES IV as written (validated by the manager).
    pub manager_aes_iv: Option<Secret>,
    /// `manager_max_request_size`: largest accepted manager request in bytes.
    pub manager_max_request_bytes: usize,
    /// `manager_request_timeout`: time a client gets to send its whole request.
    pub manager_request_timeout: Duration,
    /// `manager_max_connections`: concurrent manager connections served.
    pub manager_max_connections: usize,
    /// `id_sensor`: sensor id; `None` when unset (VoIPmonitor's `-1`).
    pub id_sensor: Option<u32>,
    /// `interface`: capture interfaces in order (`any` allowed); empty when not set.
    pub interfaces: Vec<String>,
    /// `sipport`: ports whose traffic is treated as SIP.
    pub sip_ports: PortSet,
    /// `spooldir`: root of the spool directory.
    pub spooldir: PathBuf,
    /// `spooldir_rtp`: separate directory for RTP pcaps; `None` = inside `spooldir`.
    pub spooldir_rtp: Option<PathBuf>,
    /// `spooldir_graph`: separate directory for graph files; `None` = inside `spooldir`.
    pub spooldir_graph: Option<PathBuf>,
    /// `spooldir_audio`: separate directory for audio files; `None` = inside `spooldir`.
    pub spooldir_audio: Option<PathBuf>,
    /// `spooldir_2`: the secondary spool (spool index 1 of file requests); `None` = not set.
    pub spooldir_2: Option<PathBuf>,
    /// `savesip`: write each call's SIP pcap (default yes, as VoIPmonitor's sample config).
    pub save_sip: bool,
    /// `savertp`: write each call's RTP pcap: `yes` (default), `header`, `no`.
    pub save_rtp: SaveRtp,
    /// `savertcp`: RTCP into the RTP pcap (default yes).
    pub save_rtcp: bool,
    /// `save-sip-register`: a pcap per REGISTER transaction under `REG/` (default no).
    pub save_sip_register: bool,
    /// `convertchar`: extra characters replaced by `_` in file names.
    pub convert_chars: String,
    /// `maxpoolsize`, `maxpooldays` and the SIP/RTP variants: spool cleaning limits in MB and
    /// days; `None` (0 in the file, the default) = no limit.
    pub spool_limits: SpoolLimits,
    /// `sqldriver`, `sqlitedb`, `mysql*`: where CDRs and registrations are stored.
    pub database: Database,
}

/// `savertp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveRtp {
    /// `no`.
    No,
    /// `yes`: whole packets.
    Yes,
    /// `header` (or `h`): packets cut after the RTP header.
    Header,
}

/// Spool cleaning limits (MB and days); `None` = no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolLimits {
    /// `maxpoolsize` (MB).
    pub max_mb: Option<u64>,
    /// `maxpooldays`.
    pub max_days: Option<u64>,
    /// `maxpoolsipsize` (MB).
    pub max_sip_mb: Option<u64>,
    /// `maxpoolsipdays`.
    pub max_sip_days: Option<u64>,
    /// `maxpoolrtpsize` (MB).
    pub max_rtp_mb: Option<u64>,
    /// `maxpoolrtpdays`.
    pub max_rtp_days: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            manager_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            manager_port: DEFAULT_MANAGER_PORT,
            manager_socket: None,
            manager_enable_unencrypted: false,
            manager_aes_key: None,
            manager_aes_iv: None,
            manager_max_request_bytes: DEFAULT_MANAGER_MAX_REQUEST_BYTES,
            manager_request_timeout: DEFAULT_MANAGER_REQUEST_TIMEOUT,
            manager_max_connections: DEFAULT_MANAGER_MAX_CONNECTIONS,
            id_sensor: None,
            interfaces: Vec::new(),
            sip_ports: PortSet::single(DEFAULT_SIP_PORT),
            spooldir: PathBuf::from(DEFAULT_SPOOLDIR),
            spooldir_rtp: None,
            spooldir_graph: None,
            spooldir_audio: None,
            spooldir_2: None,
            save_sip: true,
            save_rtp: SaveRtp::Yes,
            save_rtcp: true,
            save_sip_register: false,
            convert_chars: String::new(),
            spool_limits: SpoolLimits::default(),
            database: Database::default(),
        }
    }
}

/// The database backend selected by `sqldriver` (or implied by `mysqlhost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A local SQLite file (`sqldriver = sqlite`, the default without `mysqlhost`).
    Sqlite {
        /// `sqlitedb`: the database file.
        path: PathBuf,
    },
    /// A MySQL/MariaDB server (`sqldriver = mysql`, or `mysqlhost` set).
    Mysql(MysqlConfig),
}

impl Default for Database {
    fn default() -> Self {
        Self::Sqlite {
            path: PathBuf::from(DEFAULT_SQLITE_PATH),
        }
    }
}

/// Connection settings for a MySQL/MariaDB server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlConfig {
    /// `mysqlhost`: server host name or address.
    pub host: String,
    /// `mysqlport`: server port.
    pub port: u16,
    /// `mysqlusername`: user name.
    pub username: String,
    /// `mysqlpassword`: password (redacted in `Debug`).
    pub password: Secret,
    /// `mysqldb`: database name.
    pub database: String,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_MYSQL_HOST.to_owned(),
            port: DEFAULT_MYSQL_PORT,
            username: DEFAULT_MYSQL_USERNAME.to_owned(),
            password: Secret::default(),
            database: DEFAULT_MYSQL_DATABASE.to_owned(),
        }
    }
}

/// One value of an implemented option and where it came from.
#[derive(Debug, Clone)]
struct Setting {
    value: String,
    location: Location,
}

/// Implemented settings gathered from the file and the command line, before typing.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    single: BTreeMap<&'static str, Setting>,
    multi: BTreeMap<&'static str, Vec<Setting>>,
    warnings: Vec<Warning>,
    unimplemented: BTreeSet<String>,
}

fn implemented_key(key: &str) -> Option<&'static str> {
    IMPLEMENTED.iter().copied().find(|k| *k == key)
}

impl Collected {
    /// Sorts the file's entries into implemented / recognised / unknown, warning about
    /// duplicates of single-valued options (the first one wins, as in the reference) and once
    /// per distinct unknown key.
    pub(crate) fn from_file(raw: RawFile, origin: &Path) -> Self {
        let mut out = Self {
            warnings: raw.warnings,
            ..Self::default()
        };
        let mut unknown_seen = HashSet::new();
        let location = |line| Location::File {
            path: origin.to_path_buf(),
            line,
        };
        for entry in raw.entries {
            let setting = Setting {
                value: entry.value,
                location: location(entry.line),
            };
            if let Some(key) = implemented_key(&entry.key) {
                if MULTI_VALUED.contains(&key) {
                    out.multi.entry(key).or_default().push(setting);
                } else if let Some(first) = out.single.get(key) {
                    let first_line = match &first.location {
                        Location::File { line, .. } => *line,
                        Location::CommandLine { .. } => 0,
                    };
                    out.warnings.push(Warning {
                        location: setting.location,
                        key: Some(entry.key),
                        message: format!(
                            "duplicate option: already set on line {first_line}; the first \
                             value is used and this one is ignored"
                        ),
                    });
                } else {
                    out.single.insert(key, setting);
                }
            } else if is_known_unimplemented(&entry.key) {
                out.unimplemented.insert(entry.key);
            } else if unknown_seen.insert(entry.key.clone()) {
                let message = match suggestion(&entry.key) {
                    Some(near) => format!("unknown option, ignored (did you mean \"{near}\"?)"),
                    None => "unknown option, ignored".to_owned(),
                };
                out.warnings.push(Warning {
                    location: setting.location,
                    key: Some(entry.key),
                    message,
                });
            }
        }
        out
    }

    /// Applies command-line overrides: they replace the file's value of single-valued options
    /// (the last override wins) and the file's whole list of multi-valued options.
    pub(crate) fn apply_overrides(&mut self, overrides: &[Override]) -> Result<(), ConfigError> {
        let mut replaced_lists = HashSet::new();
        for o in overrides {
            let lower = o.key.trim().to_ascii_lowercase();
            let setting = Setting {
                value: o.value.trim().to_owned(),
                location: Location::CommandLine {
                    flag: o.source.clone(),
                },
            };
            if let Some(key) = implemented_key(&lower) {
                if MULTI_VALUED.contains(&key) {
                    let list = self.multi.entry(key).or_default();
                    if replaced_lists.insert(key) {
                        list.clear();
                    }
                    list.push(setting);
                } else {
                    self.single.insert(key, setting);
                }
            } else if is_known_unimplemented(&lower) {
                self.unimplemented.insert(lower);
            } else {
                return Err(ConfigError::Override {
                    flag: o.source.clone(),
                    message: format!("unknown option \"{lower}\""),
                    key: lower,
                });
            }
        }
        Ok(())
    }

    /// Types every collected setting; the first bad value is returned as an error.
    pub(crate) fn resolve(mut self) -> Result<Loaded, ConfigError> {
        let mut c = Config::default();
        let mut warnings = std::mem::take(&mut self.warnings);
        let single = &self.single;
        let get = |key: &'static str| single.get(key).map(|s| (key, s));

        if let Some((k, s)) = get("managerip") {
            c.manager_ip = typed(k, s, values::parse_ip)?;
        }
        if let Some((k, s)) = get("managerport") {
            c.manager_port = typed(k, s, |v| values::parse_port(v, true))?;
        }
        if let Some((k, s)) = get("managersocket") {
            c.manager_socket = typed(k, s, values::parse_socket_path)?;
        }
        if let Some((k, s)) = get("manager_enable_unencrypted") {
            c.manager_enable_unencrypted = boolean(k, s, &mut warnings);
        }
        if let Some((_, s)) = get("manager_aes_key") {
            c.manager_aes_key = optional_secret(&s.value);
        }
        if let Some((_, s)) = get("manager_aes_iv") {
            c.manager_aes_iv = optional_secret(&s.value);
        }
        if let Some((k, s)) = get("manager_max_request_size") {
            c.manager_max_request_bytes = typed(k, s, |v| {
                values::parse_size(v, MIN_MANAGER_MAX_REQUEST_BYTES)
            })?;
        }
        if let Some((k, s)) = get("manager_request_timeout") {
            c.manager_request_timeout = typed(k, s, |v| {
                let d = values::parse_seconds(v)?;
                if d < MIN_MANAGER_REQUEST_TIMEOUT {
                    return Err(format!(
                        "{v} s is too short: at least 1 s is needed, since a request ending in a \
                         single line break (`echo CMD | nc`) is complete only after 500 ms of silence"
                    ));
                }
                Ok(d)
            })?;
        }
        if let Some((k, s)) = get("manager_max_connections") {
            c.manager_max_connections = typed(k, s, |v| values::parse_count(v, 1))?;
        }
        if let Some((k, s)) = get("id_sensor") {
            c.id_sensor = typed(k, s, values::parse_id_sensor)?;
        }
        if let Some((k, s)) = get("spooldir") {
            c.spooldir = typed(k, s, values::parse_path)?;
        }
        for (key, field) in [
            ("spooldir_rtp", &mut c.spooldir_rtp),
            ("spooldir_graph", &mut c.spooldir_graph),
            ("spooldir_audio", &mut c.spooldir_audio),
            ("spooldir_2", &mut c.spooldir_2),
        ] {
            if let Some((k, s)) = get(key) {
                *field = typed(k, s, values::parse_optional_path)?;
            }
        }
        if let Some((k, s)) = get("savesip") {
            c.save_sip = boolean(k, s, &mut warnings);
        }
        if let Some((k, s)) = get("savertp") {
            c.save_rtp = if s.value.trim().starts_with(['h', 'H']) {
                SaveRtp::Header
            } else if boolean(k, s, &mut warnings) {
                SaveRtp::Yes
            } else {
                SaveRtp::No
            };
        }
        if let Some((k, s)) = get("savertcp") {
            c.save_rtcp = boolean(k, s, &mut warnings);
        }
        if let Some((k, s)) = get("save-sip-register") {
            c.save_sip_register = boolean(k, s, &mut warnings);
        }
        if let Some((_, s)) = get("convertchar") {
            c.convert_chars = s.value.trim().to_owned();
        }
        let l = &mut c.spool_limits;
        for (key, field) in [
            ("maxpoolsize", &mut l.max_mb),
            ("maxpooldays", &mut l.max_days),
            ("maxpoolsipsize", &mut l.max_sip_mb),
            ("maxpoolsipdays", &mut l.max_sip_days),
            ("maxpoolrtpsize", &mut l.max_rtp_mb),
            ("maxpoolrtpdays", &mut l.max_rtp_days),
        ] {
            if let Some((k, s)) = get(key) {
                let n = typed(k, s, |v| values::parse_count(v, 0))?;
                *field = (n > 0).then_some(n as u64);
            }
        }
        if let Some(list) = self.multi.get("interface") {
            c.interfaces = list
                .iter()
                .flat_map(|s| values::parse_list(&s.value))
                .collect();
        }
        if let Some(list) = self.multi.get("sipport") {
            let mut ports = PortSet::new();
            for s in list {
                typed("sipport", s, |v| ports.extend_from_list(v))?;
            }
            c.sip_ports = ports;
        }
        c.database = resolve_database(single)?;

        Ok(Loaded {
            config: c,
            warnings,
            unimplemented: self.unimplemented.into_iter().collect(),
        })
    }
}

fn typed<T>(
    key: &str,
    setting: &Setting,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    parse(&setting.value).map_err(|message| ConfigError::value(&setting.location, key, message))
}

fn boolean(key: &str, setting: &Setting, warnings: &mut Vec<Warning>) -> bool {
    let (value, warning) = values::parse_bool(&setting.value);
    if let Some(message) = warning {
        warnings.push(Warning {
            location: setting.location.clone(),
            key: Some(key.to_owned()),
            message,
        });
    }
    value
}

fn optional_secret(value: &str) -> Option<Secret> {
    (!value.is_empty()).then(|| Secret::new(value))
}

fn non_empty(key: &str, setting: &Setting) -> Result<String, ConfigError> {
    typed(key, setting, |v| {
        if v.is_empty() {
            Err("empty value".to_owned())
        } else {
            Ok(v.to_owned())
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    Sqlite,
    Mysql,
}

fn resolve_database(single: &BTreeMap<&'static str, Setting>) -> Result<Database, ConfigError> {
    let get = |key: &str| single.get(key);
    let driver = match get("sqldriver") {
        Some(s) => Some(typed("sqldriver", s, |v| {
            if v.eq_ignore_ascii_case("sqlite") {
                Ok(Driver::Sqlite)
            } else if v.eq_ignore_ascii_case("mysql") {
                Ok(Driver::Mysql)
            } else {
                Err(format!(
                    "unsupported database driver \"{v}\" (expected sqlite or mysql)"
                ))
            }
        })?),
        None => None,
    };
    // Type every database option even when the other driver is chosen: a bad value is still
    // a mistake the user wants to hear about.
    let sqlite_path = match get("sqlitedb") {
        Some(s) => typed("sqlitedb", s, values::parse_path)?,
        None => PathBuf::from(DEFAULT_SQLITE_PATH),
    };
    let mut mysql = MysqlConfig::default();
    let host = get("mysqlhost")
        .map(|s| s.value.clone())
        .unwrap_or_default();
    if !host.is_empty() {
        mysql.host.clone_from(&host);
    }
    if let Some(s) = get("mysqlport") {
        mysql.port = typed("mysqlport", s, |v| values::parse_port(v, false))?;
    }
    if let Some(s) = get("mysqlusername") {
        mysql.username = non_empty("mysqlusername", s)?;
    }
    if let Some(s) = get("mysqlpassword") {
        mysql.password = Secret::new(s.value.as_str());
    }
    if let Some(s) = get("mysqldb") {
        mysql.database = non_empty("mysqldb", s)?;
    }
    let driver = driver.unwrap_or(if host.is_empty() {
        Driver::Sqlite
    } else {
        Driver::Mysql
    });
    Ok(match driver {
        Driver::Sqlite => Database::Sqlite { path: sqlite_path },
        Driver::Mysql => Database::Mysql(mysql),
    })
}

/// The closest known option name to a misspelled `key`, if one is close enough.
fn suggestion(key: &str) -> Option<&'static str> {
    let max_distance = if key.chars().count() <= 4 { 1 } else { 2 };
    IMPLEMENTED
        .iter()
        .chain(KNOWN_UNIMPLEMENTED)
        .map(|name| (edit_distance(key, name), *name))
        .filter(|&(d, _)| d <= max_distance)
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.manager_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(c.manager_port, 5029);
        assert_eq!(c.manager_socket, None);
        assert!(!c.manager_enable_unencrypted);
        assert_eq!(c.manager_aes_key, None);
        assert_eq!(c.manager_aes_iv, None);
        assert_eq!(c.manager_max_request_bytes, 1_048_576);
        assert_eq!(c.manager_request_timeout, Duration::from_secs(10));
        assert_eq!(c.manager_max_connections, 512);
        assert_eq!(c.id_sensor, None);
        assert!(c.interfaces.is_empty());
        assert_eq!(c.sip_ports.to_reference_list(), "5060,");
        assert_eq!(c.spooldir, PathBuf::from("/var/spool/voipmonitor"));
        assert_eq!(
            (
                &c.spooldir_rtp,
                &c.spooldir_graph,
                &c.spooldir_audio,
                &c.spooldir_2
            ),
            (&None, &None, &None, &None)
        );
        assert_eq!(
            c.database,
            Database::Sqlite {
                path: PathBuf::from("/var/lib/voipsensor/voipsensor.db")
            }
        );
        let m = MysqlConfig::default();
        assert_eq!(
            (m.port, m.username.as_str(), m.database.as_str()),
            (3306, "root", "voipmonitor")
        );
        assert!(m.password.is_empty());
    }

    #[test]
    fn multi_valued_are_implemented() {
        for key in MULTI_VALUED {
            assert!(IMPLEMENTED.contains(key));
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("managerprot", "managerport"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggestion("managerprot"), Some("managerport"));
        assert_eq!(suggestion("sipprot"), Some("sipport"));
        assert_eq!(suggestion("savesipp"), Some("savesip"));
        assert_eq!(suggestion("completely_unrelated_name"), None);
    }
}
