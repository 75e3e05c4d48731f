//! The `qoswatch` binary: parse the command line, start logging, hand off.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use qoswatch::cli::{Cli, Command, LogFormat};
use qoswatch::commands::{admin, check, eval, notify_test, test};
use qoswatch::service;
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            // Our errors carry their causes in their own text; `{e:#}` would
            // repeat them ("X: X").
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let code = match cli.command {
        Command::Check { config, paths } => {
            let config = match (config, paths.is_empty()) {
                (Some(c), _) => Some(c),
                (None, true) => Some(std::path::PathBuf::from("qoswatch.yaml")),
                (None, false) => None,
            };
            check::run(config.as_deref(), &paths, &mut out)?
        }
        Command::Run { config } => {
            // One thread: the work is a stream of small I/O-bound steps, and
            // a multi-threaded scheduler spends more CPU waking its workers
            // than it saves (BENCHMARKS.md, load run).
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let cancel = tokio_util::sync::CancellationToken::new();
                let (reload_tx, reloads) = tokio::sync::mpsc::channel(8);
                spawn_signal_handlers(cancel.clone(), reload_tx);
                service::run(config, run_options(), cancel, reloads).await
            })?;
            0
        }
        Command::Once { config, dry_run } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let ok = runtime.block_on(service::once(
                config,
                dry_run,
                service::RunOptions::default(),
            ))?;
            if ok { 0 } else { 1 }
        }
        Command::NotifyTest { config, notifiers } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let now = qoswatch::qos::Timestamp(chrono::Utc::now().timestamp());
            match runtime.block_on(notify_test::run(&config, &notifiers, now, &mut out)) {
                Ok(code) => code,
                Err(notify_test::NotifyTestError::UnknownNotifier(e)) => {
                    // A name the config lacks is a usage error.
                    out.flush()?;
                    eprintln!("error: {e}");
                    2
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Alerts { remote } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            admin_exit(runtime.block_on(admin::alerts(&remote, &mut out)), &mut out)?
        }
        Command::Silence { command } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            admin_exit(
                runtime.block_on(admin::silence(&command, &mut out)),
                &mut out,
            )?
        }
        Command::Test { config, files } => test::run(&files, config.as_deref(), &mut out)?,
        Command::Eval {
            rules,
            meeting,
            format,
            config,
            files,
        } => {
            let args = eval::EvalArgs {
                rules,
                meeting,
                format,
                files,
                config,
            };
            eval::run(
                &args,
                &mut std::io::stdin().lock(),
                &mut out,
                &mut std::io::stderr(),
            )?
        }
    };
    out.flush()?;
    Ok(code)
}

/// An admin command's exit code; its error on stderr (a usage error
/// exits 2, the rest 1).
fn admin_exit(result: Result<i32, admin::AdminError>, out: &mut dyn Write) -> anyhow::Result<i32> {
    match result {
        Ok(code) => Ok(code),
        Err(e) => {
            out.flush()?;
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}

/// The service's knobs: the product's defaults, except what an end-to-end
/// test shortens through the environment. Deliberately undocumented:
/// `QOSWATCH_TEST_NOTIFIER_FAILING_AFTER` (humantime, e.g. `3s`) replaces
/// the 5 minutes a notifier may go without a success while messages wait
/// before `qoswatch-notifier-failing` fires; a test cannot wait 5 minutes.
fn run_options() -> service::RunOptions {
    let mut options = service::RunOptions::default();
    if let Ok(text) = std::env::var("QOSWATCH_TEST_NOTIFIER_FAILING_AFTER") {
        match humantime::parse_duration(text.trim()) {
            Ok(d) => options.delivery.failing_after = d,
            Err(e) => tracing::warn!("ignoring QOSWATCH_TEST_NOTIFIER_FAILING_AFTER={text:?}: {e}"),
        }
    }
    options
}

/// SIGTERM and SIGINT cancel `cancel` (a graceful stop); SIGHUP asks for
/// a reload of config and rules.
fn spawn_signal_handlers(
    cancel: tokio_util::sync::CancellationToken,
    reload: tokio::sync::mpsc::Sender<service::Reload>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered here, before the service starts: a signal that comes
        // before a spawned task first runs would otherwise take its default
        // action and kill the process.
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("cannot install signal handlers; stop with SIGKILL");
            return;
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
            }
            cancel.cancel();
        });
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading config and rules");
                if reload.send(service::Reload::ConfigAndRules).await.is_err() {
                    return;
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        let _ = reload;
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
        });
    }
}

/// See `mimalloc` in Cargo.toml: measured in BENCHMARKS.md's load run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
