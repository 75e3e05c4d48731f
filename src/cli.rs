//! Command-line definitions (clap). Usage errors exit with code 2.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// Watches the call quality of Zoom meeting participants and alerts chat.
#[derive(Debug, Parser)]
#[command(name = "qoswatch", version, about)]
pub struct Cli {
    /// Log format on stderr (level via RUST_LOG).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: poll (or replay), evaluate, notify, until SIGTERM.
    Run {
        /// Config file.
        #[arg(short = 'c', long = "config", default_value = "qoswatch.yaml")]
        config: PathBuf,
    },
    /// One full poll cycle: discover, fetch, evaluate, deliver.
    Once {
        /// Config file.
        #[arg(short = 'c', long = "config", default_value = "qoswatch.yaml")]
        config: PathBuf,
        /// Print what would be posted; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Post one test message to each named notifier (default: all), directly.
    NotifyTest {
        /// Config file.
        #[arg(short = 'c', long = "config", default_value = "qoswatch.yaml")]
        config: PathBuf,
        /// Notifier names from the config.
        notifiers: Vec<String>,
    },
    /// Validate rule files and directories without network.
    Check {
        /// Service config file, whose rules are checked too.
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// Rule files or directories.
        paths: Vec<PathBuf>,
    },
    /// Run rule unit tests.
    Test {
        /// Service config whose `sites` and `display` apply (its `${VAR}`s need not be set).
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// Rule test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the running service's firing alerts and incidents, one line each.
    Alerts {
        #[command(flatten)]
        remote: Remote,
    },
    /// Create, list or expire silences on the running service.
    Silence {
        #[command(subcommand)]
        command: SilenceCommand,
    },
    /// Feed Zoom QoS response bodies through the rules and print every alert transition.
    Eval {
        /// Rule file or directory (repeatable).
        #[arg(long = "rules", required = true)]
        rules: Vec<PathBuf>,
        /// Meeting id or UUID to report (overrides the one the input carries).
        #[arg(long)]
        meeting: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Service config whose `sites` and `display` apply (its `${VAR}`s need not be set).
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// Zoom QoS response files (a directory: its `*.json` files by name); `-` or none reads stdin.
        files: Vec<PathBuf>,
    },
}

/// How to reach the running service (the admin commands).
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The service's base URL [default: the `http.listen` of -c FILE when it
    /// exists, else http://127.0.0.1:9464].
    #[arg(long)]
    pub url: Option<String>,
    /// The admin token (`http.admin_token`) [default: $QOSWATCH_ADMIN_TOKEN].
    #[arg(long)]
    pub token: Option<String>,
    /// Config file whose `http.listen` is the default URL.
    #[arg(short = 'c', long = "config", default_value = "qoswatch.yaml")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence the alerts that all MATCHERs select; prints the new id.
    #[command(group(ArgGroup::new("end").required(true).args(["duration", "until", "until_meeting_end"])))]
    Add {
        /// amtool-style: rule=audio-loss-high, user_name=~^Room-, topic!=Town hall, meeting!~^9.
        #[arg(required = true, value_name = "MATCHER")]
        matchers: Vec<String>,
        /// How long, from now (2h, 90m).
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
        /// Until this time (RFC 3339: 2026-05-04T18:00:00Z).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Until the meeting of the one `meeting=ID` matcher ends (24 h at most).
        #[arg(long)]
        until_meeting_end: bool,
        /// Why (required).
        #[arg(long, required = true)]
        comment: String,
        /// Who [default: $USER].
        #[arg(long)]
        author: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List active, pending and recently expired silences.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// End silences now.
    Expire {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
}
