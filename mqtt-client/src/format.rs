//! Printing messages the way `mosquitto_sub -F` does, and as one JSON object per line.
//!
//! Format sequences: `%%` `%t` topic, `%p` payload, `%q` QoS, `%r` retain, `%l` payload
//! length, `%m` packet id, `%x`/`%X` payload in lower/upper-case hex, `%I` ISO-8601 time,
//! `%U` Unix time with nanoseconds, `%j` JSON with an escaped payload, `%J` JSON with the
//! payload inserted as JSON; MQTT 5 properties `%A` topic alias, `%C` content type, `%D`
//! correlation data, `%E` message expiry, `%F` payload format, `%P` user properties, `%R`
//! response topic, `%S` subscription identifiers. Escapes `\n`, `\t`, `\r`, `\\`, `\0`,
//! `\e`, `\a`, `\v`. Field widths as in printf (`%10t`, `%-10t`, `%.5t`) are honoured.

use crate::Message;
use std::{fmt::Write as _, time::SystemTime};

/// Renders `msg` with a `mosquitto_sub -F` format string.
pub fn render(format: &str, msg: &Message, now: SystemTime) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '%' => {
                let mut left = false;
                let mut zero = false;
                let mut width = String::new();
                let mut precision: Option<String> = None;
                while let Some(&n) = chars.peek() {
                    match n {
                        '-' if width.is_empty() && precision.is_none() => left = true,
                        '0' if width.is_empty() && precision.is_none() => zero = true,
                        '0'..='9' => match &mut precision {
                            Some(p) => p.push(n),
                            None => width.push(n),
                        },
                        '.' if precision.is_none() => precision = Some(String::new()),
                        _ => break,
                    }
                    chars.next();
                }
                let Some(spec) = chars.next() else {
                    out.push(b'%');
                    break;
                };
                let field = field(spec, msg, now);
                let mut field = match field {
                    Some(f) => f,
                    None => {
                        out.push(b'%');
                        out.extend(spec.to_string().as_bytes());
                        continue;
                    }
                };
                if let Some(p) = precision.and_then(|p| p.parse::<usize>().ok()) {
                    field.truncate(p);
                }
                let width: usize = width.parse().unwrap_or(0);
                let pad = width.saturating_sub(field.len());
                let fill = if zero && !left { b'0' } else { b' ' };
                if !left {
                    out.extend(std::iter::repeat_n(fill, pad));
                }
                out.extend(field);
                if left {
                    out.extend(std::iter::repeat_n(b' ', pad));
                }
            }
            '\\' => match chars.next() {
                Some('n') => out.push(b'\n'),
                Some('t') => out.push(b'\t'),
                Some('r') => out.push(b'\r'),
                Some('0') => out.push(0),
                Some('a') => out.push(7),
                Some('e') => out.push(0x1b),
                Some('v') => out.push(0x0b),
                Some('\\') => out.push(b'\\'),
                Some(o) => {
                    out.push(b'\\');
                    out.extend(o.to_string().as_bytes());
                }
                None => out.push(b'\\'),
            },
            c => {
                let mut b = [0u8; 4];
                out.extend(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out
}

fn field(spec: char, m: &Message, now: SystemTime) -> Option<Vec<u8>> {
    let p = &m.properties;
    let s = |v: String| Some(v.into_bytes());
    match spec {
        '%' => s("%".into()),
        't' => s(m.topic().into()),
        'p' => Some(m.payload.to_vec()),
        'q' => s((m.qos as u8).to_string()),
        'r' => s(u8::from(m.retain).to_string()),
        'l' => s(m.payload.len().to_string()),
        'm' => s(m.packet_id.map_or(0, |id| id.get()).to_string()),
        'x' => s(hex(&m.payload, false)),
        'X' => s(hex(&m.payload, true)),
        'I' => s(iso8601(now, false)),
        'U' => {
            let d = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            s(format!("{}.{:09}", d.as_secs(), d.subsec_nanos()))
        }
        'j' => s(json(m, now, false)),
        'J' => s(json(m, now, true)),
        'A' => s(p.topic_alias.map(|a| a.to_string()).unwrap_or_default()),
        'C' => s(p
            .content_type
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default()),
        'D' => Some(
            p.correlation_data
                .as_ref()
                .map(|d| d.to_vec())
                .unwrap_or_default(),
        ),
        'E' => s(p
            .message_expiry_interval
            .map(|e| e.to_string())
            .unwrap_or_default()),
        'F' => s(p
            .payload_format_indicator
            .map(|f| (f as u8).to_string())
            .unwrap_or_default()),
        'P' => s(p
            .user_properties
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")),
        'R' => s(p
            .response_topic
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_default()),
        'S' => s(p
            .subscription_identifiers
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")),
        _ => None,
    }
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = if upper {
            write!(s, "{b:02X}")
        } else {
            write!(s, "{b:02x}")
        };
    }
    s
}

/// `2024-05-06T22:12:00+0000` (UTC), or with microseconds for JSON.
fn iso8601(t: SystemTime, micros: bool) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, mo, da) = civil_from_days(days as i64);
    let (h, mi, se) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if micros {
        format!(
            "{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{se:02}.{:06}+0000",
            d.subsec_micros()
        )
    } else {
        format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{se:02}+0000")
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `mosquitto_sub -F %j` (`raw_payload`: `%J`, the payload inserted as JSON).
fn json(m: &Message, now: SystemTime, raw_payload: bool) -> String {
    let payload = if raw_payload {
        String::from_utf8_lossy(&m.payload).into_owned()
    } else {
        json_string(&String::from_utf8_lossy(&m.payload))
    };
    format!(
        "{{\"tst\":\"{}\",\"topic\":{},\"qos\":{},\"retain\":{},\"payloadlen\":{},{}\"payload\":{payload}}}",
        iso8601(now, true),
        json_string(m.topic()),
        m.qos as u8,
        u8::from(m.retain),
        m.payload.len(),
        m.packet_id
            .map(|id| format!("\"mid\":{},", id.get()))
            .unwrap_or_default(),
    )
}

/// One JSON object with everything about the message, v5 properties included (payload as
/// a string when it is UTF-8, else as `payload_hex`).
pub fn json_line(m: &Message, now: SystemTime) -> String {
    let p = &m.properties;
    let mut o = format!(
        "{{\"time\":\"{}\",\"topic\":{},\"qos\":{},\"retain\":{},\"dup\":{}",
        iso8601(now, true),
        json_string(m.topic()),
        m.qos as u8,
        m.retain,
        m.dup
    );
    if let Some(id) = m.packet_id {
        let _ = write!(o, ",\"packet_id\":{}", id.get());
    }
    match std::str::from_utf8(&m.payload) {
        Ok(text) => {
            let _ = write!(o, ",\"payload\":{}", json_string(text));
        }
        Err(_) => {
            let _ = write!(o, ",\"payload_hex\":\"{}\"", hex(&m.payload, false));
        }
    }
    if let Some(f) = p.payload_format_indicator {
        let _ = write!(o, ",\"payload_format_indicator\":{}", f as u8);
    }
    if let Some(e) = p.message_expiry_interval {
        let _ = write!(o, ",\"message_expiry_interval\":{e}");
    }
    if let Some(c) = &p.content_type {
        let _ = write!(o, ",\"content_type\":{}", json_string(c));
    }
    if let Some(t) = &p.response_topic {
        let _ = write!(o, ",\"response_topic\":{}", json_string(t));
    }
    if let Some(d) = &p.correlation_data {
        match std::str::from_utf8(d) {
            Ok(text) => {
                let _ = write!(o, ",\"correlation_data\":{}", json_string(text));
            }
            Err(_) => {
                let _ = write!(o, ",\"correlation_data_hex\":\"{}\"", hex(d, false));
            }
        }
    }
    if !p.subscription_identifiers.is_empty() {
        let ids: Vec<String> = p
            .subscription_identifiers
            .iter()
            .map(|i| i.to_string())
            .collect();
        let _ = write!(o, ",\"subscription_identifiers\":[{}]", ids.join(","));
    }
    if !p.user_properties.is_empty() {
        let props: Vec<String> = p
            .user_properties
            .iter()
            .map(|(k, v)| format!("[{},{}]", json_string(k), json_string(v)))
            .collect();
        let _ = write!(o, ",\"user_properties\":[{}]", props.join(","));
    }
    o.push('}');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use starling_codec::{MqttStr, PacketId, PublishProperties, QoS, TopicName};
    use std::time::Duration;

    fn msg() -> Message {
        let mut properties = PublishProperties::default();
        properties.content_type = MqttStr::try_from("text/plain").ok();
        properties.user_properties.push((
            MqttStr::try_from("k").unwrap(),
            MqttStr::try_from("v").unwrap(),
        ));
        Message {
            topic: TopicName::try_from("a/b").unwrap(),
            payload: Bytes::from_static(b"hi\"x"),
            qos: QoS::AtLeastOnce,
            retain: true,
            dup: false,
            packet_id: PacketId::new(7),
            properties,
        }
    }

    #[test]
    fn mosquitto_format_sequences() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_470_818_943, 786_368_637);
        let r = |f: &str| String::from_utf8(render(f, &msg(), t)).unwrap();
        assert_eq!(r("%t %p %q %r %l %m"), "a/b hi\"x 1 1 4 7");
        assert_eq!(r("%x|%X"), "68692278|68692278");
        assert_eq!(r("[%5t][%-5t][%.1t][%05l]"), "[  a/b][a/b  ][a][00004]");
        assert_eq!(r("%C %P\\t%%"), "text/plain k:v\t%");
        assert_eq!(r("%U"), "1470818943.786368637");
        assert_eq!(r("%I"), "2016-08-10T08:49:03+0000");
        assert_eq!(
            r("%j"),
            "{\"tst\":\"2016-08-10T08:49:03.786368+0000\",\"topic\":\"a/b\",\"qos\":1,\"retain\":1,\"payloadlen\":4,\"mid\":7,\"payload\":\"hi\\\"x\"}"
        );
        assert_eq!(r("%z"), "%z");
    }

    #[test]
    fn json_line_carries_v5_properties_and_binary_payloads() {
        let t = SystemTime::UNIX_EPOCH;
        let line = json_line(&msg(), t);
        assert!(line.contains("\"content_type\":\"text/plain\""), "{line}");
        assert!(
            line.contains("\"user_properties\":[[\"k\",\"v\"]]"),
            "{line}"
        );
        let mut m = msg();
        m.payload = Bytes::from_static(&[0xff, 0x00]);
        assert!(json_line(&m, t).contains("\"payload_hex\":\"ff00\""));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
