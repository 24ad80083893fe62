//! `starling bench` against an in-process broker on a port from the OS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use serde_json::Value;
use starling_broker::{auth::PasswordFile, Broker, BrokerHandle};
use std::{
    io::{BufRead, BufReader, Read},
    process::{Command as Std, Stdio},
    sync::Arc,
    time::Duration,
};

async fn broker(passwords: Option<&str>) -> (BrokerHandle, u16) {
    let mut b = Broker::builder().listen_tcp("127.0.0.1:0".parse().unwrap(), passwords.is_none());
    if let Some(text) = passwords {
        b = b.authenticator(Arc::new(PasswordFile::parse(text).unwrap()));
    }
    let handle = b.build().unwrap().spawn().await.unwrap();
    let port = handle.local_addrs()[0].port();
    (handle, port)
}

/// `starling bench`, bounded in time.
fn bench() -> Command {
    let mut c = Command::cargo_bin("starling").unwrap();
    c.timeout(Duration::from_secs(60)).arg("bench");
    c
}

fn json(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `bench sub` in the background, then `bench pub`: every QoS 1 message arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_pub_and_sub_lose_nothing_at_qos1() {
    let (broker, port) = broker(None).await;
    let port_s = port.to_string();
    let bin = assert_cmd::cargo::cargo_bin("starling");
    // Two subscribers on one filter: each message is delivered twice.
    let mut sub = Std::new(bin)
        .args(["bench", "sub", "-p", &port_s, "-c", "2", "-q", "1"])
        .args([
            "-t",
            "load/#",
            "-L",
            "4000",
            "--json",
            "--quiet",
            "--duration",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the cue that every subscription is in place (the child ends within
    // --duration, so this read is bounded).
    let mut stderr = BufReader::new(sub.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "subscribed 2");

    let out = bench()
        .args(["pub", "-p", &port_s, "-c", "4", "-q", "1", "-L", "2000"])
        .args(["-s", "100", "-t", "load/%i/%c", "--json", "--quiet"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let p = json(&out);
    assert_eq!(p["sent"], 2000, "{p}");
    assert_eq!(p["acked"], 2000, "{p}");
    assert_eq!(
        (p["clients"].clone(), p["connected"].clone()),
        (4.into(), 4.into())
    );
    assert_eq!(p["payload"], 100);
    assert!(p["loader_cpu_percent"].as_f64().is_some(), "{p}");

    let sub_out = tokio::task::spawn_blocking(move || sub.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(sub_out.status.success());
    let s = json(&sub_out.stdout);
    assert_eq!(s["received"], 4000, "{s}");
    assert_eq!(s["unique"], 4000, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(s["duplicates"], 0, "{s}");
    assert_eq!(s["foreign"], 0, "{s}");
    assert_eq!(s["qos"], 1);
    let (p50, p99, max) = (
        s["p50_us"].as_u64().unwrap(),
        s["p99_us"].as_u64().unwrap(),
        s["max_us"].as_u64().unwrap(),
    );
    assert!(0 < p50 && p50 <= p99 && p99 <= max, "{s}");
    assert!(s["msgs_per_sec"].as_f64().unwrap() > 0.0, "{s}");
    assert!(s["loader_cpu_percent"].as_f64().is_some(), "{s}");
    broker.shutdown().await;
}

/// `bench conn` opens a few dozen connections at a ramp rate and reads the broker's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_conn_opens_a_few_dozen_connections() {
    let (broker, port) = broker(None).await;
    let out = bench()
        .args(["conn", "-p", &port.to_string(), "-c", "40", "-R", "400"])
        .args(["--hold", "0.2", "--json", "--quiet", "--broker-pid"])
        // The broker runs in this test process.
        .arg(std::process::id().to_string())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r = json(&out);
    assert_eq!(r["connections"], 40, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert!(r["broker_rss_kib"].as_u64().unwrap() > 0, "{r}");
    // 40 connections at 400/s take about 0.1 s: the ramp is honoured.
    assert!(r["seconds"].as_f64().unwrap() >= 0.09, "{r}");
    assert!(r["handshake"]["p50_us"].as_u64().unwrap() > 0, "{r}");
    assert!(r["loader_cpu_percent"].as_f64().is_some(), "{r}");
    broker.shutdown().await;
}

/// MQTT 5 with credentials; a wrong password fails the run with exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_conn_over_mqtt5_with_credentials() {
    let passwords = format!(
        "alice:{}\n",
        starling_broker::auth::hash_password_pbkdf2("secret", 101)
    );
    let (broker, port) = broker(Some(&passwords)).await;
    let port = port.to_string();
    bench()
        .args([
            "conn", "-S", "-p", &port, "-c", "3", "-u", "alice", "-P", "secret",
        ])
        .args(["--hold", "0", "--quiet"])
        .assert()
        .success();
    let out = bench()
        .args([
            "conn", "-S", "-p", &port, "-c", "3", "-u", "alice", "-P", "nope",
        ])
        .args(["--hold", "0", "--quiet"])
        .assert()
        .failure()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 of 3 connections failed"), "{err}");
    // The text report still went to standard output.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("failed"),
        "{out:?}"
    );
    broker.shutdown().await;
}

/// The comparison's scenarios in one process, in the JSON that bench/summarize.py reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_scenarios_report_in_the_comparison_format() {
    let (broker, port) = broker(None).await;
    let port = port.to_string();
    for (args, copies) in [
        (vec!["fanin", "--pubs", "3", "-L", "900", "-q", "1"], 1),
        (vec!["fanout", "--subs", "4", "-L", "200", "-q", "1"], 4),
        (vec!["pairs", "--pubs", "3", "-L", "300", "-q", "1"], 1),
        (
            vec!["latency", "--msg-rate", "2000", "-L", "200", "-q", "1"],
            1,
        ),
    ] {
        let out = bench()
            .arg("scenario")
            .args(&args)
            .args(["-p", &port, "--json", "--quiet", "--duration", "30"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let r = json(&out);
        let sent = r["sent"].as_u64().unwrap();
        assert_eq!(r["scenario"], args[0]);
        assert_eq!(r["expected"].as_u64().unwrap(), sent * copies, "{r}");
        assert_eq!(r["received"], r["expected"], "{r}");
        assert_eq!(r["lost"], 0, "{r}");
        for field in ["msgs_per_sec", "p50_us", "p99_us", "loader_cpu_percent"] {
            assert!(r[field].as_f64().is_some(), "{field}: {r}");
        }
    }
    let out = bench()
        .args([
            "scenario", "idle", "--conns", "30", "-p", &port, "--json", "--quiet",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r = json(&out);
    assert_eq!(
        (r["scenario"].as_str(), r["connections"].as_u64()),
        (Some("idle"), Some(30))
    );
    assert!(r["connects_per_sec"].as_f64().unwrap() > 0.0, "{r}");
    broker.shutdown().await;
}

/// Without --json the report is aligned text, and progress lines go to standard error when
/// it is not a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_text_report_and_plain_progress_lines() {
    let (broker, port) = broker(None).await;
    let bin = assert_cmd::cargo::cargo_bin("starling");
    // A publisher paced at 10 messages/s for 1.5 s: long enough for one progress line.
    let mut child = Std::new(bin)
        .args([
            "bench",
            "pub",
            "-p",
            &port.to_string(),
            "-I",
            "100",
            "-L",
            "15",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("sent ") && l.ends_with(" 15")),
        "{stdout}"
    );
    assert!(
        stderr.contains("conns 1/1") && stderr.contains("sent "),
        "{stderr}"
    );
    broker.shutdown().await;
}

#[test]
fn bench_refuses_bad_options() {
    let err = Command::cargo_bin("starling")
        .unwrap()
        .args(["bench", "pub", "-q", "3"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&err).contains("-q"));
    let err = Command::cargo_bin("starling")
        .unwrap()
        .args(["bench", "scenario", "fan-in"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&err).contains("unknown scenario"));
}
