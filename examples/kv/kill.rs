//! CLIENT KILL, as Redis 7.0 reads it: the old form, `CLIENT KILL ip:port` (`+OK`, or `-ERR
//! No such client`, and a connection may kill itself), and the new one, `CLIENT KILL option
//! value ...` with ID, ADDR, LADDR, TYPE, USER and SKIPME (the count of connections killed;
//! the asking one spared unless `SKIPME no`). A connection may live on any core: the kill
//! goes to every core as an operation (`Op::Kill`), each closes its own connections that
//! match (`Clients::kill`), and the counts add up. CLIENT LIST goes the same way
//! (`Op::ClientList`, `clients.rs`). A connection whose last reply is written (its close
//! lingering, `conn.rs`) is no longer listed, so no kill finds it: Redis has freed it by then.

use super::clients::{client_type, ClientType};
use super::replies::{self, Combine};
use super::resp::integer;

/// Which connections a CLIENT KILL closes: those that match every filter it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill<'a> {
    /// ID: the connection numbered so; 0 for any.
    pub id: u64,
    /// ADDR (or the old form's address): the client's `ip:port`, as CLIENT LIST writes it.
    pub addr: Option<&'a [u8]>,
    /// LADDR: the server's `ip:port` the client reached.
    pub laddr: Option<&'a [u8]>,
    /// The connection that asked.
    pub asking: u64,
    /// Whether the asking connection is spared (SKIPME yes, the default of the new form).
    pub skip_me: bool,
    /// TYPE `pubsub` (`Some(true)`) or `normal`: only connections with subscriptions, or
    /// only those without; `None` for any.
    pub subscribed: Option<bool>,
}

/// What a CLIENT KILL asks for, once read.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Closing the connections `kill` matches on every core, the counts combined as said.
    Kill(Kill<'a>, Combine),
    /// Nothing to close (TYPE master, say: no kv connection is one): `:0`.
    Nobody,
}

const SYNTAX: &str = "ERR syntax error";

/// `CLIENT KILL ...` (`args` after KILL) from connection `asking`, or Redis 7.0's error.
pub fn parse<'a>(args: &[&'a [u8]], asking: u64) -> Result<Request<'a>, Vec<u8>> {
    let mut kill = Kill { id: 0, addr: None, laddr: None, asking, skip_me: true, subscribed: None };
    match args {
        [] => return Err(b"ERR wrong number of arguments for 'client|kill' command".to_vec()),
        // The old form: a connection may kill itself with it.
        [addr] => {
            kill.addr = Some(addr);
            kill.skip_me = false;
            return Ok(Request::Kill(kill, Combine::Killed));
        }
        _ => {}
    }
    let mut nobody = false;
    for pair in args.chunks(2) {
        let [option, value] = pair else { return Err(SYNTAX.into()) };
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"id") {
            kill.id = integer(value)
                .and_then(|id| u64::try_from(id).ok())
                .filter(|&id| id > 0)
                .ok_or(&b"ERR client-id should be greater than 0"[..])?;
        } else if is(b"type") {
            // `%s`: the type as given, up to a NUL.
            let unknown = || [&b"ERR Unknown client type '"[..], replies::c_text(value, usize::MAX), b"'"].concat();
            // The last TYPE counts, as in Redis.
            (kill.subscribed, nobody) = match client_type(value).ok_or_else(unknown)? {
                ClientType::Normal => (Some(false), false),
                ClientType::PubSub => (Some(true), false),
                ClientType::Other => (None, true),
            };
        } else if is(b"addr") {
            kill.addr = Some(value);
        } else if is(b"laddr") {
            kill.laddr = Some(value);
        } else if is(b"user") {
            // Every connection is the `default` user's, the one user there is.
            if *value != b"default" {
                return Err([&b"ERR No such user '"[..], replies::c_text(value, usize::MAX), b"'"].concat());
            }
        } else if is(b"skipme") && value.eq_ignore_ascii_case(b"yes") {
            kill.skip_me = true;
        } else if is(b"skipme") && value.eq_ignore_ascii_case(b"no") {
            kill.skip_me = false;
        } else {
            return Err(SYNTAX.into());
        }
    }
    Ok(if nobody { Request::Nobody } else { Request::Kill(kill, Combine::Sum) })
}

impl Kill<'_> {
    /// Whether it closes connection `id`, from `addr` to `laddr` (each as CLIENT LIST
    /// writes it), `subscribed` or not; compared as Redis' `strcmp` compares, up to a NUL in
    /// what was given.
    pub fn matches(&self, id: u64, addr: &str, laddr: &str, subscribed: bool) -> bool {
        let same =
            |given: Option<&[u8]>, have: &str| given.is_none_or(|g| replies::c_text(g, usize::MAX) == have.as_bytes());
        (self.id == 0 || self.id == id)
            && !(self.skip_me && id == self.asking)
            && same(self.addr, addr)
            && same(self.laddr, laddr)
            && self.subscribed.is_none_or(|wanted| wanted == subscribed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(words: &[&'static str]) -> Result<Request<'static>, String> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        parse(&args, 7).map_err(|e| String::from_utf8(e).unwrap())
    }

    #[test]
    fn options_are_read_as_redis_7_reads_them() {
        let kill = |id, addr, laddr, skip_me| Kill { id, addr, laddr, asking: 7, skip_me, subscribed: None };
        let new = |k| Ok(Request::Kill(k, Combine::Sum));
        assert_eq!(
            read(&["1.2.3.4:5"]),
            Ok(Request::Kill(kill(0, Some(&b"1.2.3.4:5"[..]), None, false), Combine::Killed))
        );
        assert_eq!(read(&["ID", "9"]), new(kill(9, None, None, true)));
        assert_eq!(
            read(&["addr", "a:1", "LADDR", "b:2", "skipme", "NO"]),
            new(kill(0, Some(b"a:1"), Some(b"b:2"), false))
        );
        assert_eq!(read(&["skipme", "no", "SKIPME", "yes", "user", "default"]), new(kill(0, None, None, true)));
        let typed = |subscribed| new(Kill { subscribed, ..kill(0, None, None, true) });
        assert_eq!(read(&["type", "Normal"]), typed(Some(false)));
        assert_eq!(read(&["type", "pubsub"]), typed(Some(true)));
        assert_eq!(read(&["type", "master", "type", "pubsub"]), typed(Some(true)), "the last TYPE counts");
        assert_eq!(read(&["type", "master", "id", "3"]), Ok(Request::Nobody));
        let refused: [(&[&str], &str); 10] = [
            (&[], "ERR wrong number of arguments for 'client|kill' command"),
            (&["id", "1", "addr"], SYNTAX),
            (&["foo", "bar"], SYNTAX),
            (&["skipme", "maybe"], SYNTAX),
            (&["id", "0"], "ERR client-id should be greater than 0"),
            (&["id", "-3"], "ERR client-id should be greater than 0"),
            (&["id", "x"], "ERR client-id should be greater than 0"),
            (&["type", "master", "id", "x"], "ERR client-id should be greater than 0"),
            (&["type", "foo"], "ERR Unknown client type 'foo'"),
            (&["user", "bob"], "ERR No such user 'bob'"),
        ];
        for (words, want) in refused {
            assert_eq!(read(words), Err(want.to_string()), "CLIENT KILL {words:?}");
        }
    }

    #[test]
    fn a_kill_matches_every_filter_it_gives() {
        let any = Kill { id: 0, addr: None, laddr: None, asking: 7, skip_me: true, subscribed: None };
        assert!(any.matches(3, "1.1.1.1:1", "2.2.2.2:2", false));
        assert!(!any.matches(7, "1.1.1.1:1", "2.2.2.2:2", false), "the asking one is spared");
        assert!(Kill { skip_me: false, ..any }.matches(7, "a", "b", false));
        assert!(!Kill { id: 4, ..any }.matches(3, "a", "b", false));
        let by_addr = Kill { addr: Some(b"1.1.1.1:1\0junk"), ..any };
        assert!(by_addr.matches(3, "1.1.1.1:1", "x", false), "up to the NUL, as strcmp reads it");
        assert!(!by_addr.matches(3, "1.1.1.1:10", "x", false));
        assert!(!Kill { laddr: Some(b"2.2.2.2:3"), ..any }.matches(3, "a", "2.2.2.2:2", false));
        let pubsub = Kill { subscribed: Some(true), ..any };
        assert!(pubsub.matches(3, "a", "b", true) && !pubsub.matches(3, "a", "b", false));
        let normal = Kill { subscribed: Some(false), ..any };
        assert!(normal.matches(3, "a", "b", false) && !normal.matches(3, "a", "b", true));
        assert!(any.matches(3, "a", "b", true), "no TYPE: either");
    }
}
