//! Valid MQTT 5.0 byte vectors for the acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP,
//! SUBACK, UNSUBACK), PINGREQ/PINGRESP, DISCONNECT and AUTH, with every reason code of each
//! packet and the short forms the specification allows; checked as in `vectors_v5.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use common::*;
use starling_codec::{
    AckProperties, Auth, AuthProperties, Disconnect, DisconnectProperties, Packet, PacketType,
    PubAck, PubComp, PubRec, PubRel, ReasonCode, SubAck, UnsubAck, Unsubscribe,
    UnsubscribeProperties,
};

fn rc(code: u8) -> ReasonCode {
    ReasonCode::from_u8(code).unwrap()
}

fn ack_packet(kind: PacketType, id: u16, code: u8, properties: AckProperties) -> Packet {
    let (packet_id, reason_code) = (pid(id), rc(code));
    match kind {
        PacketType::PubAck => Packet::PubAck(PubAck {
            packet_id,
            reason_code,
            properties,
        }),
        PacketType::PubRec => Packet::PubRec(PubRec {
            packet_id,
            reason_code,
            properties,
        }),
        PacketType::PubRel => Packet::PubRel(PubRel {
            packet_id,
            reason_code,
            properties,
        }),
        _ => Packet::PubComp(PubComp {
            packet_id,
            reason_code,
            properties,
        }),
    }
}

#[test]
fn acks_v5() {
    let mut table = Vec::new();
    for (kind, first, codes) in [
        (PacketType::PubAck, 0x40u8, PUBACK_CODES),
        (PacketType::PubRec, 0x50, PUBACK_CODES),
        (PacketType::PubRel, 0x62, PUBREL_CODES),
        (PacketType::PubComp, 0x70, PUBREL_CODES),
    ] {
        // v5 §3.4.2.1: a remaining length of 2 means Success and no properties.
        table.push(ok(
            "v5 acknowledgement short form: Success, no properties, 2 bytes",
            V5,
            vec![first, 0x02, 0x00, 0x01],
            ack_packet(kind, 1, 0x00, AckProperties::default()),
        ));
        table.push(ok_decode_only(
            "v5 acknowledgement with an explicit Success reason code",
            V5,
            vec![first, 0x03, 0x00, 0x01, 0x00],
            ack_packet(kind, 1, 0x00, AckProperties::default()),
            vec![first, 0x02, 0x00, 0x01],
        ));
        table.push(ok_decode_only(
            "v5 acknowledgement with Success and a zero property length",
            V5,
            vec![first, 0x04, 0x00, 0x01, 0x00, 0x00],
            ack_packet(kind, 1, 0x00, AckProperties::default()),
            vec![first, 0x02, 0x00, 0x01],
        ));
        for &code in &codes[1..] {
            // v5 §3.4.2.2.1: a remaining length below 4 means no properties.
            table.push(ok(
                "v5 acknowledgement with each of its reason codes, no properties",
                V5,
                vec![first, 0x03, 0xab, 0xcd, code],
                ack_packet(kind, 0xabcd, code, AckProperties::default()),
            ));
            table.push(ok_decode_only(
                "v5 acknowledgement with a reason code and a zero property length",
                V5,
                vec![first, 0x04, 0xab, 0xcd, code, 0x00],
                ack_packet(kind, 0xabcd, code, AckProperties::default()),
                vec![first, 0x03, 0xab, 0xcd, code],
            ));
        }
        let last = *codes.last().unwrap();
        table.push(ok(
            "v5 acknowledgement with a reason string and two user properties",
            V5,
            frame(
                first,
                cat![
                    [0x00, 0x09, last],
                    props(cat![
                        [0x1f],
                        s("why"),
                        user_prop("x", "1"),
                        user_prop("x", "2")
                    ]),
                ],
            ),
            ack_packet(
                kind,
                9,
                last,
                with(|p: &mut AckProperties| {
                    p.reason_string = Some(ms("why"));
                    p.user_properties = vec![user("x", "1"), user("x", "2")];
                }),
            ),
        ));
        // Properties force the reason code to be written, even Success.
        table.push(ok(
            "v5 acknowledgement with Success and a user property",
            V5,
            frame(first, cat![[0x00, 0x09, 0x00], props(user_prop("x", "1"))]),
            ack_packet(
                kind,
                9,
                0x00,
                with(|p: &mut AckProperties| p.user_properties = vec![user("x", "1")]),
            ),
        ));
    }
    check_valid(&table);
}

#[test]
fn suback_v5() {
    let mut table = vec![ok(
        "v5 SUBACK with every Subscribe Reason Code, kept in order",
        V5,
        frame(0x90, cat![[0x00, 0x01, 0x00], SUBACK_CODES]),
        Packet::SubAck(SubAck {
            packet_id: pid(1),
            reason_codes: SUBACK_CODES.iter().map(|&c| rc(c)).collect(),
            properties: AckProperties::default(),
        }),
    )];
    table.push(ok(
        "v5 SUBACK with reason string and user property",
        V5,
        frame(
            0x90,
            cat![
                [0x00, 0x02],
                props(cat![[0x1f], s("no"), user_prop("u", "v")]),
                [0x87]
            ],
        ),
        Packet::SubAck(SubAck {
            packet_id: pid(2),
            reason_codes: vec![ReasonCode::NotAuthorized],
            properties: with(|p: &mut AckProperties| {
                p.reason_string = Some(ms("no"));
                p.user_properties = vec![user("u", "v")];
            }),
        }),
    ));
    check_valid(&table);
}

#[test]
fn unsubscribe_and_unsuback_v5() {
    check_valid(&[
        ok(
            "v5 [MQTT-3.10.1-1] UNSUBSCRIBE flags 0010, user property, two filters",
            V5,
            frame(
                0xa2,
                cat![
                    [0x00, 0x03],
                    props(user_prop("u", "1")),
                    s("a/+/c"),
                    s("d/#")
                ],
            ),
            Packet::Unsubscribe(Unsubscribe {
                packet_id: pid(3),
                filters: vec![filter("a/+/c"), filter("d/#")],
                properties: with(|p: &mut UnsubscribeProperties| {
                    p.user_properties = vec![user("u", "1")]
                }),
            }),
        ),
        ok(
            "v5 UNSUBSCRIBE $share filter, no properties",
            V5,
            cat![[0xa2, 0x11, 0x00, 0x04, 0x00], s("$share/g/x/y")],
            Packet::Unsubscribe(Unsubscribe {
                packet_id: pid(4),
                filters: vec![filter("$share/g/x/y")],
                properties: UnsubscribeProperties::default(),
            }),
        ),
        ok(
            "v5 UNSUBACK with every UNSUBSCRIBE Reason Code, kept in order",
            V5,
            frame(0xb0, cat![[0x00, 0x03, 0x00], UNSUBACK_CODES]),
            Packet::UnsubAck(UnsubAck {
                packet_id: pid(3),
                reason_codes: UNSUBACK_CODES.iter().map(|&c| rc(c)).collect(),
                properties: AckProperties::default(),
            }),
        ),
        ok(
            "v5 UNSUBACK with reason string",
            V5,
            frame(
                0xb0,
                cat![[0x00, 0x03], props(cat![[0x1f], s("gone")]), [0x11]],
            ),
            Packet::UnsubAck(UnsubAck {
                packet_id: pid(3),
                reason_codes: vec![ReasonCode::NoSubscriptionExisted],
                properties: with(|p: &mut AckProperties| p.reason_string = Some(ms("gone"))),
            }),
        ),
    ]);
}

#[test]
fn ping_v5() {
    check_valid(&[
        ok("v5 PINGREQ", V5, b"\xc0\x00".to_vec(), Packet::PingReq),
        ok("v5 PINGRESP", V5, b"\xd0\x00".to_vec(), Packet::PingResp),
    ]);
}

#[test]
fn disconnect_v5() {
    let mut table = vec![
        ok(
            // v5 §3.14.2.1: a remaining length of 0 means Normal disconnection.
            "v5 DISCONNECT short form: normal disconnection, 0 bytes",
            V5,
            b"\xe0\x00".to_vec(),
            Packet::Disconnect(Disconnect::default()),
        ),
        ok_decode_only(
            "v5 DISCONNECT with an explicit normal disconnection",
            V5,
            b"\xe0\x01\x00".to_vec(),
            Packet::Disconnect(Disconnect::default()),
            b"\xe0\x00".to_vec(),
        ),
        ok_decode_only(
            "v5 DISCONNECT normal disconnection with a zero property length",
            V5,
            b"\xe0\x02\x00\x00".to_vec(),
            Packet::Disconnect(Disconnect::default()),
            b"\xe0\x00".to_vec(),
        ),
        ok(
            "v5 DISCONNECT with every DISCONNECT property",
            V5,
            frame(
                0xe0,
                cat![
                    [0x9c],
                    props(cat![
                        [0x11, 0, 0, 0, 0],
                        [0x1f],
                        s("bye"),
                        user_prop("d", "1"),
                        user_prop("d", "2"),
                        [0x1c],
                        s("other:1883"),
                    ]),
                ],
            ),
            Packet::Disconnect(Disconnect {
                reason_code: ReasonCode::UseAnotherServer,
                properties: with(|p: &mut DisconnectProperties| {
                    p.session_expiry_interval = Some(0);
                    p.reason_string = Some(ms("bye"));
                    p.user_properties = vec![user("d", "1"), user("d", "2")];
                    p.server_reference = Some(ms("other:1883"));
                }),
            }),
        ),
    ];
    for &code in &DISCONNECT_CODES[1..] {
        // v5 §3.14.2.2.1: a remaining length below 2 means no properties. The encoder always
        // writes the property length after a reason code (rumqttc cannot read the short form).
        table.push(ok_decode_only(
            "v5 DISCONNECT with each DISCONNECT Reason Code",
            V5,
            vec![0xe0, 0x01, code],
            Packet::Disconnect(Disconnect::new(rc(code))),
            vec![0xe0, 0x02, code, 0x00],
        ));
    }
    check_valid(&table);
}

#[test]
fn auth_v5() {
    let mut table = vec![
        ok(
            // v5 §3.15.2.1: a remaining length of 0 means Success and no properties.
            "v5 AUTH short form: Success, 0 bytes",
            V5,
            b"\xf0\x00".to_vec(),
            Packet::Auth(Auth {
                reason_code: ReasonCode::Success,
                properties: AuthProperties::default(),
            }),
        ),
        ok_decode_only(
            "v5 AUTH Success with a zero property length",
            V5,
            b"\xf0\x02\x00\x00".to_vec(),
            Packet::Auth(Auth {
                reason_code: ReasonCode::Success,
                properties: AuthProperties::default(),
            }),
            b"\xf0\x00".to_vec(),
        ),
        ok(
            "v5 AUTH continue with every AUTH property",
            V5,
            frame(
                0xf0,
                cat![
                    [0x18],
                    props(cat![
                        [0x15],
                        s("SCRAM-SHA-1"),
                        [0x16],
                        bin(b"\x01\x02\x03"),
                        [0x1f],
                        s("step 2"),
                        user_prop("a", "1"),
                        user_prop("a", "2"),
                    ]),
                ],
            ),
            Packet::Auth(Auth {
                reason_code: ReasonCode::ContinueAuthentication,
                properties: with(|p: &mut AuthProperties| {
                    p.authentication_method = Some(ms("SCRAM-SHA-1"));
                    p.authentication_data = Some(b(b"\x01\x02\x03"));
                    p.reason_string = Some(ms("step 2"));
                    p.user_properties = vec![user("a", "1"), user("a", "2")];
                }),
            }),
        ),
    ];
    for &code in &AUTH_CODES[1..] {
        table.push(ok(
            "v5 AUTH with each Authenticate Reason Code and no properties",
            V5,
            vec![0xf0, 0x02, code, 0x00],
            Packet::Auth(Auth {
                reason_code: rc(code),
                properties: AuthProperties::default(),
            }),
        ));
    }
    check_valid(&table);
}
