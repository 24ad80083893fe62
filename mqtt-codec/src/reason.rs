//! MQTT 5 reason codes, their validity per packet type, and the MQTT 3.x CONNACK mapping.

use crate::PacketType;

macro_rules! reason_codes {
    ($($(#[$attr:meta])* $name:ident = $value:literal,)*) => {
        /// An MQTT 5 reason code (v5 §2.4).
        ///
        /// `0x00` has three spec names (Success, Normal disconnection, Granted QoS 0); they are
        /// one variant here, [`ReasonCode::Success`], with the other names as constants.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum ReasonCode {
            $($(#[$attr])* $name = $value,)*
        }

        impl ReasonCode {
            /// The reason code with this byte value, if MQTT 5 defines one.
            pub const fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $($value => Some(ReasonCode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

reason_codes! {
    /// 0x00: Success, Normal disconnection, Granted QoS 0.
    #[default]
    Success = 0x00,
    /// 0x01: Granted QoS 1.
    GrantedQoS1 = 0x01,
    /// 0x02: Granted QoS 2.
    GrantedQoS2 = 0x02,
    /// 0x04: Disconnect with Will Message.
    DisconnectWithWillMessage = 0x04,
    /// 0x10: No matching subscribers.
    NoMatchingSubscribers = 0x10,
    /// 0x11: No subscription existed.
    NoSubscriptionExisted = 0x11,
    /// 0x18: Continue authentication.
    ContinueAuthentication = 0x18,
    /// 0x19: Re-authenticate.
    ReAuthenticate = 0x19,
    /// 0x80: Unspecified error.
    UnspecifiedError = 0x80,
    /// 0x81: Malformed Packet.
    MalformedPacket = 0x81,
    /// 0x82: Protocol Error.
    ProtocolError = 0x82,
    /// 0x83: Implementation specific error.
    ImplementationSpecificError = 0x83,
    /// 0x84: Unsupported Protocol Version.
    UnsupportedProtocolVersion = 0x84,
    /// 0x85: Client Identifier not valid.
    ClientIdentifierNotValid = 0x85,
    /// 0x86: Bad User Name or Password.
    BadUserNameOrPassword = 0x86,
    /// 0x87: Not authorized.
    NotAuthorized = 0x87,
    /// 0x88: Server unavailable.
    ServerUnavailable = 0x88,
    /// 0x89: Server busy.
    ServerBusy = 0x89,
    /// 0x8A: Banned.
    Banned = 0x8A,
    /// 0x8B: Server shutting down.
    ServerShuttingDown = 0x8B,
    /// 0x8C: Bad authentication method.
    BadAuthenticationMethod = 0x8C,
    /// 0x8D: Keep Alive timeout.
    KeepAliveTimeout = 0x8D,
    /// 0x8E: Session taken over.
    SessionTakenOver = 0x8E,
    /// 0x8F: Topic Filter invalid.
    TopicFilterInvalid = 0x8F,
    /// 0x90: Topic Name invalid.
    TopicNameInvalid = 0x90,
    /// 0x91: Packet Identifier in use.
    PacketIdentifierInUse = 0x91,
    /// 0x92: Packet Identifier not found.
    PacketIdentifierNotFound = 0x92,
    /// 0x93: Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93,
    /// 0x94: Topic Alias invalid.
    TopicAliasInvalid = 0x94,
    /// 0x95: Packet too large.
    PacketTooLarge = 0x95,
    /// 0x96: Message rate too high.
    MessageRateTooHigh = 0x96,
    /// 0x97: Quota exceeded.
    QuotaExceeded = 0x97,
    /// 0x98: Administrative action.
    AdministrativeAction = 0x98,
    /// 0x99: Payload format invalid.
    PayloadFormatInvalid = 0x99,
    /// 0x9A: Retain not supported.
    RetainNotSupported = 0x9A,
    /// 0x9B: QoS not supported.
    QoSNotSupported = 0x9B,
    /// 0x9C: Use another server.
    UseAnotherServer = 0x9C,
    /// 0x9D: Server moved.
    ServerMoved = 0x9D,
    /// 0x9E: Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E,
    /// 0x9F: Connection rate exceeded.
    ConnectionRateExceeded = 0x9F,
    /// 0xA0: Maximum connect time.
    MaximumConnectTime = 0xA0,
    /// 0xA1: Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1,
    /// 0xA2: Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2,
}

impl ReasonCode {
    /// 0x00 in a DISCONNECT.
    pub const NORMAL_DISCONNECTION: ReasonCode = ReasonCode::Success;
    /// 0x00 in a SUBACK.
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode::Success;

    /// The byte value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether this code reports a failure (values 0x80 and above, v5 §2.4).
    pub const fn is_error(self) -> bool {
        (self as u8) >= 0x80
    }

    /// Whether MQTT 5 allows this reason code in a packet of type `packet`.
    pub fn is_valid_for(self, packet: PacketType) -> bool {
        use ReasonCode::*;
        match packet {
            PacketType::ConnAck => matches!(
                self,
                Success
                    | UnspecifiedError
                    | MalformedPacket
                    | ProtocolError
                    | ImplementationSpecificError
                    | UnsupportedProtocolVersion
                    | ClientIdentifierNotValid
                    | BadUserNameOrPassword
                    | NotAuthorized
                    | ServerUnavailable
                    | ServerBusy
                    | Banned
                    | BadAuthenticationMethod
                    | TopicNameInvalid
                    | PacketTooLarge
                    | QuotaExceeded
                    | PayloadFormatInvalid
                    | RetainNotSupported
                    | QoSNotSupported
                    | UseAnotherServer
                    | ServerMoved
                    | ConnectionRateExceeded
            ),
            PacketType::PubAck | PacketType::PubRec => matches!(
                self,
                Success
                    | NoMatchingSubscribers
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicNameInvalid
                    | PacketIdentifierInUse
                    | QuotaExceeded
                    | PayloadFormatInvalid
            ),
            PacketType::PubRel | PacketType::PubComp => {
                matches!(self, Success | PacketIdentifierNotFound)
            }
            PacketType::SubAck => matches!(
                self,
                Success
                    | GrantedQoS1
                    | GrantedQoS2
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicFilterInvalid
                    | PacketIdentifierInUse
                    | QuotaExceeded
                    | SharedSubscriptionsNotSupported
                    | SubscriptionIdentifiersNotSupported
                    | WildcardSubscriptionsNotSupported
            ),
            PacketType::UnsubAck => matches!(
                self,
                Success
                    | NoSubscriptionExisted
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicFilterInvalid
                    | PacketIdentifierInUse
            ),
            PacketType::Disconnect => matches!(
                self,
                Success
                    | DisconnectWithWillMessage
                    | UnspecifiedError
                    | MalformedPacket
                    | ProtocolError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | ServerBusy
                    | ServerShuttingDown
                    | KeepAliveTimeout
                    | SessionTakenOver
                    | TopicFilterInvalid
                    | TopicNameInvalid
                    | ReceiveMaximumExceeded
                    | TopicAliasInvalid
                    | PacketTooLarge
                    | MessageRateTooHigh
                    | QuotaExceeded
                    | AdministrativeAction
                    | PayloadFormatInvalid
                    | RetainNotSupported
                    | QoSNotSupported
                    | UseAnotherServer
                    | ServerMoved
                    | SharedSubscriptionsNotSupported
                    | ConnectionRateExceeded
                    | MaximumConnectTime
                    | SubscriptionIdentifiersNotSupported
                    | WildcardSubscriptionsNotSupported
            ),
            PacketType::Auth => matches!(self, Success | ContinueAuthentication | ReAuthenticate),
            _ => false,
        }
    }

    /// The MQTT 3.1/3.1.1 CONNACK return code that carries this reason, if any.
    ///
    /// MQTT 3.x has six return codes. Refusals without an exact counterpart map to the nearest
    /// one: server-side conditions to 0x03 (server unavailable), policy refusals to 0x05 (not
    /// authorized). Malformed and protocol-error refusals have no return code at all: a 3.x server
    /// closes the connection without a CONNACK (v3.1.1 §4.8), so they return `None`.
    pub const fn to_v3_connack_return_code(self) -> Option<u8> {
        use ReasonCode::*;
        match self {
            Success => Some(0x00),
            UnsupportedProtocolVersion => Some(0x01),
            ClientIdentifierNotValid => Some(0x02),
            ServerUnavailable
            | ServerBusy
            | UnspecifiedError
            | ImplementationSpecificError
            | QuotaExceeded
            | ConnectionRateExceeded
            | UseAnotherServer
            | ServerMoved => Some(0x03),
            BadUserNameOrPassword => Some(0x04),
            NotAuthorized
            | Banned
            | BadAuthenticationMethod
            | TopicNameInvalid
            | PacketTooLarge
            | PayloadFormatInvalid
            | RetainNotSupported
            | QoSNotSupported => Some(0x05),
            _ => None,
        }
    }

    /// The reason code for an MQTT 3.1/3.1.1 CONNACK return code (0x00–0x05).
    pub const fn from_v3_connack_return_code(code: u8) -> Option<Self> {
        match code {
            0x00 => Some(ReasonCode::Success),
            0x01 => Some(ReasonCode::UnsupportedProtocolVersion),
            0x02 => Some(ReasonCode::ClientIdentifierNotValid),
            0x03 => Some(ReasonCode::ServerUnavailable),
            0x04 => Some(ReasonCode::BadUserNameOrPassword),
            0x05 => Some(ReasonCode::NotAuthorized),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips_through_from_u8() {
        for b in 0..=255u8 {
            if let Some(rc) = ReasonCode::from_u8(b) {
                assert_eq!(rc.as_u8(), b);
            }
        }
        assert_eq!(ReasonCode::from_u8(0x03), None);
    }

    #[test]
    fn v3_connack_codes_round_trip() {
        for code in 0..=5u8 {
            let rc = ReasonCode::from_v3_connack_return_code(code).unwrap();
            assert_eq!(rc.to_v3_connack_return_code(), Some(code));
        }
        assert_eq!(ReasonCode::from_v3_connack_return_code(6), None);
        assert_eq!(
            ReasonCode::MalformedPacket.to_v3_connack_return_code(),
            None
        );
    }

    #[test]
    fn validity_matches_spec_tables() {
        // v5 §3.2.2.2, §3.4.2.1, §3.6.2.1, §3.9.3, §3.11.3, §3.14.2.1, §3.15.2.1.
        assert!(ReasonCode::BadUserNameOrPassword.is_valid_for(PacketType::ConnAck));
        assert!(!ReasonCode::SessionTakenOver.is_valid_for(PacketType::ConnAck));
        assert!(ReasonCode::SessionTakenOver.is_valid_for(PacketType::Disconnect));
        assert!(ReasonCode::PacketIdentifierNotFound.is_valid_for(PacketType::PubRel));
        assert!(!ReasonCode::NotAuthorized.is_valid_for(PacketType::PubComp));
        assert!(ReasonCode::GrantedQoS2.is_valid_for(PacketType::SubAck));
        assert!(!ReasonCode::GrantedQoS2.is_valid_for(PacketType::UnsubAck));
        assert!(ReasonCode::ReAuthenticate.is_valid_for(PacketType::Auth));
        assert!(!ReasonCode::Success.is_valid_for(PacketType::Publish));
    }
}
