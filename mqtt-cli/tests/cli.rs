//! The `starling` binary: help, configuration, and a real broker run used by Mosquitto's clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use std::{
    io::Write,
    net::{TcpListener, TcpStream},
    process::{Command as Std, Stdio},
    time::{Duration, Instant},
};

fn starling() -> Command {
    Command::cargo_bin("starling").unwrap()
}

#[test]
fn help_and_version() {
    let out = starling()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("broker") && text.contains("Examples"),
        "{text}"
    );
    let out = starling()
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(out).unwrap().starts_with("starling "));
    // `-h` is not help: Mosquitto-style clients use it for the host.
    starling().arg("-h").assert().failure();
}

#[test]
fn print_config_shows_flags_over_the_file() {
    let mut file = tempfile();
    writeln!(file.1, "max_connections = 7\nallow_anonymous = false").unwrap();
    let out = starling()
        .args(["broker", "--config"])
        .arg(&file.0)
        .args([
            "--listen",
            "127.0.0.1:1999",
            "--allow-anonymous",
            "--print-config",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("max_connections = 7"), "{text}");
    assert!(text.contains("allow_anonymous = true"), "{text}");
    assert!(text.contains("127.0.0.1:1999"), "{text}");
    let defaults = starling()
        .args(["broker", "--print-config"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let defaults = String::from_utf8(defaults).unwrap();
    assert!(defaults.contains("listeners = []"), "{defaults}");
    assert!(defaults.contains("127.0.0.1:1883"), "{defaults}");
}

#[test]
fn invalid_configuration_fails_clearly() {
    let mut file = tempfile();
    writeln!(file.1, "no_such_option = 1").unwrap();
    let err = starling()
        .args(["broker", "--config"])
        .arg(&file.0)
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8(err).unwrap();
    assert!(text.contains("no_such_option"), "{text}");
    starling()
        .args(["broker", "--config", "/nonexistent/broker.toml"])
        .assert()
        .failure();
}

#[test]
fn broker_serves_mosquitto_clients_and_exits_on_sigint() {
    let (mut child, port) = anonymous_broker();
    let child = &mut child.0;
    for v in ["311", "5"] {
        let port = port.to_string();
        let topic = format!("cli/{v}");
        let sub = Std::new("timeout")
            .args([
                "10",
                "mosquitto_sub",
                "-p",
                &port,
                "-t",
                &topic,
                "-C",
                "1",
                "-V",
                v,
                "-q",
                "1",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("mosquitto_sub missing: run scripts/install-test-deps.sh");
        // Publish (retained) until the subscriber got it: no fixed sleep.
        let ok = Std::new("mosquitto_pub")
            .args([
                "-p", &port, "-t", &topic, "-m", "hello", "-r", "-q", "1", "-V", v,
            ])
            .status()
            .unwrap();
        assert!(ok.success());
        let out = sub.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "hello",
            "version {v}"
        );
    }
    Std::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = wait_exit(child);
    assert!(status.success(), "{status}");
}

#[test]
fn bad_flags_and_unreadable_auth_files_fail_clearly() {
    for (flag, value, expected) in [
        (
            "--password-file",
            "/nonexistent/passwd",
            "/nonexistent/passwd",
        ),
        ("--acl-file", "/nonexistent/acl", "/nonexistent/acl"),
        ("--log-format", "xml", "xml"),
    ] {
        let err = starling()
            .args(["broker", "--listen", "127.0.0.1:0", flag, value])
            .timeout(Duration::from_secs(10))
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        let text = String::from_utf8(err).unwrap();
        assert!(
            text.starts_with("starling: ") && text.contains(expected),
            "{flag}: {text}"
        );
    }
}

#[test]
fn broker_with_explicit_listeners_refuses_anonymous_and_exits_on_sigterm() {
    let port = free_port();
    let ws_port = free_port();
    let bin = assert_cmd::cargo::cargo_bin("starling");
    // No --allow-anonymous: an explicitly configured listener requires a user (Mosquitto 2).
    let child = Std::new(bin)
        .args([
            "broker",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--ws-listen",
            &format!("127.0.0.1:{ws_port}"),
            "--log-format",
            "json",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let child = &mut child.0;
    wait_for_port(port);
    wait_for_port(ws_port);
    let refused = Std::new("timeout")
        .args([
            "10",
            "mosquitto_pub",
            "-p",
            &port.to_string(),
            "-t",
            "t",
            "-m",
            "m",
            "-V",
            "5",
        ])
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub missing: run scripts/install-test-deps.sh");
    assert!(!refused.success(), "anonymous client admitted");
    Std::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(wait_exit(child).success());
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    let first = logs.lines().next().unwrap_or_default();
    assert!(
        first.starts_with('{') && logs.contains("listening"),
        "{logs}"
    );
}

/// The broker child process, killed if a test fails before it exits.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `starling broker` on an OS-chosen loopback port with anonymous access, accepting.
fn anonymous_broker() -> (KillOnDrop, u16) {
    let port = free_port();
    let bin = assert_cmd::cargo::cargo_bin("starling");
    let child = Std::new(bin)
        .args(["broker", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--allow-anonymous")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(child);
    wait_for_port(port);
    (child, port)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Polls until something accepts on `port`, within a bounded deadline.
fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "broker did not start on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the child to exit, within a bounded deadline.
fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("broker did not exit on the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tempfile() -> (std::path::PathBuf, std::fs::File) {
    let dir = std::env::temp_dir().join(format!(
        "starling-cli-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broker.toml");
    let f = std::fs::File::create(&path).unwrap();
    (path, f)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn sighup_reloads_the_password_file() {
    let dir = std::env::temp_dir().join(format!("starling-sighup-{}", rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let pwfile = dir.join("passwd");
    let pw = pwfile.to_str().unwrap().to_string();
    let bin = assert_cmd::cargo::cargo_bin("starling");
    assert!(Std::new(&bin)
        .args(["passwd", "-c", "-b", &pw, "alice", "a-secret"])
        .status()
        .unwrap()
        .success());
    let port = free_port();
    let child = Std::new(&bin)
        .args([
            "broker",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--password-file",
            &pw,
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let child = &mut child.0;
    wait_for_port(port);
    let publish_as = |user: &str, pass: &str| {
        Std::new(&bin)
            .args(["pub", "-p", &port.to_string(), "-u", user, "-P", pass])
            .args(["-t", "t", "-m", "m", "--quiet"])
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(publish_as("alice", "a-secret"), Some(0));
    // bob is not in the file yet: 3.1.1 return code 4 (bad user name or password) or 5.
    assert!(matches!(publish_as("bob", "b-secret"), Some(4 | 5)));
    assert!(Std::new(&bin)
        .args(["passwd", "-b", &pw, "bob", "b-secret"])
        .status()
        .unwrap()
        .success());
    // Still refused until the reload.
    assert!(matches!(publish_as("bob", "b-secret"), Some(4 | 5)));
    Std::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    // The reload is asynchronous to this process: poll the condition under a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while publish_as("bob", "b-secret") != Some(0) {
        assert!(std::time::Instant::now() < deadline, "bob never admitted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(publish_as("alice", "a-secret"), Some(0));
    Std::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(wait_exit(child).success());
    let _ = std::fs::remove_dir_all(dir);
}

/// A child process whose stdout lines arrive through a channel (a reader thread), killed if
/// still running when dropped.
struct Lines {
    _child: KillOnDrop,
    rx: std::sync::mpsc::Receiver<String>,
}

impl Lines {
    fn spawn(program: &str, args: &[&str]) -> Lines {
        let mut child = Std::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e} (run scripts/install-test-deps.sh)"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            _child: KillOnDrop(child),
            rx,
        }
    }

    /// Lines until one satisfies `found` (returned), within a bounded deadline.
    fn until(&self, what: &str, found: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let done = found(&line);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("no {what} within 20 s; got {seen:?}"),
            }
        }
    }
}

/// The README's broker (`starling broker`, here on an OS-chosen port) serves Mosquitto's
/// command-line clients and Python paho-mqtt clients, MQTT 3.1.1 and 5, all at once: every
/// subscriber gets what each publisher sends.
#[test]
fn broker_serves_mosquitto_and_paho_clients_of_both_versions_at_once() {
    let (_broker, port) = anonymous_broker();
    let p = port.to_string();
    let paho = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mqtt-broker/tests/paho/client.py"
    );
    let mut subscribers = Vec::new();
    for v in ["311", "5"] {
        // -d prints "Subscribed (mid: 1): 1" once the SUBACK is in (line-buffered by
        // stdbuf: through a pipe it would otherwise wait in stdio's buffer).
        let mosquitto = Lines::spawn(
            "stdbuf",
            &[
                "-oL",
                "timeout",
                "30",
                "mosquitto_sub",
                "-d",
                "-p",
                &p,
                "-V",
                v,
                "-q",
                "1",
                "-t",
                "cli/all",
                "-C",
                "2",
            ],
        );
        mosquitto.until("mosquitto_sub SUBACK", |l| l.starts_with("Subscribed"));
        subscribers.push((format!("mosquitto_sub -V {v}"), mosquitto));
        let id = format!("paho-sub-{v}");
        let py = Lines::spawn(
            "timeout",
            &[
                "30",
                "python3",
                paho,
                "sub",
                "--port",
                &p,
                "--version",
                v,
                "--id",
                &id,
                "--topic",
                "cli/all",
                "--qos",
                "1",
                "--count",
                "2",
            ],
        );
        py.until("paho SUBACK", |l| l == "READY");
        subscribers.push((format!("paho {v}"), py));
    }
    let published = Std::new("timeout")
        .args([
            "10",
            "mosquitto_pub",
            "-p",
            &p,
            "-V",
            "5",
            "-q",
            "1",
            "-t",
            "cli/all",
        ])
        .args(["-m", "from-mosquitto"])
        .status()
        .unwrap();
    assert!(published.success());
    let spec = r#"{"topic": "cli/all", "payload": "from-paho", "qos": 1}"#;
    let paho_pub = Lines::spawn(
        "timeout",
        &[
            "30",
            "python3",
            paho,
            "pub",
            "--port",
            &p,
            "--version",
            "311",
            "--id",
            "paho-pub",
            "--message",
            spec,
        ],
    );
    paho_pub.until("paho publish complete", |l| l == "DONE");
    for (name, sub) in &subscribers {
        let mut got = Vec::new();
        for _ in 0..2 {
            let lines = sub.until("a message", |l| l.contains("from-"));
            got.push(lines.last().cloned().unwrap_or_default());
        }
        for payload in ["from-mosquitto", "from-paho"] {
            assert!(
                got.iter().any(|l| l.contains(payload)),
                "{name} did not get {payload}: {got:?}"
            );
        }
    }
}
