//! Helpers shared by the harness's integration tests.

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::fmt;

/// A test failure printed with `Display`: harness errors carry multi-line
/// command output that `Debug` would escape into one unreadable line.
pub struct Failure(String);

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: fmt::Display> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure(error.to_string())
    }
}

pub type TestResult = Result<(), Failure>;

pub fn at(instant: &str) -> jiff::Timestamp {
    instant
        .parse()
        .unwrap_or_else(|error| panic!("bad test instant {instant}: {error}"))
}
