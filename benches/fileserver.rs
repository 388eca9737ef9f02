//! `cargo bench --bench fileserver`: the file server example against nginx under wrk.
//!
//! Each server runs in its own process pinned to CPU 0 (`taskset -c 0`, so the ringpoll
//! server's blocking pool shares that CPU too); wrk runs on CPU 1. nginx: one process
//! (`master_process off`, the worker itself), `sendfile on`, `access_log off`, keep-alive
//! without a request limit, from a config file written here. Files of 4 KiB and 1 MiB are
//! served from a fresh temp directory (in the page cache after the first round). Rounds are
//! interleaved (A B C A B C) and the median round is reported, with the server's CPU time
//! per request from /proc/PID/stat.
//!
//! Flags (after `--`): `--secs N` per run (default 5), `--rounds N` (default 3), `--conns N`
//! (default 32), `--port P` (base port, default 18200). Needs `wrk`, `nginx` and `taskset`.

#[path = "../examples/fileserver/main.rs"]
#[allow(dead_code)]
mod fileserver;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in a re-executed child: `DRIVER PORT ROOT`, serve until killed.
const CHILD_ENV: &str = "RINGPOLL_FILESERVER_BENCH_CHILD";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Server {
    RingpollUring,
    RingpollEpoll,
    Nginx,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::RingpollUring => "ringpoll io_uring",
            Server::RingpollEpoll => "ringpoll epoll",
            Server::Nginx => "nginx",
        }
    }
}

struct Opts {
    secs: u64,
    rounds: usize,
    conns: usize,
    port: u16,
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        if let Err(e) = child(&spec) {
            eprintln!("fileserver bench child: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = compare(&parse_opts()) {
        eprintln!("fileserver bench: {e}");
        std::process::exit(1);
    }
}

fn parse_opts() -> Opts {
    let mut opts = Opts { secs: 5, rounds: 3, conns: 32, port: 18200 };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--secs", Some(v)) => opts.secs = v,
            ("--rounds", Some(v)) => opts.rounds = v as usize,
            ("--conns", Some(v)) => opts.conns = v as usize,
            ("--port", Some(v)) => opts.port = v as u16,
            _ => {
                eprintln!("fileserver bench: usage: [--secs N] [--rounds N] [--conns N] [--port P]");
                std::process::exit(2);
            }
        }
    }
    opts
}

/// The ringpoll server, in the child process.
fn child(spec: &str) -> io::Result<()> {
    let mut parts = spec.split(' ');
    let (Some(driver), Some(port), Some(root)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(io::Error::other(format!("bad child spec {spec:?}")));
    };
    let driver: ringpoll::DriverChoice = driver.parse()?;
    let port: u16 = port.parse().map_err(io::Error::other)?;
    let root = PathBuf::from(root);
    let rt = ringpoll::Runtime::builder().cores([0]).driver(driver).build()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = rt.spawn_on(0, move || async move {
        fileserver::serve::listen(
            ringpoll::net::TcpListener::bind(addr)?,
            root.into(),
            fileserver::serve::CLIENT_TIMEOUT,
        )
        .await
    });
    server.join().map_err(io::Error::from)?
}

struct Run {
    rps: f64,
    cpu_us_per_req: f64,
}

fn compare(opts: &Opts) -> io::Result<()> {
    let dir = std::env::temp_dir().join(format!("ringpoll-fileserver-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("www"))?;
    let root = std::fs::canonicalize(dir.join("www"))?;
    std::fs::write(root.join("4k.bin"), vec![b'x'; 4096])?;
    std::fs::write(root.join("1m.bin"), vec![b'y'; 1 << 20])?;
    let servers = [Server::RingpollUring, Server::RingpollEpoll, Server::Nginx];
    let files = ["4k.bin", "1m.bin"];
    let mut runs: Vec<(Server, &str, Vec<Run>)> =
        servers.iter().flat_map(|&s| files.iter().map(move |&f| (s, f, Vec::new()))).collect();
    let began = Instant::now();
    for round in 0..opts.rounds {
        for (i, &server) in servers.iter().enumerate() {
            let port = opts.port + (round * servers.len() + i) as u16;
            let mut process = start(server, port, &root, &dir)?;
            let result = (|| {
                wait_listening(port)?;
                for &file in &files {
                    let run = measure(process.id(), port, file, opts)?;
                    eprintln!(
                        "round {round}: {:<18} {file:<7} {:>9.0} req/s {:>6.2} us CPU/req",
                        server.name(),
                        run.rps,
                        run.cpu_us_per_req
                    );
                    runs.iter_mut().find(|(s, f, _)| *s == server && *f == file).expect("slot").2.push(run);
                }
                Ok::<(), io::Error>(())
            })();
            let _ = process.kill();
            let _ = process.wait();
            result?;
        }
    }
    println!(
        "\nfileserver vs nginx, {} conns, {} s x {} rounds (median), {:?} in all",
        opts.conns,
        opts.secs,
        opts.rounds,
        began.elapsed()
    );
    println!("| server | file | req/s | CPU us/req | req/s vs nginx |");
    println!("|---|---|---:|---:|---:|");
    for &file in &files {
        let nginx = median_rps(&runs, Server::Nginx, file);
        for &server in &servers {
            let (rps, cpu) = medians(&runs, server, file);
            println!("| {} | {file} | {rps:.0} | {cpu:.2} | {:.2} |", server.name(), rps / nginx);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn medians(runs: &[(Server, &str, Vec<Run>)], server: Server, file: &str) -> (f64, f64) {
    let r = &runs.iter().find(|(s, f, _)| *s == server && *f == file).expect("slot").2;
    let mut by_rps: Vec<&Run> = r.iter().collect();
    by_rps.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    let mid = by_rps[by_rps.len() / 2];
    (mid.rps, mid.cpu_us_per_req)
}

fn median_rps(runs: &[(Server, &str, Vec<Run>)], server: Server, file: &str) -> f64 {
    medians(runs, server, file).0
}

fn start(server: Server, port: u16, root: &Path, dir: &Path) -> io::Result<Child> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg("0").stdout(Stdio::null()).stderr(Stdio::inherit());
    match server {
        Server::Nginx => {
            let conf = nginx_conf(port, root, dir)?;
            cmd.arg("nginx").arg("-c").arg(conf).arg("-p").arg(dir);
        }
        Server::RingpollUring | Server::RingpollEpoll => {
            let driver = if server == Server::RingpollUring { "uring" } else { "epoll" };
            cmd.arg(std::env::current_exe()?);
            cmd.env(CHILD_ENV, format!("{driver} {port} {}", root.display()));
        }
    }
    // taskset execs the server: the child's pid is the server's.
    cmd.spawn()
}

fn nginx_conf(port: u16, root: &Path, dir: &Path) -> io::Result<PathBuf> {
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  keepalive_requests 100000000;\n  keepalive_timeout 60s;\n\
         default_type application/octet-stream;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
        root.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    Ok(path)
}

fn wait_listening(port: u16) -> io::Result<()> {
    let give_up = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > give_up {
            return Err(io::Error::other(format!("no server on port {port}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// One wrk run on CPU 1 against `file`; the server's CPU time from /proc.
fn measure(pid: u32, port: u16, file: &str, opts: &Opts) -> io::Result<Run> {
    let cpu_before = cpu_time(pid)?;
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1", &format!("-c{}", opts.conns), &format!("-d{}s", opts.secs)])
        .arg(format!("http://127.0.0.1:{port}/{file}"))
        .output()?;
    let cpu = cpu_time(pid)? - cpu_before;
    let text = String::from_utf8_lossy(&out.stdout);
    let requests: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other(format!("wrk said: {text}")))?;
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        eprintln!("wrk reported errors: {text}");
    }
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other(format!("wrk said: {text}")))?;
    Ok(Run { rps, cpu_us_per_req: cpu.as_secs_f64() * 1e6 / requests })
}

/// User plus system CPU time of process `pid` (fields 14 and 15 of /proc/PID/stat).
fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // `rest` starts at field 3: utime (14) and stime (15) are at 11 and 12.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    // SAFETY: sysconf takes no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(Duration::from_secs_f64(ticks as f64 / hz))
}
