//! `starling passwd`: file editing, what the broker makes of the result, and interop with
//! Mosquitto's own tool and broker when they are installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use starling_bench::{BenchError, Client, ConnectOptions};
use starling_broker::{auth::PasswordFile, Broker};
use std::{
    net::{TcpListener, TcpStream},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command as Std, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

fn starling() -> Command {
    let mut c = Command::cargo_bin("starling").unwrap();
    c.timeout(Duration::from_secs(30));
    c
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "starling-passwd-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn parse(path: &Path) -> PasswordFile {
    PasswordFile::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stderr_of(cmd: &mut Command) -> String {
    let out = cmd.assert().failure().code(1).get_output().stderr.clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn passwd_creates_adds_updates_and_deletes_users() {
    let dir = scratch("edit");
    let file = dir.join("passwd");
    starling()
        .args(["passwd", "-c", "-b"])
        .arg(&file)
        .args(["alice", "secret"])
        .assert()
        .success();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a new password file is private");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("alice:$7$101$"),
        "Mosquitto 2's default: {text}"
    );

    // Without -b the password is read from standard input when it is not a terminal.
    starling()
        .arg("passwd")
        .arg(&file)
        .arg("bob")
        .write_stdin("hunter2\n")
        .assert()
        .success();
    let f = parse(&file);
    assert!(f.verify("alice", b"secret") && f.verify("bob", b"hunter2"));
    assert!(!f.verify("bob", b"hunter2\n"));

    // Update: alice's line is replaced in place, bob's is kept, the mode too.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    starling()
        .args(["passwd", "-b"])
        .arg(&file)
        .args(["alice", "n3w"])
        .assert()
        .success();
    let f = parse(&file);
    assert!(f.verify("alice", b"n3w") && !f.verify("alice", b"secret"));
    assert!(f.verify("bob", b"hunter2"));
    assert_eq!(f.len(), 2);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "an updated file keeps its permissions");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("alice:"), "{text}");

    starling()
        .args(["passwd", "-D"])
        .arg(&file)
        .arg("bob")
        .assert()
        .success();
    let f = parse(&file);
    assert!(!f.contains_user("bob") && f.verify("alice", b"n3w"));

    // Deleting a user who is not there: exit 1, file untouched.
    let before = std::fs::read_to_string(&file).unwrap();
    let err = stderr_of(starling().args(["passwd", "-D"]).arg(&file).arg("carol"));
    assert!(err.contains("user carol not found"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    // -c replaces the file.
    starling()
        .args(["passwd", "-c", "-b"])
        .arg(&file)
        .args(["dave", "x"])
        .assert()
        .success();
    let f = parse(&file);
    assert!(f.contains_user("dave") && !f.contains_user("alice"));
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn passwd_upgrade_hashes_plain_text_lines_once() {
    let dir = scratch("upgrade");
    let file = dir.join("passwd");
    std::fs::write(&file, "# users\nalice:secret\n\nbob:pa:ss\n").unwrap();
    starling()
        .args(["passwd", "-U"])
        .arg(&file)
        .assert()
        .success();
    let f = parse(&file);
    assert!(f.verify("alice", b"secret") && f.verify("bob", b"pa:ss"));
    let once = std::fs::read_to_string(&file).unwrap();
    assert!(once.starts_with("# users\nalice:$7$"), "{once}");
    // Hashed lines are kept as they are: a second -U changes nothing.
    starling()
        .args(["passwd", "-U"])
        .arg(&file)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), once);
}

#[test]
fn passwd_writes_argon2id_and_chosen_pbkdf2_iterations() {
    let dir = scratch("hashes");
    let file = dir.join("passwd");
    starling()
        .args(["passwd", "-c", "-b", "--hash", "argon2id"])
        .arg(&file)
        .args(["alice", "secret"])
        .assert()
        .success();
    starling()
        .args(["passwd", "-b", "--iterations", "1000"])
        .arg(&file)
        .args(["bob", "other"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("alice:$argon2id$"), "{text}");
    assert!(text.contains("bob:$7$1000$"), "{text}");
    let f = parse(&file);
    assert!(f.verify("alice", b"secret") && f.verify("bob", b"other"));
}

#[test]
fn passwd_refuses_bad_usage_with_clear_messages() {
    let dir = scratch("usage");
    let file = dir.join("passwd");
    let missing = dir.join("missing");
    for (args, expected) in [
        (vec!["-c", "-D"], "-c cannot be combined"),
        (vec!["-b"], "-b needs the password"),
        (vec!["-D", "-U"], "cannot be combined"),
    ] {
        let err = stderr_of(starling().arg("passwd").args(&args).arg(&file).arg("alice"));
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let err = stderr_of(
        starling()
            .args(["passwd", "-b"])
            .arg(&missing)
            .args(["a", "b"]),
    );
    assert!(err.contains("cannot open password file"), "{err}");
    let err = stderr_of(
        starling()
            .args(["passwd", "-c", "-b"])
            .arg(&file)
            .args(["bad:name", "b"]),
    );
    assert!(err.contains("':'"), "{err}");
    let err = stderr_of(
        starling()
            .args(["passwd", "-c"])
            .arg(&file)
            .arg("alice")
            .write_stdin(""),
    );
    assert!(err.contains("no password"), "{err}");
    assert!(!file.exists(), "nothing written on error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_accepts_users_written_by_passwd() {
    let dir = scratch("broker");
    let file = dir.join("passwd");
    starling()
        .args(["passwd", "-c", "-b"])
        .arg(&file)
        .args(["alice", "secret"])
        .assert()
        .success();
    starling()
        .args(["passwd", "-b", "--hash", "argon2id"])
        .arg(&file)
        .args(["bob", "b0b"])
        .assert()
        .success();
    let broker = Broker::builder()
        .listen_tcp("127.0.0.1:0".parse().unwrap(), false)
        .authenticator(Arc::new(PasswordFile::load(&file).unwrap()))
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let addr = broker.local_addrs()[0];
    for v5 in [false, true] {
        for (user, password, ok) in [
            ("alice", "secret", true),
            ("bob", "b0b", true),
            ("alice", "wrong", false),
            ("carol", "secret", false),
        ] {
            let mut o = ConnectOptions::new("127.0.0.1", addr.port(), format!("{user}-{v5}"));
            o.v5 = v5;
            o.username = Some(user.into());
            o.password = Some(password.into());
            o.connect_timeout = Duration::from_secs(10);
            let result = tokio::time::timeout(Duration::from_secs(15), Client::connect(&o))
                .await
                .unwrap();
            match result {
                Ok(c) if ok => c.disconnect().await,
                Err(BenchError::Refused(_)) if !ok => {}
                other => panic!("{user}/{password} v5={v5}: {other:?}"),
            }
        }
    }
    broker.shutdown().await;
}

// ---- Interop with Mosquitto (Debian packages `mosquitto`, `mosquitto-clients`) ----

fn installed(program: &str) -> bool {
    Std::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn mosquitto_passwd_files_verify_with_our_parser() {
    if !installed("mosquitto_passwd") {
        eprintln!("note: mosquitto_passwd not installed (scripts/install-test-deps.sh); skipped");
        return;
    }
    let dir = scratch("mosquitto-passwd");
    let file = dir.join("passwd");
    let run = |args: &[&str]| {
        let status = Std::new("mosquitto_passwd")
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "mosquitto_passwd {args:?}");
    };
    let path = file.to_str().unwrap();
    run(&["-c", "-b", path, "alice", "secret"]);
    run(&["-b", path, "bob", "pässwörd"]);
    run(&["-H", "sha512", "-b", path, "dave", "hunter2"]);
    let f = parse(&file);
    assert!(f.verify("alice", b"secret"));
    assert!(f.verify("bob", "pässwörd".as_bytes()));
    assert!(f.verify("dave", b"hunter2"));
    assert!(!f.verify("alice", b"Secret"));
    // And our tool edits their file in place.
    starling()
        .args(["passwd", "-D", path, "bob"])
        .assert()
        .success();
    let f = parse(&file);
    assert!(!f.contains_user("bob") && f.verify("dave", b"hunter2"));
}

/// The Mosquitto broker, stopped when the test ends.
struct Mosquitto(std::process::Child);

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn mosquitto_accepts_users_written_by_starling_passwd() {
    let mosquitto = Path::new("/usr/sbin/mosquitto");
    if !mosquitto.exists() || !installed("mosquitto_pub") {
        eprintln!("note: mosquitto or mosquitto_pub not installed (scripts/install-test-deps.sh); skipped");
        return;
    }
    let dir = scratch("mosquitto-broker");
    let file = dir.join("passwd");
    starling()
        .args(["passwd", "-c", "-b"])
        .arg(&file)
        .args(["alice", "secret"])
        .assert()
        .success();
    // Mosquitto started as root reads the file after switching to its own user: let it.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\npassword_file {}\nallow_anonymous false\n",
            file.display()
        ),
    )
    .unwrap();
    let _broker = Mosquitto(
        Std::new(mosquitto)
            .arg("-c")
            .arg(&conf)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let publish = |version: &str, password: &str| {
        Std::new("timeout")
            .args([
                "10",
                "mosquitto_pub",
                "-p",
                &port.to_string(),
                "-V",
                version,
            ])
            .args(["-u", "alice", "-P", password, "-t", "t", "-m", "m"])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .code()
    };
    // Mosquitto 2 opens its listeners before it drops privileges and reads the password file:
    // until then it refuses everyone. Ready is when the right password is accepted.
    loop {
        let code = publish("311", "secret");
        if code == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mosquitto never accepted alice: {code:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(publish("5", "secret"), Some(0));
    // mosquitto_pub exits with the CONNACK code: 5 (3.1.1 not authorised), 135 (0x87).
    assert_eq!(publish("311", "wrong"), Some(5));
    assert_eq!(publish("5", "wrong"), Some(135));
}
