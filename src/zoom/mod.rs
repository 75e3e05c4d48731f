//! Zoom's Dashboard API: wire types and their conversion into QoS samples.
//! [`client`] is the HTTP client with OAuth, rate limit, budget and retries.

pub mod api;
pub mod budget;
pub mod client;
