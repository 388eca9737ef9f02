//! `cargo bench -p ringpoll-benches --bench send_zc`: what IORING_OP_SEND_ZC costs against
//! IORING_OP_SEND, in CPU per byte, for large writes over loopback TCP.
//!
//! For each write size (16 KiB, 64 KiB, 256 KiB, 1 MiB) and each opcode, one io_uring on the
//! sending thread sends `-- --mib N` MiB (default 256) from one buffer, one op in flight (a
//! SEND_ZC's buffer may be reused only after its notification CQE, IORING_CQE_F_NOTIF), to a
//! fresh connection drained by a receiving thread. Cells run interleaved, 3 rounds; reported
//! is the median of the process's CPU time per MiB (sender, receiver, and any io-wq worker
//! the ring starts), the sending thread's alone, and the ratio ZC / plain.
//!
//! What loopback can show: the sender-side cost of zero copy (pinning pages, the notification
//! CQE, the extra completion per write). What it cannot: the saving. On loopback the kernel
//! must copy a zero-copy skb's user pages before queueing them to the local receiver
//! (`skb_orphan_frags_rx`), so the copy SEND_ZC avoids on a real NIC happens anyway. A NIC
//! path with DMA from user pages is needed to see a gain; this machine has none.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

use io_uring::{cqueue, opcode, types, IoUring};

const SIZES: [usize; 4] = [16 << 10, 64 << 10, 256 << 10, 1 << 20];
const ROUNDS: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Send,
    SendZc,
}

/// One cell's measurement: CPU seconds of the process, of the sending thread, and of the
/// kernel's softirq threads meanwhile (loopback receive work the kernel deferred there is no
/// part of the process's time; other load on the machine lands there too).
#[derive(Clone, Copy)]
struct Cost {
    process: f64,
    sender: f64,
    softirqd: f64,
}

fn main() {
    let mib = std::env::args().skip_while(|a| a != "--mib").nth(1).and_then(|n| n.parse().ok()).unwrap_or(256usize);
    let mut ring = IoUring::new(8).expect("io_uring");
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe).expect("probe");
    if !probe.is_supported(opcode::SendZc::CODE) {
        println!("this kernel has no IORING_OP_SEND_ZC (Linux 6.0+): nothing to compare");
        return;
    }
    let mut costs = vec![Vec::new(); SIZES.len() * 2];
    for round in 0..ROUNDS {
        for (s, &size) in SIZES.iter().enumerate() {
            for (m, mode) in [Mode::Send, Mode::SendZc].into_iter().enumerate() {
                let cost = run_cell(&mut ring, size, mode, mib << 20);
                let name = if mode == Mode::Send { "SEND" } else { "SEND_ZC" };
                eprintln!(
                    "round {} {:>4} KiB {name:<7} process {:.3} s, sender {:.3} s",
                    round + 1,
                    size >> 10,
                    cost.process,
                    cost.sender
                );
                costs[s * 2 + m].push(cost);
            }
        }
    }
    println!("{mib} MiB per cell, one op in flight, median of {ROUNDS} interleaved rounds; loopback TCP.\n");
    println!("| write | SEND process CPU ms/GiB | SEND_ZC process CPU ms/GiB | ZC / plain | SEND sender ms/GiB | SEND_ZC sender ms/GiB | ZC / plain (sender) | ksoftirqd ms/GiB SEND / ZC |");
    println!("|---|---|---|---|---|---|---|---|");
    let per_gib = |secs: f64| secs * 1e3 * 1024.0 / mib as f64;
    for (s, &size) in SIZES.iter().enumerate() {
        let plain = median(&costs[s * 2]);
        let zc = median(&costs[s * 2 + 1]);
        println!(
            "| {} KiB | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.2} | {:.0} / {:.0} |",
            size >> 10,
            per_gib(plain.process),
            per_gib(zc.process),
            zc.process / plain.process,
            per_gib(plain.sender),
            per_gib(zc.sender),
            zc.sender / plain.sender,
            per_gib(plain.softirqd),
            per_gib(zc.softirqd),
        );
    }
}

/// Sends `total` bytes in writes of `size` over a fresh loopback connection.
fn run_cell(ring: &mut IoUring, size: usize, mode: Mode, total: usize) -> Cost {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let sender = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (mut receiver, _) = listener.accept().expect("accept");
    let drain = thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0usize;
        loop {
            match receiver.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got += n,
                Err(e) => panic!("receiver: {e}"),
            }
        }
    });
    let buf = vec![0x5au8; size];
    let softirqd0 = softirqd_secs();
    let (process0, thread0) = (cpu(libc::CLOCK_PROCESS_CPUTIME_ID), cpu(libc::CLOCK_THREAD_CPUTIME_ID));
    let mut sent = 0usize;
    while sent < total {
        let mut off = 0;
        while off < size {
            off += send_once(ring, &sender, &buf[off..], mode);
        }
        sent += size;
    }
    let thread1 = cpu(libc::CLOCK_THREAD_CPUTIME_ID);
    drop(sender);
    assert_eq!(drain.join().expect("receiver thread"), sent, "every byte arrived");
    let process1 = cpu(libc::CLOCK_PROCESS_CPUTIME_ID);
    let softirqd = softirqd_secs() - softirqd0;
    Cost { process: process1 - process0, sender: thread1 - thread0, softirqd }
}

/// One SEND or SEND_ZC of `buf`; returns the bytes sent. For SEND_ZC it also waits for the
/// notification that the kernel has let go of the buffer.
fn send_once(ring: &mut IoUring, sock: &TcpStream, buf: &[u8], mode: Mode) -> usize {
    let fd = types::Fd(sock.as_raw_fd());
    let (ptr, len) = (buf.as_ptr(), buf.len().min(u32::MAX as usize) as u32);
    let entry = match mode {
        Mode::Send => opcode::Send::new(fd, ptr, len).flags(libc::MSG_NOSIGNAL).build(),
        Mode::SendZc => opcode::SendZc::new(fd, ptr, len).flags(libc::MSG_NOSIGNAL).build(),
    };
    // SAFETY: `buf` outlives the op: this function returns only after the send's completion
    // and, for SEND_ZC, its notification.
    unsafe { ring.submission().push(&entry.user_data(1)).expect("an empty SQ") };
    let mut sent = None;
    let mut notif_owed = false;
    loop {
        ring.submit_and_wait(1).expect("io_uring_enter");
        for cqe in ring.completion() {
            if cqueue::notif(cqe.flags()) {
                notif_owed = false;
                continue;
            }
            assert!(cqe.result() >= 0, "send: {}", std::io::Error::from_raw_os_error(-cqe.result()));
            sent = Some(cqe.result() as usize);
            notif_owed = cqueue::more(cqe.flags());
        }
        if sent.is_some() && !notif_owed {
            return sent.unwrap_or(0);
        }
    }
}

/// CPU seconds of every ksoftirqd thread (10 ms resolution).
fn softirqd_secs() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    let ticks: u64 = dir
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.contains("(ksoftirqd/"))
        .filter_map(|stat| {
            let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    // SAFETY: sysconf takes no pointers.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// CPU seconds of `clock`.
fn cpu(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the live timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32).as_secs_f64()
}

fn median(costs: &[Cost]) -> Cost {
    let pick = |f: fn(&Cost) -> f64| {
        let mut v: Vec<f64> = costs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Cost { process: pick(|c| c.process), sender: pick(|c| c.sender), softirqd: pick(|c| c.softirqd) }
}
