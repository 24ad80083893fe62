//! Codec throughput against a peer, `mqttbytes` 0.6 (`v4` = MQTT 3.1.1, `v5`), measured in the
//! same run so the result reads as a ratio rather than an absolute time.
//!
//! Every group holds the same packet through both codecs: `starling` and `mqttbytes`. PUBLISH
//! encode has two more rows:
//! - `starling_zero_copy`: the encode a server uses for large payloads: `Publish::encode_header`
//!   writes everything but the payload, and the caller keeps a handle on the shared payload
//!   `Bytes` (counted in the row: one reference-count increment and decrement) to send it with
//!   a vectored write. Its cost does not grow with the payload.
//! - `copy_floor`: one `extend_from_slice` of the finished frame, the least any *copying*
//!   encoder can do. `mqttbytes / copy_floor` is the best ratio a copying encoder could reach;
//!   from 1 KiB up it is well under 1.5, because both codecs spend most of their time in the
//!   same `memcpy` of the payload.
//!
//! Group names are `{packet}_{decode|encode}/{version}[/{payload size}]`; throughput is the
//! encoded frame size.
//!
//! Fairness: a decode reads one frame per iteration from a `BytesMut` receive buffer holding
//! many copies of the same frame (up to about 1 MiB), as a connection reads a stream, and drops
//! the packet it decoded (freeing what a decode allocated is part of its cost). Both codecs get
//! identical buffers; refilling one (a copy) happens outside the timed sections. (Rebuilding a one-frame buffer per iteration with `iter_batched` was tried
//! first: the copy's allocation and the first `split_to`'s promotion of the buffer to a shared one
//! then dominate both sides and the codecs disappear into allocator noise.) An encode appends to
//! one reused `BytesMut`, cleared before every iteration, so neither side pays for growing it.
//!
//! Run (the `--` arguments shorten criterion's default 3 s warm-up / 5 s measurement):
//!
//! ```text
//! cargo bench -p starling-codec --bench codec -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p starling-codec --bench codec -- publish_decode/v5   # one family
//! python3 mqtt-codec/benches/ratios.py                                # peer/starling per group
//! ```
//!
//! Numbers from a shared or busy machine are noisy; compare ratios from one run, not times
//! across runs.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mqttbytes::{v4, v5};
use starling_codec::{
    Connect, ConnectProperties, MqttStr, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid,
    RetainHandling, Subscribe, SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName,
    Will, WillProperties, MAX_PACKET_SIZE,
};
use std::{
    num::{NonZeroU16, NonZeroU32},
    time::{Duration, Instant},
};

const TOPIC: &str = "sensors/building-1/floor-2/temperature";
const PID: u16 = 4242;
const MAX: usize = MAX_PACKET_SIZE as usize;
const SIZES: [(&str, usize); 4] = [("0B", 0), ("64B", 64), ("1KiB", 1024), ("64KiB", 65536)];

#[derive(Clone, Copy)]
enum V {
    V311,
    V5,
}

impl V {
    fn name(self) -> &'static str {
        match self {
            V::V311 => "v311",
            V::V5 => "v5",
        }
    }

    fn starling(self) -> ProtocolVersion {
        match self {
            V::V311 => ProtocolVersion::V3_1_1,
            V::V5 => ProtocolVersion::V5,
        }
    }
}

fn mqttbytes_read(v: V, buf: &mut BytesMut) -> bool {
    match v {
        V::V311 => v4::read(buf, MAX).is_ok(),
        V::V5 => v5::read(buf, MAX).is_ok(),
    }
}

/// How many copies of a frame one receive buffer holds: enough that refilling it is rare, at
/// most about 1 MiB.
fn frames_per_buffer(frame_len: usize) -> usize {
    ((1 << 20) / frame_len.max(1)).clamp(16, 1000)
}

/// Decodes one frame per iteration from a receive buffer holding many copies of `frame`, as a
/// connection reads a stream, and drops the packet (releasing what decoding allocated is part of
/// its cost). Refilling the buffer (a copy) happens outside the timed sections.
fn bench_decode<P>(
    b: &mut criterion::Bencher<'_>,
    frame: &BytesMut,
    mut decode: impl FnMut(&mut BytesMut) -> P,
) {
    let per_buffer = frames_per_buffer(frame.len());
    let mut template = BytesMut::with_capacity(frame.len() * per_buffer);
    for _ in 0..per_buffer {
        template.extend_from_slice(frame);
    }
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(per_buffer as u64);
            let mut buf = template.clone();
            let start = Instant::now();
            for _ in 0..n {
                drop(black_box(decode(black_box(&mut buf))));
            }
            total += start.elapsed();
            left -= n;
        }
        total
    });
}

/// One decode group: the same frame through both decoders, each checked once up front.
fn decode_group(c: &mut Criterion, name: &str, v: V, frame: &BytesMut) {
    let mut check = frame.clone();
    assert!(Packet::decode(v.starling(), &mut check, MAX_PACKET_SIZE)
        .unwrap()
        .is_some());
    assert!(check.is_empty());
    let mut check = frame.clone();
    assert!(
        mqttbytes_read(v, &mut check),
        "mqttbytes cannot read {name}"
    );
    assert!(check.is_empty());

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("starling", |b| {
        bench_decode(b, frame, |buf| {
            Packet::decode(v.starling(), buf, MAX_PACKET_SIZE).unwrap()
        })
    });
    g.bench_function("mqttbytes", |b| match v {
        V::V311 => bench_decode(b, frame, |buf| v4::read(buf, MAX).unwrap()),
        V::V5 => bench_decode(b, frame, |buf| v5::read(buf, MAX).unwrap()),
    });
    g.finish();
}

fn starling_publish(payload: &Bytes) -> Publish {
    Publish::new(
        TopicName::from_static(TOPIC).unwrap(),
        QosPid::AtLeastOnce(PacketId::new(PID).unwrap()),
        payload.clone(),
    )
}

fn mqttbytes_publish_v4(payload: &Bytes) -> v4::Publish {
    let mut p = v4::Publish::from_bytes(TOPIC, mqttbytes::QoS::AtLeastOnce, payload.clone());
    p.pkid = PID;
    p
}

fn mqttbytes_publish_v5(payload: &Bytes) -> v5::Publish {
    let mut p = v5::Publish::from_bytes(TOPIC, mqttbytes::QoS::AtLeastOnce, payload.clone());
    p.pkid = PID;
    p
}

fn publish(c: &mut Criterion) {
    for v in [V::V311, V::V5] {
        for (label, n) in SIZES {
            let payload = Bytes::from(vec![0xA5u8; n]);
            let ours = starling_publish(&payload);
            let mut frame = BytesMut::new();
            ours.encode(v.starling(), &mut frame).unwrap();
            // Both codecs must agree on the bytes, or the comparison means nothing.
            let mut theirs_bytes = BytesMut::new();
            match v {
                V::V311 => mqttbytes_publish_v4(&payload).write(&mut theirs_bytes),
                V::V5 => mqttbytes_publish_v5(&payload).write(&mut theirs_bytes),
            }
            .unwrap();
            assert_eq!(frame, theirs_bytes, "PUBLISH {label} {}", v.name());

            decode_group(
                c,
                &format!("publish_decode/{}/{label}", v.name()),
                v,
                &frame,
            );

            let mut g = c.benchmark_group(format!("publish_encode/{}/{label}", v.name()));
            g.throughput(Throughput::Bytes(frame.len() as u64));
            let mut buf = BytesMut::with_capacity(frame.len() + 64);
            g.bench_function("starling", |b| {
                b.iter(|| {
                    buf.clear();
                    black_box(&ours).encode(v.starling(), &mut buf).unwrap();
                    black_box(buf.len())
                })
            });
            // The zero-copy encode as a server sends it: the header into the buffer, plus a
            // handle on the shared payload (a reference count up, and down when the list is
            // cleared) for the vectored write that follows.
            let mut chunks: Vec<Bytes> = Vec::with_capacity(1);
            g.bench_function("starling_zero_copy", |b| {
                b.iter(|| {
                    buf.clear();
                    chunks.clear();
                    let p = black_box(&ours);
                    p.encode_header(v.starling(), &mut buf).unwrap();
                    chunks.push(p.payload_bytes());
                    black_box((buf.len(), chunks.len()))
                })
            });
            // No copying encoder can beat this: one copy of the finished frame into the buffer.
            g.bench_function("copy_floor", |b| {
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(black_box(&frame[..]));
                    black_box(buf.len())
                })
            });
            match v {
                V::V311 => {
                    let theirs = mqttbytes_publish_v4(&payload);
                    g.bench_function("mqttbytes", |b| {
                        b.iter(|| {
                            buf.clear();
                            black_box(&theirs).write(&mut buf).unwrap();
                            black_box(buf.len())
                        })
                    });
                }
                V::V5 => {
                    let theirs = mqttbytes_publish_v5(&payload);
                    g.bench_function("mqttbytes", |b| {
                        b.iter(|| {
                            buf.clear();
                            black_box(&theirs).write(&mut buf).unwrap();
                            black_box(buf.len())
                        })
                    });
                }
            }
            g.finish();
        }
    }
}

fn s(x: &'static str) -> MqttStr {
    MqttStr::from_static(x).unwrap()
}

const USER_PROPS: [(&str, &str); 2] = [("region", "eu-west-1"), ("fleet", "delivery-vans")];

fn starling_connect() -> Connect {
    let mut props = ConnectProperties::default();
    props.session_expiry_interval = Some(3600);
    props.receive_maximum = NonZeroU16::new(100);
    props.maximum_packet_size = NonZeroU32::new(1 << 20);
    props.user_properties = USER_PROPS.iter().map(|(k, v)| (s(k), s(v))).collect();
    let mut will_props = WillProperties::default();
    will_props.will_delay_interval = Some(30);
    will_props.message_expiry_interval = Some(600);
    will_props.content_type = Some(s("application/json"));
    will_props.user_properties = vec![(s("reason"), s("unexpected"))];
    let mut c = Connect::new(ProtocolVersion::V5, s("sensor-gateway-0042"));
    c.keep_alive = 30;
    c.clean_start = false;
    c.properties = props;
    c.will = Some(Will {
        topic: TopicName::from_static("sensors/building-1/gateway-0042/status").unwrap(),
        payload: Bytes::from_static(b"{\"online\":false}"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: will_props,
    });
    c.username = Some(s("gateway-0042"));
    c.password = Some(Bytes::from_static(b"correct-horse-battery-staple"));
    c
}

fn mqttbytes_connect() -> v5::Connect {
    let user = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut c = v5::Connect::new("sensor-gateway-0042");
    c.keep_alive = 30;
    c.clean_session = false;
    c.properties = Some(v5::ConnectProperties {
        session_expiry_interval: Some(3600),
        receive_maximum: Some(100),
        max_packet_size: Some(1 << 20),
        topic_alias_max: None,
        request_response_info: None,
        request_problem_info: None,
        user_properties: user(&USER_PROPS),
        authentication_method: None,
        authentication_data: None,
    });
    c.last_will = Some(v5::LastWill {
        topic: "sensors/building-1/gateway-0042/status".into(),
        message: Bytes::from_static(b"{\"online\":false}"),
        qos: mqttbytes::QoS::AtLeastOnce,
        retain: true,
        properties: Some(v5::WillProperties {
            delay_interval: Some(30),
            payload_format_indicator: None,
            message_expiry_interval: Some(600),
            content_type: Some("application/json".into()),
            response_topic: None,
            correlation_data: None,
            user_properties: user(&[("reason", "unexpected")]),
        }),
    });
    c.set_login("gateway-0042", "correct-horse-battery-staple");
    c
}

fn connect(c: &mut Criterion) {
    let ours = Packet::Connect(Box::new(starling_connect()));
    let theirs = mqttbytes_connect();
    let mut frame = BytesMut::new();
    ours.encode(ProtocolVersion::V5, &mut frame).unwrap();
    let mut check = BytesMut::new();
    theirs.write(&mut check).unwrap();
    assert_eq!(frame, check, "CONNECT");

    decode_group(c, "connect_decode/v5", V::V5, &frame);

    let mut g = c.benchmark_group("connect_encode/v5");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    let mut buf = BytesMut::with_capacity(frame.len() + 64);
    g.bench_function("starling", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&ours)
                .encode(ProtocolVersion::V5, &mut buf)
                .unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("mqttbytes", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&theirs).write(&mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.finish();
}

/// Ten filters of a typical client: plain, wildcards, one shared subscription.
fn filters() -> Vec<(String, QoS, bool, bool, RetainHandling)> {
    (0..10)
        .map(|i| {
            let path = match i % 5 {
                0 => format!("sensors/building-{i}/+/temperature"),
                1 => format!("sensors/building-{i}/floor-2/#"),
                2 => format!("alerts/site-{i}/fire"),
                3 => format!("$share/workers/jobs/queue-{i}"),
                _ => format!("devices/{i}/commands/+"),
            };
            let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][i % 3];
            let shared = i % 5 == 3;
            let no_local = !shared && i % 2 == 0;
            let rap = i % 4 == 1;
            let rh = [
                RetainHandling::SendAtSubscribe,
                RetainHandling::SendAtSubscribeIfNew,
                RetainHandling::DoNotSend,
            ][i % 3];
            (path, qos, no_local, rap, rh)
        })
        .collect()
}

fn mqttbytes_qos(q: QoS) -> mqttbytes::QoS {
    match q {
        QoS::AtMostOnce => mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => mqttbytes::QoS::ExactlyOnce,
    }
}

fn starling_subscribe(v: V) -> Subscribe {
    let mut properties = SubscribeProperties::default();
    let filters = filters()
        .into_iter()
        .map(|(path, qos, no_local, rap, rh)| {
            let filter = TopicFilter::try_from(path.as_str()).unwrap();
            let options = match v {
                V::V311 => SubscriptionOptions::new(qos),
                V::V5 => SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published: rap,
                    retain_handling: rh,
                },
            };
            (filter, options)
        })
        .collect();
    if let V::V5 = v {
        properties.subscription_identifier = NonZeroU32::new(7);
    }
    Subscribe {
        packet_id: PacketId::new(PID).unwrap(),
        filters,
        properties,
    }
}

fn mqttbytes_subscribe_v4() -> v4::Subscribe {
    let mut s = v4::Subscribe::new_many(
        filters()
            .into_iter()
            .map(|(path, qos, ..)| v4::SubscribeFilter::new(path, mqttbytes_qos(qos))),
    );
    s.pkid = PID;
    s
}

fn mqttbytes_subscribe_v5() -> v5::Subscribe {
    let mut s =
        v5::Subscribe::new_many(filters().into_iter().map(|(path, qos, no_local, rap, rh)| {
            let mut f = v5::SubscribeFilter::new(path, mqttbytes_qos(qos));
            f.set_nolocal(no_local)
                .set_preserve_retain(rap)
                .set_retain_forward_rule(match rh {
                    RetainHandling::SendAtSubscribe => v5::RetainForwardRule::OnEverySubscribe,
                    RetainHandling::SendAtSubscribeIfNew => v5::RetainForwardRule::OnNewSubscribe,
                    RetainHandling::DoNotSend => v5::RetainForwardRule::Never,
                });
            f
        }));
    s.pkid = PID;
    s.properties = Some(v5::SubscribeProperties {
        id: Some(7),
        user_properties: Vec::new(),
    });
    s
}

fn subscribe(c: &mut Criterion) {
    for v in [V::V311, V::V5] {
        let ours = Packet::Subscribe(starling_subscribe(v));
        let mut frame = BytesMut::new();
        ours.encode(v.starling(), &mut frame).unwrap();
        let mut check = BytesMut::new();
        match v {
            V::V311 => mqttbytes_subscribe_v4().write(&mut check),
            V::V5 => mqttbytes_subscribe_v5().write(&mut check),
        }
        .unwrap();
        assert_eq!(frame, check, "SUBSCRIBE {}", v.name());

        decode_group(c, &format!("subscribe_decode/{}", v.name()), v, &frame);

        let mut g = c.benchmark_group(format!("subscribe_encode/{}", v.name()));
        g.throughput(Throughput::Bytes(frame.len() as u64));
        let mut buf = BytesMut::with_capacity(frame.len() + 64);
        g.bench_function("starling", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&ours).encode(v.starling(), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        match v {
            V::V311 => {
                let theirs = mqttbytes_subscribe_v4();
                g.bench_function("mqttbytes", |b| {
                    b.iter(|| {
                        buf.clear();
                        black_box(&theirs).write(&mut buf).unwrap();
                        black_box(buf.len())
                    })
                });
            }
            V::V5 => {
                let theirs = mqttbytes_subscribe_v5();
                g.bench_function("mqttbytes", |b| {
                    b.iter(|| {
                        buf.clear();
                        black_box(&theirs).write(&mut buf).unwrap();
                        black_box(buf.len())
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, publish, connect, subscribe);
criterion_main!(benches);
