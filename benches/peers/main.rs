//! `cargo bench -p ringpoll-benches --bench peers`: ringpoll's echo server beside tokio, monoio (io_uring and
//! epoll) and a bare epoll loop, on the same loopback loads, with a table and an SVG plot.
//!
//! The same executable is the harness, the load generator and (re-executed with `--serve`)
//! each server, so servers run in their own processes and their CPU time can be read from
//! /proc. See `args::USAGE` for the flags.

mod args;
mod compare;
mod loadgen;
mod memory;
mod plot;
mod procfs;
mod report;
mod servers;
mod stats;
mod sys;

use std::io;
use std::path::PathBuf;
use std::time::Instant;

use args::Mode;

fn main() {
    let result = match args::parse() {
        Ok(Mode::Serve(kind, opts)) => servers::serve(kind, &opts),
        Ok(Mode::Load(spec, pid)) => load(&spec, pid),
        Ok(Mode::Compare(opts)) => compare(&opts),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("peers: {e}");
        std::process::exit(1);
    }
}

/// A single load against a server someone else started (e.g. `examples/echo`).
fn load(spec: &loadgen::LoadSpec, pid: Option<u32>) -> io::Result<()> {
    let r = loadgen::run(spec, pid)?;
    println!(
        "{} conns x {} B, depth {}: {:.0} req/s, p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us",
        spec.conns,
        spec.payload,
        spec.depth,
        r.rps(),
        r.latency_us(0.5),
        r.latency_us(0.99),
        r.latency_us(0.999)
    );
    if let Some(cpu) = r.cpu_us_per_req() {
        println!("server CPU: {cpu:.2} us/request");
    }
    Ok(())
}

/// The comparison: throughput table, memory table, plot, all written to benches/results/.
fn compare(opts: &args::CompareOpts) -> io::Result<()> {
    let began = Instant::now();
    if opts.memory_only {
        let memory = memory::run(opts.idle_conns.max(1), &opts.servers)?;
        println!("\n{memory}");
        let (dir, name) = (results_dir()?, &opts.name);
        std::fs::write(dir.join(format!("{name}.md")), &memory)?;
        println!("wrote {}/{name}.md in {:.0?}", dir.display(), began.elapsed());
        return Ok(());
    }
    let scenarios: Vec<_> = compare::Scenario::all()
        .into_iter()
        .filter(|s| opts.scenarios.is_empty() || opts.scenarios.iter().any(|f| s.name.contains(f.as_str())))
        .collect();
    let cells = compare::run(opts, &scenarios);
    let table = report::markdown(&scenarios, &cells);
    let memory = if opts.idle_conns > 0 { memory::run(opts.idle_conns, &opts.servers)? } else { String::new() };
    let header = format!(
        "{} rounds per cell, interleaved; {:?} warm-up, {:?} measured; server on CPU 0, generator on CPU 1.\n\n",
        opts.rounds, opts.warmup, opts.duration
    );
    println!("\n{header}{table}\n{memory}");
    let (dir, name) = (results_dir()?, &opts.name);
    std::fs::write(dir.join(format!("{name}.md")), format!("{header}{table}\n{memory}"))?;
    std::fs::write(dir.join(format!("{name}.csv")), report::csv(&scenarios, &cells))?;
    plot::draw(&dir.join(format!("{name}.svg")), &scenarios, &cells)?;
    println!("wrote {}/{name}.{{md,csv,svg}} in {:.0?}", dir.display(), began.elapsed());
    Ok(())
}

fn results_dir() -> io::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
