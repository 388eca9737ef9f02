//! What `#[ringpoll::main]`, `#[ringpoll::test]`, `join!`, `try_join!` and `select!` expand
//! to call. Not a public API: the names may change with the macros.

use std::future::Future;

use crate::{DriverChoice, Runtime};

pub use crate::join::{poll_join, poll_try_join};
pub use crate::select::start_branch;
pub use ringpoll_reactor::budget::poll_budget_available;

/// Runs `future` on a one-core runtime on this thread: the driver asked for, or the one
/// `RINGPOLL_DRIVER` picks.
pub fn block_on<F: Future>(driver: Option<DriverChoice>, future: F) -> F::Output {
    let choice = driver.unwrap_or_else(|| DriverChoice::from_env().unwrap_or_else(|e| panic!("ringpoll: {e}")));
    ringpoll_core::try_block_on(choice, future).unwrap_or_else(|e| panic!("ringpoll: {e}"))
}

/// Runs `body` once on each of `cores` (one pinned thread per CPU) and combines the outputs.
pub fn on_cores<F, Fut>(cores: &[usize], driver: Option<DriverChoice>, body: F) -> Fut::Output
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future + 'static,
    Fut::Output: CoreOutput + Send + 'static,
{
    let mut builder = Runtime::builder().cores(cores.iter().copied());
    if let Some(driver) = driver {
        builder = builder.driver(driver);
    }
    let rt = builder.build().unwrap_or_else(|e| panic!("ringpoll: {e}"));
    let outputs = rt
        .run_on_each_core(body)
        .into_iter()
        .enumerate()
        .map(|(core, handle)| handle.join().unwrap_or_else(|e| panic!("ringpoll: core {core}: {e}")));
    let outputs: Vec<_> = outputs.collect();
    rt.shutdown();
    CoreOutput::combine(outputs)
}

/// How `#[ringpoll::main(cores = ..)]` makes one output of each core's.
pub trait CoreOutput: Sized {
    /// One output for all cores; `outputs` holds one per core, in core order, never none.
    fn combine(outputs: Vec<Self>) -> Self;
}

impl CoreOutput for () {
    fn combine(_: Vec<()>) {}
}

/// The first error, else the first core's value.
impl<T, E> CoreOutput for Result<T, E> {
    fn combine(outputs: Vec<Self>) -> Self {
        let mut first_ok = None;
        for output in outputs {
            match output {
                Err(e) => return Err(e),
                Ok(v) if first_ok.is_none() => first_ok = Some(Ok(v)),
                Ok(_) => {}
            }
        }
        first_ok.expect("a runtime has at least one core")
    }
}
