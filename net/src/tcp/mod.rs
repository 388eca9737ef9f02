//! TCP: a listener per core (SO_REUSEPORT) and streams.

mod balance;
mod listener;
mod send_file;
mod stream;

pub use balance::{attach_cpu_steering, SharedListener};
pub use listener::TcpListener;
pub use stream::TcpStream;
