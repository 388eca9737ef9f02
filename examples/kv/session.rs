//! What a connection is to the server, as Redis 7 keeps it: an id, a name (kept with its
//! core's list of connections, `clients.rs`, which CLIENT LIST reads) and the protocol it
//! speaks, and the commands that read or set them (HELLO, CLIENT ID, GETNAME and SETNAME),
//! with AUTH as redis-server answers it without a password configured. Client libraries
//! send these on connecting: go-redis, lettuce and redis-py 8 start with `HELLO 3`, and from
//! then on get RESP3 replies (`replies.rs`); `HELLO 2` goes back to RESP2.

use std::sync::atomic::{AtomicU64, Ordering};

use super::clients::{self, Asked, Clients};
use super::info;
use super::kill::{self, Kill, Request};
use super::replies::{self, Combine, Protocol};
use super::resp::integer;

/// The next connection's id: process-wide, from 1 up, as Redis numbers its clients.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One connection's id and protocol; its name is its entry's in [`Clients`].
#[derive(Debug)]
pub struct Session {
    id: u64,
    /// Read for every reply that differs between the protocols, so kept here, beside the
    /// pipeline, rather than only in the core's list of connections (which has a copy for
    /// CLIENT LIST).
    protocol: Protocol,
}

impl Session {
    /// A new connection's: the next id, RESP2 (until HELLO says otherwise).
    pub fn new() -> Session {
        Session { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), protocol: Protocol::Resp2 }
    }

    /// The connection's id (CLIENT ID).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The protocol the connection's replies are in.
    #[inline]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

/// A CLIENT request that every core answers for its own connections, their answers combined.
#[derive(Debug, PartialEq, Eq)]
pub enum EveryCore<'a> {
    /// CLIENT KILL: the kill, and how the cores' counts combine into the reply.
    Kill(Kill<'a>, Combine),
    /// CLIENT LIST: the connections asked for.
    List(Asked),
}

/// Answers the request `args` (HELLO or CLIENT, its name first) for `session`, one of the
/// connections of `clients` (its core's); for CLIENT KILL and LIST, returns what every core
/// is to answer instead.
pub fn answer<'a>(
    args: &[&'a [u8]],
    session: &mut Session,
    clients: &Clients,
    out: &mut Vec<u8>,
) -> Option<EveryCore<'a>> {
    match args.split_first() {
        Some((name, args)) if name.eq_ignore_ascii_case(b"hello") => hello(args, session, clients, out),
        Some((_, args)) => return client(args, session, clients, out),
        None => {}
    }
    None
}

const NAME_REFUSED: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Whether `user` may log in with any password: Redis' `default` user, which has no
/// password when none is configured (and none can be here); no other user exists.
fn known_user(user: &[u8]) -> bool {
    user == b"default"
}

/// AUTH `[username] password` (`args` after the name), as redis-server 7 answers it
/// without a password configured: the one-argument form is refused, as Redis refuses it
/// then; the `default` user logs in with any password, any other user does not exist.
pub fn auth(args: &[&[u8]], out: &mut Vec<u8>) {
    match args {
        [] => replies::error(out, "ERR wrong number of arguments for 'auth' command"),
        [_] => replies::error(
            out,
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ),
        [user, _] if known_user(user) => replies::ok(out),
        [_, _] => replies::error(out, WRONGPASS),
        _ => replies::error(out, "ERR syntax error"),
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME name]]`, read as redis-server 7.0.15
/// reads it: the version first (2 or 3; any other integer is refused with `-NOPROTO`), then
/// each option acted on as it is read, in order (an unknown user stops there, a name is set
/// before a later option is refused); only once all are taken does the connection switch to
/// the version asked (none asked: it keeps its own), and the answer, the server's map, is
/// in that version.
fn hello(args: &[&[u8]], session: &mut Session, clients: &Clients, out: &mut Vec<u8>) {
    let Some((version, mut options)) = args.split_first() else { return server_map(session, out) };
    let protocol = match integer(version) {
        Some(2) => Protocol::Resp2,
        Some(3) => Protocol::Resp3,
        Some(_) => return replies::error(out, "NOPROTO unsupported protocol version"),
        None => return replies::error(out, "ERR Protocol version is not an integer or out of range"),
    };
    while let [option, rest @ ..] = options {
        let is = |word: &[u8]| option.eq_ignore_ascii_case(word);
        options = match rest {
            [user, _password, rest @ ..] if is(b"auth") => {
                if !known_user(user) {
                    return replies::error(out, WRONGPASS);
                }
                rest
            }
            [given, rest @ ..] if is(b"setname") => {
                if !valid_name(given) {
                    return replies::error(out, NAME_REFUSED);
                }
                set_name(session, clients, given);
                rest
            }
            _ => {
                let option = replies::c_text(option, usize::MAX); // `%s`
                return replies::error_bytes(out, &[&b"ERR Syntax error in HELLO option '"[..], option, b"'"].concat());
            }
        };
    }
    session.protocol = protocol;
    clients.set_protocol(session.id, protocol);
    server_map(session, out);
}

/// HELLO's answer, as redis-server 7.0.15 gives it, a map in RESP3 (an array of its pairs in
/// RESP2): kv answers every command it has as that version does, so it names itself so to
/// the clients that look.
fn server_map(session: &Session, out: &mut Vec<u8>) {
    replies::map(out, 7, session.protocol);
    for (field, value) in [("server", "redis"), ("version", info::REDIS_VERSION)] {
        replies::bulk(out, field.as_bytes());
        replies::bulk(out, value.as_bytes());
    }
    replies::bulk(out, b"proto");
    replies::int(out, session.protocol.version());
    replies::bulk(out, b"id");
    replies::int(out, session.id as i64);
    for (field, value) in [("mode", "standalone"), ("role", "master")] {
        replies::bulk(out, field.as_bytes());
        replies::bulk(out, value.as_bytes());
    }
    replies::bulk(out, b"modules");
    replies::array(out, 0);
}

/// Redis 7.0.15's CLIENT HELP, line for line (an array of statuses), though kv answers only
/// ID, GETNAME, SETNAME, SETINFO, LIST, INFO, KILL and HELP.
const HELP: [&str; 48] = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

/// CLIENT ID, GETNAME, SETNAME, SETINFO (which Redis 7.2 has: libraries send it and kv
/// keeps nothing of it), INFO, HELP, and LIST and KILL (returned, for every core to run),
/// with Redis 7's errors for the rest.
fn client<'a>(args: &[&'a [u8]], session: &Session, clients: &Clients, out: &mut Vec<u8>) -> Option<EveryCore<'a>> {
    let protocol = session.protocol;
    let Some((sub, rest)) = args.split_first() else {
        replies::error(out, "ERR wrong number of arguments for 'client' command");
        return None;
    };
    let lower = sub.to_ascii_lowercase();
    match (lower.as_slice(), rest) {
        (b"id", []) => replies::int(out, session.id as i64),
        (b"getname", []) => match clients.name(session.id).filter(|name| !name.is_empty()) {
            Some(name) => replies::bulk(out, &name),
            None => replies::null(out, protocol),
        },
        (b"setname", [name]) if valid_name(name) => {
            set_name(session, clients, name);
            replies::ok(out);
        }
        (b"setname", [_]) => replies::error(out, NAME_REFUSED),
        (b"setinfo", _) => replies::ok(out),
        (b"help", []) => replies::help(out, &HELP),
        (b"list", options) => match clients::parse_list(options) {
            // No connection here is of the type asked for, or has an id asked for.
            Ok(Asked::Ids(ids)) if ids.is_empty() => replies::verbatim(out, b"", protocol),
            Ok(asked) => return Some(EveryCore::List(asked)),
            Err(e) => replies::error_bytes(out, &e),
        },
        (b"info", []) => clients.info(session.id, protocol, out),
        (b"kill", options) => match kill::parse(options, session.id) {
            Ok(Request::Kill(kill, how)) => return Some(EveryCore::Kill(kill, how)),
            Ok(Request::Nobody) => replies::int(out, 0),
            Err(e) => replies::error_bytes(out, &e),
        },
        (b"id" | b"getname" | b"setname" | b"help" | b"info", _) => {
            let sub = String::from_utf8_lossy(&lower);
            replies::error(out, &format!("ERR wrong number of arguments for 'client|{sub}' command"));
        }
        _ => replies::error_bytes(out, &unknown_subcommand(sub, "CLIENT")),
    }
    None
}

/// Redis' error for a subcommand `command` does not have, byte for byte: the name as
/// `%.128s` prints it (`replies::c_text`).
pub fn unknown_subcommand(sub: &[u8], command: &str) -> Vec<u8> {
    let sub = replies::c_text(sub, replies::QUOTED);
    [&b"ERR unknown subcommand '"[..], sub, b"'. Try ", command.as_bytes(), b" HELP."].concat()
}

/// Whether Redis takes `name` for a client's: printable ASCII without spaces (or empty,
/// which clears the name).
fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|b| (b'!'..=b'~').contains(b))
}

fn set_name(session: &Session, clients: &Clients, name: &[u8]) {
    clients.rename(session.id, name);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions open on one core.
    fn sessions<const N: usize>() -> (Clients, [Session; N]) {
        let clients = Clients::default();
        let sessions = [(); N].map(|_| Session::new());
        sessions.iter().for_each(|s| clients.open_unconnected(s.id));
        (clients, sessions)
    }

    fn run(clients: &Clients, session: &mut Session, name: &str, args: &[&str]) -> String {
        let args: Vec<&[u8]> = std::iter::once(name).chain(args.iter().copied()).map(str::as_bytes).collect();
        let mut out = Vec::new();
        answer(&args, session, clients, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ids_are_unique_and_names_are_kept_per_session() {
        let (clients, [mut a, mut b]) = sessions();
        assert!(b.id > a.id);
        assert_eq!(run(&clients, &mut a, "client", &["SETNAME", "x"]), "+OK\r\n");
        assert_eq!(run(&clients, &mut a, "client", &["getname"]), "$1\r\nx\r\n");
        assert_eq!(run(&clients, &mut b, "client", &["getname"]), "$-1\r\n");
        assert_eq!(run(&clients, &mut a, "client", &["setname", ""]), "+OK\r\n");
        assert_eq!(run(&clients, &mut a, "client", &["getname"]), "$-1\r\n", "an empty name clears it");
        assert_eq!(run(&clients, &mut b, "client", &["id"]), format!(":{}\r\n", b.id));
    }

    /// One copy of a name: what CLIENT LIST lists is what GETNAME answers, however it was set.
    #[test]
    fn the_name_is_the_one_its_core_lists() {
        let (clients, [mut s]) = sessions();
        clients.rename(s.id, b"listed");
        assert_eq!(run(&clients, &mut s, "client", &["getname"]), "$6\r\nlisted\r\n");
        run(&clients, &mut s, "hello", &["2", "setname", "lib"]);
        let mut line = Vec::new();
        clients.info(s.id, Protocol::Resp2, &mut line);
        assert!(String::from_utf8(line).unwrap().contains(" name=lib "));
    }

    /// Each with the reply redis-server 7.0.15 gave; none of them switched the protocol.
    #[test]
    fn hello_refuses_as_redis_7_refuses() {
        let (clients, [mut s]) = sessions();
        let cases: [(&[&str], &str); 13] = [
            (&["4"], "-NOPROTO unsupported protocol version\r\n"),
            (&["4", "bogus"], "-NOPROTO unsupported protocol version\r\n"),
            (&["1"], "-NOPROTO unsupported protocol version\r\n"),
            (&["-1"], "-NOPROTO unsupported protocol version\r\n"),
            (&["abc"], "-ERR Protocol version is not an integer or out of range\r\n"),
            (&["03"], "-ERR Protocol version is not an integer or out of range\r\n"),
            (&["3", "AUTH"], "-ERR Syntax error in HELLO option 'AUTH'\r\n"),
            (&["3", "AUTH", "default"], "-ERR Syntax error in HELLO option 'AUTH'\r\n"),
            (&["2", "setname"], "-ERR Syntax error in HELLO option 'setname'\r\n"),
            (&["3", "bogus"], "-ERR Syntax error in HELLO option 'bogus'\r\n"),
            (&["3", "SETNAME", "a b"], &format!("-{NAME_REFUSED}\r\n")),
            (&["3", "AUTH", "bob", "pw", "SETNAME", "n"], &format!("-{WRONGPASS}\r\n")),
            (&["3", "SETNAME", "lib", "bogus"], "-ERR Syntax error in HELLO option 'bogus'\r\n"),
        ];
        for (args, want) in cases {
            assert_eq!(run(&clients, &mut s, "hello", args), want, "HELLO {args:?}");
            assert_eq!(s.protocol(), Protocol::Resp2, "HELLO {args:?} kept RESP2");
        }
        // As Redis, the name is set as the option is read, before a later one is refused.
        assert_eq!(clients.name(s.id), Some(b"lib".to_vec()));
        let map = run(&clients, &mut s, "hello", &["2", "auth", "default", "any", "setname", "lib2"]);
        assert!(map.starts_with("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{map}");
        assert_eq!(clients.name(s.id), Some(b"lib2".to_vec()));
    }

    /// HELLO 3's map, byte for byte as redis-server 7.0.15 gave it (but the id); then the
    /// connection's nulls and texts are RESP3's, until HELLO 2; a bare HELLO keeps either.
    #[test]
    fn hello_switches_the_protocol() {
        let (clients, [mut s]) = sessions();
        let id = s.id;
        let map = |head: &str, proto: u8| {
            format!(
                "{head}\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:{proto}\r\n\
                 $2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
            )
        };
        assert_eq!(run(&clients, &mut s, "hello", &[]), map("*14", 2));
        assert_eq!(run(&clients, &mut s, "HELLO", &["3"]), map("%7", 3));
        assert_eq!(s.protocol(), Protocol::Resp3);
        assert_eq!(run(&clients, &mut s, "hello", &[]), map("%7", 3), "a bare HELLO keeps RESP3");
        assert_eq!(run(&clients, &mut s, "client", &["getname"]), "_\r\n");
        let info = run(&clients, &mut s, "client", &["info"]);
        let text = info.strip_prefix('=').and_then(|rest| rest.split_once("\r\ntxt:")).expect("a verbatim string");
        assert_eq!(text.0.parse::<usize>().unwrap(), text.1.len() - 2 + 4, "{info}");
        assert!(text.1.ends_with(" resp=3\n\r\n"), "{info}");
        assert_eq!(run(&clients, &mut s, "client", &["list", "type", "replica"]), "=4\r\ntxt:\r\n");
        assert_eq!(run(&clients, &mut s, "hello", &["3", "auth", "default", "pw", "setname", "lib"]), map("%7", 3));
        assert_eq!(run(&clients, &mut s, "client", &["getname"]), "$3\r\nlib\r\n");
        assert_eq!(run(&clients, &mut s, "hello", &["2"]), map("*14", 2));
        assert_eq!(run(&clients, &mut s, "client", &["setname", ""]), "+OK\r\n");
        assert_eq!(run(&clients, &mut s, "client", &["getname"]), "$-1\r\n");
        assert!(run(&clients, &mut s, "client", &["info"]).ends_with(" resp=2\n\r\n"));
    }
}
