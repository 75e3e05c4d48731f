//! The one-shot commands (`check`, `eval`, `test`, `notify-test`) as library functions that
//! write to the given output and return the exit code, so tests can run them
//! without a process.

pub mod batch;
pub mod check;
pub mod eval;
pub mod notify_test;
pub mod test;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: invalid input, failing tests.
pub const EXIT_FAIL: i32 = 1;
