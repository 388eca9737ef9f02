//! Runtime: one pinned thread per chosen CPU, each with its own reactor and task queue.

use std::future::Future;
use std::io;
use std::sync::{mpsc, Arc, Once};
use std::thread;
use std::time::Duration;

use ringpoll_reactor::{DriverChoice, DriverKind, Reactor, StatsSnapshot};

use crate::blocking::{self, Pool, PoolConfig};
use crate::executor::Executor;
use crate::handle::{CoreRef, Handle, Shared};
use crate::join::JoinHandle;
use crate::mailbox::Msg;
use crate::sched_policy::Policy;

/// Configures a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    cpus: Option<Vec<usize>>,
    driver: Option<DriverChoice>,
    /// The blocking pool's settings (its `blocking_*` methods live in `blocking.rs`).
    pub(crate) blocking: PoolConfig,
    spin: Duration,
    batch_scheduling: bool,
}

impl Builder {
    /// The CPUs to run on, one pinned core thread each (default: every CPU the process may
    /// use). Core `i` of the runtime runs on the i-th CPU listed.
    pub fn cores(mut self, cpus: impl IntoIterator<Item = usize>) -> Builder {
        self.cpus = Some(cpus.into_iter().collect());
        self
    }

    /// The driver (default: `RINGPOLL_DRIVER`, else `auto`).
    pub fn driver(mut self, driver: DriverChoice) -> Builder {
        self.driver = Some(driver);
        self
    }

    /// Polls for up to `spin` (default zero) before a core with nothing to do goes to sleep.
    ///
    /// A wake that lands while a core spins costs no eventfd write and no futex wake-up, so
    /// a cross-core round trip drops from the kernel's wake latency (tens of microseconds on
    /// a VM) to a few microseconds. The price is CPU: an idle core burns up to `spin` after
    /// each piece of work. For latency-sensitive services with cores of their own; a few
    /// tens of microseconds is plenty, and more than a millisecond is rarely worth it.
    pub fn spin_before_park(mut self, spin: Duration) -> Builder {
        self.spin = spin;
        self
    }

    /// Runs the core threads under Linux's `SCHED_BATCH` policy (default: off, the normal
    /// `SCHED_OTHER`; the nice level is kept either way).
    ///
    /// A batch thread woken while its CPU runs another thread does not preempt it: it waits
    /// for that thread to sleep or for the scheduler's tick, so each wake finds more work
    /// queued, and threads sharing a CPU trade it in fewer, longer turns. That suits
    /// throughput services whose cores share CPUs with their clients or with each other: in
    /// `benches/kv_counters.sh`, two kv shards on CPUs 0 and 1 with redis-benchmark on CPU 1
    /// went from 0.29 to 0.08 voluntary context switches and from about 11,000 to 7,700 ns of
    /// CPU per request at pipeline 1. The price is latency whenever a CPU runs other work: a
    /// woken core waits its turn behind it, every time another core wakes it. Two kv shards
    /// beside a build (load average 6-8) answered one client in 2.0 ms on average (p99 8 ms)
    /// under `SCHED_BATCH`, and in 0.07-0.11 ms under the normal policy; so kv itself runs
    /// under the normal policy, and only its CPU benchmarks set this one. A core alone on
    /// its CPU runs as before, since there is nothing there to preempt. Blocking-pool threads
    /// keep the policy of the thread that calls [`Builder::build`].
    ///
    /// ```no_run
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0, 1]).batch_scheduling(true).build()?;
    /// # drop(rt);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn batch_scheduling(mut self, batch: bool) -> Builder {
        self.batch_scheduling = batch;
        self
    }

    /// Starts the core threads. Fails if a CPU cannot be used, or if the driver asked for
    /// cannot run here (`uring` on a kernel or sandbox without io_uring).
    pub fn build(mut self) -> io::Result<Runtime> {
        let choice = match self.driver {
            Some(choice) => choice,
            None => DriverChoice::from_env()?,
        };
        let (kind, fallback) = choice.resolve()?;
        report_fallback(fallback);
        let allowed = allowed_cpus()?;
        let cpus = self.cpus.take().unwrap_or_else(|| allowed.clone());
        if cpus.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a runtime needs at least one CPU"));
        }
        if let Some(cpu) = cpus.iter().find(|c| !allowed.contains(c)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CPU {cpu} is not available to this process (allowed: {allowed:?})"),
            ));
        }
        let pool = Pool::new(&self.blocking)?;
        let (mut cores, mut threads) = (Vec::with_capacity(cpus.len()), Vec::with_capacity(cpus.len()));
        for (index, &cpu) in cpus.iter().enumerate() {
            // A core that fails to start stops the ones started before it (Runtime's drop).
            let started = start_core(index, cpu, kind, pool.clone(), &self);
            let (core, thread) = match started {
                Ok(started) => started,
                Err(e) => {
                    drop(Runtime {
                        handle: Handle::new(Shared::new(kind, cores, pool.clone())),
                        threads,
                        pool,
                        finished: false,
                    });
                    return Err(e);
                }
            };
            cores.push(core);
            threads.push(thread);
        }
        let handle = Handle::new(Shared::new(kind, cores, pool.clone()));
        for index in 0..handle.core_count() {
            // Ahead of any spawn in the mailbox, so Handle::current works in every task.
            let installed = handle.clone();
            handle.mailbox(index).send(Msg::Run(Box::new(move || installed.install())));
        }
        Ok(Runtime { handle, threads, pool, finished: false })
    }
}

/// Says once per process why `auto` chose epoll.
pub(crate) fn report_fallback(reason: Option<io::Error>) {
    static ONCE: Once = Once::new();
    if let Some(reason) = reason {
        ONCE.call_once(|| eprintln!("ringpoll: io_uring unavailable ({reason}); using epoll"));
    }
}

fn allowed_cpus() -> io::Result<Vec<usize>> {
    let ids = core_affinity::get_core_ids().ok_or_else(|| io::Error::other("cannot read the CPU affinity mask"))?;
    Ok(ids.into_iter().map(|c| c.id).collect())
}

fn start_core(
    index: usize,
    cpu: usize,
    kind: DriverKind,
    pool: Arc<Pool>,
    builder: &Builder,
) -> io::Result<(CoreRef, thread::JoinHandle<()>)> {
    let (spin, batch) = (builder.spin, builder.batch_scheduling);
    let (ready_tx, ready_rx) = mpsc::channel();
    let thread = thread::Builder::new().name(format!("ringpoll-core-{index}")).spawn(move || {
        let ex = match setup_core(index, cpu, kind, batch) {
            Ok(ex) => ex,
            Err(e) => return drop(ready_tx.send(Err(e))),
        };
        ex.set_spin(spin);
        let _guard = ex.enter();
        let _pool = blocking::enter(pool);
        let reactor = ex.reactor();
        let _ = ready_tx.send(Ok((ex.mailbox().clone(), reactor.stats().clone())));
        if let Err(e) = ex.run(|| false, || false) {
            eprintln!("ringpoll: core {index} (cpu {cpu}) stopped: {e}");
        }
        ex.drop_all_tasks();
    })?;
    match ready_rx.recv() {
        Ok(Ok((mailbox, stats))) => Ok((CoreRef { cpu, mailbox, stats }, thread)),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(io::Error::other(format!("ringpoll core {index} died during start-up"))),
    }
}

fn setup_core(index: usize, cpu: usize, kind: DriverKind, batch: bool) -> io::Result<std::rc::Rc<Executor>> {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("cannot pin a core thread to CPU {cpu}")));
    }
    if batch {
        Policy::BATCH
            .apply_to_calling_thread()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run a core thread under SCHED_BATCH: {e}")))?;
    }
    Ok(Executor::new(index, Reactor::new(kind)?))
}

/// A thread-per-core runtime: one pinned thread per CPU, each running its own reactor and
/// task queue. Tasks never move between cores; other threads reach a core through its
/// mailbox. A [`Handle`] is the cloneable, `Send + Sync` way to reach the cores.
///
/// ```no_run
/// use ringpoll::Runtime;
///
/// let rt = Runtime::builder().cores([0]).build()?;
/// let answer = rt.spawn_on(0, || async { 6 * 7 }).join().unwrap();
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Shutdown
///
/// However the runtime ends, its blocking pool refuses work once its cores have stopped: a
/// job queued later, through a kept [`Handle`], is dropped unrun and its handle completes
/// with [`JoinError::Cancelled`](crate::JoinError::Cancelled), and the pool's idle threads
/// exit then, not after their keep-alive.
///
/// - Dropping the runtime (or [`Runtime::shutdown`]) with no graceful shutdown under way
///   stops every core at once (their tasks are dropped) and joins them; blocking jobs still
///   running are not waited for: their threads finish them, detached, as with tokio's
///   `shutdown_background`. Unlike tokio, whose drop waits for blocking jobs without bound, a
///   drop never waits for a job that may never return; give jobs time with a graceful
///   shutdown (tokio's `shutdown_timeout`).
/// - Dropping the runtime while a graceful shutdown is under way
///   ([`Handle::shutdown_gracefully`], from a task, a blocking job or any thread) lets it
///   finish as [`Runtime::wait`] does: tasks get its grace, blocking jobs what is left of
///   it, and the drop returns once the grace is over at the latest. Only a grace of
///   `Duration::MAX`, which asks for no end, can make it wait for ever (for tasks or jobs
///   that never end). [`Runtime::shutdown`] stops at once even then.
/// - Dropped on one of its own cores, the runtime cannot wait there (joining would wait for
///   the very thread that drops): the cores are told to stop (or left to the graceful
///   shutdown under way) and a thread of its own joins them and then closes the blocking
///   pool. Dropped in one of its blocking jobs, it waits as on any thread but never for that
///   job.
pub struct Runtime {
    handle: Handle,
    threads: Vec<thread::JoinHandle<()>>,
    pool: Arc<Pool>,
    /// Set once the cores were joined (or handed to a thread that joins them) and the pool
    /// closed, so the drop after `wait` or `shutdown` has nothing left to do.
    finished: bool,
}

impl Runtime {
    /// A builder; see [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A cloneable, `Send + Sync` handle to this runtime.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// How many cores run.
    pub fn core_count(&self) -> usize {
        self.handle.core_count()
    }

    /// The CPU core `index` is pinned to.
    #[track_caller]
    pub fn cpu_of(&self, index: usize) -> usize {
        self.handle.cpu_of(index)
    }

    /// The driver every core runs.
    pub fn driver(&self) -> DriverKind {
        self.handle.driver()
    }

    /// Runs `make()` on core `index` (from any thread) and returns a handle to the future it
    /// makes; that future may be `!Send`.
    ///
    /// # Panics
    /// If `index` is not below [`Runtime::core_count`].
    #[track_caller]
    pub fn spawn_on<F, Fut>(&self, index: usize, make: F) -> JoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.handle.spawn_on(index, make)
    }

    /// Starts the same server on every core: `make(index)` runs on each core. With listeners
    /// bound with SO_REUSEPORT on each core, the kernel shards connections between them.
    pub fn run_on_each_core<F, Fut>(&self, make: F) -> Vec<JoinHandle<Fut::Output>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.handle.run_on_each_core(make)
    }

    /// Per-core counters, by core index.
    pub fn stats(&self) -> Vec<StatsSnapshot> {
        self.handle.stats()
    }

    /// Stops every core at once, dropping its tasks, and joins the threads, even while a
    /// graceful shutdown is under way. Blocking jobs still running are not waited for (their
    /// threads finish them, detached), as with tokio's `shutdown_background`.
    pub fn shutdown(mut self) {
        // Claimed with no grace, so a later Handle::shutdown_gracefully does nothing.
        let _ = self.handle.shared().claim_shutdown(Duration::ZERO);
        self.handle.shared().stop();
        self.finish(false);
    }

    /// Shuts down gracefully: every listener stops accepting (its accept fails with a
    /// shutdown error, see `ringpoll::shutdown`), tasks get up to `grace` to finish, then what
    /// is left is cancelled and every core thread joined; then jobs of the blocking pool get
    /// what is left of `grace` (a stuck one is left behind, never waited for), as tokio's
    /// `shutdown_timeout` gives them its timeout. It returns once `grace` is over at the
    /// latest (plus the time a core takes to drop its tasks). Returns how many tasks were
    /// cancelled (0 if a [`Handle`] had started the shutdown already; this then waits for
    /// it, with the first request's grace).
    ///
    /// Called on one of the runtime's own cores it cannot wait there: it starts the shutdown
    /// as [`Handle::shutdown_gracefully`] does and returns 0 at once, and the cores stop by
    /// themselves once the grace is over.
    pub fn shutdown_gracefully(mut self, grace: Duration) -> u64 {
        if self.on_own_core() {
            // Waiting here would stall this core for the whole grace: its tasks could not
            // finish in time, the calling task would count itself as one to wait for, and a
            // grace of Duration::MAX would never end. The handle's shutdown waits on a thread
            // of its own, and the drop hands the rest to another (see `finish`).
            self.handle.shutdown_gracefully(grace);
            return 0;
        }
        let cancelled = self.handle.shared().shutdown_gracefully(grace);
        self.finish(true);
        cancelled.unwrap_or(0)
    }

    /// Waits until the cores stop (after [`Handle::shutdown_gracefully`]) and joins them, then
    /// waits for the blocking pool's jobs (queued or running) for what is left of that
    /// shutdown's grace: a job still running then is left behind, detached, never waited for,
    /// so this returns once the grace is over at the latest. With no shutdown started, it
    /// waits until one is (a task or a thread holding a [`Handle`] may start it). Called on
    /// one of the runtime's own cores it returns at once, as a drop there does.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0]).build()?;
    /// rt.handle().shutdown_gracefully(Duration::from_secs(1));
    /// rt.wait(); // at most about a second, whatever the tasks and blocking jobs do
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(mut self) {
        if self.on_own_core() {
            // Nothing may wait here: the drop does what it can (stops the cores unless a
            // graceful shutdown is under way, and leaves the joining to a thread of its own).
            return;
        }
        self.finish(true);
    }

    /// Joins the cores, then closes the blocking pool, giving its jobs what is left of the
    /// graceful shutdown's grace if `wait_for_pool` (none if no such shutdown started). On
    /// one of the runtime's own cores, which must neither block nor join itself, a thread of
    /// its own does both. Runs once.
    fn finish(&mut self, wait_for_pool: bool) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let on_own_core = self.on_own_core();
        let threads = std::mem::take(&mut self.threads);
        if !on_own_core {
            return join_then_close(threads, &self.pool, self.handle.shared(), wait_for_pool);
        }
        let (pool, handle) = (self.pool.clone(), self.handle.clone());
        let started = thread::Builder::new()
            .name("ringpoll-finish".into())
            .spawn(move || join_then_close(threads, &pool, handle.shared(), wait_for_pool));
        if started.is_err() {
            // No thread to wait on: the cores exit by themselves (detached), and the pool
            // closes now rather than never.
            self.pool.shutdown(Duration::ZERO);
        }
    }

    /// Whether the calling thread is one of this runtime's cores.
    fn on_own_core(&self) -> bool {
        let me = thread::current().id();
        self.threads.iter().any(|t| t.thread().id() == me)
    }
}

/// Joins the core threads, then shuts the blocking pool down: the pool takes work until the
/// cores have stopped, so a task finishing in a graceful shutdown's grace may still use it.
fn join_then_close(threads: Vec<thread::JoinHandle<()>>, pool: &Pool, shared: &Shared, wait_for_pool: bool) {
    for t in threads {
        let _ = t.join();
    }
    // The grace counts from the shutdown's start, so jobs had all of it to run and this
    // never waits past it.
    pool.shutdown(if wait_for_pool { shared.grace_left() } else { Duration::ZERO });
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Claiming the shutdown with no grace tells whether a graceful one is under way
        // (then it is let finish, as `wait` does) and, if not, keeps one from starting now.
        if self.handle.shared().claim_shutdown(Duration::ZERO).is_some() {
            self.handle.shared().stop();
        }
        self.finish(true);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.handle, f)
    }
}
