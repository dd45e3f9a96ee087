//! End-to-end tests of the manager API's file commands (spec §4.11, issue 5 items 2, 5, 6):
//! `getfile`, `getfile_zip`, `getfile_is_zip_support`, `file_exists`, `fileexists` against the
//! real `voipsensor run`, with raw sockets (byte-exact replies), `send-manager-cmd` (plain, `-a`,
//! `--output`) and the independent Python client; gzip is checked with the system's `gzip`,
//! served pcaps with `tshark`.
//!
//! Confinement is part of the contract: `..`, absolute paths and symlinks out of the spool are
//! refused with `access denied`, and no reply names the spool's absolute path.

mod common;

use common::{
    B64Key, Sensor, decrypt_reply, encrypted_exchange_from, run, send_manager_cmd, tempdir, text,
    voipsensor_env, vpmanager_py_ok,
};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use voipsensor_bench::traffic::{self, Config as TrafficConfig};

/// A call's SIP pcap in the reference layout.
const REL: &str = "2024-03-05/14/07/SIP/call-1@example.com.pcap";

/// `len` bytes that are not all alike (xorshift), so a misplaced piece cannot go unnoticed.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

/// Writes `bytes` to `spool/rel`, creating its directories.
fn put(spool: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let path = spool.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent directory")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write a spool file");
    path
}

/// A sensor whose `spooldir` is `{dir}/spool`, with `extra` configuration; its spool path.
fn sensor_with_spool(extra: &str) -> (Sensor, PathBuf) {
    let sensor = Sensor::start(&[], &format!("spooldir = {{dir}}/spool\n{extra}"));
    let spool = sensor.dir().join("spool");
    std::fs::create_dir_all(&spool).expect("mkdir spool");
    (sensor, spool)
}

/// The raw reply to the plaintext command `line`.
fn ask(sensor: &Sensor, line: &str) -> Vec<u8> {
    sensor.exchange(format!("{line}\r\n\r\n").as_bytes())
}

/// `bytes` decompressed by the system's `gzip -dc` (not our code).
#[track_caller]
fn system_gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new("gzip");
    cmd.arg("-dc");
    let out = run(cmd, bytes);
    assert!(
        out.status.success(),
        "gzip -dc failed: {}",
        text(&out.stderr)
    );
    out.stdout
}

/// `send-manager-cmd ARGS` (no key in the environment), which must succeed; its stdout.
#[track_caller]
fn send_ok(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["send-manager-cmd"];
    all.extend_from_slice(args);
    let out = voipsensor_env(&all, &[]);
    assert!(
        out.status.success(),
        "send-manager-cmd {args:?} failed with {}:\n{}",
        out.status,
        text(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "no progress line without a terminal: {}",
        text(&out.stderr)
    );
    out.stdout
}

/// A classic pcap: global header, then one record per payload (Ethernet link type).
fn pcap(little_endian: bool, nanos: bool, payloads: &[&[u8]]) -> Vec<u8> {
    let w = |v: u32| {
        if little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend(w(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend(if little_endian {
        [2, 0, 4, 0]
    } else {
        [0, 2, 0, 4]
    });
    out.extend([0u8; 8]);
    out.extend(w(65535));
    out.extend(w(1));
    for (i, p) in payloads.iter().enumerate() {
        let len = u32::try_from(p.len()).expect("small payload");
        out.extend(w(1_700_000_000 + u32::try_from(i).expect("few records")));
        out.extend(w(0));
        out.extend(w(len));
        out.extend(w(len));
        out.extend_from_slice(p);
    }
    out
}

/// Debian's tshark (CI installs it).
const TSHARK: &str = "/usr/bin/tshark";

/// Number of packets `tshark` reads from `bytes`, `None` without tshark (outside CI); fails the
/// test if tshark finds the capture damaged (a packet cut in the middle is).
#[track_caller]
fn tshark_packets(bytes: &[u8]) -> Option<usize> {
    if !Path::new(TSHARK).exists() {
        assert!(std::env::var_os("CI").is_none(), "CI must have tshark");
        eprintln!("tshark check skipped: no {TSHARK}");
        return None;
    }
    let dir = tempdir();
    let path = dir.path().join("served.pcap");
    std::fs::write(&path, bytes).expect("write");
    let mut cmd = Command::new(TSHARK);
    cmd.arg("-n")
        .arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-e", "frame.number"]);
    let out = run(cmd, b"");
    let stderr = text(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("cut short") && !stderr.contains("damaged"),
        "tshark failed on the served pcap ({}): {stderr}",
        out.status
    );
    Some(text(&out.stdout).lines().count())
}

#[test]
fn getfile_serves_identical_bytes_plain_zipped_and_through_the_cli() {
    let (sensor, spool) = sensor_with_spool("");
    // Not a multiple of 16 nor of the 64 KiB pieces.
    let data = pseudo_random(1_500_007, 7);
    put(&spool, REL, &data);
    let port = sensor.port().to_string();

    assert_eq!(ask(&sensor, "getfile_is_zip_support"), b"OK");
    let plain = ask(&sensor, &format!("getfile {REL}"));
    assert!(plain == data, "plain getfile: {} bytes", plain.len());
    let explicit = ask(&sensor, &format!("getfile {REL} 0 1"));
    assert!(explicit == data, "SPOOL_INDEX 0, TYPE 1");

    let zipped = ask(&sensor, &format!("getfile_zip {REL}"));
    assert_eq!(&zipped[..4], &[0x1f, 0x8b, 8, 0], "a gzip member");
    assert!(zipped.len() < data.len() + data.len() / 100 + 1024);
    assert!(system_gunzip(&zipped) == data, "gzip -dc of getfile_zip");

    // A file that already is gzip is sent as is, zipped or not.
    let gz = system_gzip(b"already compressed\n");
    put(&spool, "2024-03-05/14/07/SIP/old.pcap.gz", &gz);
    assert_eq!(
        ask(&sensor, "getfile_zip 2024-03-05/14/07/SIP/old.pcap.gz"),
        gz
    );
    assert_eq!(ask(&sensor, "getfile 2024-03-05/14/07/SIP/old.pcap.gz"), gz);

    // An empty file: an empty reply.
    put(&spool, "empty.pcap", b"");
    assert_eq!(ask(&sensor, "getfile empty.pcap"), b"");
    assert_eq!(ask(&sensor, "getfile_zip empty.pcap"), b"");

    // The CLI, to stdout and to --output, plain and zipped (the client gunzips).
    let cmd = format!("getfile {REL}");
    assert!(
        send_ok(&["-p", &port, "-c", &cmd]) == data,
        "send-manager-cmd stdout"
    );
    let zcmd = format!("getfile_zip {REL}");
    assert!(
        send_ok(&["-p", &port, "-c", &zcmd]) == data,
        "send-manager-cmd zipped"
    );
    let out_dir = tempdir();
    for (i, c) in [&cmd, &zcmd].into_iter().enumerate() {
        let file = out_dir.path().join(format!("out{i}.pcap"));
        let file_arg = file.display().to_string();
        let stdout = send_ok(&["-p", &port, "-c", c, "--output", &file_arg]);
        assert!(stdout.is_empty(), "--output leaves stdout alone");
        let written = std::fs::read(&file).expect("the output file");
        assert!(written == data, "{c} --output: {} bytes", written.len());
    }
    let empty_out = out_dir.path().join("empty.out");
    let empty_arg = empty_out.display().to_string();
    send_ok(&["-p", &port, "-c", "getfile empty.pcap", "-o", &empty_arg]);
    assert_eq!(std::fs::read(&empty_out).expect("created"), b"");
    sensor.assert_alive();
}

/// `bytes` compressed by the system's `gzip -c`.
fn system_gzip(bytes: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new("gzip");
    cmd.arg("-c");
    let out = run(cmd, bytes);
    assert!(out.status.success());
    out.stdout
}

#[test]
fn encrypted_getfile_is_byte_exact_with_our_client_and_an_independent_one() {
    let spec = B64Key::spec();
    let (sensor, spool) = sensor_with_spool(&format!(
        "manager_enable_unencrypted = no\nmanager_aes_key = {}\nmanager_aes_iv = {}\n",
        spec.key, spec.iv
    ));
    let data = pseudo_random(700_001, 11);
    put(&spool, REL, &data);
    let port = sensor.port().to_string();

    // File commands are protected (spec §2.6: flag 0).
    for line in [
        format!("getfile {REL}"),
        format!("getfile_zip {REL}"),
        format!("file_exists {REL}"),
        format!("fileexists {REL}"),
        "getfile_is_zip_support".to_owned(),
    ] {
        assert_eq!(ask(&sensor, &line), b"need aes!\n", "{line}");
    }

    // Raw: one `aes:` + one CBC stream of the whole file.
    let (reply, _) = encrypted_exchange_from(1, sensor.addr(), &spec, &format!("getfile {REL}"));
    assert!(reply.starts_with(b"aes:"));
    assert_eq!((reply.len() - 4) % 16, 0);
    assert_eq!(reply.len() - 4, (data.len() / 16 + 1) * 16);
    assert!(decrypt_reply(&spec, &reply).expect("decrypts") == data);
    let (zreply, _) =
        encrypted_exchange_from(2, sensor.addr(), &spec, &format!("getfile_zip {REL}"));
    let inner = decrypt_reply(&spec, &zreply).expect("decrypts");
    assert_eq!(&inner[..2], &[0x1f, 0x8b], "gzip inside AES (spec §3.2)");
    assert!(system_gunzip(&inner) == data);
    // An error reply is encrypted like any other.
    let (denied, _) = encrypted_exchange_from(3, sensor.addr(), &spec, "getfile ../x");
    assert_eq!(
        decrypt_reply(&spec, &denied).expect("decrypts"),
        b"access denied"
    );

    // Our client, every cipher, stdout and --output.
    let flags = spec.flags();
    let out_dir = tempdir();
    for cipher in ["aes-128-cbc", "aes-256-cbc"] {
        for command in [format!("getfile {REL}"), format!("getfile_zip {REL}")] {
            let mut args = vec!["-a", "-p", &port, "--aes-cipher", cipher, "-c", &command];
            args.extend_from_slice(&flags);
            assert!(send_ok(&args) == data, "{cipher} {command}");
            let file = out_dir.path().join("out.pcap");
            let file_arg = file.display().to_string();
            args.extend_from_slice(&["--output", &file_arg]);
            send_ok(&args);
            assert!(
                std::fs::read(&file).expect("written") == data,
                "{cipher} {command} --output"
            );
        }
        // The independent Python client (spec-only implementation of AES and gzip).
        for command in [format!("getfile {REL}"), format!("getfile_zip {REL}")] {
            let got = vpmanager_py_ok(sensor.port(), Some((&spec, cipher)), &command);
            assert!(
                got == data,
                "python {cipher} {command}: {} bytes",
                got.len()
            );
        }
    }
    sensor.assert_alive();
}

#[test]
fn a_pcap_being_written_is_served_up_to_its_last_complete_record() {
    let (sensor, spool) = sensor_with_spool("");
    for (little, nanos) in [(true, false), (false, true)] {
        let payloads: Vec<Vec<u8>> = (0..5)
            .map(|i| pseudo_random(60 + 100 * i, i as u64 + 1))
            .collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let whole = pcap(little, nanos, &refs);
        let four = pcap(little, nanos, &refs[..4]);
        let name = format!("2024-03-05/14/07/RTP/growing-{little}-{nanos}.pcap");
        let path = put(&spool, &name, &whole[..whole.len() - 30]);
        // The last record's body is cut short: served up to the fourth record.
        let served = ask(&sensor, &format!("getfile {name}"));
        assert_eq!(served, four, "little-endian {little}, ns {nanos}");
        assert!(tshark_packets(&served).is_none_or(|n| n == 4));
        // Only part of the last record header written.
        std::fs::write(&path, &whole[..four.len() + 9]).expect("write");
        assert_eq!(ask(&sensor, &format!("getfile {name}")), four);
        // Zipped: the same cut.
        assert_eq!(
            system_gunzip(&ask(&sensor, &format!("getfile_zip {name}"))),
            four
        );
        // The writer catches up: the whole file.
        std::fs::write(&path, &whole).expect("write");
        let served = ask(&sensor, &format!("getfile {name}"));
        assert_eq!(served, whole);
        assert!(tshark_packets(&served).is_none_or(|n| n == 5));
    }
    // A non-pcap file is served whole, whatever its content.
    let text_file = put(&spool, "notes.txt", b"\xd4\xc3\xb2 not a pcap");
    assert_eq!(
        ask(&sensor, "getfile notes.txt"),
        std::fs::read(text_file).expect("read")
    );
}

#[test]
fn file_exists_and_fileexists_answer_sizes() {
    let (sensor, spool) = sensor_with_spool("");
    put(&spool, REL, &[1u8; 1234]);
    put(&spool, "2024-03-05/14/07/RTP/b.pcap", &[2u8; 99]);
    put(&spool, "empty.pcap", b"");
    put(&spool, "2024-03-05/14/07/SIP/x.tar", &[0u8; 512]);
    put(&spool, "2024-03-05/14/07/SIP/x.tar.1", &[0u8; 100]);
    put(&spool, "2024-03-05/14/07/SIP/x.tar.2", &[0u8; 7]);

    let t = |line: &str| text(&ask(&sensor, line));
    assert_eq!(t(&format!("file_exists {REL}")), "1234");
    assert_eq!(t(&format!("file_exists {REL} 0 1")), "1234");
    assert_eq!(t("file_exists empty.pcap"), "0");
    assert_eq!(t("file_exists nope.pcap"), "not_exists");
    assert_eq!(
        t("file_exists 2024-03-05/14/07/SIP/x.tar"),
        "512;2024-03-05/14/07/SIP/x.tar.1:100;2024-03-05/14/07/SIP/x.tar.2:7"
    );
    assert_eq!(
        t(&format!(
            "file_exists {REL}|nope.pcap|2024-03-05/14/07/RTP/b.pcap|empty.pcap"
        )),
        format!("ok\n{REL}:1234\n2024-03-05/14/07/RTP/b.pcap:99\nempty.pcap:0")
    );
    assert_eq!(t("file_exists nope.pcap|nope2.pcap"), "not_exists");

    // fileexists: the GUI's absolute path, or one relative to the spool.
    let abs = spool.join(REL);
    assert_eq!(t(&format!("fileexists {}", abs.display())), "1234");
    assert_eq!(t(&format!("fileexists {REL}")), "1234");
    assert_eq!(t("fileexists nope.pcap"), "0");
    // Sizes of 2 GiB and more wrap like the reference's signed 32-bit int (a sparse file).
    let big = put(&spool, "big.pcap", b"");
    std::fs::File::options()
        .write(true)
        .open(&big)
        .and_then(|f| f.set_len(3 << 30))
        .expect("a sparse 3 GiB file");
    assert_eq!(t("fileexists big.pcap"), "-1073741824");
    assert_eq!(t("file_exists big.pcap"), "3221225472");

    // The CLI prints the same.
    let port = sensor.port().to_string();
    assert_eq!(
        text(&send_ok(&[
            "-p",
            &port,
            "-c",
            &format!("file_exists {REL}")
        ])),
        "1234"
    );
}

#[test]
fn paths_out_of_the_spool_are_refused_and_errors_do_not_reveal_it() {
    let (sensor, spool) = sensor_with_spool("");
    let secret = sensor.dir().join("secret.pcap");
    std::fs::write(&secret, b"must not be served").expect("write");
    put(&spool, REL, b"fine");
    symlink(&secret, spool.join("link-out.pcap")).expect("symlink");
    symlink(sensor.dir(), spool.join("dir-out")).expect("symlink");
    symlink("2024-03-05", spool.join("today")).expect("symlink inside");
    let secret_abs = secret.display().to_string();

    for name in [
        "../secret.pcap",
        "2024-03-05/../../secret.pcap",
        "..",
        secret_abs.as_str(),
        "/etc/passwd",
        "link-out.pcap",
        "dir-out/secret.pcap",
    ] {
        assert_eq!(
            text(&ask(&sensor, &format!("getfile {name}"))),
            "access denied",
            "getfile {name}"
        );
        assert_eq!(
            system_gunzip(&ask(&sensor, &format!("getfile_zip {name}"))),
            b"access denied",
            "getfile_zip {name}"
        );
        assert_eq!(
            text(&ask(&sensor, &format!("file_exists {name}"))),
            "access denied",
            "file_exists {name}"
        );
        assert_eq!(
            text(&ask(&sensor, &format!("file_exists {REL}|{name}"))),
            "access denied",
            "file_exists with {name} among the names"
        );
        // fileexists answers as for a missing file: no existence oracle outside the spool.
        assert_eq!(
            text(&ask(&sensor, &format!("fileexists {name}"))),
            "0",
            "fileexists {name}"
        );
    }
    // A symlink that stays inside the spool is fine.
    assert_eq!(
        ask(&sensor, "getfile today/14/07/SIP/call-1@example.com.pcap"),
        b"fine"
    );

    // Errors name the file as the client gave it, never where the spool is.
    let spool_abs = std::fs::canonicalize(&spool).expect("canonical spool");
    for (line, expected) in [
        (
            "getfile 2024-03-05/14/07/SIP/gone.pcap",
            "error: cannot open file 2024-03-05/14/07/SIP/gone.pcap",
        ),
        (
            "getfile 2024-03-05/14/07",
            "error: cannot open file 2024-03-05/14/07",
        ),
        ("getfile", "error: cannot open file "),
        ("getfile gone.pcap 1 6", "error: cannot open file gone.pcap"),
    ] {
        let reply = text(&ask(&sensor, line));
        assert_eq!(reply, expected, "{line}");
        for path in [&spool, &spool_abs, &sensor.dir().to_path_buf()] {
            assert!(!reply.contains(&path.display().to_string()), "{reply}");
        }
    }

    // --output: a refusal is an error, and no file is created.
    let port = sensor.port().to_string();
    let out_dir = tempdir();
    let file = out_dir.path().join("x.pcap");
    let file_arg = file.display().to_string();
    for command in ["getfile ../secret.pcap", "getfile gone.pcap"] {
        let out = send_manager_cmd(&["-p", &port, "-c", command, "-o", &file_arg], b"");
        assert_eq!(out.status.code(), Some(1), "{command}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("the sensor refused: "), "{stderr}");
        assert!(
            stderr.contains("access denied") || stderr.contains("cannot open file gone.pcap"),
            "{stderr}"
        );
        assert!(!file.exists(), "no file for a refusal");
    }
    // Without --output the reply is printed as is (byte-exact, like the reference's).
    assert_eq!(
        send_ok(&["-p", &port, "-c", "getfile ../secret.pcap"]),
        b"access denied"
    );
    sensor.assert_alive();
}

#[test]
fn type_directories_and_the_secondary_spool() {
    let sensor = Sensor::start(
        &[],
        "spooldir = {dir}/spool\nspooldir_rtp = {dir}/rtp\nspooldir_2 = {dir}/cold\n",
    );
    let dir = sensor.dir().to_path_buf();
    let rtp_rel = "2024-03-05/14/07/RTP/call-1@example.com.pcap";
    put(&dir.join("rtp"), rtp_rel, b"from spooldir_rtp");
    put(
        &dir.join("spool"),
        "2024-03-05/14/07/RTP/only-main.pcap",
        b"from spooldir",
    );
    put(&dir.join("cold"), REL, b"from spooldir_2");
    put(&dir.join("spool"), REL, b"from spooldir");

    assert_eq!(
        ask(&sensor, &format!("getfile {rtp_rel}")),
        b"from spooldir_rtp"
    );
    assert_eq!(
        ask(&sensor, &format!("getfile {rtp_rel} 0 6")),
        b"from spooldir_rtp",
        "TYPE 6 = RTP"
    );
    assert_eq!(
        ask(&sensor, "getfile 2024-03-05/14/07/RTP/only-main.pcap"),
        b"from spooldir",
        "auto: the main spool when the RTP directory does not have it"
    );
    assert_eq!(ask(&sensor, &format!("getfile {REL}")), b"from spooldir");
    assert_eq!(
        ask(&sensor, &format!("getfile {REL} 1")),
        b"from spooldir_2"
    );
    assert_eq!(text(&ask(&sensor, &format!("file_exists {REL} 1"))), "15");
    assert_eq!(
        text(&ask(
            &sensor,
            &format!("fileexists {}", dir.join("rtp").join(rtp_rel).display())
        )),
        "17",
        "fileexists accepts paths in every spool directory"
    );
    // A symlink from the RTP directory into the main spool is out of *its* directory.
    symlink(
        dir.join("spool").join(REL),
        dir.join("rtp/2024-03-05/14/07/RTP/l.pcap"),
    )
    .expect("symlink");
    assert_eq!(
        text(&ask(&sensor, "getfile 2024-03-05/14/07/RTP/l.pcap 0 6")),
        "access denied"
    );
}

#[test]
fn help_lists_the_file_commands() {
    let sensor = Sensor::start(&[], "");
    let help = text(&ask(&sensor, "help"));
    for line in [
        "file_exists ... file exists.\n\n",
        "fileexists ... file exists 2.\n\n",
        "getfile ... get file.\n\n",
        "getfile_is_zip_support ... check getfile zip support.\n\n",
        "getfile_zip ... get zipped file.\n\n",
    ] {
        assert!(help.contains(line), "{line:?} missing from help");
    }
    assert_eq!(
        text(&ask(&sensor, "help getfile ")),
        "getfile ... get file.\n\n"
    );
    // The default spool (/var/spool/voipmonitor) is not this test's: a name in it is just
    // missing or served; never a crash, never its path in the reply.
    let reply = text(&ask(&sensor, "getfile no/such/file.pcap"));
    assert_eq!(reply, "error: cannot open file no/such/file.pcap");
    sensor.assert_alive();
}

/// Every `*.pcap` under `dir`, as paths relative to it.
fn pcaps_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "pcap") {
                let rel = path.strip_prefix(dir).expect("under dir");
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Issue 5 §6: the pcaps the sensor itself wrote to its spool (replaying generated calls) come
/// back byte for byte through `getfile`, plain, encrypted and zipped, and `file_exists` gives
/// their sizes.
#[test]
fn the_sensors_own_spool_pcaps_come_back_identical() {
    let dir = tempdir();
    let capture = dir.path().join("calls.pcap");
    let cfg = TrafficConfig {
        calls: 2,
        concurrency: 2,
        duration_secs: 4,
        seed: 5,
        ..TrafficConfig::default()
    };
    let mut bytes = Vec::new();
    traffic::generate(&cfg, &mut bytes).expect("generate");
    std::fs::write(&capture, &bytes).expect("write capture");
    let spec = B64Key::spec();
    let sensor = Sensor::start(
        &[
            "--read",
            capture.to_str().expect("utf8"),
            "--continue-after-read",
        ],
        &format!(
            "spooldir = {{dir}}/spool\nmanager_enable_unencrypted = yes\n\
             manager_aes_key = {}\nmanager_aes_iv = {}\n",
            spec.key, spec.iv
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sensor.stderr().contains("replay finished") {
        assert!(Instant::now() < deadline, "no replay:\n{}", sensor.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let spool = sensor.dir().join("spool");
    let names = pcaps_under(&spool);
    assert_eq!(names.len(), 4, "a SIP and an RTP pcap per call: {names:?}");
    let port = sensor.port().to_string();
    let flags = spec.flags();
    for name in &names {
        // The spool may still flush while we read: compare against a stable snapshot.
        let mut tries = 0;
        loop {
            let before = std::fs::read(spool.join(name)).expect("read");
            let plain = ask(&sensor, &format!("getfile {name}"));
            let zipped = system_gunzip(&ask(&sensor, &format!("getfile_zip {name}")));
            let mut args = vec!["-a", "-p", &port, "-c"];
            let cmd = format!("getfile {name}");
            args.push(&cmd);
            args.extend_from_slice(&flags);
            let encrypted = send_ok(&args);
            let size = text(&ask(&sensor, &format!("file_exists {name}")));
            let after = std::fs::read(spool.join(name)).expect("read");
            tries += 1;
            if before != after && tries < 5 {
                continue;
            }
            assert!(!before.is_empty() && before.len() > 24, "{name}");
            assert!(plain == before, "{name}: getfile");
            assert!(zipped == before, "{name}: getfile_zip");
            assert!(encrypted == before, "{name}: getfile -a");
            assert_eq!(size, before.len().to_string(), "{name}: file_exists");
            assert!(tshark_packets(&plain).is_none_or(|n| n > 0), "{name}");
            break;
        }
    }
}
