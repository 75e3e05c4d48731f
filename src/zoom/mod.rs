//! Zoom's Dashboard API: wire types and their conversion into QoS samples.
//! (The HTTP client and OAuth come with the poller.)

pub mod api;
