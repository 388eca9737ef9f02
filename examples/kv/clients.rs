//! One core's connections, for CLIENT LIST, INFO and KILL: of the fields Redis 7 lists for a
//! client, those kv knows (id, addresses, descriptor, name, age, its flags, `P` for a
//! pub/sub subscriber and else none, and the constant ones: database 0, user `default`, and the protocol it speaks), one line each. A connection is listed from its
//! accept until its last reply is written (QUIT, a protocol error, CLIENT KILL), as Redis
//! frees a client then: not while its close lingers (`conn.rs`).
//!
//! CLIENT LIST shows every connection of the server, as Redis does (monitoring tools count
//! them): it goes to every core as an operation (`Op::ClientList`), the way CLIENT KILL does
//! (`kill.rs`), each core answers with its own connections' lines, and the lines are merged
//! in id order (ids are process-wide, `session.rs`), or for `ID id...` in the order asked
//! (`join_lists`). CLIENT INFO and GETNAME read the asking connection's entry, on its core.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use ringpoll::net::TcpStream;

use super::kill::Kill;
use super::replies::{self, Protocol};
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
    /// The protocol HELLO last picked (`resp=`). The connection keeps its own copy, read
    /// for every reply (`Session`); this one is for the lines other connections list.
    protocol: Protocol,
    /// CLIENT KILL closed it; it is gone once its task sees so.
    killed: bool,
    /// It has pub/sub subscriptions: of type `pubsub`, `flags=P` (in either protocol, as
    /// Redis 7.0 types it), not `normal`.
    subscribed: bool,
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
        let client = Client {
            addr,
            laddr,
            fd,
            opened: Instant::now(),
            name: Vec::new(),
            protocol: Protocol::Resp2,
            killed: false,
            subscribed: false,
        };
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

    /// Notes the protocol connection `id` speaks from now on.
    pub fn set_protocol(&self, id: u64, protocol: Protocol) {
        if let Some(client) = self.0.borrow_mut().get_mut(&id) {
            client.protocol = protocol;
        }
    }

    /// Notes whether connection `id` has pub/sub subscriptions now.
    pub fn set_subscribed(&self, id: u64, subscribed: bool) {
        if let Some(client) = self.0.borrow_mut().get_mut(&id) {
            client.subscribed = subscribed;
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
            if client.killed || !kill.matches(id, &client.addr.to_string(), &laddr, client.subscribed) {
                continue;
            }
            client.killed = true;
            killed += 1;
            if id != kill.asking {
                // SAFETY: shutdown takes no pointers. The descriptor is the connection's
                // own and still open: an entry is removed before its socket closes (`conn.rs`:
                // `Listed` drops before the stream), on this same thread.
                unsafe { libc::shutdown(client.fd, libc::SHUT_RDWR) };
            }
        }
        killed
    }

    /// Whether CLIENT KILL closed connection `id`.
    pub fn killed(&self, id: u64) -> bool {
        self.0.borrow().get(&id).is_some_and(|client| client.killed)
    }

    /// This core's part of CLIENT LIST: the lines of its connections `listing` names, each
    /// after the key that orders it among every core's ([`join_lists`]): its id, or for
    /// `Listing::Ids` the place of the id asked; as one bulk string (for [`join_lists`], on
    /// the asking core: not the client's reply). Killed ones are left out, as Redis frees
    /// them at once.
    pub fn list(&self, listing: Listing<'_>, out: &mut Vec<u8>) {
        let clients = self.0.borrow();
        let now = Instant::now();
        let mut text = String::new();
        let mut keyed = |key: u64, id: u64, client: &Client| {
            let _ = write!(text, "{key} ");
            client.line(id, now, &mut text);
        };
        match listing {
            Listing::Every => clients.iter().filter(|(_, c)| !c.killed).for_each(|(&id, c)| keyed(id, id, c)),
            Listing::Subscribed(subscribed) => clients
                .iter()
                .filter(|(_, c)| !c.killed && c.subscribed == subscribed)
                .for_each(|(&id, c)| keyed(id, id, c)),
            Listing::Ids(ids) => {
                let ids = ids.chunks_exact(8).filter_map(|id| Some(u64::from_le_bytes(id.try_into().ok()?)));
                for (at, id) in ids.enumerate() {
                    if let Some(client) = clients.get(&id).filter(|c| !c.killed) {
                        keyed(at as u64, id, client);
                    }
                }
            }
        }
        replies::bulk(out, text.as_bytes());
    }

    /// The connections open here, those CLIENT LIST lists (INFO's `connected_clients`).
    pub fn count(&self) -> usize {
        self.0.borrow().values().filter(|c| !c.killed).count()
    }

    /// CLIENT INFO: connection `id`'s line, in `protocol` (a verbatim string in RESP3).
    pub fn info(&self, id: u64, protocol: Protocol, out: &mut Vec<u8>) {
        let mut text = String::new();
        if let Some(client) = self.0.borrow().get(&id) {
            client.line(id, Instant::now(), &mut text);
        }
        replies::verbatim(out, text.as_bytes(), protocol);
    }
}

/// Which connections CLIENT LIST asks each core for: every one, or those of the ids given
/// (little-endian `u64`s, as they travel to the other cores), in the order given: Redis
/// lists them so, an id asked twice twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing<'a> {
    Every,
    Ids(&'a [u8]),
    /// `TYPE pubsub` (`true`) or `TYPE normal`: the connections with subscriptions, or those
    /// without.
    Subscribed(bool),
}

/// What CLIENT LIST asks for, once read: [`Listing`]'s variants, the ids owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Every,
    Ids(Vec<u8>),
    Subscribed(bool),
}

impl Asked {
    /// As the operation carries it.
    pub fn listing(&self) -> Listing<'_> {
        match self {
            Asked::Every => Listing::Every,
            Asked::Ids(ids) => Listing::Ids(ids),
            Asked::Subscribed(subscribed) => Listing::Subscribed(*subscribed),
        }
    }
}

/// CLIENT LIST's options (`args` after LIST), read as Redis 7.0 reads them: none for every
/// connection; `TYPE normal` or `pubsub` for those without or with subscriptions; `ID
/// id...`, or a `TYPE` no connection here is, for those ids' (their bytes, as
/// [`Listing::Ids`] carries them; none for such a type); else Redis' error.
pub fn parse_list(args: &[&[u8]]) -> Result<Asked, Vec<u8>> {
    match args {
        [] => Ok(Asked::Every),
        [option, kind] if option.eq_ignore_ascii_case(b"type") => match client_type(kind) {
            Some(ClientType::Normal) => Ok(Asked::Subscribed(false)),
            Some(ClientType::PubSub) => Ok(Asked::Subscribed(true)),
            Some(ClientType::Other) => Ok(Asked::Ids(Vec::new())),
            None => Err([&b"ERR Unknown client type '"[..], replies::c_text(kind, usize::MAX), b"'"].concat()),
        },
        [option, ids @ ..] if option.eq_ignore_ascii_case(b"id") && !ids.is_empty() => {
            let ids = ids.iter().map(|id| integer(id)).collect::<Option<Vec<i64>>>();
            let ids = ids.ok_or(&b"ERR Invalid client ID"[..])?;
            // A negative id is no client's.
            Ok(Asked::Ids(ids.into_iter().filter_map(|id| u64::try_from(id).ok()).flat_map(u64::to_le_bytes).collect()))
        }
        _ => Err(b"ERR syntax error".to_vec()),
    }
}

/// CLIENT LIST's reply from every core's part (`bodies`, each [`Clients::list`]'s text):
/// their lines in the order of the keys they start with, without the keys, as one text (a
/// verbatim string in RESP3, a bulk string in RESP2). No two lines share a key: an id is one
/// connection's, on one core.
pub fn join_lists(bodies: &[&[u8]], protocol: Protocol, out: &mut Vec<u8>) {
    let mut lines: Vec<(u64, &[u8])> = bodies
        .iter()
        .flat_map(|body| body.split_inclusive(|&b| b == b'\n'))
        .filter_map(|line| {
            let space = line.iter().position(|&b| b == b' ')?;
            let key = std::str::from_utf8(&line[..space]).ok()?.parse().ok()?;
            Some((key, &line[space + 1..]))
        })
        .collect();
    lines.sort_unstable_by_key(|&(key, _)| key);
    let text: Vec<u8> = lines.into_iter().flat_map(|(_, line)| line.iter().copied()).collect();
    replies::verbatim(out, &text, protocol);
}

/// A client type CLIENT LIST and KILL filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// `normal`: a connection without subscriptions.
    Normal,
    /// `pubsub`: one with subscriptions.
    PubSub,
    /// `master`, `replica`, `slave`: no kv connection is one.
    Other,
}

/// The client type named `kind` (any case); `None` for a type Redis does not know.
pub fn client_type(kind: &[u8]) -> Option<ClientType> {
    let is = |name: &[u8]| kind.eq_ignore_ascii_case(name);
    match () {
        _ if is(b"normal") => Some(ClientType::Normal),
        _ if is(b"pubsub") => Some(ClientType::PubSub),
        _ if is(b"master") || is(b"replica") || is(b"slave") => Some(ClientType::Other),
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
            "id={id} addr={} laddr={} fd={} name={} age={age} flags={} db=0 user=default resp={}",
            self.addr,
            addr(self.laddr),
            self.fd,
            String::from_utf8_lossy(&self.name),
            if self.subscribed { 'P' } else { 'N' },
            self.protocol.version(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(words: &[&str]) -> Result<Asked, String> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        parse_list(&args).map_err(|e| String::from_utf8(e).unwrap())
    }

    fn ids(ids: &[u64]) -> Asked {
        Asked::Ids(ids.iter().flat_map(|id| id.to_le_bytes()).collect())
    }

    #[test]
    fn options_are_read_as_redis_7_reads_them() {
        assert_eq!(read(&[]), Ok(Asked::Every));
        assert_eq!(read(&["TYPE", "Normal"]), Ok(Asked::Subscribed(false)));
        assert_eq!(read(&["type", "PubSub"]), Ok(Asked::Subscribed(true)));
        assert_eq!(read(&["type", "master"]), Ok(ids(&[])));
        assert_eq!(read(&["ID", "5", "-1", "3", "5"]), Ok(ids(&[5, 3, 5])), "in the order asked, repeats kept");
        assert_eq!(read(&["type", "foo\0bar"]), Err("ERR Unknown client type 'foo'".into()));
        assert_eq!(read(&["id", "5", "x"]), Err("ERR Invalid client ID".into()));
        for syntax in [&["id"][..], &["type"], &["type", "normal", "id", "1"], &["foo"]] {
            assert_eq!(read(syntax), Err("ERR syntax error".into()), "{syntax:?}");
        }
    }

    /// Two cores' parts, joined: every connection in id order, or the ids asked in the order
    /// asked; a killed one nowhere; the count is what is listed.
    #[test]
    fn every_cores_lines_join_in_order() {
        let (core0, core1) = (Clients::default(), Clients::default());
        [1, 4, 6].into_iter().for_each(|id| core0.open_unconnected(id));
        [2, 3, 5].into_iter().for_each(|id| core1.open_unconnected(id));
        core1.rename(3, b"three");
        let kill = Kill { id: 6, addr: None, laddr: None, asking: 1, skip_me: true, subscribed: None };
        assert_eq!(core0.kill(&kill), 1);
        assert_eq!((core0.count(), core1.count()), (2, 3), "the killed one is not counted");
        let listed = |listing: Listing<'_>| -> Vec<String> {
            let parts = [&core1, &core0].map(|core| {
                let mut part = Vec::new();
                core.list(listing, &mut part);
                part
            });
            let mut out = Vec::new();
            replies::combine(replies::Combine::ClientList, Protocol::Resp2, parts.iter().map(Vec::as_slice), &mut out);
            let text = String::from_utf8(out).unwrap();
            let body = text.split_once("\r\n").unwrap().1.strip_suffix("\r\n").unwrap();
            assert!(text.starts_with(&format!("${}\r\n", body.len())), "{text}");
            let kept = |f: &&str| f.starts_with("id=") || f.starts_with("name=");
            body.lines().map(|l| l.split(' ').filter(kept).collect::<Vec<_>>().join(" ")).collect()
        };
        let line = |id, name| format!("id={id} name={name}");
        let every = [1, 2, 3, 4, 5].map(|id| line(id, if id == 3 { "three" } else { "" }));
        assert_eq!(listed(Listing::Every), every);
        let Asked::Ids(asked) = ids(&[5, 6, 99, 1, 5]) else { unreachable!() };
        assert_eq!(listed(Listing::Ids(&asked)), [line(5, ""), line(1, ""), line(5, "")]);
        assert_eq!(listed(Listing::Ids(&[])), Vec::<String>::new());
    }
}
