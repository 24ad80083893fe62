//! Enhanced authentication (v5 §4.12), delegated to a pluggable method.

use bytes::Bytes;
use starling_codec::ReasonCode;

/// One step of an authentication exchange, as decided by an [`AuthMethod`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Send AUTH with Continue authentication (0x18) and this data, and wait for the peer.
    Continue(Option<Bytes>),
    /// Authentication succeeded; this data goes in the CONNACK (or the re-authentication AUTH).
    Success(Option<Bytes>),
    /// Authentication failed with this reason code (0x80 or above).
    Failure(ReasonCode),
}

/// A server-side enhanced authentication method, such as SCRAM or Kerberos.
///
/// The session calls it with the Authentication Data of each CONNECT or AUTH packet and sends
/// what it answers. It never blocks: a method that needs I/O finishes it before answering.
pub trait AuthMethod: Send {
    /// The Authentication Method name this implementation handles.
    fn name(&self) -> &str;

    /// Called with the data of the CONNECT (or of an AUTH with Re-authenticate, 0x19).
    fn start(&mut self, client_id: &str, data: Option<&Bytes>) -> AuthStep;

    /// Called with the data of each AUTH with Continue authentication (0x18).
    fn step(&mut self, data: Option<&Bytes>) -> AuthStep;
}
