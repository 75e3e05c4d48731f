//! The `console` channel: one readable line per transition on stdout (the
//! demo's notifier).

use crate::notify::channel::{Channel, Group, Message};
use crate::notify::format::event_line;

/// Prints events to stdout, one line each.
pub struct Console;

impl Channel for Console {
    fn kind(&self) -> &'static str {
        "console"
    }

    fn render(&self, group: &Group<'_>) -> Message {
        let lines: Vec<String> = group.events.iter().map(|e| event_line(e)).collect();
        Message::Print(lines.join("\n"))
    }
}
