//! The embeddable Starling MQTT broker.
//!
//! Not implemented yet: this crate is a placeholder so the workspace layout matches the design
//! (see the project's `ARCHITECTURE.md`). It exports nothing.
