//! End-to-end tests of the manager API under bad input and load: garbage, oversized and slow
//! requests, silent clients, many connections, clients that vanish mid-reply and malformed
//! encrypted frames. After each one the sensor must still answer `getversion`.

mod common;

use common::{
    Sensor, VERSION, connect, connect_from, connect_unix, exchange, half_close, read_reply, text,
    timed_exchange,
};
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const TOO_MANY: &str = "error: too many connections\n";
/// `failed aes decrypt!\n` encrypted with the spec's test key (vector C5 of spec §9).
const FAILED_AES_C5: &str = "c693ced2ecc36c7bfd429c65c0699af2cab1d45d325ee0d45f611270cf0142d0";

/// The spec's §9 test key, as configuration lines.
const SPEC_KEY_CONFIG: &str = "manager_aes_key = MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=\n\
                               manager_aes_iv = QUJDREVGR0hJSktMTU5PUA==\n";

fn failed_aes_reply() -> Vec<u8> {
    let mut r = b"aes:".to_vec();
    r.extend(
        (0..FAILED_AES_C5.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&FAILED_AES_C5[i..i + 2], 16).expect("hex")),
    );
    r
}

/// A small deterministic generator (xorshift64*), so every run sends the same garbage.
struct Garbage(u64);

impl Garbage {
    fn next_byte(&mut self) -> u8 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_be_bytes()[0]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_byte()).collect()
    }
}

/// Sends `body` from a second thread while this one reads the reply, so neither side can
/// block the other however large `body` is; then half-closes.
fn exchange_streaming(addr: SocketAddr, body: Vec<u8>) -> Vec<u8> {
    let mut stream = connect(addr);
    let mut writer = stream.try_clone().expect("clone the stream");
    let sender = thread::spawn(move || {
        // The server stops reading once the request is too large; a failed write is expected.
        let _ = writer.write_all(&body);
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let reply = read_reply(&mut stream);
    sender.join().expect("writer thread");
    reply
}

/// [`exchange_streaming`] over a Unix socket.
fn exchange_streaming_unix(path: &Path, body: Vec<u8>) -> Vec<u8> {
    let mut stream = connect_unix(path);
    let mut writer = stream.try_clone().expect("clone the stream");
    let sender = thread::spawn(move || {
        let _ = writer.write_all(&body);
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let reply = read_reply(&mut stream);
    sender.join().expect("writer thread");
    reply
}

#[test]
fn binary_garbage_is_answered_or_dropped_cleanly() {
    let sensor = Sensor::start(&[], "");
    let mut rng = Garbage(0x5eed_1234_abcd_0001);
    let mut requests = Vec::new();
    for (i, len) in [1usize, 2, 17, 100, 1000, 4095, 4096, 9000, 65536]
        .into_iter()
        .enumerate()
    {
        let mut body = rng.bytes(len);
        // Never `aes…` (that is the encrypted frame, tested below); vary where the NULs are.
        body[0] = 0xff;
        match i % 3 {
            0 => body.iter_mut().filter(|b| **b == 0).for_each(|b| *b = 0x01),
            1 => body[len / 2] = 0,
            _ => body[0] = 0,
        }
        if len > 3 {
            body[len - 1] = 0xff;
        }
        requests.push(body.clone());
        body.extend_from_slice(b"\r\n\r\n");
        requests.push(body);
    }
    let addr = sensor.addr();
    thread::scope(|s| {
        for request in &requests {
            s.spawn(move || {
                let (reply, took) = timed_exchange(addr, request);
                let reply = text(&reply);
                assert!(
                    reply.is_empty() || reply == "command not found\n",
                    "{} garbage bytes got {reply:?}",
                    request.len()
                );
                assert!(took < Duration::from_secs(3), "took {took:?}");
            });
        }
    });
    sensor.assert_alive();
}

#[test]
fn oversized_request_gets_an_error_reply() {
    let sensor = Sensor::start(&[], "");
    let reply = exchange_streaming(sensor.addr(), vec![b'x'; 2 << 20]);
    assert_eq!(
        text(&reply),
        "error: request too large (limit 1048576 bytes)\n"
    );
    sensor.assert_alive();
}

#[test]
fn request_size_limit_is_exact() {
    let sensor = Sensor::start(
        &[],
        "manager_max_request_size = 64k\nmanagersocket = {dir}/m.sock\n",
    );
    // `getversion`, blanks, and the only line break at the very end.
    let request = |len: usize| {
        let mut r = b"getversion".to_vec();
        r.resize(len - 4, b' ');
        r.extend_from_slice(b"\r\n\r\n");
        r
    };
    assert_eq!(
        text(&exchange_streaming(sensor.addr(), request(65536))),
        VERSION,
        "a request of exactly the limit is served"
    );
    let too_large = "error: request too large (limit 65536 bytes)\n";
    assert_eq!(
        text(&exchange_streaming(sensor.addr(), request(65537))),
        too_large
    );
    // The Unix socket has the same limit.
    let socket = sensor.dir().join("m.sock");
    assert_eq!(
        text(&exchange_streaming_unix(&socket, request(65536))),
        VERSION
    );
    assert_eq!(
        text(&exchange_streaming_unix(&socket, request(65537))),
        too_large
    );
    sensor.assert_alive();
}

#[test]
fn trickling_client_times_out_while_others_are_served() {
    let sensor = Sensor::start(&[], "manager_request_timeout = 1.5\n");
    let mut trickler = connect(sensor.addr());
    let started = Instant::now();
    let mut writer = trickler.try_clone().expect("clone the stream");
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let dripper = thread::spawn(move || {
        // One byte every 200 ms and never a line break: each byte restarts the 500 ms idle
        // timer, so only the request timeout ends it.
        for &b in b"getversion getversion getversion getversion".iter() {
            if stop2.load(Ordering::Relaxed) || writer.write_all(&[b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
    });

    thread::sleep(Duration::from_millis(300));
    let (reply, took) = timed_exchange(sensor.addr(), b"getversion\r\n\r\n");
    assert_eq!(text(&reply), VERSION);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "the other client must be served while the trickle is still going"
    );

    let reply = read_reply(&mut trickler);
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    dripper.join().expect("dripper thread");
    assert_eq!(text(&reply), "error: request timeout\n");
    assert!(
        (Duration::from_millis(1300)..Duration::from_secs(4)).contains(&took),
        "timed out after {took:?}"
    );
    drop(trickler);
    sensor.assert_alive();
}

#[test]
fn silent_client_is_closed_without_reply() {
    let sensor = Sensor::start(&[], "manager_request_timeout = 1.5\n");
    let mut silent = connect(sensor.addr());
    let started = Instant::now();
    let reply = read_reply(&mut silent);
    let took = started.elapsed();
    assert_eq!(reply, b"", "closed without a reply");
    assert!(
        (Duration::from_millis(1300)..Duration::from_millis(3500)).contains(&took),
        "closed after {took:?}"
    );
    sensor.assert_alive();
}

#[test]
fn five_hundred_concurrent_connections_are_all_served() {
    let sensor = Sensor::start(&[], "");
    let mut streams: Vec<TcpStream> = (0..500).map(|_| connect(sensor.addr())).collect();
    for stream in &mut streams {
        stream.write_all(b"getversion\r\n\r\n").expect("write");
    }
    let wrong: Vec<(usize, String)> = streams
        .iter_mut()
        .enumerate()
        .filter_map(|(i, s)| {
            let reply = text(&read_reply(s));
            (reply != VERSION).then_some((i, reply))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of 500 connections got a wrong reply, e.g. {:?}",
        wrong.len(),
        wrong.first()
    );
    drop(streams);
    sensor.assert_alive();
}

/// Whether the server has sent anything on `stream` yet (without blocking).
fn has_data(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut byte = [0u8; 1];
    let got = match stream.peek(&mut byte) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("peek: {e}"),
    };
    stream.set_nonblocking(false).expect("blocking");
    got
}

#[test]
fn connection_limit_refuses_extra_clients_and_recovers() {
    let sensor = Sensor::start(
        &[],
        "manager_max_connections = 4\nmanagersocket = {dir}/m.sock\n",
    );
    // Let the start-up probe's connection finish so that it holds no slot.
    thread::sleep(Duration::from_millis(200));
    let idle: Vec<TcpStream> = (0..4).map(|_| connect(sensor.addr())).collect();
    thread::sleep(Duration::from_millis(300));
    for (i, s) in idle.iter().enumerate() {
        assert!(
            !has_data(s),
            "idle connection {i} must hold a slot, not be refused"
        );
    }

    let (reply, took) = timed_exchange(sensor.addr(), b"getversion\r\n\r\n");
    assert_eq!(text(&reply), TOO_MANY);
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    // The slots are shared with the Unix socket.
    let mut unix = connect_unix(&sensor.dir().join("m.sock"));
    unix.write_all(b"getversion\r\n\r\n").expect("write");
    assert_eq!(text(&read_reply(&mut unix)), TOO_MANY);

    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let reply = text(&exchange(sensor.addr(), b"getversion\r\n\r\n"));
        if reply == VERSION {
            break;
        }
        assert_eq!(reply, TOO_MANY);
        assert!(
            Instant::now() < deadline,
            "slots not released 3 s after the idle clients left"
        );
        thread::sleep(Duration::from_millis(50));
    }
    sensor.assert_alive();
}

#[test]
fn clients_vanishing_mid_reply_do_not_hurt_the_server() {
    let sensor = Sensor::start(&[], "");
    let full_help = sensor.exchange(b"help\r\n\r\n");
    assert!(full_help.len() > 5);
    for _ in 0..50 {
        // Read a little, then close with the rest of the reply unread (the kernel resets).
        let mut stream = connect(sensor.addr());
        stream.write_all(b"help\r\n\r\n").expect("write");
        let mut head = [0u8; 5];
        stream
            .read_exact(&mut head)
            .expect("first bytes of the reply");
        assert_eq!(&head, b"List ");
        drop(stream);
        // Close before reading anything.
        let mut stream = connect(sensor.addr());
        stream.write_all(b"help\r\n\r\n").expect("write");
        drop(stream);
        // Send half a request and go away.
        let mut stream = connect(sensor.addr());
        stream.write_all(b"hel").expect("write");
        drop(stream);
    }
    assert_eq!(sensor.exchange(b"help\r\n\r\n"), full_help);
    sensor.assert_alive();
}

#[test]
fn malformed_encrypted_requests_get_failed_aes_decrypt() {
    // Every failure gets the same reply, encrypted with the sensor's key (no padding oracle).
    let sensor = Sensor::start(&[], SPEC_KEY_CONFIG);
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let with_binary = |prefix: &[u8], suffix: &[u8]| [prefix, &binary[..], suffix].concat();
    // (request, answered at once?)
    let cases: Vec<(Vec<u8>, bool)> = vec![
        (b"aes-128-cbc:xxxx:sea".to_vec(), true),
        (with_binary(b"aes-128-cbc:", b":sea"), true),
        (with_binary(b"aes:", b":sea trailing bytes"), true),
        // Without `:sea` only the 500 ms idle rule ends the request.
        (b"aes".to_vec(), false),
        (b"aes:xx".to_vec(), false),
        (b"aes-128-cbc:xxxx".to_vec(), false),
        // An encrypted frame is never completed by a blank line.
        (b"aes-128-cbc:xxxx\r\n\r\n".to_vec(), false),
        // Upper case is not recognised as complete in the first chunk (spec §1.5 quirk).
        (b"AES-128-CBC:xxxx:sea".to_vec(), false),
        (with_binary(b"AES-128-CBC:", b":sea"), false),
    ];
    let addr = sensor.addr();
    let expected = failed_aes_reply();
    let expected = &expected;
    thread::scope(|s| {
        for (i, (request, at_once)) in cases.iter().enumerate() {
            s.spawn(move || {
                let mut stream = connect_from(10 + u8::try_from(i).expect("few cases"), addr);
                let started = Instant::now();
                stream.write_all(request).expect("write");
                let reply = read_reply(&mut stream);
                let took = started.elapsed();
                assert_eq!(&reply, expected, "{:?}", text(request));
                if *at_once {
                    assert!(took < Duration::from_millis(300), "took {took:?}");
                } else {
                    assert!(
                        (Duration::from_millis(400)..Duration::from_secs(3)).contains(&took),
                        "{:?} answered after {took:?}",
                        text(request)
                    );
                }
            });
        }
        // Half-closing ends an unterminated frame at once.
        s.spawn(move || {
            let mut stream = connect_from(9, addr);
            let started = Instant::now();
            stream.write_all(b"aes:xx").expect("write");
            half_close(&stream);
            assert_eq!(&read_reply(&mut stream), expected);
            assert!(started.elapsed() < Duration::from_millis(300));
        });
    });
    sensor.assert_alive();
}
