//! The real binary: one-shot commands, and a running service whose stdout
//! and stderr are read line by line (`OUT ...` / `ERR ...`), so a test can
//! wait for a log line with a timeout and stop the service with SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The built `qoswatch` binary, with the test's environment and directory.
pub fn qoswatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qoswatch"))
}

/// The binary in the crate root, without the developer's `RUST_LOG`: for
/// one-shot commands whose paths are relative to the repository.
pub fn in_root() -> Command {
    let mut c = qoswatch();
    c.current_dir(super::root());
    c.env_remove("RUST_LOG");
    c
}

/// `qoswatch ARGS` in the crate root (see [`in_root`]), stdin closed.
pub fn run_in_root(args: &[&str]) -> std::process::Output {
    in_root()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("qoswatch runs")
}

/// `qoswatch once -c CONFIG` (without `RUST_LOG`), run off the async
/// runtime so the test's mock servers keep answering; its output.
pub async fn once(config: &Path) -> std::process::Output {
    let config = config.to_str().expect("a UTF-8 path").to_owned();
    tokio::task::spawn_blocking(move || {
        qoswatch()
            .args(["once", "-c", &config])
            .env_remove("RUST_LOG")
            .output()
            .expect("qoswatch runs")
    })
    .await
    .expect("the command's thread")
}

/// A finished command's stdout as text.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A finished command's stderr as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `qoswatch run -c CONFIG` with `RUST_LOG` set.
pub fn run_command(config: &Path, rust_log: &str) -> Command {
    let mut cmd = qoswatch();
    cmd.args(["run", "-c", config.to_str().expect("a UTF-8 path")])
        .env("RUST_LOG", rust_log);
    cmd
}

/// A running qoswatch whose output is read by two threads. Dropping it
/// kills the process if it still runs, so a failing test leaves none behind.
pub struct Service {
    child: Child,
    rx: Receiver<String>,
    readers: Vec<JoinHandle<()>>,
    seen: Vec<String>,
    exited: Option<ExitStatus>,
}

fn pump(
    stream: impl Read + Send + 'static,
    prefix: &'static str,
    tx: Sender<String>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = tx.send(format!("{prefix}{line}"));
        }
    })
}

impl Service {
    /// Spawns `cmd` with stdout and stderr captured.
    pub fn spawn(mut cmd: Command) -> Service {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("qoswatch starts");
        let (tx, rx) = channel();
        let readers = vec![
            pump(child.stdout.take().unwrap(), "OUT ", tx.clone()),
            pump(child.stderr.take().unwrap(), "ERR ", tx),
        ];
        Service {
            child,
            rx,
            readers,
            seen: Vec::new(),
            exited: None,
        }
    }

    /// `qoswatch run -c CONFIG` with `RUST_LOG` and extra environment.
    pub fn run(config: &Path, rust_log: &str, env: &[(&str, &str)]) -> Service {
        let mut cmd = run_command(config, rust_log);
        cmd.envs(env.iter().copied());
        Service::spawn(cmd)
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Every line read so far (`OUT ...` or `ERR ...`), in the order read.
    pub fn lines(&mut self) -> &[String] {
        self.seen.extend(self.rx.try_iter());
        &self.seen
    }

    /// Waits up to `timeout` for a line containing all of `needles` and
    /// returns it. Lines seen before count too, so a test can wait for lines
    /// in any order. Stdout and stderr are read by two threads: a line of one
    /// may come before an earlier line of the other.
    pub fn wait_for(&mut self, needles: &[&str], timeout: Duration) -> Option<String> {
        let hit = |l: &String| needles.iter().all(|n| l.contains(n));
        if let Some(l) = self.seen.iter().find(|l| hit(l)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + timeout;
        while let Ok(line) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let found = hit(&line);
            self.seen.push(line);
            if found {
                return self.seen.last().cloned();
            }
        }
        None
    }

    /// [`Service::wait_for`], panicking with every line seen when no line
    /// comes.
    pub fn expect_line(&mut self, needles: &[&str], timeout: Duration) -> String {
        match self.wait_for(needles, timeout) {
            Some(l) => l,
            None => panic!(
                "no line with {needles:?} within {timeout:?}; seen: {:#?}",
                self.lines()
            ),
        }
    }

    /// The base URL of the HTTP endpoints (`http://127.0.0.1:PORT`), from
    /// the "listening on" log line.
    pub fn listen_url(&mut self, timeout: Duration) -> String {
        let line = self.expect_line(&["listening on http://"], timeout);
        let i = line.find("listening on http://").unwrap();
        let rest = &line[i + "listening on ".len()..];
        rest.split([' ', '"']).next().unwrap().to_owned()
    }

    /// The URL of the Zoom event receiver (`http://127.0.0.1:PORT/PATH`),
    /// from its "receiving Zoom events on" log line.
    pub fn events_url(&mut self, timeout: Duration) -> String {
        let line = self.expect_line(&["receiving Zoom events on http://"], timeout);
        let i = line.find("receiving Zoom events on ").unwrap();
        let rest = &line[i + "receiving Zoom events on ".len()..];
        rest.split([' ', '"']).next().unwrap().to_owned()
    }

    /// Sends SIGTERM and waits up to `within` for the exit; returns the exit
    /// code, or `None` if it did not exit in time (it is then killed). All
    /// output is read once it returns.
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        if self.exited.is_none() {
            signal("-TERM", self.child.id());
            let deadline = Instant::now() + within;
            while Instant::now() < deadline {
                if let Some(status) = self.child.try_wait().unwrap() {
                    self.exited = Some(status);
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.exited.is_none() {
                self.kill();
                return None;
            }
        }
        self.finish_reading();
        self.exited.and_then(|s| s.code())
    }

    /// Waits up to `within` for the process to exit on its own (a replay
    /// ends, a refused start); returns its exit code, or `None` if it still
    /// runs (it is then killed).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while self.exited.is_none() && Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.exited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.exited.is_none() {
            self.kill();
            return None;
        }
        self.finish_reading();
        self.exited.and_then(|s| s.code())
    }

    /// SIGKILL, as a crash would; waits for the exit and all output.
    pub fn kill(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = Some(self.child.wait().unwrap());
        }
        self.finish_reading();
    }

    /// After the exit: the readers end at end of file; keep what they read.
    fn finish_reading(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.seen.extend(self.rx.try_iter());
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `kill SIG PID`, as an operator would.
fn signal(sig: &str, pid: u32) {
    // A process that already exited is reported by the caller's wait.
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
}
