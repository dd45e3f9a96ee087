//! Loads the shipped sample configuration and a production-like voipmonitor.conf.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use voipsensor_config::{Config, Database, Loaded, load, parse_str};

fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/voipsensor.conf")
}

fn full_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/voipmonitor-full.conf")
}

fn must_load(path: &Path) -> Loaded {
    load(Some(path), &[]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shipped_sample_loads_without_warnings_and_matches_defaults() {
    let loaded = must_load(&sample_path());
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert!(
        loaded.unimplemented.is_empty(),
        "{:?}",
        loaded.unimplemented
    );
    // The sample documents the defaults, so it must resolve to exactly them.
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn production_voipmonitor_conf_loads() {
    let loaded = must_load(&full_path());
    let c = &loaded.config;
    assert_eq!(c.id_sensor, Some(12));
    assert_eq!(c.manager_ip, IpAddr::V4(Ipv4Addr::new(10, 20, 30, 12)));
    assert_eq!(c.manager_port, 5029);
    assert!(!c.manager_enable_unencrypted);
    assert_eq!(c.interfaces, vec!["eth1", "eth2", "bond0"]);
    assert_eq!(
        c.sip_ports.to_reference_list(),
        "5060-5062,5070-5080,5090-5095,"
    );
    assert_eq!(c.spooldir, PathBuf::from("/srv/voipmonitor/spool"));
    let Database::Mysql(m) = &c.database else {
        panic!("expected mysql, got {:?}", c.database);
    };
    assert_eq!(m.host, "db1.voip.example.net");
    assert_eq!(m.port, 3306);
    assert_eq!(m.username, "voipmonitor");
    assert_eq!(m.password.expose(), "S3cr3t;pa$$#word");
    assert_eq!(m.database, "voipmonitor");

    // The only warning is the ignored [probe-legacy] section: every real option name is
    // recognised, none is reported as unknown.
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("section [probe-legacy] is ignored"),
        "{warnings:?}"
    );
    assert!(loaded.warnings.iter().all(|w| w.key.is_none()));

    assert!(
        loaded.unimplemented.len() > 150,
        "{}",
        loaded.unimplemented.len()
    );
    for name in ["cdr_partition", "sip-register", "natalias", "tar"] {
        assert!(loaded.unimplemented.iter().any(|u| u == name), "{name}");
    }
    // Spool options are implemented: typed, not collected.
    for name in ["savesip", "savertp", "maxpoolsize"] {
        assert!(!loaded.unimplemented.iter().any(|u| u == name), "{name}");
    }
    let mut sorted = loaded.unimplemented.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, loaded.unimplemented);
}

#[test]
fn one_misspelled_key_gives_exactly_one_warning() {
    let text = std::fs::read_to_string(full_path()).unwrap_or_else(|e| panic!("{e}"));
    let clean = parse_str(&text, &full_path(), &[]).unwrap_or_else(|e| panic!("{e}"));
    let misspelled = text.replacen(
        "sipwithoutrtptimeout = 3600",
        "sipwithoutrtptimout = 3600",
        1,
    );
    assert_ne!(misspelled, text);
    let origin = Path::new("/etc/voipmonitor.conf");
    let loaded = parse_str(&misspelled, origin, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.warnings.len(), clean.warnings.len() + 1);
    let new: Vec<_> = loaded
        .warnings
        .iter()
        .filter(|w| w.key.as_deref() == Some("sipwithoutrtptimout"))
        .collect();
    assert_eq!(new.len(), 1);
    let line = text
        .lines()
        .position(|l| l.starts_with("sipwithoutrtptimeout"))
        .map(|i| i + 1)
        .unwrap_or_default();
    let shown = new[0].to_string();
    assert!(
        shown.starts_with(&format!(
            "/etc/voipmonitor.conf:{line}: sipwithoutrtptimout: unknown option"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("did you mean \"sipwithoutrtptimeout\""),
        "{shown}"
    );
    assert_eq!(loaded.config, clean.config);
}

#[test]
fn production_conf_with_override() {
    let flags = [voipsensor_config::Override {
        key: "managerport".to_owned(),
        value: "0".to_owned(),
        source: "--manager-port".to_owned(),
    }];
    let loaded = load(Some(&full_path()), &flags).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.manager_port, 0);
    assert_eq!(loaded.config.id_sensor, Some(12));
}
