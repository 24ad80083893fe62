//! `starling pub`, `sub` and `rr` against an in-process Starling broker (port 0) and against
//! a real Mosquitto broker with Mosquitto's own clients. Every child is bounded by `-C`/`-W`
//! and a test-side deadline; readiness of a subscriber is its `-d` "Subscribed" line.

// Test helpers panic on unexpected results by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

fn starling() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("starling"))
}

/// A Starling broker on a runtime of its own thread; dropped with the test.
struct Broker {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Broker {
    /// Shuts the broker down and waits until its listener is closed.
    fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn broker(allow_anonymous: bool) -> Broker {
    broker_at("127.0.0.1:0".parse().unwrap(), allow_anonymous)
}

fn broker_at(addr: SocketAddr, allow_anonymous: bool) -> Broker {
    let (tx, rx) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let b = starling_broker::Broker::builder()
                .listen_tcp(addr, allow_anonymous)
                .build()
                .unwrap()
                .spawn()
                .await
                .unwrap();
            tx.send(b.local_addrs()[0]).unwrap();
            let _ = stopped.await;
            b.shutdown().await;
        });
    });
    Broker {
        addr: rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        stop: Some(stop),
        thread: Some(thread),
    }
}

fn hp(addr: SocketAddr) -> Vec<String> {
    vec![
        "-h".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
    ]
}

/// Starts `starling sub … -d` and returns once it has subscribed.
fn sub(addr: SocketAddr, args: &[&str]) -> Child {
    let mut child = starling()
        .arg("sub")
        .args(hp(addr))
        .arg("-d")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("Subscribed") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("subscriber ready");
    child
}

/// Starts `starling sub` without waiting for its subscription (for runs that end by `-W`).
fn sub_quiet(addr: SocketAddr, args: &[&str]) -> Child {
    starling()
        .arg("sub")
        .args(hp(addr))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for a child (bounded) and returns its exit code and stdout.
fn finish(child: Child) -> (i32, String) {
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let out = child.wait_with_output().unwrap();
        let _ = tx.send(out);
    });
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("child {pid} did not exit");
        });
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn publish(addr: SocketAddr, args: &[&str]) -> i32 {
    let out = starling()
        .arg("pub")
        .args(hp(addr))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success() || !args.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.code().unwrap_or(-1)
}

#[test]
fn pub_and_sub_round_trip_in_both_versions() {
    let b = broker(true);
    for v in ["311", "5", "31"] {
        let s = sub(
            b.addr,
            &[
                "-V", v, "-t", "rt/#", "-v", "-C", "3", "-q", "2", "-W", "10",
            ],
        );
        assert_eq!(
            publish(b.addr, &["-V", v, "-t", "rt/a", "-m", "one", "-q", "1"]),
            0
        );
        assert_eq!(
            publish(
                b.addr,
                &["-V", v, "-t", "rt/b", "-m", "two", "-q", "2", "--repeat", "2"]
            ),
            0
        );
        let (code, out) = finish(s);
        assert_eq!(code, 0);
        assert_eq!(out, "rt/a one\nrt/b two\nrt/b two\n", "version {v}");
    }
}

#[test]
fn sub_timeout_exits_27_and_refused_connect_exits_with_the_connack_code() {
    let b = broker(true);
    let (code, out) = finish(sub_quiet(b.addr, &["-t", "quiet", "-W", "1"]));
    assert_eq!((code, out.as_str()), (27, ""));
    let closed = broker(false);
    // 3.1.1 return code 5 (not authorized); v5 reason code 0x87 = 135.
    assert_eq!(
        publish(closed.addr, &["-V", "311", "-t", "x", "-m", "y"]),
        5
    );
    assert_eq!(
        publish(closed.addr, &["-V", "5", "-t", "x", "-m", "y"]),
        135
    );
    // Bad flags: 2 (clap), bad QoS: 1.
    assert_eq!(publish(b.addr, &["-t", "x", "-m", "y", "-q", "3"]), 1);
}

#[test]
fn json_and_format_output_with_v5_properties() {
    let b = broker(true);
    let s = sub(
        b.addr,
        &["-V", "5", "-t", "js", "--json", "-C", "1", "-W", "10"],
    );
    publish(
        b.addr,
        &[
            "-V",
            "5",
            "-t",
            "js",
            "-m",
            "{\"t\":1}",
            "-q",
            "1",
            "-D",
            "publish",
            "user-property",
            "origin",
            "cli",
            "-D",
            "publish",
            "content-type",
            "application/json",
            "-D",
            "publish",
            "response-topic",
            "js/reply",
            "-D",
            "publish",
            "correlation-data",
            "c-1",
        ],
    );
    let (code, out) = finish(s);
    assert_eq!(code, 0);
    for part in [
        "\"topic\":\"js\"",
        "\"payload\":\"{\\\"t\\\":1}\"",
        "\"content_type\":\"application/json\"",
        "\"response_topic\":\"js/reply\"",
        "\"correlation_data\":\"c-1\"",
        "\"user_properties\":[[\"origin\",\"cli\"]]",
    ] {
        assert!(out.contains(part), "{part} missing in {out}");
    }
    let s = sub(
        b.addr,
        &[
            "-t",
            "fmt/+",
            "-F",
            "%t|%p|%q|%r|%l|%x",
            "-q",
            "1",
            "-C",
            "1",
            "-W",
            "10",
        ],
    );
    publish(b.addr, &["-t", "fmt/1", "-m", "AB", "-q", "1"]);
    assert_eq!(finish(s).1, "fmt/1|AB|1|0|2|4142\n");
}

#[test]
fn retained_only_remove_retained_filter_out_and_stdin_lines() {
    let b = broker(true);
    for t in ["keep/a", "keep/b"] {
        publish(b.addr, &["-t", t, "-m", t, "-r", "-q", "1"]);
    }
    let s = sub_quiet(
        b.addr,
        &[
            "-t",
            "keep/#",
            "--retained-only",
            "--remove-retained",
            "-v",
            "-W",
            "2",
        ],
    );
    let (_, out) = finish(s);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["keep/a keep/a", "keep/b keep/b"]);
    // Nothing retained remains.
    let s = sub_quiet(b.addr, &["-t", "keep/#", "-W", "1"]);
    assert_eq!(finish(s), (27, String::new()));

    // -l: one message per stdin line; -T filters a topic out; -N drops the newline.
    let s = sub(
        b.addr,
        &["-t", "lines/#", "-T", "lines/skip", "-C", "2", "-W", "10"],
    );
    publish(b.addr, &["-t", "lines/skip", "-m", "hidden"]);
    let mut p = starling()
        .arg("pub")
        .args(hp(b.addr))
        .args(["-t", "lines/in", "-l", "-q", "1"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin
        .take()
        .unwrap()
        .write_all(b"first\nsecond\n")
        .unwrap();
    assert!(p.wait().unwrap().success());
    assert_eq!(finish(s), (0, "first\nsecond\n".into()));
}

#[test]
fn rr_gets_the_response_and_url_form_works() {
    let b = broker(true);
    // A responder built on the library.
    let addr = b.addr;
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let c = starling_client::Client::connect(
                starling_client::ConnectOptions::new(&format!("mqtt://{addr}")).unwrap(),
            )
            .await
            .unwrap();
            let mut reqs = c
                .subscribe_stream("svc/echo", starling_client::codec::QoS::AtLeastOnce)
                .await
                .unwrap();
            ready_tx.send(()).unwrap();
            while let Some(r) = reqs.recv().await {
                let body = [b"echo:".as_slice(), &r.payload].concat();
                c.respond(&r, body).unwrap().await.unwrap();
            }
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let out = starling()
        .arg("rr")
        .args(hp(b.addr))
        .args(["-t", "svc/echo", "-m", "ping", "-W", "10"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "echo:ping\n");
    // With an explicit response topic.
    let out = starling()
        .arg("rr")
        .args(hp(b.addr))
        .args([
            "-t",
            "svc/echo",
            "-e",
            "my/replies",
            "-m",
            "pong",
            "-W",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "echo:pong\n");
    // Nobody answers: exit 27.
    let out = starling()
        .arg("rr")
        .args(hp(b.addr))
        .args(["-t", "svc/none", "-m", "?", "-W", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(27));
    // -L mqtt://host:port/topic
    let s = sub(b.addr, &["-t", "via/url", "-C", "1", "-W", "10"]);
    let out = starling()
        .arg("pub")
        .args(["-L", &format!("mqtt://{}/via/url", b.addr), "-m", "u"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(finish(s), (0, "u\n".into()));
}

fn mosquitto_bin() -> &'static str {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("mosquitto: run scripts/install-test-deps.sh")
}

#[test]
fn interop_with_mosquitto_broker_and_clients() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = std::env::temp_dir().join(format!("starling-cli-mosq-{port}.conf"));
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
    )
    .unwrap();
    let mut mosq = Command::new(mosquitto_bin())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "mosquitto did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for v in ["311", "5"] {
        // mosquitto_pub -> starling sub
        let s = sub(
            addr,
            &[
                "-V", v, "-t", "mi/#", "-v", "-C", "1", "-W", "10", "-q", "1",
            ],
        );
        let st = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", v])
            .args(["-t", "mi/x", "-m", "from-mosquitto", "-q", "1"])
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(finish(s), (0, "mi/x from-mosquitto\n".into()));
        // starling pub -> mosquitto_sub (retained, so no readiness race)
        assert_eq!(
            publish(
                addr,
                &[
                    "-V",
                    v,
                    "-t",
                    "mo/y",
                    "-m",
                    "from-starling",
                    "-q",
                    "1",
                    "-r"
                ]
            ),
            0
        );
        let out = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", v])
            .args(["-t", "mo/y", "-C", "1", "-W", "10", "-v"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "mo/y from-starling\n");
    }
    let _ = mosq.kill();
    let _ = mosq.wait();
    let _ = std::fs::remove_file(conf);
}

#[test]
fn help_with_examples_and_shell_completions() {
    for cmd in ["pub", "sub", "rr"] {
        let out = starling().args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Examples:") && text.contains("-h, --host"),
            "{text}"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = starling().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("starling") && text.contains("passwd"),
            "{shell}"
        );
    }
    let out = starling()
        .args(["completions", "nosuchshell"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn exit_after_subscribe_and_v5_subscription_options() {
    let b = broker(true);
    // -E: subscribes, then exits 0 without waiting for messages.
    let out = starling()
        .arg("sub")
        .args(hp(b.addr))
        .args(["-V", "5", "-t", "e/#", "-E", "-q", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    publish(b.addr, &["-t", "opts/ret", "-m", "old", "-r", "-q", "1"]);
    // --rh 2: no retained message at subscribe; --nl: not its own messages (it publishes
    // nothing here, so the next message is the live one from another client).
    let s = sub(
        b.addr,
        &[
            "-V", "5", "-t", "opts/#", "--rh", "2", "--nl", "--rap", "-v", "-C", "1", "-W", "10",
            "-F", "%t %p %r",
        ],
    );
    publish(b.addr, &["-V", "5", "-t", "opts/live", "-m", "new", "-r"]);
    // Retain as published: the live retained message keeps RETAIN.
    assert_eq!(finish(s), (0, "opts/live new 1\n".into()));
}

#[test]
fn sub_reconnects_and_resubscribes_after_a_broker_restart() {
    let mut b = broker(true);
    let addr = b.addr;
    let s = sub(
        addr,
        &["-t", "restart/#", "-v", "-C", "2", "-W", "30", "-q", "1"],
    );
    assert_eq!(
        publish(addr, &["-t", "restart/a", "-m", "before", "-q", "1"]),
        0
    );
    b.stop();
    // A new broker on the same port, without the old session: the subscriber reconnects,
    // subscribes again and gets the retained message published meanwhile.
    let _b2 = broker_at(addr, true);
    assert_eq!(
        publish(addr, &["-t", "restart/b", "-m", "after", "-q", "1", "-r"]),
        0
    );
    assert_eq!(finish(s), (0, "restart/a before\nrestart/b after\n".into()));
}
