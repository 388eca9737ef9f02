//! TCP: a listener per core (SO_REUSEPORT) and streams.

mod balance;
mod listener;
mod send_file;
mod stream;

pub(crate) use balance::steer_by_runtime_cpus;
pub use balance::{attach_cpu_steering, SharedListener};
pub use listener::TcpListener;
pub use stream::TcpStream;
