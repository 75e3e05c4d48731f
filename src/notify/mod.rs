//! Notifiers: how events reach people. One file per channel, plus the
//! router that picks notifiers and the persisted outbox that delivers.

pub mod console;
pub mod delivery;
pub mod format;
pub mod router;
pub mod slack;
pub mod teams;
pub mod view;
pub mod webhook;
