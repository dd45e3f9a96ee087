//! File-format rules and typed options, through the public API.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use voipsensor_config::{
    Config, ConfigError, Database, Loaded, Location, MysqlConfig, Override, Secret, parse_str,
};

const ORIGIN: &str = "/etc/x.conf";

fn load(text: &str) -> Loaded {
    parse_str(text, Path::new(ORIGIN), &[]).unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

fn load_with(text: &str, overrides: &[Override]) -> Loaded {
    parse_str(text, Path::new(ORIGIN), overrides)
        .unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

fn error(text: &str) -> String {
    match parse_str(text, Path::new(ORIGIN), &[]) {
        Ok(loaded) => panic!("expected an error for {text:?}, got {:?}", loaded.config),
        Err(e) => e.to_string(),
    }
}

fn flag(key: &str, value: &str) -> Override {
    Override {
        key: key.to_owned(),
        value: value.to_owned(),
        source: format!("--{key}"),
    }
}

fn warnings(loaded: &Loaded) -> Vec<String> {
    loaded.warnings.iter().map(ToString::to_string).collect()
}

// ---- file format -------------------------------------------------------------------------

#[test]
fn comments_blank_lines_and_whitespace() {
    let l = load("; comment\n# comment\n   ; indented\n\n\t managerport\t=  5030  \n");
    assert_eq!(l.config.manager_port, 5030);
    assert!(l.warnings.is_empty());
}

#[test]
fn trailing_hash_comment() {
    let l = load("managerport = 5029 # x\nspooldir = /var/spool/a#b\n");
    assert_eq!(l.config.manager_port, 5029);
    assert_eq!(l.config.spooldir, PathBuf::from("/var/spool/a#b"));
}

#[test]
fn semicolon_is_kept_in_values() {
    let l = load("mysqlhost = db\nmysqlpassword = a;b ; c\n");
    let Database::Mysql(m) = &l.config.database else {
        panic!("expected mysql");
    };
    assert_eq!(m.password.expose(), "a;b ; c");
}

#[test]
fn keys_are_case_insensitive() {
    let l = load("ManagerPort = 1\nMANAGERIP = 10.0.0.1\nSipPort = 5070\n");
    assert_eq!(l.config.manager_port, 1);
    assert_eq!(l.config.manager_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(l.config.sip_ports.to_reference_list(), "5070,");
    assert!(l.warnings.is_empty());
}

#[test]
fn crlf_and_bom() {
    let l = load("\u{feff}[general]\r\nmanagerport = 5031\r\nsipport = 5061 # c\r\n");
    assert_eq!(l.config.manager_port, 5031);
    assert_eq!(l.config.sip_ports.to_reference_list(), "5061,");
}

#[test]
fn keys_before_any_header_belong_to_general() {
    let l = load("managerport = 1\n[general]\nmanagerip = ::1\n");
    assert_eq!(l.config.manager_port, 1);
    assert_eq!(l.config.manager_ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
}

#[test]
fn other_sections_are_ignored_with_one_warning_each() {
    let text =
        "managerport = 1\n[other]\nmanagerport = 2\nbogus_key = 3\n[General]\nmanagerip = ::1\n";
    let l = load(text);
    assert_eq!(l.config.manager_port, 1);
    assert_eq!(l.config.manager_ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    let w = warnings(&l);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("/etc/x.conf:2: section [other] is ignored"),
        "{w:?}"
    );
}

#[test]
fn line_without_equals_is_a_syntax_error() {
    let e = parse_str("managerport = 1\ngarbage here\n", Path::new(ORIGIN), &[]).err();
    assert!(
        matches!(&e, Some(ConfigError::Syntax { line: 2, file, .. }) if file == Path::new(ORIGIN))
    );
    assert!(error("a = 1\n\nnot a setting\n").starts_with("/etc/x.conf:3: "));
}

// ---- duplicates ---------------------------------------------------------------------------

#[test]
fn duplicate_single_valued_first_wins_with_warning_naming_both_lines() {
    let l = load("managerport = 5030\n\nmanagerport = 5031\n");
    assert_eq!(l.config.manager_port, 5030);
    let w = warnings(&l);
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("/etc/x.conf:3: managerport: duplicate option"),
        "{w:?}"
    );
    assert!(w[0].contains("line 1"), "{w:?}");
}

#[test]
fn duplicate_ignored_value_is_not_validated() {
    // The reference never looks at the second value; neither do we.
    let l = load("managerport = 5030\nmanagerport = junk\n");
    assert_eq!(l.config.manager_port, 5030);
    assert_eq!(l.warnings.len(), 1);
}

#[test]
fn multi_valued_accumulate() {
    let l =
        load("sipport = 5060\nsipport = 5061,5070-5080\ninterface = eth0, eth1\ninterface = any\n");
    assert_eq!(
        l.config.sip_ports.to_reference_list(),
        "5060-5061,5070-5080,"
    );
    assert_eq!(l.config.interfaces, vec!["eth0", "eth1", "any"]);
    assert!(l.warnings.is_empty());
}

// ---- booleans -----------------------------------------------------------------------------

#[test]
fn booleans() {
    for (value, expected) in [
        ("yes", true),
        ("Y", true),
        ("1", true),
        ("no", false),
        ("", false),
    ] {
        let l = load(&format!("manager_enable_unencrypted = {value}\n"));
        assert_eq!(l.config.manager_enable_unencrypted, expected, "{value}");
        assert!(l.warnings.is_empty(), "{value}");
    }
    for value in ["false", "off", "n", "0", "NO"] {
        let l = load(&format!("manager_enable_unencrypted = {value}\n"));
        assert!(!l.config.manager_enable_unencrypted);
        assert!(l.warnings.is_empty(), "{value}");
    }
}

#[test]
fn boolean_true_is_no_with_a_warning() {
    let l = load("\nmanager_enable_unencrypted = true\n");
    assert!(!l.config.manager_enable_unencrypted);
    let w = warnings(&l);
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("/etc/x.conf:2: manager_enable_unencrypted: "),
        "{w:?}"
    );
    assert!(w[0].contains("read as \"no\""), "{w:?}");
    assert!(w[0].contains("y, Y or 1"), "{w:?}");
    let l = load("manager_enable_unencrypted = on\n");
    assert_eq!(l.warnings.len(), 1);
}

// ---- unknown and recognised keys ----------------------------------------------------------

#[test]
fn recognised_but_unimplemented_keys_are_collected_not_warned() {
    let l = load("savegraph = yes\ncdr_partition = yes\nsavegraph = no\nSIP-REGISTER = yes\n");
    assert!(l.warnings.is_empty(), "{:?}", warnings(&l));
    assert_eq!(
        l.unimplemented,
        vec!["cdr_partition", "savegraph", "sip-register"]
    );
}

#[test]
fn unknown_keys_warn_once_per_key_and_are_not_fatal() {
    let l = load("managerprot = 1\nfoo = 1\nmanagerprot = 2\nFOO = 3\n");
    let w = warnings(&l);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("/etc/x.conf:1: managerprot: unknown option"),
        "{w:?}"
    );
    assert!(w[0].contains("did you mean \"managerport\""), "{w:?}");
    assert!(
        w[1].starts_with("/etc/x.conf:2: foo: unknown option"),
        "{w:?}"
    );
    assert_eq!(l.config, Config::default());
}

// ---- typed options ------------------------------------------------------------------------

#[test]
fn managerip() {
    let cases = [
        ("0.0.0.0", IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ("::1", IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ("[::1]", IpAddr::V6(Ipv6Addr::LOCALHOST)),
        (
            "[2001:db8::5]",
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5)),
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(
            load(&format!("managerip = {value}\n")).config.manager_ip,
            expected
        );
    }
    let e = error("managerip = localhost\n");
    assert!(
        e.starts_with("/etc/x.conf:1: managerip: invalid IP address \"localhost\""),
        "{e}"
    );
    assert!(error("managerip =\n").contains("managerip"));
}

#[test]
fn managerport() {
    assert_eq!(load("managerport = 0\n").config.manager_port, 0);
    assert_eq!(load("managerport = 65535\n").config.manager_port, 65535);
    assert_eq!(
        error("\n\n\n\n\n\n\n\n\n\n\nmanagerport = 70000\n"),
        "/etc/x.conf:12: managerport: invalid port \"70000\" (expected 0-65535)"
    );
    assert!(error("managerport = -1\n").contains("managerport"));
    assert!(error("managerport = 50x\n").contains("managerport"));
}

#[test]
fn managersocket() {
    assert_eq!(load("managersocket =\n").config.manager_socket, None);
    assert_eq!(
        load("managersocket = /run/vm.sock\n").config.manager_socket,
        Some(PathBuf::from("/run/vm.sock"))
    );
    let long = format!("/{}", "s".repeat(107));
    let e = error(&format!("managersocket = {long}\n"));
    assert!(e.starts_with("/etc/x.conf:1: managersocket: "), "{e}");
    assert!(e.contains("107"), "{e}");
}

#[test]
fn aes_key_and_iv_are_secrets() {
    let l = load("manager_aes_key = S2V5S2V5S2V5S2V5\nmanager_aes_iv = SVZJVklWSVZJVklWSVZJVg==\n");
    assert_eq!(
        l.config.manager_aes_key.as_ref().map(Secret::expose),
        Some("S2V5S2V5S2V5S2V5")
    );
    assert_eq!(
        l.config.manager_aes_iv.as_ref().map(Secret::expose),
        Some("SVZJVklWSVZJVklWSVZJVg==")
    );
    let debug = format!("{:?}", l.config);
    assert!(!debug.contains("S2V5"), "{debug}");
    assert!(!debug.contains("SVZJ"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    let l = load("manager_aes_key =\nmanager_aes_iv = \n");
    assert_eq!(
        (l.config.manager_aes_key, l.config.manager_aes_iv),
        (None, None)
    );
}

#[test]
fn manager_max_request_size() {
    let get = |v: &str| load(&format!("manager_max_request_size = {v}\n")).config;
    assert_eq!(get("65536").manager_max_request_bytes, 65536);
    assert_eq!(get("64").manager_max_request_bytes, 64);
    assert_eq!(get("16k").manager_max_request_bytes, 16 * 1024);
    assert_eq!(get("16K").manager_max_request_bytes, 16 * 1024);
    assert_eq!(get("2m").manager_max_request_bytes, 2 * 1024 * 1024);
    assert_eq!(get("2M").manager_max_request_bytes, 2 * 1024 * 1024);
    for bad in ["63", "0", "abc", "1g", "-5", ""] {
        let e = error(&format!("manager_max_request_size = {bad}\n"));
        assert!(
            e.starts_with("/etc/x.conf:1: manager_max_request_size: "),
            "{e}"
        );
    }
}

#[test]
fn manager_request_timeout() {
    let get = |v: &str| load(&format!("manager_request_timeout = {v}\n")).config;
    assert_eq!(get("10").manager_request_timeout, Duration::from_secs(10));
    assert_eq!(
        get("2.5").manager_request_timeout,
        Duration::from_millis(2500)
    );
    assert_eq!(get("1").manager_request_timeout, Duration::from_secs(1));
    assert!(error("manager_request_timeout = 0.5\n").contains("0.5 s is too short"));
    for bad in ["0", "0.0", "-1", "x", "1e2", "", "0.999"] {
        let e = error(&format!("manager_request_timeout = {bad}\n"));
        assert!(
            e.starts_with("/etc/x.conf:1: manager_request_timeout: "),
            "{e}"
        );
    }
}

#[test]
fn manager_max_connections() {
    assert_eq!(
        load("manager_max_connections = 1\n")
            .config
            .manager_max_connections,
        1
    );
    assert_eq!(
        load("manager_max_connections = 4096\n")
            .config
            .manager_max_connections,
        4096
    );
    for bad in ["0", "-1", "many"] {
        let e = error(&format!("manager_max_connections = {bad}\n"));
        assert!(
            e.starts_with("/etc/x.conf:1: manager_max_connections: "),
            "{e}"
        );
    }
}

#[test]
fn id_sensor() {
    assert_eq!(load("id_sensor = -1\n").config.id_sensor, None);
    assert_eq!(load("id_sensor =\n").config.id_sensor, None);
    assert_eq!(load("id_sensor = 0\n").config.id_sensor, Some(0));
    assert_eq!(load("id_sensor = 65535\n").config.id_sensor, Some(65535));
    assert_eq!(
        load("id_sensor = 4294967295\n").config.id_sensor,
        Some(u32::MAX)
    );
    for bad in ["-2", "abc", "4294967296", "1.0"] {
        let e = error(&format!("id_sensor = {bad}\n"));
        assert!(e.starts_with("/etc/x.conf:1: id_sensor: "), "{e}");
    }
}

#[test]
fn interfaces() {
    assert!(load("interface =\n").config.interfaces.is_empty());
    assert_eq!(load("interface = any\n").config.interfaces, vec!["any"]);
    assert_eq!(
        load("interface = ,eth0,, eth1 ,\n").config.interfaces,
        vec!["eth0", "eth1"]
    );
}

#[test]
fn sipport() {
    let l = load("sipport = 5080-5090\nsipport = 5060,5061;5062\nsipport = 5085-5095\n");
    let s = &l.config.sip_ports;
    assert_eq!(s.to_reference_list(), "5060-5062,5080-5095,");
    assert!(s.contains(5061) && s.contains(5095) && !s.contains(5063) && !s.contains(5060 - 1));
    assert_eq!(
        s.iter_ranges().collect::<Vec<_>>(),
        vec![5060..=5062, 5080..=5095]
    );
    for bad in ["5080-5070", "0", "abc", "70000", "5060-", ""] {
        let e = error(&format!("\nsipport = 5060\nsipport = {bad}\n"));
        assert!(e.starts_with("/etc/x.conf:3: sipport: "), "{bad}: {e}");
    }
}

#[test]
fn spooldir() {
    assert_eq!(
        load("spooldir = /data/spool\n").config.spooldir,
        PathBuf::from("/data/spool")
    );
    assert!(error("spooldir =\n").starts_with("/etc/x.conf:1: spooldir: "));
}

#[test]
fn per_type_and_secondary_spool_dirs() {
    let c = load(
        "spooldir_rtp = /data/rtp\nspooldir_graph = /data/graph\nspooldir_audio = /data/audio\n\
         spooldir_2 = /cold/spool\n",
    )
    .config;
    assert_eq!(c.spooldir_rtp, Some(PathBuf::from("/data/rtp")));
    assert_eq!(c.spooldir_graph, Some(PathBuf::from("/data/graph")));
    assert_eq!(c.spooldir_audio, Some(PathBuf::from("/data/audio")));
    assert_eq!(c.spooldir_2, Some(PathBuf::from("/cold/spool")));
    assert_eq!(c.spooldir, PathBuf::from("/var/spool/voipmonitor"));
    // Empty means "not set", as in the reference (the main spool is used).
    let l = load("spooldir_rtp =\nspooldir_2 =\n");
    assert_eq!((l.config.spooldir_rtp, l.config.spooldir_2), (None, None));
    assert!(l.warnings.is_empty() && l.unimplemented.is_empty());
}

// ---- database -----------------------------------------------------------------------------

#[test]
fn database_defaults_to_sqlite() {
    let l = load("");
    assert_eq!(
        l.config.database,
        Database::Sqlite {
            path: PathBuf::from("/var/lib/voipsensor/voipsensor.db")
        }
    );
    let l = load("sqlitedb = /tmp/x.db\nmysqlport = 3307\n");
    assert_eq!(
        l.config.database,
        Database::Sqlite {
            path: PathBuf::from("/tmp/x.db")
        }
    );
    let l = load("mysqlhost =\n");
    assert!(matches!(l.config.database, Database::Sqlite { .. }));
}

#[test]
fn database_mysql_when_host_set() {
    let l = load(
        "mysqlhost = db.example.net\nmysqlport = 3307\nmysqlusername = vm\nmysqlpassword = pw\nmysqldb = cdrs\n",
    );
    assert_eq!(
        l.config.database,
        Database::Mysql(MysqlConfig {
            host: "db.example.net".to_owned(),
            port: 3307,
            username: "vm".to_owned(),
            password: Secret::new("pw"),
            database: "cdrs".to_owned(),
        })
    );
    assert!(!format!("{:?}", l.config.database).contains("pw\""));
}

#[test]
fn database_explicit_driver() {
    let l = load("sqldriver = MySQL\n");
    assert_eq!(l.config.database, Database::Mysql(MysqlConfig::default()));
    let Database::Mysql(m) = l.config.database else {
        panic!("expected mysql");
    };
    assert_eq!(
        (m.host.as_str(), m.port, m.username.as_str()),
        ("localhost", 3306, "root")
    );
    assert_eq!(m.database, "voipmonitor");
    let l = load("sqldriver = SQLITE\nmysqlhost = db\n");
    assert!(matches!(l.config.database, Database::Sqlite { .. }));
    let e = error("sqldriver = odbc\n");
    assert!(
        e.starts_with("/etc/x.conf:1: sqldriver: unsupported database driver \"odbc\""),
        "{e}"
    );
}

#[test]
fn database_bad_values() {
    assert!(error("mysqlport = 99999\n").starts_with("/etc/x.conf:1: mysqlport: "));
    assert!(error("mysqlport = 0\n").starts_with("/etc/x.conf:1: mysqlport: "));
    assert!(error("sqlitedb =\n").starts_with("/etc/x.conf:1: sqlitedb: "));
    assert!(error("mysqldb =\n").starts_with("/etc/x.conf:1: mysqldb: "));
}

// ---- overrides ----------------------------------------------------------------------------

#[test]
fn overrides_beat_the_file() {
    let text = "managerport = 5030\nmanagerip = 10.0.0.1\nsipport = 5060\nsipport = 5070\ninterface = eth0\n";
    let l = load_with(
        text,
        &[
            flag("managerport", "6000"),
            flag("SipPort", "5090-5091"),
            flag("sipport", "5100"),
            flag("interface", "lo"),
        ],
    );
    assert_eq!(l.config.manager_port, 6000);
    assert_eq!(l.config.manager_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(l.config.sip_ports.to_reference_list(), "5090-5091,5100,");
    assert_eq!(l.config.interfaces, vec!["lo"]);
    assert!(l.warnings.is_empty());
}

#[test]
fn later_override_wins_and_beats_a_file_duplicate() {
    let l = load_with(
        "managerport = 1\nmanagerport = 2\n",
        &[flag("managerport", "3"), flag("managerport", "4")],
    );
    assert_eq!(l.config.manager_port, 4);
}

#[test]
fn bad_override_names_the_flag() {
    let e = parse_str(
        "managerport = 1\n",
        Path::new(ORIGIN),
        &[flag("managerport", "x")],
    )
    .err();
    let msg = e.as_ref().map(ToString::to_string).unwrap_or_default();
    assert_eq!(
        msg,
        "command line --managerport: invalid port \"x\" (expected 0-65535)"
    );
    assert!(matches!(e, Some(ConfigError::Override { key, .. }) if key == "managerport"));
}

#[test]
fn override_hides_a_bad_file_value() {
    // The file's value is replaced before typing, so it cannot fail.
    let l = load_with("managerport = bad\n", &[flag("managerport", "5029")]);
    assert_eq!(l.config.manager_port, 5029);
}

#[test]
fn override_of_unknown_or_unimplemented_option() {
    let e = parse_str("", Path::new(ORIGIN), &[flag("nosuchoption", "1")]).err();
    let msg = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.starts_with("command line --nosuchoption: unknown option"),
        "{msg}"
    );
    let l = load_with("", &[flag("savegraph", "yes")]);
    assert_eq!(l.unimplemented, vec!["savegraph"]);
}

#[test]
fn boolean_override_warning_names_the_flag() {
    let l = load_with("", &[flag("manager_enable_unencrypted", "true")]);
    assert!(!l.config.manager_enable_unencrypted);
    assert_eq!(l.warnings.len(), 1);
    assert!(
        matches!(&l.warnings[0].location, Location::CommandLine { flag } if flag == "--manager_enable_unencrypted")
    );
    assert!(warnings(&l)[0].starts_with("command line --manager_enable_unencrypted: "));
}

// ---- secrets ------------------------------------------------------------------------------

#[test]
fn secret_redaction() {
    let s = Secret::new("topsecret");
    assert_eq!(format!("{s}"), "<redacted>");
    assert_eq!(format!("{s:?}"), "<redacted>");
    assert_eq!(s.expose(), "topsecret");
    assert!(!s.is_empty());
    let l = load("mysqlhost = h\nmysqlpassword = topsecret\n");
    assert!(!format!("{l:?}").contains("topsecret"));
    assert!(!format!("{l:#?}").contains("topsecret"));
}

#[test]
fn spool_saving_and_cleaning_options() {
    let c = load("").config;
    assert!(
        c.save_sip && c.save_rtcp,
        "VoIPmonitor's sample config saves SIP, RTP, RTCP"
    );
    assert_eq!(c.save_rtp, voipsensor_config::SaveRtp::Yes);
    assert_eq!(c.spool_limits, voipsensor_config::SpoolLimits::default());
    let c = load(
        "savesip = no\nsavertp = header\nsavertcp = no\nconvertchar = :\nmaxpoolsize = 102400\nmaxpooldays = 0\nmaxpoolrtpdays = 7\n",
    )
    .config;
    assert!(!c.save_sip && !c.save_rtcp);
    assert_eq!(c.save_rtp, voipsensor_config::SaveRtp::Header);
    assert_eq!(c.convert_chars, ":");
    assert_eq!(c.spool_limits.max_mb, Some(102_400));
    assert_eq!(c.spool_limits.max_days, None, "0 = no limit");
    assert_eq!(c.spool_limits.max_rtp_days, Some(7));
    assert_eq!(
        load("savertp = no\n").config.save_rtp,
        voipsensor_config::SaveRtp::No
    );
    let e = parse_str("maxpoolsize = lots\n", Path::new(ORIGIN), &[]).err();
    let msg = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains(":1") && msg.contains("maxpoolsize"), "{msg}");
}
