//! The examples' command line (examples/cli): help, bad flags, values, host names.

#[path = "../examples/cli/mod.rs"]
mod cli;

use std::net::SocketAddr;

use cli::{Flags, Stop};

fn flags(args: &[&str]) -> Flags {
    Flags::new(args.iter().map(|a| a.to_string()))
}

/// A little program's flags: `--addr`, `--cores`, `--n`, `--verbose`.
#[derive(Debug, Default)]
struct Parsed {
    addr: Option<SocketAddr>,
    cores: Vec<usize>,
    n: u32,
    verbose: bool,
}

fn parse(args: &[&str]) -> Result<Parsed, Stop> {
    let mut f = flags(args);
    let mut p = Parsed::default();
    while let Some(flag) = f.next_flag()? {
        match flag.as_str() {
            "--addr" => p.addr = Some(f.addr()?),
            "--cores" => p.cores = f.cores()?,
            "--n" => p.n = f.value()?,
            "--verbose" => p.verbose = true,
            _ => return Err(f.unknown()),
        }
    }
    Ok(p)
}

fn bad(args: &[&str]) -> String {
    match parse(args) {
        Err(Stop::Bad(reason)) => reason,
        other => panic!("{args:?} parsed as {other:?}"),
    }
}

#[test]
fn help_stops_with_exit_code_0_wherever_it_is() {
    for args in [&["--help"][..], &["-h"], &["--n", "3", "--help"]] {
        let stop = parse(args).unwrap_err();
        assert_eq!(stop, Stop::Help);
        assert_eq!(stop.code(), 0);
    }
}

#[test]
fn bad_flags_and_values_are_one_line_with_exit_code_2() {
    let cases: [(&[&str], &str); 9] = [
        (&["--bogus"], "unknown flag --bogus"),
        (&["--n"], "--n: needs a value"),
        (&["--n", "x"], "--n: \"x\": invalid digit found in string"),
        (&["--cores", "0,a"], "--cores: \"0,a\": invalid digit found in string"),
        (&["--cores", "0-"], "--cores: \"0-\": cannot parse integer from empty string"),
        (&["--cores", "3-1"], "--cores: \"3-1\": the range 3-1 runs backwards"),
        (&["--cores", "0-99999999999"], "--cores: \"0-99999999999\": CPU 99999999999 is past the last CPU"),
        (&["--verbose=yes"], "--verbose: takes no value (got \"yes\")"),
        (&["--addr", "nowhere"], "--addr: \"nowhere\": "),
    ];
    for (args, want) in cases {
        let reason = bad(args);
        assert!(reason.starts_with(want), "{args:?}: {reason:?} should start with {want:?}");
        assert!(!reason.contains('\n'), "{args:?}: {reason:?} is one line");
        assert_eq!(Stop::Bad(reason).code(), 2);
    }
}

#[test]
fn values_follow_the_flag_or_an_equals_sign() {
    let p = parse(&["--n", "7", "--cores=0,1", "--verbose", "--addr=127.0.0.1:7000"]).unwrap();
    assert_eq!(p.n, 7);
    assert_eq!(p.cores, [0, 1]);
    assert!(p.verbose);
    // Ranges as taskset writes them, and a CPU named twice (two cores sharing it).
    assert_eq!(parse(&["--cores", "0-2,5, 7-7"]).unwrap().cores, [0, 1, 2, 5, 7]);
    assert_eq!(parse(&["--cores", "0,0"]).unwrap().cores, [0, 0]);
    assert_eq!(p.addr, Some("127.0.0.1:7000".parse().unwrap()));
}

#[test]
fn host_names_are_resolved() {
    let addr = parse(&["--addr", "localhost:7000"]).unwrap().addr.unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_eq!(addr.port(), 7000);
    let v6 = parse(&["--addr", "[::1]:8080"]).unwrap().addr.unwrap();
    assert_eq!(v6, "[::1]:8080".parse().unwrap());
}

/// `cli::wait` returns `Ended` once every server has ended (none could listen, say), ticks
/// with a period, and keeps waiting while a server runs.
#[test]
fn waiting_ends_when_every_server_has_ended() {
    use std::time::{Duration, Instant};

    let signals = ringpoll::signal::ShutdownSignals::install().unwrap();
    let rt = ringpoll::Runtime::builder().cores([0, 0]).build().unwrap();
    let failing =
        rt.run_on_each_core(|core| async move { Err::<(), _>(std::io::Error::other(format!("core {core}"))) });
    let started = Instant::now();
    assert_eq!(cli::wait(&signals, &failing, None), cli::Waited::Ended);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(cli::ended(failing).to_string(), "core 0", "the first core's error");
    let running = rt.run_on_each_core(|_| ringpoll::time::sleep(Duration::from_secs(60)));
    let started = Instant::now();
    assert_eq!(cli::wait(&signals, &running, Some(Duration::from_millis(120))), cli::Waited::Tick);
    assert!(started.elapsed() >= Duration::from_millis(120), "a running server keeps it waiting");
}

/// `--stats 1e19` is a valid `Duration` but past what an `Instant` can reach: such a period
/// never ticks (it once panicked the main thread with an `Instant` overflow).
#[test]
fn a_period_past_the_clock_never_ticks() {
    use std::time::{Duration, Instant};

    let signals = ringpoll::signal::ShutdownSignals::install().unwrap();
    let rt = ringpoll::Runtime::builder().cores([0]).build().unwrap();
    let failing = rt.run_on_each_core(|_| async { Err::<(), _>(std::io::Error::other("no listener")) });
    let started = Instant::now();
    assert_eq!(cli::wait(&signals, &failing, Some(Duration::MAX)), cli::Waited::Ended);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The examples raise the soft descriptor limit to the hard one, so a server holds as many
/// connections as the machine allows, not 1,024; a hard limit is never raised.
#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit, into a live local.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    let hard = limit.rlim_max;
    let lowered = libc::rlimit { rlim_cur: 256.min(hard), rlim_max: hard };
    // SAFETY: setrlimit reads one live rlimit; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    assert_eq!(cli::raise_fd_limit(), hard);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    assert_eq!((limit.rlim_cur, limit.rlim_max), (hard, hard));
}
