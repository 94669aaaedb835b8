//! Waiting for something the app does in the background (a notify landing, a seat given, a
//! refund settling): poll until it is so, and fail with what was last seen once the deadline passes.

use std::fmt::Display;
use std::time::Duration;

/// Long enough for anything the tests wait for on two busy cores; reached only when a test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

const EVERY: Duration = Duration::from_millis(20);

/// What a probe answers: ready with a value, or not yet (and why, for the failure message).
pub trait Ready {
    type Value;
    fn ready(self) -> Result<Self::Value, String>;
}

impl Ready for bool {
    type Value = ();
    fn ready(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("still false".into())
        }
    }
}

impl<T> Ready for Option<T> {
    type Value = T;
    fn ready(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".into())
    }
}

impl<T, E: Display> Ready for Result<T, E> {
    type Value = T;
    fn ready(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Runs `probe` until it is ready and returns its value; panics naming `what` and the probe's
/// last answer when [`DEADLINE`] passes first.
pub async fn wait_until<R: Ready>(what: &str, mut probe: impl AsyncFnMut() -> R) -> R::Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let last = match probe().await.ready() {
            Ok(value) => return value,
            Err(last) => last,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not within {DEADLINE:?}; last seen: {last}");
        }
        tokio::time::sleep(EVERY).await;
    }
}
