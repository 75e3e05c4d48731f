//! The notification path, as stages: [`inhibit`] holds the firings a
//! rule's `inhibits` covers, [`silence`] the firings a silence covers,
//! [`dispatch`] routes, groups and
//! de-duplicates transitions and asks each notifier's [`channel`] to render
//! them; [`outbox`] persists what is to be posted and [`delivery`] posts it,
//! paced and retried. One file per channel (console, Slack, Teams,
//! MessageCard, webhook), all drawing their words from [`facts`] and
//! [`view`] ([`incident`] for incidents).

pub mod channel;
pub mod console;
pub mod delivery;
pub mod dispatch;
pub mod facts;
pub mod format;
pub mod incident;
pub mod inhibit;
pub mod messagecard;
pub mod outbox;
pub mod router;
pub mod silence;
pub mod slack;
pub mod teams;
pub mod view;
pub mod webhook;
