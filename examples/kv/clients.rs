//! One core's connections, for CLIENT LIST, INFO and KILL: of the fields Redis 7 lists for a
//! client, those kv knows (id, addresses, descriptor, name, age, and the constant ones: no
//! flags, database 0, user `default`, RESP2), one line each, in id order. A core lists its
//! own connections only (the one asking among them): the others' live on other cores, and
//! asking each would make CLIENT LIST a request to every core for what tools mostly use to
//! look at their own connection.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use ringpoll::net::TcpStream;

use super::kill::Kill;
use super::replies;
use super::resp::integer;

/// The connections open on one core, by id.
#[derive(Default)]
pub struct Clients(RefCell<BTreeMap<u64, Client>>);

/// What CLIENT LIST says of one connection; its name is kept here alone (CLIENT GETNAME
/// reads it here too).
struct Client {
    addr: SocketAddr,
    laddr: Option<SocketAddr>,
    fd: i32,
    opened: Instant,
    name: Vec<u8>,
    /// CLIENT KILL closed it; it is gone once its task sees so.
    killed: bool,
}

impl Clients {
    /// Notes connection `id`, served over `stream`, open; `peer` is the address its accept
    /// gave (asked again, it would cost a getpeername per connection).
    pub fn open(&self, id: u64, stream: &TcpStream, peer: SocketAddr) {
        self.insert(id, peer, stream.local_addr().ok(), stream.as_raw_fd());
    }

    /// Notes connection `id` open, with no socket (for the tests of what it asks).
    #[cfg(test)]
    pub fn open_unconnected(&self, id: u64) {
        self.insert(id, SocketAddr::from(([0, 0, 0, 0], 0)), None, -1);
    }

    fn insert(&self, id: u64, addr: SocketAddr, laddr: Option<SocketAddr>, fd: i32) {
        let client = Client { addr, laddr, fd, opened: Instant::now(), name: Vec::new(), killed: false };
        self.0.borrow_mut().insert(id, client);
    }

    /// Notes connection `id` closed.
    pub fn close(&self, id: u64) {
        self.0.borrow_mut().remove(&id);
    }

    /// Connection `id`'s name (empty: none), if it is open here.
    pub fn name(&self, id: u64) -> Option<Vec<u8>> {
        self.0.borrow().get(&id).map(|client| client.name.clone())
    }

    /// Notes connection `id`'s new name (empty: none).
    pub fn rename(&self, id: u64, name: &[u8]) {
        if let Some(client) = self.0.borrow_mut().get_mut(&id) {
            client.name = name.to_vec();
        }
    }

    /// CLIENT KILL on this core: closes the connections `kill` matches; returns how many. The
    /// asking one (if it is among them) is only marked: it closes once its reply is written
    /// (see [`Clients::killed`]). Each other one's socket is shut both ways, which ends its
    /// client's reads at once and wakes its task, whatever that is waiting for, to close it.
    pub fn kill(&self, kill: &Kill) -> usize {
        let mut killed = 0;
        for (&id, client) in self.0.borrow_mut().iter_mut() {
            let laddr = client.laddr.map_or_else(String::new, |a| a.to_string());
            if client.killed || !kill.matches(id, &client.addr.to_string(), &laddr) {
                continue;
            }
            client.killed = true;
            killed += 1;
            if id != kill.asking {
                // SAFETY: shutdown takes no pointers. The descriptor is the connection's
                // own and still open: an entry is removed before its socket closes (`conn.rs`:
                // `Counted` drops before the stream), on this same thread.
                unsafe { libc::shutdown(client.fd, libc::SHUT_RDWR) };
            }
        }
        killed
    }

    /// Whether CLIENT KILL closed connection `id`.
    pub fn killed(&self, id: u64) -> bool {
        self.0.borrow().get(&id).is_some_and(|client| client.killed)
    }

    /// CLIENT LIST (`args` after LIST), as Redis 7.0 reads its options: `TYPE type` (every
    /// connection here is a `normal` one), or `ID id...`; the lines as one bulk string.
    pub fn list(&self, args: &[&[u8]], out: &mut Vec<u8>) {
        let ids: Option<Vec<u64>> = match args {
            [] => None,
            [option, kind] if option.eq_ignore_ascii_case(b"type") => match client_type(kind) {
                Some(true) => None,
                Some(false) => Some(Vec::new()),
                None => {
                    let text = [&b"ERR Unknown client type '"[..], replies::c_text(kind, usize::MAX), b"'"].concat();
                    return replies::error_bytes(out, &text);
                }
            },
            [option, ids @ ..] if option.eq_ignore_ascii_case(b"id") && !ids.is_empty() => {
                match ids.iter().map(|id| integer(id)).collect::<Option<Vec<i64>>>() {
                    // A negative id is no client's.
                    Some(ids) => Some(ids.into_iter().filter_map(|id| u64::try_from(id).ok()).collect()),
                    None => return replies::error(out, "ERR Invalid client ID"),
                }
            }
            _ => return replies::error(out, "ERR syntax error"),
        };
        let clients = self.0.borrow();
        let now = Instant::now();
        let mut text = String::new();
        match ids {
            // Killed ones are gone, as Redis frees them at once.
            None => clients.iter().filter(|(_, c)| !c.killed).for_each(|(&id, client)| client.line(id, now, &mut text)),
            Some(ids) => ids.iter().for_each(|id| {
                if let Some(client) = clients.get(id).filter(|c| !c.killed) {
                    client.line(*id, now, &mut text);
                }
            }),
        }
        replies::bulk(out, text.as_bytes());
    }

    /// CLIENT INFO: connection `id`'s line.
    pub fn info(&self, id: u64, out: &mut Vec<u8>) {
        let mut text = String::new();
        if let Some(client) = self.0.borrow().get(&id) {
            client.line(id, Instant::now(), &mut text);
        }
        replies::bulk(out, text.as_bytes());
    }
}

/// Whether a connection of kind `kind` (any case) can be kv's (`normal`), or none can
/// (`master`, `replica`, `slave`, `pubsub`); `None` for a kind Redis does not know.
pub fn client_type(kind: &[u8]) -> Option<bool> {
    let is = |name: &[u8]| kind.eq_ignore_ascii_case(name);
    match () {
        _ if is(b"normal") => Some(true),
        _ if is(b"master") || is(b"replica") || is(b"slave") || is(b"pubsub") => Some(false),
        _ => None,
    }
}

impl Client {
    /// Its line, as Redis writes the same fields (a name is printable ASCII without spaces:
    /// SETNAME refuses any other).
    fn line(&self, id: u64, now: Instant, text: &mut String) {
        let addr = |a: Option<SocketAddr>| a.map_or_else(String::new, |a| a.to_string());
        let age = now.duration_since(self.opened).as_secs();
        let _ = writeln!(
            text,
            "id={id} addr={} laddr={} fd={} name={} age={age} flags=N db=0 user=default resp=2",
            self.addr,
            addr(self.laddr),
            self.fd,
            String::from_utf8_lossy(&self.name),
        );
    }
}
