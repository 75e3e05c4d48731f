//! Notifiers: how events reach people. One file per channel.

pub mod console;
pub mod format;
