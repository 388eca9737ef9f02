//! TCP: a listener per core (SO_REUSEPORT) and streams.

mod listener;
mod stream;

pub use listener::TcpListener;
pub use stream::TcpStream;
