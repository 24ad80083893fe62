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
    assert!(String::from_utf8(defaults)
        .unwrap()
        .contains("listeners = []"));
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
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let bin = assert_cmd::cargo::cargo_bin("starling");
    let mut child = Std::new(bin)
        .args([
            "broker",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--allow-anonymous",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "broker did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
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
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "broker did not exit on SIGINT");
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
