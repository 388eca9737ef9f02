//! TCP: a listener per core (SO_REUSEPORT) and streams.

mod listener;
mod send_file;
mod stream;

pub use listener::TcpListener;
pub use stream::TcpStream;
