//! One core's connections, for CLIENT LIST, INFO and KILL: of the fields Redis 7 lists for a
//! client, those kv knows (id, addresses, descriptor, name, age, idle time, last command,
//! and the constant ones: no flags, database 0, user `default`, and the protocol it
//! speaks), one line each. A connection is listed from its
//! accept until its last reply is written (QUIT, a protocol error, CLIENT KILL), as Redis
//! frees a client then: not while its close lingers (`conn.rs`).
//!
//! CLIENT LIST shows every connection of the server, as Redis does (monitoring tools count
//! them): it goes to every core as an operation (`Op::ClientList`), the way CLIENT KILL does
//! (`kill.rs`), each core answers with its own connections' lines, and the lines are merged
//! in id order (ids are process-wide, `session.rs`), or for `ID id...` in the order asked
//! (`join_lists`). CLIENT INFO and GETNAME read the asking connection's entry, on its core.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Instant;

use ringpoll::net::TcpStream;

use super::kill::Kill;
use super::replies::{self, Protocol};
use super::resp::integer;
use super::server::COMMANDS;

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
    /// Its last command and when it came (`cmd=`, `idle=`), noted by its pipeline.
    last: Noted,
}

/// Where a connection's pipeline notes its last command, shared with its [`Client`].
pub type Noted = Rc<Cell<LastCommand>>;

/// The longest command or subcommand name noted; every one Redis has fits.
const NAME_MOST: usize = 16;

/// A connection's last command as it came (its name and its first argument, cut to 16
/// bytes: every name Redis has fits), and when: a copy per command, the name read only
/// when a line is written ([`LastCommand::cmd`]).
#[derive(Debug, Clone, Copy)]
pub struct LastCommand {
    name: [u8; NAME_MOST],
    name_len: u8,
    sub: [u8; NAME_MOST],
    sub_len: u8,
    at: Option<Instant>,
}

impl LastCommand {
    const NONE: LastCommand =
        LastCommand { name: [0; NAME_MOST], name_len: 0, sub: [0; NAME_MOST], sub_len: 0, at: None };

    /// The request `args` (not empty), run at `at`.
    #[inline]
    pub fn of(args: &[&[u8]], at: Instant) -> LastCommand {
        let mut last = LastCommand { at: Some(at), ..LastCommand::NONE };
        last.name_len = copy_name(&mut last.name, args[0]);
        if let Some(sub) = args.get(1) {
            last.sub_len = copy_name(&mut last.sub, sub);
        }
        last
    }

    /// `cmd=` as Redis 7.0 writes it: the command's name in lower case, `name|sub` for a
    /// container's subcommand (CLIENT, CONFIG, MEMORY, COMMAND), `NULL` for none yet or
    /// for a command (or subcommand) the server does not know.
    fn cmd(&self) -> String {
        const NULL: &str = "NULL";
        let name =
            String::from_utf8_lossy(&self.name[..usize::from(self.name_len).min(NAME_MOST)]).to_ascii_lowercase();
        let known = COMMANDS.contains(&name.as_str()) || UNCOUNTED_COMMANDS.contains(&name.as_str());
        if self.at.is_none() || usize::from(self.name_len) > NAME_MOST || !known {
            return NULL.into();
        }
        let Some(&(_, subs)) = SUBCOMMANDS.iter().find(|(container, _)| *container == name) else { return name };
        if self.sub_len == 0 {
            return name;
        }
        let sub = String::from_utf8_lossy(&self.sub[..usize::from(self.sub_len).min(NAME_MOST)]).to_ascii_lowercase();
        match usize::from(self.sub_len) <= NAME_MOST && subs.contains(&sub.as_str()) {
            true => format!("{name}|{sub}"),
            false => NULL.into(),
        }
    }
}

/// Copies `name` into `to` (its first 16 bytes); its whole length, saturated (a longer one
/// is no name Redis knows).
fn copy_name(to: &mut [u8; NAME_MOST], name: &[u8]) -> u8 {
    // By hand: copy_from_slice on a short, variable length calls memcpy.
    for (to, from) in to.iter_mut().zip(name) {
        *to = *from;
    }
    u8::try_from(name.len()).unwrap_or(u8::MAX)
}

/// The commands kv runs that COMMAND COUNT leaves out (`transaction.rs`'s, `pubsub.rs`'s).
const UNCOUNTED_COMMANDS: [&str; 11] = [
    "discard",
    "exec",
    "multi",
    "unwatch",
    "watch",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "publish",
    "pubsub",
];

/// The containers kv knows and the subcommands Redis 7.0 has for them (`cmd=` names those
/// it knows, kv's own or not: a client sees Redis' table in the name).
const SUBCOMMANDS: [(&str, &[&str]); 5] = [
    (
        "client",
        &[
            "caching",
            "getname",
            "getredir",
            "help",
            "id",
            "info",
            "kill",
            "list",
            "no-evict",
            "pause",
            "reply",
            "setname",
            "tracking",
            "trackinginfo",
            "unblock",
            "unpause",
        ],
    ),
    ("config", &["get", "help", "resetstat", "rewrite", "set"]),
    ("memory", &["doctor", "help", "malloc-stats", "purge", "stats", "usage"]),
    ("command", &["count", "docs", "getkeys", "getkeysandflags", "help", "info", "list"]),
    ("pubsub", &["channels", "help", "numpat", "numsub", "shardchannels", "shardnumsub"]),
];

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
            last: Rc::new(Cell::new(LastCommand::NONE)),
        };
        self.0.borrow_mut().insert(id, client);
    }

    /// Where connection `id` notes its last command, if it is open here.
    pub fn noted(&self, id: u64) -> Option<Noted> {
        self.0.borrow().get(&id).map(|client| client.last.clone())
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
}

/// CLIENT LIST's options (`args` after LIST), read as Redis 7.0 reads them: none or `TYPE
/// normal` (every connection here is a normal one) for every connection (`None`); `ID
/// id...`, or a `TYPE` no connection here is, for those ids' (their bytes, as
/// [`Listing::Ids`] carries them; none for such a type); else Redis' error.
pub fn parse_list(args: &[&[u8]]) -> Result<Option<Vec<u8>>, Vec<u8>> {
    match args {
        [] => Ok(None),
        [option, kind] if option.eq_ignore_ascii_case(b"type") => match client_type(kind) {
            Some(true) => Ok(None),
            Some(false) => Ok(Some(Vec::new())),
            None => Err([&b"ERR Unknown client type '"[..], replies::c_text(kind, usize::MAX), b"'"].concat()),
        },
        [option, ids @ ..] if option.eq_ignore_ascii_case(b"id") && !ids.is_empty() => {
            let ids = ids.iter().map(|id| integer(id)).collect::<Option<Vec<i64>>>();
            let ids = ids.ok_or(&b"ERR Invalid client ID"[..])?;
            // A negative id is no client's.
            Ok(Some(ids.into_iter().filter_map(|id| u64::try_from(id).ok()).flat_map(u64::to_le_bytes).collect()))
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
        let age = now.saturating_duration_since(self.opened).as_secs();
        let last = self.last.get();
        let idle = now.saturating_duration_since(last.at.unwrap_or(self.opened)).as_secs();
        let _ = writeln!(
            text,
            "id={id} addr={} laddr={} fd={} name={} age={age} idle={idle} flags=N db=0 cmd={} user=default resp={}",
            self.addr,
            addr(self.laddr),
            self.fd,
            String::from_utf8_lossy(&self.name),
            last.cmd(),
            self.protocol.version(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cmd=` as redis-server 7.0.15 wrote it after each request.
    #[test]
    fn the_last_command_is_named_as_redis_names_it() {
        let cmd = |words: &[&str]| {
            let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            LastCommand::of(&args, Instant::now()).cmd()
        };
        assert_eq!(LastCommand::NONE.cmd(), "NULL");
        assert_eq!(cmd(&["GET", "x"]), "get");
        assert_eq!(cmd(&["GET"]), "get", "a wrong arity still names it");
        assert_eq!(cmd(&["Set", "a", "b"]), "set");
        assert_eq!(cmd(&["NOSUCH"]), "NULL");
        assert_eq!(cmd(&["CLIENT", "NOSUCH"]), "NULL");
        assert_eq!(cmd(&["client", "LIST"]), "client|list");
        assert_eq!(cmd(&["CONFIG", "GET", "maxclients"]), "config|get");
        assert_eq!(cmd(&["MEMORY", "USAGE", "x"]), "memory|usage");
        assert_eq!(cmd(&["COMMAND"]), "command");
        assert_eq!(cmd(&["COMMAND", "COUNT"]), "command|count");
        assert_eq!(cmd(&["hello", "3"]), "hello");
        assert_eq!(cmd(&["MULTI"]), "multi");
        assert_eq!(cmd(&["exec"]), "exec");
        assert_eq!(cmd(&["SUBSCRIBE", "c"]), "subscribe");
        assert_eq!(cmd(&["pubsub", "NUMSUB", "c"]), "pubsub|numsub");
        assert_eq!(cmd(&["hscan", "k", "0"]), "hscan");
        assert_eq!(cmd(&["zrangebyscore1234567890"]), "NULL");
        assert_eq!(cmd(&["client", "getname1234567890123"]), "NULL");
    }

    fn read(words: &[&str]) -> Result<Option<Vec<u8>>, String> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        parse_list(&args).map_err(|e| String::from_utf8(e).unwrap())
    }

    fn ids(ids: &[u64]) -> Option<Vec<u8>> {
        Some(ids.iter().flat_map(|id| id.to_le_bytes()).collect())
    }

    #[test]
    fn options_are_read_as_redis_7_reads_them() {
        assert_eq!(read(&[]), Ok(None));
        assert_eq!(read(&["TYPE", "Normal"]), Ok(None));
        assert_eq!(read(&["type", "pubsub"]), Ok(ids(&[])));
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
        let kill = Kill { id: 6, addr: None, laddr: None, asking: 1, skip_me: true };
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
        let asked = ids(&[5, 6, 99, 1, 5]).unwrap();
        assert_eq!(listed(Listing::Ids(&asked)), [line(5, ""), line(1, ""), line(5, "")]);
        assert_eq!(listed(Listing::Ids(&[])), Vec::<String>::new());
    }
}
