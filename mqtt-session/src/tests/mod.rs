//! Behaviour tests of the session state machines, driven without sockets and in virtual time.
//!
//! - [`pair`]: a client and a server session wired together with a tiny broker policy, for
//!   end-to-end flows, faults and reconnects.
//! - [`raw`]: one session alone, fed hand-encoded packets, for rule violations.
//!
//! Each test that proves a normative statement cites it with its version.

mod pair;
mod raw;

mod auth;
mod client;
mod keep_alive;
mod problem_information;
mod resume;
mod server_connect;
mod server_delivery;
mod server_disconnect;
mod server_qos;
mod server_subscribe;
