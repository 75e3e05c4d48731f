//! Command-line definitions (clap). Usage errors exit with code 2.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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
