//! The `console` notifier: one readable line per event on stdout.

use std::io::Write;

use crate::alert::Event;
use crate::notify::format::event_line;

/// Prints events to stdout, one line each.
#[derive(Debug, Default)]
pub struct Console;

impl Console {
    pub fn send(&self, events: &[Event]) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for e in events {
            writeln!(out, "{}", event_line(e))?;
        }
        out.flush()
    }
}
