//! The blocking pool: helper threads for work that would stall a core (a synchronous library,
//! a `std::fs` call, getaddrinfo).
//!
//! One pool per [`Runtime`](crate::Runtime), shared by its cores ([`block_on`](crate::block_on)
//! has its own). Threads start on demand up to a bound, and a thread idle for the keep-alive
//! retires, so a pool that is never used costs nothing. A job's output reaches its
//! [`JoinHandle`]; the waiting task is woken through its own waker, which from a foreign
//! thread is its core's mailbox and deduplicated eventfd (netpollBreak): the task resumes on
//! its own core, like any cross-thread wake.
//!
//! Threads spawned by a pinned core thread would inherit its one-CPU affinity and compete
//! with the reactor on that CPU; every pool thread therefore sets its affinity to the CPU set
//! the pool was built with (the builder's thread's, or [`Builder::blocking_cpus`]).
//!
//! # Why pool threads are not pinned to one CPU each
//!
//! tokio leaves its `spawn_blocking` threads unpinned; glommio gives each executor its own
//! blocking pool, placed by default as the executor is (a core pinned to CPU 3 gets its
//! blocking thread on CPU 3). ringpoll keeps the first, bounded to a set of CPUs, because:
//!
//! - a blocking job is what a core must not run: a `std::fs` call that waits on a disk, a
//!   synchronous library that computes for milliseconds. On its core's CPU it would take
//!   half that CPU from the reactor (the scheduler shares a CPU between its runnable
//!   threads), the latency thread-per-core exists to avoid;
//! - the pool is one per runtime, shared by the cores: a job goes to whichever thread is
//!   idle, so there is no one core a thread belongs to, and pinning threads one per CPU would
//!   leave a busy CPU's jobs waiting while another CPU's thread idles;
//! - the scheduler moving a pool thread within its set is what a thread that mostly sleeps
//!   in the kernel wants; its cache warmth is not what a blocking call is limited by.
//!
//! A deployment that keeps its cores' CPUs for the cores alone (isolated CPUs, one core each)
//! says so with [`Builder::blocking_cpus`] naming the other CPUs: the pool then never runs
//! where a core does.
//!
//! Queue protocol: a job is pushed under the lock; it wakes one idle thread if there are at
//! least as many idle threads as queued jobs (each woken thread takes one), and otherwise
//! starts a thread if the bound allows. A job, once accepted, runs: shutdown stops idle
//! threads from waiting for more but lets them empty the queue, so a write the caller started
//! is never silently skipped. A job queued after the shutdown (through a [`Handle`] that
//! outlived its runtime, or by a job still running) is refused, as by tokio's pool: it is
//! dropped unrun on the calling thread and its handle completes with
//! [`JoinError::Cancelled`], and no thread is started for it. Shutdown waits for the queue and
//! the running jobs up to its grace period, then returns and leaves a stuck job's thread
//! behind, detached, rather than hang. Idle threads exit at the shutdown, so a handle kept
//! afterwards holds the pool's bookkeeping but no thread.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::handle::Handle;
use crate::join::{JoinError, JoinHandle, JoinState};
use crate::runtime::Builder;
use crate::sched_policy::Policy;
use crate::scoped::{self, Scoped};

/// Default bound on pool threads (tokio's is 512; a thread-per-core service wants far fewer).
const DEFAULT_MAX_THREADS: usize = 64;
/// Default time an idle pool thread waits for work before it retires.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
const DEFAULT_NAME: &str = "ringpoll-blocking";

type Job = Box<dyn FnOnce() + Send>;

/// How a runtime's blocking pool is made; set through [`Builder`].
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    max_threads: usize,
    keep_alive: Duration,
    name: String,
    cpus: Option<Vec<usize>>,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            max_threads: DEFAULT_MAX_THREADS,
            keep_alive: DEFAULT_KEEP_ALIVE,
            name: DEFAULT_NAME.into(),
            cpus: None,
        }
    }
}

impl Builder {
    /// The most threads the blocking pool runs at once (default 64); more jobs wait in its
    /// queue. See [`spawn_blocking`].
    ///
    /// # Panics
    /// If `max` is zero.
    pub fn blocking_threads(mut self, max: usize) -> Builder {
        assert!(max > 0, "the blocking pool needs at least one thread");
        self.blocking.max_threads = max;
        self
    }

    /// How long an idle blocking-pool thread waits for work before it exits (default 10 s).
    pub fn blocking_keep_alive(mut self, idle: Duration) -> Builder {
        self.blocking.keep_alive = idle;
        self
    }

    /// The name prefix of blocking-pool threads (default `ringpoll-blocking`; threads are
    /// `PREFIX-N`).
    pub fn blocking_thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.blocking.name = prefix.into();
        self
    }

    /// Pins blocking-pool threads to these CPUs. By default they may run on every CPU the
    /// thread calling [`Builder::build`] may use, cores' CPUs included, but are never pinned
    /// to one core's CPU.
    pub fn blocking_cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Builder {
        self.blocking.cpus = Some(cpus.into_iter().collect());
        self
    }
}

/// Runs `f` on the current runtime's blocking pool and returns a handle to its output, so a
/// task can wait for blocking work without stalling its core. The task is woken on its own
/// core when `f` returns. A panic in `f` is [`JoinError::Panic`]. [`JoinHandle::abort`]
/// stops a job that has not started yet ([`JoinError::Cancelled`]); one that is running runs
/// to the end. While `f` runs, [`Handle::current`] on its thread is the runtime's handle
/// (under [`block_on`](crate::block_on), which has no runtime, there is none), and
/// `spawn_blocking` queues on the same pool, so a job may split its work or wait for
/// another's with [`JoinHandle::join`]. A joining job holds its thread meanwhile: if every
/// pool thread ([`Builder::blocking_threads`]) waits so, none is left to run what they wait for.
/// Once the pool has shut down (its runtime stopped, or `block_on` returned), a job still
/// running that queues another gets a handle that completes with [`JoinError::Cancelled`]; the
/// new job is dropped unrun.
///
/// ```
/// # ringpoll::block_on(async {
/// let len = ringpoll::spawn_blocking(|| std::fs::read("/proc/self/stat").map(|b| b.len()))
///     .await
///     .expect("no panic")?;
/// assert!(len > 0);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
///
/// # Panics
/// Outside a ringpoll core (a [`Runtime`](crate::Runtime) thread or
/// [`block_on`](crate::block_on)) and its blocking jobs; other threads use
/// [`Handle::spawn_blocking`].
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let pool = current_pool().expect("ringpoll::spawn_blocking called outside a ringpoll core or blocking job");
    // The caller's handle (a core's, or the one its job runs with), so the job can reach the
    // runtime as tokio's can.
    queue(&pool, Handle::try_current(), f)
}

impl Handle {
    /// Runs `f` on this runtime's blocking pool, from any thread: a core, a blocking job or a
    /// thread the runtime does not know (tokio's `Handle::spawn_blocking`). Otherwise as
    /// [`spawn_blocking`]: while `f` runs, [`Handle::current`] is this handle. The returned
    /// handle can be awaited on any core, or joined on a thread that is not a core.
    ///
    /// A job queued after the runtime has shut down (dropped, or its [`Runtime::wait`] or
    /// [`Runtime::shutdown_gracefully`] returned) is not run, as with tokio: it is dropped at
    /// once, on the calling thread, and the returned handle completes with
    /// [`JoinError::Cancelled`], whether it is awaited or joined.
    ///
    /// [`Runtime::wait`]: crate::Runtime::wait
    /// [`Runtime::shutdown_gracefully`]: crate::Runtime::shutdown_gracefully
    ///
    /// ```no_run
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0]).build()?;
    /// let handle = rt.handle().clone();
    /// // A thread of the application's own hands its blocking work to the runtime's pool...
    /// let job = std::thread::spawn(move || handle.spawn_blocking(|| std::fs::read("/etc/hostname")))
    ///     .join()
    ///     .unwrap();
    /// // ...and a task on core 0 waits for it.
    /// let len = rt.spawn_on(0, || async move { job.await.map(|read| read.map(|b| b.len())) });
    /// println!("{} bytes", len.join().unwrap().unwrap()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        queue(&self.shared().pool, Some(self.clone()), f)
    }
}

/// Queues `f` on `pool`; `handle` is current on the pool thread while `f` runs.
fn queue<F, T>(pool: &Arc<Pool>, handle: Option<Handle>, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let join = Arc::new(JoinState::new());
    // Weak: a queued job must not keep its pool alive (the pool owns the queue it sits in).
    let job = BlockingJob { f: Some(f), join: join.clone(), handle, pool: Arc::downgrade(pool) };
    pool.execute(Box::new(move || job.run()));
    // No task to wake on abort: the job checks the flag when a pool thread takes it. The
    // output's waiter is woken through whatever waker it polled with (a task's, which its own
    // core runs, or a parked thread's), so any thread may wait for it.
    JoinHandle::blocking(join)
}

/// A job and its handle's slot. Dropped without running (its handle aborted, or no thread
/// could be started), it reports [`JoinError::Cancelled`] rather than leave the handle waiting.
struct BlockingJob<F, T> {
    f: Option<F>,
    join: Arc<JoinState<T>>,
    /// The spawning runtime's handle, current on the pool thread while `f` runs.
    handle: Option<Handle>,
    /// The pool the job runs on, current while `f` runs so `spawn_blocking` works there too
    /// (under `block_on` there is no handle to find it through).
    pool: Weak<Pool>,
}

impl<F: FnOnce() -> T, T> BlockingJob<F, T> {
    fn run(mut self) {
        if self.join.is_aborted() {
            return;
        }
        let f = self.f.take().expect("a job runs once");
        let _current = Handle::enter(self.handle.take());
        let _pool = self.pool.upgrade().map(enter);
        self.join.complete(catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::Panic));
    }
}

impl<F, T> Drop for BlockingJob<F, T> {
    fn drop(&mut self) {
        if self.f.take().is_some() {
            self.join.complete(Err(JoinError::Cancelled));
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Pool>>> = const { RefCell::new(None) };
}

thread_local! {
    /// The pool whose thread this is (null on other threads), so a shutdown called from one
    /// of its own jobs does not wait for the thread that calls it.
    static POOL_OF_THIS_THREAD: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
}

fn current_pool() -> Option<Arc<Pool>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Makes `pool` the calling thread's blocking pool (a core's, or a job's while it runs)
/// until the guard drops, which restores the one before.
pub(crate) fn enter(pool: Arc<Pool>) -> Scoped<Arc<Pool>> {
    scoped::set(&CURRENT, Some(pool))
}

/// A bounded pool of helper threads; see the module docs.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued for an idle thread, and at shutdown.
    work: Condvar,
    /// Signalled when a thread exits.
    exited: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    name: String,
    cpus: libc::cpu_set_t,
    /// The policy of the thread that built the runtime, not that of the core a pool thread
    /// happens to start from (see `sched_policy.rs`).
    policy: Policy,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    shutdown: bool,
    spawned: usize,
}

impl Pool {
    pub(crate) fn new(config: &PoolConfig) -> io::Result<Arc<Pool>> {
        let cpus = match &config.cpus {
            Some(list) => cpu_set(list)?,
            None => calling_thread_cpus()?,
        };
        let shared = Shared {
            state: Mutex::default(),
            work: Condvar::new(),
            exited: Condvar::new(),
            max_threads: config.max_threads,
            keep_alive: config.keep_alive,
            name: config.name.clone(),
            cpus,
            policy: Policy::of_calling_thread()?,
        };
        Ok(Arc::new(Pool { shared: Arc::new(shared) }))
    }

    /// Queues `job`, waking an idle thread or starting one; after [`Pool::shutdown`], drops
    /// it unrun instead (its handle says Cancelled), as tokio's pool refuses work once shut.
    fn execute(&self, job: Job) {
        let mut state = self.shared.lock();
        if state.shutdown {
            drop(state);
            // Outside the lock: the job may hold anything, the last handle of this pool's
            // runtime or the runtime itself, whose drops lock the pool again.
            drop(job);
            return;
        }
        state.queue.push_back(job);
        if state.queue.len() <= state.idle {
            self.shared.work.notify_one();
            return;
        }
        if state.threads >= self.shared.max_threads {
            return;
        }
        let id = state.spawned;
        let shared = self.shared.clone();
        let started = thread::Builder::new().name(format!("{}-{id}", self.shared.name)).spawn(move || shared.work());
        match started {
            Ok(_) => {
                state.threads += 1;
                state.spawned += 1;
            }
            // With no thread to run it, the job would wait forever: drop it (its handle says
            // Cancelled). With threads running, it waits its turn.
            Err(_) if state.threads == 0 => {
                let job = state.queue.pop_back();
                drop(state);
                drop(job);
            }
            Err(_) => {}
        }
    }

    /// Stops idle threads and waits up to `grace` for the queue and the running jobs; a
    /// thread still busy then is left to finish on its own. Returns whether every thread (but
    /// the calling one, if it is the pool's) exited in time.
    pub(crate) fn shutdown(&self, grace: Duration) -> bool {
        let deadline = Deadline::after(grace);
        // A job of this pool that shuts it down (a Runtime shut down from spawn_blocking)
        // runs on one of its threads, which cannot exit while it waits here: without this it
        // would wait out the whole grace for itself, and for ever with Duration::MAX.
        let me = POOL_OF_THIS_THREAD.with(|p| p.get());
        let own = usize::from(std::ptr::eq(me, Arc::as_ptr(&self.shared)));
        let mut state = self.shared.lock();
        state.shutdown = true;
        self.shared.work.notify_all();
        while state.threads > own {
            let left = deadline.left();
            if left.is_zero() {
                return false;
            }
            state = self.shared.exited.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Pool threads alive now (running a job or idle).
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.shared.lock().threads
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock and catch their panics: poisoning cannot leave bad state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pool thread: run queued jobs; retire after `keep_alive` without work, or at
    /// shutdown once the queue is empty.
    fn work(&self) {
        // SAFETY: `cpus` is a valid cpu_set_t of the size passed; 0 means this thread.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.cpus) };
        // Best effort, as the affinity: a job runs either way.
        let _ = self.policy.apply_to_calling_thread();
        POOL_OF_THIS_THREAD.with(|p| p.set(self));
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                state = self.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (next, waited) = self.work.wait_timeout(state, self.keep_alive).unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if waited.timed_out() && state.queue.is_empty() {
                break;
            }
        }
        state.threads -= 1;
        self.exited.notify_all();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Idle threads hold the shared state, not the pool: tell them to go.
        self.shutdown(Duration::ZERO);
    }
}

fn cpu_set(cpus: &[usize]) -> io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let bits = 8 * std::mem::size_of::<libc::cpu_set_t>();
    for &cpu in cpus {
        if cpu >= bits {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("blocking_cpus: no CPU {cpu}")));
        }
        // SAFETY: `cpu` is below the set's bit count (checked above).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    if cpus.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "blocking_cpus: an empty CPU list"));
    }
    Ok(set)
}

fn calling_thread_cpus() -> io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live cpu_set_t of the size passed; 0 means the calling thread.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    fn pool(max: usize, keep_alive: Duration) -> Arc<Pool> {
        let config = PoolConfig { max_threads: max, keep_alive, ..PoolConfig::default() };
        Pool::new(&config).expect("pool")
    }

    #[test]
    fn threads_are_bounded_and_every_queued_job_runs() {
        let pool = pool(2, Duration::from_secs(5));
        let (tx, rx) = mpsc::channel();
        for i in 0..10 {
            let tx = tx.clone();
            pool.execute(Box::new(move || {
                thread::sleep(Duration::from_millis(5));
                tx.send(i).unwrap();
            }));
            assert!(pool.threads() <= 2);
        }
        let mut got: Vec<i32> = (0..10).map(|_| rx.recv_timeout(Duration::from_secs(5)).expect("job ran")).collect();
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn idle_threads_retire_after_the_keep_alive() {
        let pool = pool(4, Duration::from_millis(20));
        let (tx, rx) = mpsc::channel();
        pool.execute(Box::new(move || tx.send(()).unwrap()));
        rx.recv_timeout(Duration::from_secs(5)).expect("job ran");
        let give_up = Instant::now() + Duration::from_secs(5);
        while pool.threads() > 0 && Instant::now() < give_up {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(pool.threads(), 0, "an idle thread outlived its keep-alive");
    }

    #[test]
    fn shutdown_returns_after_the_grace_even_with_a_stuck_job() {
        let pool = pool(2, Duration::from_secs(5));
        let (release, stuck) = mpsc::channel::<()>();
        pool.execute(Box::new(move || {
            let _ = stuck.recv_timeout(Duration::from_secs(10));
        }));
        let start = Instant::now();
        assert!(!pool.shutdown(Duration::from_millis(50)), "a stuck job cannot finish in time");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(2), "shutdown hung for {took:?}");
        drop(release);
    }

    #[test]
    fn shutdown_waits_for_running_jobs_within_the_grace() {
        let pool = pool(2, Duration::from_secs(5));
        let (tx, rx) = mpsc::channel();
        pool.execute(Box::new(move || {
            thread::sleep(Duration::from_millis(30));
            tx.send(()).unwrap();
        }));
        assert!(pool.shutdown(Duration::from_secs(5)));
        assert!(rx.try_recv().is_ok(), "shutdown returned before the running job finished");
    }

    #[test]
    fn a_job_queued_after_shutdown_is_dropped_unrun_and_starts_no_thread() {
        let pool = pool(2, Duration::from_secs(5));
        assert!(pool.shutdown(Duration::from_secs(5)));
        let (ran_tx, ran) = mpsc::channel::<()>();
        let (dropped_tx, dropped) = mpsc::channel::<()>();
        let guard = DropSignal(dropped_tx);
        pool.execute(Box::new(move || {
            let _guard = guard;
            ran_tx.send(()).unwrap();
        }));
        assert!(dropped.try_recv().is_ok(), "the refused job was not dropped at once");
        assert!(ran.try_recv().is_err(), "a job queued after the shutdown ran");
        assert_eq!(pool.threads(), 0, "a thread was started for a refused job");
    }

    /// Sends on its channel when dropped.
    struct DropSignal(mpsc::Sender<()>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }

    #[test]
    fn pool_threads_take_the_configured_cpus_and_name() {
        let config = PoolConfig { cpus: Some(vec![0]), name: "test-pool".into(), ..PoolConfig::default() };
        let pool = Pool::new(&config).unwrap();
        let (tx, rx) = mpsc::channel();
        pool.execute(Box::new(move || {
            let set = calling_thread_cpus().unwrap();
            let name = thread::current().name().map(str::to_owned);
            // SAFETY: CPU 0 is within the set's bits.
            let (count, zero) = unsafe { (libc::CPU_COUNT(&set), libc::CPU_ISSET(0, &set)) };
            tx.send((count, zero, name)).unwrap();
        }));
        let (count, zero, name) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!((count, zero), (1, true));
        assert_eq!(name.as_deref(), Some("test-pool-0"));
    }
}
