//! Proptest strategies for valid MQTT packets of every version, shared by the property tests.
//!
//! Use from a test file with `mod strategies;`. Everything generated is *valid* for the version
//! it was generated for: MQTT 5-only fields stay at their defaults for 3.x (the encoder would
//! drop or refuse them), reason codes are those the version can express, CONNECT names the
//! version, QoS 0 never carries DUP, and so on.
#![allow(dead_code)]

use bytes::Bytes;
use proptest::{collection::vec, option, prelude::*};
use starling_codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, MqttStr, Packet, PacketId, PacketType, PayloadFormat,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties, QoS, QosPid,
    ReasonCode, RetainHandling, SubAck, Subscribe, SubscribeProperties, SubscriptionOptions,
    TopicFilter, TopicName, UnsubAck, Unsubscribe, UnsubscribeProperties, UserProperties, Will,
    WillProperties, MAX_VARINT,
};
use std::num::{NonZeroU16, NonZeroU32};

/// The three protocol versions.
pub(crate) const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

/// Any protocol version.
pub(crate) fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop::sample::select(&VERSIONS[..])
}

/// `s` in MQTT 5, the default (absent) value before.
fn v5_only<T, S>(v: ProtocolVersion, s: S) -> BoxedStrategy<T>
where
    T: Default + Clone + std::fmt::Debug + 'static,
    S: Strategy<Value = T> + 'static,
{
    if v.is_v5() {
        s.boxed()
    } else {
        Just(T::default()).boxed()
    }
}

// Scalars.

/// Any QoS.
pub(crate) fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

/// Any packet identifier (never 0).
pub(crate) fn packet_id() -> impl Strategy<Value = PacketId> {
    any::<NonZeroU16>().prop_map(PacketId::from)
}

/// A QoS with its packet identifier.
pub(crate) fn qos_pid() -> impl Strategy<Value = QosPid> {
    (qos(), packet_id()).prop_map(|(q, p)| QosPid::new(q, p))
}

/// A Subscription Identifier: 1 to 268,435,455.
pub(crate) fn subscription_id() -> impl Strategy<Value = NonZeroU32> {
    (1..=MAX_VARINT).prop_map(|v| NonZeroU32::new(v).unwrap())
}

/// Binary data (short: the interesting cases are the framing, not the size).
pub(crate) fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

/// A payload, sometimes long enough to need a multi-byte remaining length.
pub(crate) fn payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..32),
        1 => vec(any::<u8>(), 100..400),
    ]
    .prop_map(Bytes::from)
}

/// Characters of MQTT strings: ASCII, the separator and wildcards, multi-byte UTF-8, a BOM and
/// any Unicode scalar value except U+0000 (surrogates cannot be `char`s).
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec!['a', 'b', 'z', '0', ' ', '$', '/', '+', '#', '-']),
        1 => prop::sample::select(vec!['é', '€', '😀', '\u{FEFF}', '\u{7F}', '\u{FFFF}']),
        1 => any::<char>().prop_map(|c| if c == '\0' { 'x' } else { c }),
    ]
}

/// A valid MQTT UTF-8 string.
pub(crate) fn mqtt_str() -> impl Strategy<Value = MqttStr> {
    vec(any_char(), 0..12)
        .prop_map(|cs| MqttStr::try_from(cs.into_iter().collect::<String>()).unwrap())
}

/// A topic level: no separator, no wildcards (may be empty).
fn level() -> impl Strategy<Value = String> {
    vec(any_char(), 0..6).prop_map(|cs| {
        cs.into_iter()
            .filter(|c| !matches!(c, '/' | '+' | '#'))
            .collect()
    })
}

/// A valid topic name (non-empty, no wildcards), sometimes `$SYS/…` or `$share/…`-looking.
pub(crate) fn topic_name() -> impl Strategy<Value = TopicName> {
    let plain = vec(level(), 1..5).prop_map(|levels| levels.join("/"));
    prop_oneof![
        6 => plain,
        1 => level().prop_map(|l| format!("$SYS/{l}")),
        1 => level().prop_map(|l| format!("$share/g/{l}")),
    ]
    .prop_filter_map("empty topic name", |s| TopicName::try_from(s.as_str()).ok())
}

/// A valid topic filter without share prefix: `+` whole levels, `#` only last.
fn plain_filter() -> impl Strategy<Value = String> {
    let lvl = prop_oneof![3 => level(), 1 => Just("+".to_owned())];
    (vec(lvl, 1..5), any::<bool>()).prop_map(|(mut levels, hash)| {
        if hash {
            levels.push("#".to_owned());
        }
        levels.join("/")
    })
}

/// A valid topic filter, sometimes a shared subscription `$share/{name}/{filter}`.
pub(crate) fn topic_filter() -> impl Strategy<Value = TopicFilter> {
    let share_name = level().prop_map(|n| if n.is_empty() { "g".to_owned() } else { n });
    prop_oneof![
        4 => plain_filter(),
        1 => (share_name, plain_filter()).prop_map(|(n, f)| format!("$share/{n}/{f}")),
    ]
    .prop_filter_map("empty topic filter", |s| {
        TopicFilter::try_from(s.as_str()).ok()
    })
}

/// User properties (name/value pairs, names may repeat).
pub(crate) fn user_properties() -> impl Strategy<Value = UserProperties> {
    vec((mqtt_str(), mqtt_str()), 0..3)
}

fn payload_format() -> impl Strategy<Value = PayloadFormat> {
    prop_oneof![Just(PayloadFormat::Unspecified), Just(PayloadFormat::Utf8)]
}

// Reason codes.

/// Every reason code MQTT 5 allows in `kind`.
pub(crate) fn v5_reason_codes(kind: PacketType) -> Vec<ReasonCode> {
    (0..=255u8)
        .filter_map(ReasonCode::from_u8)
        .filter(|rc| rc.is_valid_for(kind))
        .collect()
}

/// A reason code `kind` can carry in version `v`. MQTT 3.x: CONNACK return codes 0–5,
/// SUBACK granted QoS or 0x80, and Success for everything else.
pub(crate) fn reason_code(kind: PacketType, v: ProtocolVersion) -> BoxedStrategy<ReasonCode> {
    if v.is_v5() {
        // Success is the common case, and the only one some 3.x mappings keep: weight it.
        return prop_oneof![
            1 => Just(ReasonCode::Success),
            3 => prop::sample::select(v5_reason_codes(kind)),
        ]
        .boxed();
    }
    match kind {
        PacketType::ConnAck => (0..=5u8)
            .prop_map(|c| ReasonCode::from_v3_connack_return_code(c).unwrap())
            .boxed(),
        PacketType::SubAck => prop::sample::select(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed(),
        _ => Just(ReasonCode::Success).boxed(),
    }
}

// Properties (MQTT 5 only; use through `v5_only`).

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        (
            option::of(any::<u32>()),
            option::of(any::<NonZeroU16>()),
            option::of(any::<NonZeroU32>()),
            option::of(any::<u16>()),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
        ),
        (
            user_properties(),
            option::of(mqtt_str()),
            option::of(binary()),
        ),
    )
        .prop_map(|((sei, rm, mps, tam, rri, rpi), (up, am, ad))| {
            let mut p = ConnectProperties::default();
            p.session_expiry_interval = sei;
            p.receive_maximum = rm;
            p.maximum_packet_size = mps;
            p.topic_alias_maximum = tam;
            p.request_response_information = rri;
            p.request_problem_information = rpi;
            p.user_properties = up;
            p.authentication_method = am;
            p.authentication_data = ad;
            p
        })
}

fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        option::of(any::<u32>()),
        option::of(payload_format()),
        option::of(any::<u32>()),
        option::of(mqtt_str()),
        option::of(topic_name()),
        option::of(binary()),
        user_properties(),
    )
        .prop_map(|(wdi, pfi, mei, ct, rt, cd, up)| {
            let mut p = WillProperties::default();
            p.will_delay_interval = wdi;
            p.payload_format_indicator = pfi;
            p.message_expiry_interval = mei;
            p.content_type = ct;
            p.response_topic = rt;
            p.correlation_data = cd;
            p.user_properties = up;
            p
        })
}

fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let opt_str = || option::of(mqtt_str());
    let opt_bool = || option::of(any::<bool>());
    (
        (
            option::of(any::<u32>()),
            option::of(any::<NonZeroU16>()),
            // Maximum QoS: only 0 or 1 is sent; 2 is the property's absence.
            option::of(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
            opt_bool(),
            option::of(any::<NonZeroU32>()),
            opt_str(),
            option::of(any::<u16>()),
            opt_str(),
        ),
        (
            user_properties(),
            opt_bool(),
            opt_bool(),
            opt_bool(),
            option::of(any::<u16>()),
            opt_str(),
            opt_str(),
            opt_str(),
            option::of(binary()),
        ),
    )
        .prop_map(
            |((sei, rm, mq, ra, mps, aci, tam, rs), (up, wsa, sia, ssa, ska, ri, sr, am, ad))| {
                let mut p = ConnAckProperties::default();
                p.session_expiry_interval = sei;
                p.receive_maximum = rm;
                p.maximum_qos = mq;
                p.retain_available = ra;
                p.maximum_packet_size = mps;
                p.assigned_client_identifier = aci;
                p.topic_alias_maximum = tam;
                p.reason_string = rs;
                p.user_properties = up;
                p.wildcard_subscription_available = wsa;
                p.subscription_identifiers_available = sia;
                p.shared_subscription_available = ssa;
                p.server_keep_alive = ska;
                p.response_information = ri;
                p.server_reference = sr;
                p.authentication_method = am;
                p.authentication_data = ad;
                p
            },
        )
}

/// PUBLISH properties; `sub_ids` allows Subscription Identifiers (server to client only).
fn publish_properties(sub_ids: bool) -> impl Strategy<Value = PublishProperties> {
    let max_ids = if sub_ids { 3 } else { 1 };
    (
        option::of(payload_format()),
        option::of(any::<u32>()),
        option::of(any::<NonZeroU16>()),
        option::of(topic_name()),
        option::of(binary()),
        user_properties(),
        vec(subscription_id(), 0..max_ids),
        option::of(mqtt_str()),
    )
        .prop_map(|(pfi, mei, ta, rt, cd, up, sids, ct)| {
            let mut p = PublishProperties::default();
            p.payload_format_indicator = pfi;
            p.message_expiry_interval = mei;
            p.topic_alias = ta;
            p.response_topic = rt;
            p.correlation_data = cd;
            p.user_properties = up;
            p.subscription_identifiers = sids;
            p.content_type = ct;
            p
        })
}

/// Reason string and user properties, as every acknowledgement carries.
pub(crate) fn ack_properties() -> impl Strategy<Value = AckProperties> {
    (option::of(mqtt_str()), user_properties()).prop_map(|(rs, up)| {
        let mut p = AckProperties::default();
        p.reason_string = rs;
        p.user_properties = up;
        p
    })
}

fn subscribe_properties() -> impl Strategy<Value = SubscribeProperties> {
    (option::of(subscription_id()), user_properties()).prop_map(|(sid, up)| {
        let mut p = SubscribeProperties::default();
        p.subscription_identifier = sid;
        p.user_properties = up;
        p
    })
}

fn unsubscribe_properties() -> impl Strategy<Value = UnsubscribeProperties> {
    user_properties().prop_map(|up| {
        let mut p = UnsubscribeProperties::default();
        p.user_properties = up;
        p
    })
}

fn disconnect_properties() -> impl Strategy<Value = DisconnectProperties> {
    (
        option::of(any::<u32>()),
        option::of(mqtt_str()),
        user_properties(),
        option::of(mqtt_str()),
    )
        .prop_map(|(sei, rs, up, sr)| {
            let mut p = DisconnectProperties::default();
            p.session_expiry_interval = sei;
            p.reason_string = rs;
            p.user_properties = up;
            p.server_reference = sr;
            p
        })
}

fn auth_properties() -> impl Strategy<Value = AuthProperties> {
    (
        option::of(mqtt_str()),
        option::of(binary()),
        option::of(mqtt_str()),
        user_properties(),
    )
        .prop_map(|(am, ad, rs, up)| {
            let mut p = AuthProperties::default();
            p.authentication_method = am;
            p.authentication_data = ad;
            p.reason_string = rs;
            p.user_properties = up;
            p
        })
}

// Packets.

/// A CONNECT whose `protocol` is `v`.
pub(crate) fn connect(v: ProtocolVersion) -> impl Strategy<Value = Connect> {
    let will = option::of(
        (
            topic_name(),
            binary(),
            qos(),
            any::<bool>(),
            v5_only(v, will_properties()),
        )
            .prop_map(|(topic, payload, qos, retain, properties)| Will {
                topic,
                payload,
                qos,
                retain,
                properties,
            }),
    );
    (
        (any::<bool>(), any::<u16>(), mqtt_str(), will),
        (option::of(mqtt_str()), option::of(binary())),
        v5_only(v, connect_properties()),
    )
        .prop_map(
            move |(
                (clean_start, keep_alive, client_id, will),
                (username, password),
                properties,
            )| {
                // v3.1.1 [MQTT-3.1.2-22]: no password without a user name before MQTT 5.
                let password = if v.is_v5() || username.is_some() {
                    password
                } else {
                    None
                };
                Connect {
                    protocol: v,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }
            },
        )
}

/// A CONNACK valid in `v` (no Session Present on a refusal, none at all in 3.1).
pub(crate) fn connack(v: ProtocolVersion) -> impl Strategy<Value = ConnAck> {
    (
        any::<bool>(),
        reason_code(PacketType::ConnAck, v),
        v5_only(v, connack_properties()),
    )
        .prop_map(move |(sp, reason_code, properties)| ConnAck {
            session_present: sp && reason_code == ReasonCode::Success && v != ProtocolVersion::V3_1,
            reason_code,
            properties,
        })
}

/// A PUBLISH valid in `v`; `sub_ids` allows Subscription Identifiers (a server's PUBLISH).
pub(crate) fn publish(v: ProtocolVersion, sub_ids: bool) -> impl Strategy<Value = Publish> {
    (
        qos_pid(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        payload(),
        v5_only(v, publish_properties(sub_ids)),
    )
        .prop_map(
            |(qos_pid, dup, retain, topic, alias_only, payload, properties)| {
                // MQTT 5: with a Topic Alias the topic name may be empty.
                let topic = if alias_only && properties.topic_alias.is_some() {
                    TopicName::empty()
                } else {
                    topic
                };
                Publish::new(topic, qos_pid, payload)
                    // v5 [MQTT-3.3.1-2]: never DUP on QoS 0.
                    .with_dup(dup && qos_pid.qos() != QoS::AtMostOnce)
                    .with_retain(retain)
                    .with_properties(properties)
            },
        )
}

fn ack_parts(
    kind: PacketType,
    v: ProtocolVersion,
) -> impl Strategy<Value = (PacketId, ReasonCode, AckProperties)> {
    (
        packet_id(),
        reason_code(kind, v),
        v5_only(v, ack_properties()),
    )
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP valid in `v`.
pub(crate) fn pub_ack(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    prop_oneof![
        ack_parts(PacketType::PubAck, v).prop_map(|(packet_id, reason_code, properties)| {
            Packet::PubAck(PubAck {
                packet_id,
                reason_code,
                properties,
            })
        }),
        ack_parts(PacketType::PubRec, v).prop_map(|(packet_id, reason_code, properties)| {
            Packet::PubRec(PubRec {
                packet_id,
                reason_code,
                properties,
            })
        }),
        ack_parts(PacketType::PubRel, v).prop_map(|(packet_id, reason_code, properties)| {
            Packet::PubRel(PubRel {
                packet_id,
                reason_code,
                properties,
            })
        }),
        ack_parts(PacketType::PubComp, v).prop_map(|(packet_id, reason_code, properties)| {
            Packet::PubComp(PubComp {
                packet_id,
                reason_code,
                properties,
            })
        }),
    ]
    .boxed()
}

/// Subscription options valid in `v` for `filter` (3.x: QoS only; no No Local when shared).
fn subscription(v: ProtocolVersion) -> impl Strategy<Value = (TopicFilter, SubscriptionOptions)> {
    let rh = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendAtSubscribeIfNew),
        Just(RetainHandling::DoNotSend),
    ];
    (
        topic_filter(),
        qos(),
        any::<u8>(),
        any::<bool>(),
        any::<bool>(),
        rh,
    )
        .prop_map(
            move |(filter, qos, plain, no_local, rap, retain_handling)| {
                let mut options = SubscriptionOptions::new(qos);
                // A quarter of MQTT 5 subscriptions keep the defaults (expressible in 3.x).
                if v.is_v5() && plain % 4 != 0 {
                    // v5 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
                    options.no_local = no_local && !filter.is_shared();
                    options.retain_as_published = rap;
                    options.retain_handling = retain_handling;
                }
                (filter, options)
            },
        )
}

/// A SUBSCRIBE valid in `v`.
pub(crate) fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Subscribe> {
    (
        packet_id(),
        vec(subscription(v), 1..5),
        v5_only(v, subscribe_properties()),
    )
        .prop_map(|(packet_id, filters, properties)| Subscribe {
            packet_id,
            filters,
            properties,
        })
}

/// A SUBACK valid in `v`.
pub(crate) fn suback(v: ProtocolVersion) -> impl Strategy<Value = SubAck> {
    (
        packet_id(),
        vec(reason_code(PacketType::SubAck, v), 1..5),
        v5_only(v, ack_properties()),
    )
        .prop_map(|(packet_id, reason_codes, properties)| SubAck {
            packet_id,
            reason_codes,
            properties,
        })
}

/// An UNSUBSCRIBE valid in `v`.
pub(crate) fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Unsubscribe> {
    (
        packet_id(),
        vec(topic_filter(), 1..5),
        v5_only(v, unsubscribe_properties()),
    )
        .prop_map(|(packet_id, filters, properties)| Unsubscribe {
            packet_id,
            filters,
            properties,
        })
}

/// An UNSUBACK valid in `v` (3.x: no reason codes).
pub(crate) fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = UnsubAck> {
    let codes = if v.is_v5() {
        vec(reason_code(PacketType::UnsubAck, v), 1..5).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (packet_id(), codes, v5_only(v, ack_properties())).prop_map(
        |(packet_id, reason_codes, properties)| UnsubAck {
            packet_id,
            reason_codes,
            properties,
        },
    )
}

/// A DISCONNECT valid in `v` (3.x: no body).
pub(crate) fn disconnect(v: ProtocolVersion) -> impl Strategy<Value = Disconnect> {
    (
        reason_code(PacketType::Disconnect, v),
        v5_only(v, disconnect_properties()),
    )
        .prop_map(|(reason_code, properties)| Disconnect {
            reason_code,
            properties,
        })
}

/// An AUTH (MQTT 5 only).
pub(crate) fn auth() -> impl Strategy<Value = Auth> {
    (
        reason_code(PacketType::Auth, ProtocolVersion::V5),
        auth_properties(),
    )
        .prop_map(|(reason_code, properties)| Auth {
            reason_code,
            properties,
        })
}

/// Any packet valid in `v`: all 15 types in MQTT 5, all but AUTH in 3.x.
pub(crate) fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut kinds = vec![
        connect(v)
            .prop_map(|c| Packet::Connect(Box::new(c)))
            .boxed(),
        connack(v)
            .prop_map(|c| Packet::ConnAck(Box::new(c)))
            .boxed(),
        publish(v, true).prop_map(Packet::Publish).boxed(),
        pub_ack(v),
        subscribe(v).prop_map(Packet::Subscribe).boxed(),
        suback(v).prop_map(Packet::SubAck).boxed(),
        unsubscribe(v).prop_map(Packet::Unsubscribe).boxed(),
        unsuback(v).prop_map(Packet::UnsubAck).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(v).prop_map(Packet::Disconnect).boxed(),
    ];
    if v.is_v5() {
        kinds.push(auth().prop_map(Packet::Auth).boxed());
    }
    prop::strategy::Union::new(kinds).boxed()
}

/// A version and a packet valid in it.
pub(crate) fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| (Just(v), packet(v)))
}

/// What a client sends after its CONNECT in `v` (no Subscription Identifiers in PUBLISH).
pub(crate) fn client_to_server(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut kinds = vec![
        publish(v, false).prop_map(Packet::Publish).boxed(),
        pub_ack(v),
        subscribe(v).prop_map(Packet::Subscribe).boxed(),
        unsubscribe(v).prop_map(Packet::Unsubscribe).boxed(),
        Just(Packet::PingReq).boxed(),
        disconnect(v).prop_map(Packet::Disconnect).boxed(),
    ];
    if v.is_v5() {
        kinds.push(auth().prop_map(Packet::Auth).boxed());
    }
    prop::strategy::Union::new(kinds).boxed()
}

/// What a server sends to a client of version `v` (3.x servers send no DISCONNECT).
pub(crate) fn server_to_client(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut kinds = vec![
        connack(v)
            .prop_map(|c| Packet::ConnAck(Box::new(c)))
            .boxed(),
        publish(v, true).prop_map(Packet::Publish).boxed(),
        pub_ack(v),
        suback(v).prop_map(Packet::SubAck).boxed(),
        unsuback(v).prop_map(Packet::UnsubAck).boxed(),
        Just(Packet::PingResp).boxed(),
    ];
    if v.is_v5() {
        kinds.push(disconnect(v).prop_map(Packet::Disconnect).boxed());
        kinds.push(auth().prop_map(Packet::Auth).boxed());
    }
    prop::strategy::Union::new(kinds).boxed()
}
