//! The hash map of the broker's routing path.
//!
//! Every publish hashes client identifiers and connection ids several times (subscriber
//! de-duplication, session and outbox lookups, trie levels). The standard `RandomState`
//! (SipHash-1-3) was a visible share of a delivery's cost; foldhash, hashbrown's default, is
//! several times faster on short keys and still seeded at random per map, so clients cannot
//! precompute colliding identifiers or topics.

/// `std::collections::HashMap` with a randomly seeded foldhash; build one with `default()`.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
