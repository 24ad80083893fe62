//! Malformed and forbidden MQTT 5 byte vectors: properties (unknown identifiers, identifiers not
//! allowed in the packet, duplicates, out-of-range values, broken blocks, bad strings) and reason
//! codes (every byte value outside each packet's table).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use bytes::BytesMut;
use common::*;
use starling_codec::{Packet, MAX_PACKET_SIZE};

/// Every property identifier of v5 §2.2.2.2, with a valid value.
fn property(id: u8) -> Vec<u8> {
    let value = match id {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2a => vec![0x01],
        0x02 | 0x11 | 0x18 | 0x27 => 100u32.to_be_bytes().to_vec(),
        0x13 | 0x21 | 0x22 | 0x23 => 7u16.to_be_bytes().to_vec(),
        0x0b => vec![0x05],
        0x09 | 0x16 => bin(b"\x00data"),
        0x26 => cat![s("k"), s("v")],
        0x08 => s("r/t"),
        _ => s("text"), // 0x03, 0x12, 0x15, 0x1a, 0x1c, 0x1f
    };
    cat![[id], value]
}

const ALL_IDS: [u8; 27] = [
    0x01, 0x02, 0x03, 0x08, 0x09, 0x0b, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1c,
    0x1f, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
];

/// A packet that carries `block` (a property block, length included) where its properties go.
struct Site {
    name: &'static str,
    allowed: &'static [u8],
    build: fn(Vec<u8>) -> Vec<u8>,
}

/// Where each packet carries properties, and which identifiers it allows (v5 §2.2.2.2).
fn sites() -> Vec<Site> {
    vec![
        Site {
            name: "CONNECT",
            allowed: &[0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16],
            build: |p| frame(0x10, cat![s("MQTT"), [5, 0x02, 0, 60], p, s("a")]),
        },
        Site {
            name: "will properties",
            allowed: &[0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26],
            build: |p| {
                frame(
                    0x10,
                    cat![s("MQTT"), [5, 0x06, 0, 60, 0], s("a"), p, s("w"), bin(b"x")],
                )
            },
        },
        Site {
            name: "CONNACK",
            allowed: &[
                0x11, 0x21, 0x24, 0x25, 0x27, 0x12, 0x22, 0x1f, 0x26, 0x28, 0x29, 0x2a, 0x13, 0x1a,
                0x1c, 0x15, 0x16,
            ],
            build: |p| frame(0x20, cat![[0, 0], p]),
        },
        Site {
            name: "PUBLISH",
            allowed: &[0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x0b, 0x03],
            build: |p| frame(0x32, cat![s("a/b"), [0, 1], p, b"x"]),
        },
        Site {
            name: "PUBACK",
            allowed: &[0x1f, 0x26],
            build: |p| frame(0x40, cat![[0, 1, 0], p]),
        },
        Site {
            name: "PUBREC",
            allowed: &[0x1f, 0x26],
            build: |p| frame(0x50, cat![[0, 1, 0x10], p]),
        },
        Site {
            name: "PUBREL",
            allowed: &[0x1f, 0x26],
            build: |p| frame(0x62, cat![[0, 1, 0x92], p]),
        },
        Site {
            name: "PUBCOMP",
            allowed: &[0x1f, 0x26],
            build: |p| frame(0x70, cat![[0, 1, 0], p]),
        },
        Site {
            name: "SUBSCRIBE",
            allowed: &[0x0b, 0x26],
            build: |p| frame(0x82, cat![[0, 1], p, s("a"), [0]]),
        },
        Site {
            name: "SUBACK",
            allowed: &[0x1f, 0x26],
            build: |p| frame(0x90, cat![[0, 1], p, [0]]),
        },
        Site {
            name: "UNSUBSCRIBE",
            allowed: &[0x26],
            build: |p| frame(0xa2, cat![[0, 1], p, s("a")]),
        },
        Site {
            name: "UNSUBACK",
            allowed: &[0x1f, 0x26],
            build: |p| frame(0xb0, cat![[0, 1], p, [0]]),
        },
        Site {
            name: "DISCONNECT",
            allowed: &[0x11, 0x1f, 0x26, 0x1c],
            build: |p| frame(0xe0, cat![[0x80], p]),
        },
        Site {
            name: "AUTH",
            allowed: &[0x15, 0x16, 0x1f, 0x26],
            build: |p| frame(0xf0, cat![[0x18], p]),
        },
    ]
}

fn decodes(bytes: &[u8]) -> bool {
    let mut buf = BytesMut::from(bytes);
    matches!(Packet::decode(V5, &mut buf, MAX_PACKET_SIZE), Ok(Some(_))) && buf.is_empty()
}

#[test]
fn allowed_properties_decode_once_and_refuse_repeats() {
    let mut t = Vec::new();
    for site in sites() {
        for &id in site.allowed {
            let once = (site.build)(props(property(id)));
            assert!(decodes(&once), "{} with property {id:#04x}", site.name);
            let twice = (site.build)(props(cat![property(id), property(id)]));
            // User Property may repeat; so may Subscription Identifier in a PUBLISH.
            if id == 0x26 || (id == 0x0b && site.name == "PUBLISH") {
                assert!(
                    decodes(&twice),
                    "{} with property {id:#04x} twice",
                    site.name
                );
            } else {
                t.push(bad(
                    "v5 property included more than once",
                    V5,
                    twice,
                    PROTOCOL,
                ));
            }
        }
        // The empty block is always fine: v5 [MQTT-2.2.2-1].
        assert!(decodes(&(site.build)(props(vec![]))), "{}", site.name);
    }
    check_bad(&t);
}

#[test]
fn properties_not_allowed_in_the_packet() {
    let mut t = Vec::new();
    for site in sites() {
        for id in ALL_IDS {
            if !site.allowed.contains(&id) {
                t.push(bad(
                    "v5 property identifier not allowed in this packet",
                    V5,
                    (site.build)(props(property(id))),
                    MALFORMED,
                ));
            }
        }
        // Unknown identifiers, including ones written as multi-byte variable byte integers.
        for id in [
            &[0x00u8][..],
            &[0x04],
            &[0x05],
            &[0x07],
            &[0x0a],
            &[0x0c],
            &[0x10],
            &[0x14],
            &[0x1b],
            &[0x1d],
            &[0x1e],
            &[0x20],
            &[0x2b],
            &[0x7f],
            &[0x80, 0x01],
            &[0xa6, 0x80, 0x80, 0x01],
        ] {
            t.push(bad(
                "v5 unknown property identifier",
                V5,
                (site.build)(props(cat![id, [0x00, 0x00, 0x00, 0x00]])),
                MALFORMED,
            ));
        }
    }
    check_bad(&t);
}

#[test]
fn property_values_out_of_range() {
    let connect = |p: Vec<u8>| frame(0x10, cat![s("MQTT"), [5, 0x02, 0, 60], props(p), s("a")]);
    let will = |p: Vec<u8>| {
        frame(
            0x10,
            cat![
                s("MQTT"),
                [5, 0x06, 0, 60, 0],
                s("a"),
                props(p),
                s("w"),
                bin(b"x")
            ],
        )
    };
    let connack = |p: Vec<u8>| frame(0x20, cat![[0, 0], props(p)]);
    let publish = |p: Vec<u8>| frame(0x30, cat![s("a/b"), props(p), b"x"]);
    let subscribe = |p: Vec<u8>| frame(0x82, cat![[0, 1], props(p), s("a"), [0]]);
    check_bad(&[
        bad(
            "v5 CONNECT receive maximum 0",
            V5,
            connect(vec![0x21, 0, 0]),
            PROTOCOL,
        ),
        bad(
            "v5 CONNACK receive maximum 0",
            V5,
            connack(vec![0x21, 0, 0]),
            PROTOCOL,
        ),
        bad(
            "v5 CONNECT maximum packet size 0",
            V5,
            connect(vec![0x27, 0, 0, 0, 0]),
            PROTOCOL,
        ),
        bad(
            "v5 CONNACK maximum packet size 0",
            V5,
            connack(vec![0x27, 0, 0, 0, 0]),
            PROTOCOL,
        ),
        bad(
            "v5 SUBSCRIBE subscription identifier 0",
            V5,
            subscribe(vec![0x0b, 0x00]),
            PROTOCOL,
        ),
        bad(
            "v5 PUBLISH subscription identifier 0",
            V5,
            publish(vec![0x0b, 0x00]),
            PROTOCOL,
        ),
        bad(
            "v5 SUBSCRIBE subscription identifier in 5 bytes",
            V5,
            subscribe(vec![0x0b, 0xff, 0xff, 0xff, 0xff, 0x01]),
            MALFORMED,
        ),
        bad(
            "v5 [MQTT-3.3.2-8] topic alias 0",
            V5,
            publish(vec![0x23, 0, 0]),
            TOPIC_ALIAS,
        ),
        bad(
            "v5 PUBLISH payload format indicator 2",
            V5,
            publish(vec![0x01, 0x02]),
            PROTOCOL,
        ),
        bad(
            "v5 will payload format indicator 0xff",
            V5,
            will(vec![0x01, 0xff]),
            PROTOCOL,
        ),
        bad(
            "v5 request response information 2",
            V5,
            connect(vec![0x19, 0x02]),
            PROTOCOL,
        ),
        bad(
            "v5 request problem information 2",
            V5,
            connect(vec![0x17, 0x02]),
            PROTOCOL,
        ),
        bad("v5 maximum QoS 2", V5, connack(vec![0x24, 0x02]), PROTOCOL),
        bad(
            "v5 retain available 2",
            V5,
            connack(vec![0x25, 0x02]),
            PROTOCOL,
        ),
        bad(
            "v5 wildcard subscription available 2",
            V5,
            connack(vec![0x28, 0x02]),
            PROTOCOL,
        ),
        bad(
            "v5 subscription identifiers available 2",
            V5,
            connack(vec![0x29, 0x02]),
            PROTOCOL,
        ),
        bad(
            "v5 shared subscription available 2",
            V5,
            connack(vec![0x2a, 0x02]),
            PROTOCOL,
        ),
        bad(
            "v5 [MQTT-3.3.2-14] response topic with a wildcard",
            V5,
            publish(cat![[0x08], s("resp/+")]),
            PROTOCOL,
        ),
        bad(
            "v5 [MQTT-3.3.2-14] will response topic with a wildcard",
            V5,
            will(cat![[0x08], s("#")]),
            PROTOCOL,
        ),
    ]);
}

#[test]
fn broken_property_blocks_and_strings() {
    let publish = |block: Vec<u8>| frame(0x30, cat![s("a/b"), block]);
    let mut t = vec![
        bad(
            "v5 property length beyond the packet",
            V5,
            publish(vec![0x05, 0x02, 0, 0]),
            MALFORMED,
        ),
        bad(
            "v5 property value running past the property length",
            V5,
            publish(vec![0x03, 0x02, 0, 0, 0, 0]),
            MALFORMED,
        ),
        bad(
            "v5 string property running past the property length",
            V5,
            publish(cat![[0x04, 0x03, 0x00, 0x05], b"abcde"]),
            MALFORMED,
        ),
        bad(
            "v5 property length as a 5-byte variable byte integer",
            V5,
            publish(vec![0x80, 0x80, 0x80, 0x80, 0x00]),
            MALFORMED,
        ),
        bad(
            "v5 packet ends before its property length",
            V5,
            frame(0x32, cat![s("a/b"), [0, 1]]),
            MALFORMED,
        ),
        bad(
            "v5 SUBSCRIBE ends before its property length",
            V5,
            frame(0x82, vec![0, 1]),
            MALFORMED,
        ),
        // v5 [MQTT-2.2.2-1]: only the acknowledgements, DISCONNECT and a Success AUTH may omit
        // the property length; AUTH not after a reason code. (A v5 CONNACK without it is
        // tolerated for mqttbytes: see vectors_v5.rs.)
        bad(
            "v5 [MQTT-2.2.2-1] AUTH reason code without property length",
            V5,
            b"\xf0\x01\x18".to_vec(),
            MALFORMED,
        ),
        bad(
            "v5 [MQTT-2.2.2-1] SUBACK without property length",
            V5,
            b"\x90\x02\x00\x01".to_vec(),
            MALFORMED,
        ),
    ];
    // Strings inside properties follow v5 §1.5.4 too.
    for text in [&b"\xed\xa0\x80"[..], b"\xc0\xaf", b"\xff", b"a\x00"] {
        t.push(bad(
            "v5 [MQTT-1.5.7-1] user property name not a valid UTF-8 string",
            V5,
            publish(props(cat![[0x26], bin(text), s("v")])),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-1.5.7-1] user property value not a valid UTF-8 string",
            V5,
            publish(props(cat![[0x26], s("k"), bin(text)])),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.3.2-19] content type not a valid UTF-8 string",
            V5,
            publish(props(cat![[0x03], bin(text)])),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.3.2-13] response topic not a valid UTF-8 string",
            V5,
            publish(props(cat![[0x08], bin(text)])),
            MALFORMED,
        ));
        for id in [0x12, 0x1a, 0x1c, 0x1f, 0x15] {
            t.push(bad(
                "v5 [MQTT-1.5.4-1] v5 [MQTT-1.5.4-2] CONNACK string property not valid UTF-8",
                V5,
                frame(0x20, cat![[0, 0], props(cat![[id], bin(text)])]),
                MALFORMED,
            ));
        }
    }
    check_bad(&t);
}

/// A packet's name (with its citation), its valid reason codes, and a vector builder.
type ReasonTable = (&'static str, &'static [u8], fn(u8) -> Vec<u8>);

#[test]
fn reason_codes_outside_each_table() {
    let tables: [ReasonTable; 8] = [
        (
            "v5 [MQTT-3.2.2-8] CONNACK reason code not a Connect Reason Code",
            &[
                0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90,
                0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
            ],
            |c| vec![0x20, 0x03, 0x00, c, 0x00],
        ),
        (
            "v5 [MQTT-3.4.2-1] PUBACK reason code not a PUBACK Reason Code",
            &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
            |c| vec![0x40, 0x03, 0x00, 0x01, c],
        ),
        (
            "v5 [MQTT-3.5.2-1] PUBREC reason code not a PUBREC Reason Code",
            &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
            |c| vec![0x50, 0x04, 0x00, 0x01, c, 0x00],
        ),
        (
            "v5 [MQTT-3.6.2-1] PUBREL reason code not a PUBREL Reason Code",
            &[0x00, 0x92],
            |c| vec![0x62, 0x03, 0x00, 0x01, c],
        ),
        (
            "v5 [MQTT-3.7.2-1] PUBCOMP reason code not a PUBCOMP Reason Code",
            &[0x00, 0x92],
            |c| vec![0x70, 0x03, 0x00, 0x01, c],
        ),
        (
            "v5 [MQTT-3.9.3-2] SUBACK reason code not a Subscribe Reason Code",
            &[
                0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
            ],
            |c| vec![0x90, 0x05, 0x00, 0x01, 0x00, 0x00, c],
        ),
        (
            "v5 [MQTT-3.11.3-2] UNSUBACK reason code not an UNSUBSCRIBE Reason Code",
            &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91],
            |c| vec![0xb0, 0x05, 0x00, 0x01, 0x00, c, 0x00],
        ),
        (
            "v5 [MQTT-3.14.2-1] DISCONNECT reason code not a DISCONNECT Reason Code",
            &[
                0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
                0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1,
                0xA2,
            ],
            |c| vec![0xe0, 0x01, c],
        ),
    ];
    let mut t = Vec::new();
    for (name, valid, build) in tables {
        for code in 0..=255u8 {
            if !valid.contains(&code) {
                t.push(bad(name, V5, build(code), MALFORMED));
            }
        }
    }
    for code in 0..=255u8 {
        if ![0x00, 0x18, 0x19].contains(&code) {
            t.push(bad(
                "v5 [MQTT-3.15.2-1] AUTH reason code not an Authenticate Reason Code",
                V5,
                vec![0xf0, 0x02, code, 0x00],
                MALFORMED,
            ));
        }
    }
    assert_eq!(
        t.len(),
        (256 - 22) + 2 * (256 - 9) + 2 * (256 - 2) + (256 - 12) + (256 - 7) + (256 - 29) + 253
    );
    check_bad(&t);
}
