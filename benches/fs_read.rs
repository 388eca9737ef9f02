//! `cargo bench --bench fs_read`: reading a 256 MiB file in 64 KiB chunks, one read in
//! flight at a time: ringpoll::fs on io_uring (READ ops) and on epoll (preadv2 RWF_NOWAIT on
//! the core, pread on the blocking pool on a miss), against `std::fs` on a plain thread and
//! `tokio::fs` (which runs each read on its blocking pool), in the same run. The file is written first, so every reader
//! sees it in the page cache: this measures each runtime's cost per read, not the disk.
//! Rounds are interleaved; the median of `-- --rounds N` (default 5) is reported in MiB/s.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ringpoll::DriverChoice;

const FILE_SIZE: usize = 256 << 20;
const CHUNK: usize = 64 << 10;

/// A reader's name and how it reads the whole file, returning the bytes read.
type Reader = (&'static str, fn(&Path) -> usize);

fn main() {
    let rounds = std::env::args().skip_while(|a| a != "--rounds").nth(1).and_then(|n| n.parse().ok()).unwrap_or(5);
    let path = std::env::temp_dir().join(format!("ringpoll-fs-read-bench-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; FILE_SIZE]).expect("write the test file");
    let readers: [Reader; 4] = [
        ("ringpoll::fs io_uring", |p| ringpoll_read(DriverChoice::Uring, p)),
        ("ringpoll::fs epoll (RWF_NOWAIT; pool on a miss)", |p| ringpoll_read(DriverChoice::Epoll, p)),
        ("std::fs on a thread", std_read),
        ("tokio::fs", tokio_read),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); readers.len()];
    for _ in 0..rounds {
        for (i, (_, read)) in readers.iter().enumerate() {
            let start = Instant::now();
            assert_eq!(read(&path), FILE_SIZE, "every byte read");
            rates[i].push(FILE_SIZE as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64());
        }
    }
    let _ = std::fs::remove_file(&path);
    println!("| reader (256 MiB, 64 KiB reads, page cache) | MiB/s (median of {rounds}) | min | max |");
    println!("|---|---:|---:|---:|");
    for ((name, _), mut r) in readers.iter().zip(rates) {
        r.sort_by(f64::total_cmp);
        println!("| {name} | {:.0} | {:.0} | {:.0} |", r[r.len() / 2], r[0], r[r.len() - 1]);
    }
}

fn ringpoll_read(driver: DriverChoice, path: &Path) -> usize {
    let path = PathBuf::from(path);
    ringpoll::try_block_on(driver, async move {
        let file = ringpoll::fs::File::open(&path).await.expect("open");
        let (mut buf, mut total) = (Vec::with_capacity(CHUNK), 0usize);
        loop {
            let (n, b) = file.read_at(buf, total as u64).await;
            buf = b;
            match n.expect("read") {
                0 => return total,
                n => total += n,
            }
        }
    })
    .expect("block_on")
}

fn std_read(path: &Path) -> usize {
    let path = PathBuf::from(path);
    std::thread::spawn(move || {
        let mut file = std::fs::File::open(path).expect("open");
        let (mut buf, mut total) = (vec![0u8; CHUNK], 0);
        loop {
            match file.read(&mut buf).expect("read") {
                0 => return total,
                n => total += n,
            }
        }
    })
    .join()
    .expect("reader thread")
}

fn tokio_read(path: &Path) -> usize {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("tokio");
    rt.block_on(async {
        let mut file = tokio::fs::File::open(path).await.expect("open");
        let (mut buf, mut total) = (vec![0u8; CHUNK], 0);
        loop {
            match file.read(&mut buf).await.expect("read") {
                0 => return total,
                n => total += n,
            }
        }
    })
}
