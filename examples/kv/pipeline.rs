//! One connection's pipeline: the requests of one read, run in order, their replies written
//! in order. Replies this core can give are written at once; a request that needs another
//! core leaves a hole in the output, filled when that core's answers come back (see
//! `shard.rs`), so a pipeline mixing local and remote keys waits once, for all its holes.
//!
//! What a connection owes is bounded: a run stops once the replies it owes pass
//! [`REPLY_BUDGET`], those go out, and the requests left run next, from the input already
//! read (see `conn.rs`). Local replies are counted as written; another core's, where they
//! are a status, an integer or a short error, at the most they can take (`Op::reply_size`);
//! where they are values, at the most the largest value that core has held can take
//! (`Shards::value_bound`), if that is less than the guess the rest are counted at: the
//! largest answers this connection had back lately, never less than the budget's
//! [`MAX_FORWARDED`]th part. A run forwards at most that many requests whose replies are
//! guessed, so a wrong guess owes a bounded amount (the budget, one reply, and
//! `MAX_FORWARDED` answers at most). A stream of SETs (`redis-cli --pipe`) thus waits for
//! the other core once per read, and so does a deep pipeline of GETs of small values
//! (`redis-benchmark -P 256`), which used to wait once per 16 forwarded GETs.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::ops::Range;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use super::clients::Asked;
use super::command::{plan, Plan};
use super::config;
use super::copy::{self, payload, Transfer};
use super::direct::Direct;
use super::hash::Key;
use super::lane::append;
use super::op::{Op, ReplySize, BULK_FRAMING, SMALL_REPLY};
use super::pubsub::{self, Kind, Mailbox, Shared};
use super::replies::{self, combine, Combine, Protocol};
use super::resp::{parse_request, Decoded, MAX_LINE};
use super::server;
use super::session::{self, EveryCore, Session};
use super::shard::Shards;
use super::store;
use super::transaction::{self, Control, Exec, Transaction, NOT_IN_TRANSACTION};

/// The reply bytes a run may owe before it stops and lets them be written. A single reply may
/// pass it (one GET of a value up to `MAX_BULK`): requests are never split.
pub const REPLY_BUDGET: usize = 1024 * 1024;

/// Gives back what an emptied buffer of a connection holds past [`REPLY_BUDGET`], once it
/// grew past twice that (a run within the budget can leave it at twice the budget, which
/// is kept, so pipelines of ordinary replies allocate nothing): a client that once sent or
/// read a big value does not hold that much memory for as long as it stays connected, as
/// Redis shrinks its idle clients' buffers. Forty idle clients that had each set an 8 MiB
/// value held 420 MB, against redis-server's 14 MB.
pub fn release_excess(buf: &mut Vec<u8>) {
    if buf.is_empty() && buf.capacity() > 2 * REPLY_BUDGET {
        buf.shrink_to(REPLY_BUDGET);
    }
}

/// The requests a run may forward to other cores whose replies' sizes are only guessed.
/// A pipeline of 16 forwards no more than that, so it runs whole.
pub const MAX_FORWARDED: usize = 16;

/// The least a forwarded request answering with a value counts against the budget, however
/// small that core's values: a run forwards at most 256 of them. The bound it stands in
/// for was read before the run's requests reach that core, so a value written there
/// meanwhile by a client of another core (the owner's own included; this core's are counted
/// as they are sent) may pass it, once (the record only rises); this keeps what such a race
/// can add to one run to 256 answers.
const MIN_VALUE_COST: usize = REPLY_BUDGET / 256;

/// The answers one pipeline waits for: one slot per operation that is not written straight
/// into the output, filled by this core (for multi-key commands) or by the batch replies
/// of other cores. Shared with the shard's queues of waiters.
#[derive(Default)]
pub struct Slots {
    /// The encoded replies, one after another.
    bytes: RefCell<Vec<u8>>,
    /// Where each slot's reply lies in `bytes`: as many as were filled, grown by the fills
    /// (a run of them at once), not by each slot taken.
    ranges: RefCell<Vec<Range<usize>>>,
    /// The slots taken.
    taken: Cell<u32>,
    missing: Cell<usize>,
    waker: Cell<Option<Waker>>,
}

impl Slots {
    /// A new empty slot, to be filled once.
    fn slot(&self) -> u32 {
        let slot = self.taken.get();
        self.taken.set(slot + 1);
        self.missing.set(self.missing.get() + 1);
        slot
    }

    /// Has `ranges` hold slots up to `end`.
    #[inline]
    fn cover(ranges: &mut Vec<Range<usize>>, end: u32) {
        if ranges.len() < end as usize {
            ranges.resize(end as usize, 0..0);
        }
    }

    /// Fills `slot` with the reply `write` appends; wakes the connection once none is missing.
    pub fn fill(&self, slot: u32, write: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = self.bytes.borrow_mut();
        let start = bytes.len();
        write(&mut bytes);
        let mut ranges = self.ranges.borrow_mut();
        Slots::cover(&mut ranges, slot + 1);
        ranges[slot as usize] = start..bytes.len();
        drop(ranges);
        drop(bytes);
        self.filled(1);
    }

    /// Fills up to `count` slots from `first` on with the replies at the front of
    /// `replies`, whose lengths (little-endian `u32`s) are at the front of `lens`, and moves
    /// both past them; returns how many it filled. The replies are copied in one piece, so
    /// consecutive slots lie one after another (see [`Slots::span`]).
    pub fn fill_run(&self, first: u32, count: u32, replies: &mut &[u8], lens: &mut &[u8]) -> u32 {
        let mut bytes = self.bytes.borrow_mut();
        let mut ranges = self.ranges.borrow_mut();
        Slots::cover(&mut ranges, first + count);
        let base = bytes.len();
        let (mut at, mut filled, mut left) = (0, 0, *lens);
        while filled < count {
            let Some((len, rest)) = left.split_first_chunk::<4>() else { break };
            left = rest;
            let end = at + (u32::from_le_bytes(*len) as usize).min(replies.len() - at);
            if let Some(range) = ranges.get_mut((first + filled) as usize) {
                *range = base + at..base + end;
            }
            at = end;
            filled += 1;
        }
        bytes.extend_from_slice(&replies[..at]);
        *replies = &replies[at..];
        *lens = left;
        drop((bytes, ranges));
        self.filled(filled as usize);
        filled
    }

    /// Where replies at `ranges` of `bytes` lie, if they lie one after another, in order.
    fn span(ranges: &[Range<usize>]) -> Option<Range<usize>> {
        let (first, rest) = ranges.split_first()?;
        let mut end = first.end;
        for range in rest {
            if range.start != end {
                return None;
            }
            end = range.end;
        }
        Some(first.start..end)
    }

    /// Counts `n` more slots filled; wakes the connection once none is missing.
    fn filled(&self, n: usize) {
        self.missing.set(self.missing.get().saturating_sub(n));
        if self.missing.get() == 0 {
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }

    /// Resolves once every slot is filled.
    async fn complete(&self) {
        poll_fn(|cx| {
            if self.missing.get() == 0 {
                return Poll::Ready(());
            }
            self.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }

    /// The size of the largest reply filled, if any may pass `floor` (found by looking only
    /// then: most answers are small).
    fn largest_past(&self, floor: usize) -> usize {
        if self.bytes.borrow().len() <= floor {
            return 0;
        }
        self.ranges.borrow().iter().map(|r| r.len()).max().unwrap_or(0)
    }

    fn clear(&self) {
        let mut bytes = self.bytes.borrow_mut();
        bytes.clear();
        release_excess(&mut bytes);
        drop(bytes);
        self.ranges.borrow_mut().clear();
        self.taken.set(0);
        self.missing.set(0);
    }
}

/// An empty list of slices, with `list`'s allocation and another lifetime: the
/// standard library collects an emptied `Vec` into one of the same layout in place.
fn reuse<'b>(mut list: Vec<&[u8]>) -> Vec<&'b [u8]> {
    list.clear();
    list.into_iter().map(|_| -> &'b [u8] { &[] }).collect()
}

/// A place in the output where a reply from slots goes: the one `how` makes of them, in
/// `protocol` (the connection's when the request ran: a later HELLO in the same pipeline
/// does not change it), or for [`Combine::Single`], the replies of consecutive forwarded
/// requests, one after another (the usual case: a pipeline's requests for other cores, each
/// taken as it is, already in the protocol they were asked in).
struct Hole {
    at: usize,
    how: Combine,
    protocol: Protocol,
    slots: Range<u32>,
}

/// How a pipeline's parse ended.
pub enum End {
    /// Every complete request ran; the rest waits for more input.
    More,
    /// QUIT: answered, the connection closes after the replies.
    Quit,
    /// Malformed input: answered with a protocol error, the connection closes.
    Malformed,
    /// The replies owed passed the budget: they go out, then the requests left in the input
    /// run, without waiting for a read (the client may wait for these replies before it
    /// sends more).
    Owed,
}

/// A connection's output and the answers it waits for, kept from one read to the next.
pub struct Pipeline {
    out: Vec<u8>,
    holes: Vec<Hole>,
    slots: Rc<Slots>,
    joined: Vec<u8>,
    /// The parser's argument list, kept empty between reads for its allocation.
    args: Vec<&'static [u8]>,
    /// Where the parser decodes inline arguments with quotes (`resp::Decoded`), kept
    /// between reads for its allocation.
    decoded: Vec<u8>,
    /// The size of the replies in slots this run owes (guessed for other cores'; the rest
    /// of what it owes is in `out`).
    owed_elsewhere: usize,
    /// What a forwarded request's reply is guessed to take: the largest answer of the last
    /// run that waited for any, or half the guess before it (a big value's answers are
    /// likely to come again), or [`MIN_FORWARD_COST`] at least.
    reply_guess: usize,
    /// The connection's id (HELLO, CLIENT); its name is kept by its core's `Clients`.
    session: Session,
    /// Its MULTI, and the requests queued since.
    transaction: Transaction,
    /// EXEC is running the queued requests: they run whole, past the reply budget.
    in_exec: bool,
    /// A COPY's or ZRANGESTORE's lift sent to another core, its payload awaited (the run
    /// stopped after it); the last hole is its.
    lifting: Option<Lifting>,
    /// A lift's value come back: put down first thing in the next run, so the requests after
    /// the command see it.
    to_put: Option<(Lifting, Vec<u8>)>,
    /// Where its pub/sub messages wait, while it has subscriptions (`pubsub.rs`).
    mailbox: Option<Rc<Mailbox>>,
}

/// Where a lift's value goes (`copy.rs`), and the slot its payload comes back in.
struct Lifting {
    slot: u32,
    to: usize,
    key: Vec<u8>,
    how: Transfer,
}

/// The least a forwarded request whose reply is guessed counts against the budget: what
/// bounds how many of those a run forwards.
const MIN_FORWARD_COST: usize = REPLY_BUDGET / MAX_FORWARDED;

impl Pipeline {
    /// The id of the connection it serves (CLIENT ID).
    pub fn client_id(&self) -> u64 {
        self.session.id()
    }

    /// Where the connection's pub/sub messages wait, while it has subscriptions.
    pub fn mailbox(&self) -> Option<&Rc<Mailbox>> {
        self.mailbox.as_ref()
    }

    /// An empty pipeline.
    pub fn new(capacity: usize) -> Pipeline {
        Pipeline {
            out: Vec::with_capacity(capacity),
            holes: Vec::new(),
            slots: Rc::default(),
            joined: Vec::new(),
            args: Vec::new(),
            decoded: Vec::new(),
            owed_elsewhere: 0,
            reply_guess: MIN_FORWARD_COST,
            session: Session::new(),
            transaction: Transaction::default(),
            in_exec: false,
            lifting: None,
            to_put: None,
            mailbox: None,
        }
    }

    /// Parses and runs the complete requests at the front of `input`, in place, until the
    /// replies owed pass the budget ([`End::Owed`]); returns the bytes used and how the run
    /// ended. If `input` is one request for another core's key and `direct` has no reply in
    /// flight, that core writes the reply to the client (see `direct.rs`) and this
    /// pipeline's replies are empty.
    pub fn run(&mut self, input: &[u8], shards: &Shards, direct: Option<&Direct>) -> (usize, End) {
        let mut args = reuse(std::mem::take(&mut self.args));
        let mut decoded = std::mem::take(&mut self.decoded);
        // Not for a subscriber: its messages are written between its replies, and another
        // core writing one of them to its socket would leave no such place.
        let direct = direct.filter(|d| !d.in_flight() && self.mailbox.is_none());
        let ended = if self.subscribed_resp2() {
            self.run_subscribed(input, shards)
        } else {
            self.run_with(input, shards, direct, &mut args, &mut Decoded::new(&mut decoded))
        };
        self.args = reuse(args);
        // It took as much as the input had left: not kept past a line's worth.
        if decoded.capacity() <= MAX_LINE {
            self.decoded = decoded;
        }
        ended
    }

    /// Runs the requests at the front of `input` (see [`Pipeline::run`]).
    fn run_with<'a>(
        &mut self,
        input: &'a [u8],
        shards: &Shards,
        direct: Option<&Direct>,
        args: &mut Vec<&'a [u8]>,
        decoded: &mut Decoded<'a>,
    ) -> (usize, End) {
        let now = store::now();
        let mut used = 0;
        if let Some((lifting, lifted)) = self.to_put.take() {
            self.put_down(lifting.to, Key::new(&lifting.key), lifting.how, &lifted, shards, now);
        }
        loop {
            match parse_request(&input[used..], args, decoded) {
                Ok(Some(n)) => {
                    used += n;
                    if args.is_empty() {
                        continue;
                    }
                    if self.out.len() + self.owed_elsewhere >= REPLY_BUDGET && !self.in_exec {
                        // Checked once the next request is known to be complete, so a run
                        // stops only when one is left to resume with; it is parsed again then.
                        used -= n;
                        return (used, End::Owed);
                    }
                    if self.transaction.open() {
                        match self.in_transaction(args, &input[used - n..used], shards) {
                            Some(end) => return (used, end),
                            // An EXEC may have subscribed it (as for SUBSCRIBE, below).
                            None if self.now_in_subscribed_mode(used < input.len()) => return (used, End::Owed),
                            None => continue,
                        }
                    }
                    shards.count_command();
                    match plan(args, shards.count(), &mut self.out) {
                        Plan::Answered => {}
                        Plan::Quit => {
                            replies::ok(&mut self.out);
                            return (used, End::Quit);
                        }
                        Plan::Context => {
                            if let Some(end) = self.answer_in_context(args, shards, now) {
                                return (used, end);
                            }
                            // A subscriber's HELLO 2 (as for SUBSCRIBE, below).
                            if self.now_in_subscribed_mode(used < input.len()) {
                                return (used, End::Owed);
                            }
                        }
                        // Redis closes the connection without a reply once it stops.
                        Plan::Shutdown if shards.shut_down() => return (used, End::Quit),
                        Plan::Shutdown => replies::error(&mut self.out, "ERR Errors trying to SHUTDOWN. Check logs."),
                        Plan::One(core, op) if core == shards.me() => {
                            shards.apply_local(op, self.session.protocol(), now, &mut self.out)
                        }
                        Plan::One(core, op) => self.forward_one(core, op, used == input.len(), shards, direct),
                        Plan::Encoded(core, encoded) => match Op::decode(&encoded) {
                            Some((op, ..)) if core == shards.me() => {
                                shards.apply_local(op, self.session.protocol(), now, &mut self.out)
                            }
                            Some((op, ..)) => self.forward_one(core, op, used == input.len(), shards, direct),
                            None => replies::error(&mut self.out, "ERR unreadable operation"),
                        },
                        Plan::Many(ops, how) => self.run_many(ops, how, shards, now),
                        Plan::Lift { from, lift, to } => {
                            if let Some(end) = self.lift(from, &lift, to, shards, now) {
                                return (used, end);
                            }
                        }
                        Plan::Transaction(control) => {
                            if let Some(end) = self.control(control, shards) {
                                return (used, end);
                            }
                        }
                        Plan::PubSub => {
                            self.pubsub(args, shards, now);
                            // Subscribed now, a RESP2 connection's next requests are looked
                            // at first (`run_subscribed`): they run after these replies go.
                            if self.now_in_subscribed_mode(used < input.len()) {
                                return (used, End::Owed);
                            }
                        }
                    }
                }
                Ok(None) => return (used, End::More),
                Err(e) => {
                    replies::error_bytes(&mut self.out, &e.text());
                    return (used, End::Malformed);
                }
            }
        }
    }

    /// Runs `ops`, each on its shard, and leaves a hole for the one reply `how` makes of
    /// their replies.
    #[inline(always)]
    fn run_many(&mut self, ops: Vec<(usize, Op<'_>)>, how: Combine, shards: &Shards, now: Instant) {
        let protocol = self.session.protocol();
        let first = self.slots.taken.get();
        for (core, op) in ops {
            let slot = self.slots.slot();
            if core == shards.me() {
                let before = self.slots.bytes.borrow().len();
                self.slots.fill(slot, |out| shards.apply_local(op, protocol, now, out));
                self.owed_elsewhere += self.slots.bytes.borrow().len() - before;
            } else {
                self.owed_elsewhere += self.forward_cost(&op, core, shards);
                shards.forward(core, &op, protocol, &self.slots, slot);
            }
        }
        let end = self.slots.taken.get();
        self.holes.push(Hole { at: self.out.len(), how, protocol, slots: first..end });
    }

    /// HELLO, CLIENT, CONFIG and COMMAND, answered from the connection's session and what
    /// its core holds; CLIENT KILL and LIST go to every core. How the run ends if it must end
    /// here: a connection that killed itself closes once its reply is written, and runs
    /// nothing after it (Redis' `CLIENT_CLOSE_AFTER_REPLY`). Out of line: rare, and kept off the
    /// loop every request runs through.
    #[cold]
    #[inline(never)]
    fn answer_in_context(&mut self, args: &[&[u8]], shards: &Shards, now: Instant) -> Option<End> {
        let protocol = self.session.protocol();
        match args.split_first() {
            Some((name, args)) if name.eq_ignore_ascii_case(b"config") => {
                config::answer(args, shards.admission(), shards.count(), protocol, &mut self.out);
                return None;
            }
            Some((name, args)) if name.eq_ignore_ascii_case(b"command") => {
                server::command(args, protocol, &mut self.out);
                return None;
            }
            _ => {}
        }
        let asked_for: Asked;
        let answered = session::answer(args, &mut self.session, shards.clients(), &mut self.out);
        if let Some(mailbox) = &self.mailbox {
            mailbox.set_protocol(self.session.protocol()); // HELLO: its messages' framing too
        }
        let (op, how) = match answered? {
            EveryCore::Kill(kill, how) => (Op::Kill(kill), how),
            EveryCore::List(asked) => {
                asked_for = asked;
                (Op::ClientList(asked_for.listing()), Combine::ClientList)
            }
        };
        let every_core = (0..shards.count()).map(|core| (core, op)).collect();
        self.run_many(every_core, how, shards, now);
        shards.clients().killed(self.client_id()).then_some(End::Quit)
    }

    /// Whether requests follow (`more`) that must wait for `run_subscribed` to look at them:
    /// the connection speaks RESP2 and has subscriptions, and is not inside an EXEC (whose
    /// queued requests run whatever the context). Asked after what can turn that on:
    /// SUBSCRIBE, an EXEC with one, a subscriber's HELLO 2.
    fn now_in_subscribed_mode(&self, more: bool) -> bool {
        more && !self.in_exec && self.subscribed_resp2()
    }

    /// Whether the connection speaks RESP2 and has subscriptions: Redis 7's subscribed mode,
    /// where its requests are looked at first (`run_subscribed`).
    #[inline]
    fn subscribed_resp2(&self) -> bool {
        self.mailbox.is_some() && self.session.protocol() == Protocol::Resp2
    }

    /// [`Pipeline::run`] for a RESP2 connection with subscriptions: each request is looked at
    /// before it runs, and what Redis 7 refuses such a connection is refused (PING answered
    /// as it answers there); the rest run as any request does, one at a time. Kept off
    /// `run_with`'s loop, where the one test for it cost two shards 10 instructions per
    /// request (callgrind). EXEC runs its queued requests whatever the context, as Redis does
    /// (they were checked when they came).
    #[cold]
    #[inline(never)]
    fn run_subscribed(&mut self, input: &[u8], shards: &Shards) -> (usize, End) {
        let mut used = 0;
        loop {
            // Fresh each time (the arguments borrow them): a subscriber's requests are few.
            let (mut args, mut decoded_buf, mut run_args, mut run_decoded) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let n = match parse_request(&input[used..], &mut args, &mut Decoded::new(&mut decoded_buf)) {
                Ok(Some(n)) => n,
                Ok(None) => return (used, End::More),
                // Malformed: `run_with` answers it as on any connection, and ends it.
                Err(_) => input.len() - used,
            };
            let refused = self.subscribed_resp2()
                && !args.is_empty()
                && self.out.len() + self.owed_elsewhere < REPLY_BUDGET
                && self.refused_while_subscribed(&args);
            if !refused {
                let one = &input[used..used + n];
                let (ran, end) = self.run_with(one, shards, None, &mut run_args, &mut Decoded::new(&mut run_decoded));
                if !matches!(end, End::More) || ran < one.len() {
                    return (used + ran, end);
                }
            }
            used += n;
        }
    }

    /// A request of a subscribed RESP2 connection: refused if Redis 7 refuses it then
    /// (answered here, `true`), or PING's answer there, `["pong", message]`.
    fn refused_while_subscribed(&mut self, args: &[&[u8]]) -> bool {
        let name = args[0].to_ascii_lowercase();
        if name == b"ping" && args.len() <= 2 {
            pubsub::pong(&mut self.out, args.get(1).copied());
            return true;
        }
        if pubsub::allowed_while_subscribed(&name) {
            return false;
        }
        // An unknown command, or one with the wrong number of arguments, is told so first.
        let mut checked = Vec::new();
        plan(args, 1, &mut checked);
        if checked.starts_with(b"-ERR unknown command") || checked.starts_with(b"-ERR wrong number") {
            self.out.extend_from_slice(&checked);
        } else {
            pubsub::refuse(&mut self.out, args);
        }
        true
    }

    /// SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE (this core's registry), PUBLISH and
    /// PUBSUB (the cores with subscribers, `pubsub.rs`).
    #[cold]
    #[inline(never)]
    fn pubsub(&mut self, args: &[&[u8]], shards: &Shards, now: Instant) {
        let (protocol, id) = (self.session.protocol(), self.client_id());
        let (name, rest) = (args[0].to_ascii_lowercase(), &args[1..]);
        let registry = shards.pubsub();
        match name.as_slice() {
            b"subscribe" => registry.subscribe(id, Kind::Channel, rest, protocol, &mut self.out),
            b"psubscribe" => registry.subscribe(id, Kind::Pattern, rest, protocol, &mut self.out),
            b"unsubscribe" => registry.unsubscribe(id, Kind::Channel, rest, protocol, &mut self.out),
            b"punsubscribe" => registry.unsubscribe(id, Kind::Pattern, rest, protocol, &mut self.out),
            b"publish" => {
                let op = Op::PubSub(Shared::Publish { channel: rest[0], message: rest[1] });
                self.on_subscribed_cores(op, Combine::Sum, shards, now);
                // A message to this very connection (RESP3) comes before the reply, as in
                // Redis: this core delivered it at once, into the mailbox.
                if let (Some(mailbox), Some(hole)) = (&self.mailbox, self.holes.last_mut()) {
                    if hole.at == self.out.len() {
                        mailbox.drain_into(&mut self.out);
                        hole.at = self.out.len();
                    }
                }
                return;
            }
            _ => return self.pubsub_query(rest, shards, now),
        }
        shards.subscriptions_changed();
        self.mailbox = registry.mailbox(id);
        shards.clients().set_subscribed(id, self.mailbox.is_some());
    }

    /// PUBSUB CHANNELS, NUMSUB and NUMPAT, from every core's subscriptions.
    fn pubsub_query(&mut self, args: &[&[u8]], shards: &Shards, now: Instant) {
        let sub = args[0].to_ascii_lowercase();
        let arity_ok = match sub.as_slice() {
            b"channels" => args.len() <= 2,
            b"numpat" => args.len() == 1,
            _ => true,
        };
        if !arity_ok {
            let text = format!("ERR wrong number of arguments for 'pubsub|{}' command", String::from_utf8_lossy(&sub));
            return replies::error(&mut self.out, &text);
        }
        match sub.as_slice() {
            b"channels" => {
                let op = Op::PubSub(Shared::Channels(args.get(1).copied()));
                self.on_subscribed_cores(op, Combine::Distinct, shards, now)
            }
            b"numpat" => self.on_subscribed_cores(Op::PubSub(Shared::Patterns), Combine::DistinctCount, shards, now),
            b"numsub" => {
                let cores = shards.count();
                let ops = args[1..]
                    .iter()
                    .flat_map(|&channel| (0..cores).map(move |core| (core, Op::PubSub(Shared::NumSub(channel)))))
                    .collect();
                self.run_many(ops, Combine::NumSub(cores), shards, now)
            }
            _ => {
                let mut text = b"ERR unknown subcommand '".to_vec();
                text.extend_from_slice(replies::c_text(args[0], replies::QUOTED));
                text.extend_from_slice(b"'. Try PUBSUB HELP.");
                replies::error_bytes(&mut self.out, &text)
            }
        }
    }

    /// Runs `op` on each core with subscribers, `how` combining their replies; with none,
    /// what `how` makes of no replies, at once.
    fn on_subscribed_cores(&mut self, op: Op<'_>, how: Combine, shards: &Shards, now: Instant) {
        let ops: Vec<(usize, Op<'_>)> = shards.subscribed_cores().map(|core| (core, op)).collect();
        if ops.is_empty() {
            return replies::combine(how, self.session.protocol(), std::iter::empty(), &mut self.out);
        }
        self.run_many(ops, how, shards, now)
    }

    /// A request `args` (the raw `request`) while a transaction is open: checked as Redis
    /// checks it, then queued or refused (see `transaction.rs`); MULTI, EXEC, DISCARD, WATCH
    /// and QUIT run now. How the run ends if it must end here.
    #[cold]
    #[inline(never)]
    fn in_transaction(&mut self, args: &[&[u8]], request: &[u8], shards: &Shards) -> Option<End> {
        let mut checked = Vec::new();
        let planned = plan(args, shards.count(), &mut checked);
        let refused = transaction::refused_before_queueing(&checked);
        let is = |name: &[u8]| args[0].eq_ignore_ascii_case(name);
        let error = transaction::error_text(&checked);
        let queued = !refused && matches!(planned, Plan::Answered | Plan::One(..) | Plan::Encoded(..) | Plan::Many(..));
        if !queued || is(b"shutdown") {
            shards.count_command(); // run now: a queued request counts when EXEC runs it
        }
        match planned {
            _ if refused => self.transaction.refuse(error, &mut self.out),
            Plan::Transaction(control) => return self.control(control, shards),
            Plan::Quit => {
                replies::ok(&mut self.out);
                return Some(End::Quit);
            }
            // Redis 7 has SHUTDOWN refuse to be queued, however its options read.
            Plan::Shutdown => self.transaction.refuse(NOT_IN_TRANSACTION.as_bytes(), &mut self.out),
            _ if is(b"shutdown") => self.transaction.refuse(NOT_IN_TRANSACTION.as_bytes(), &mut self.out),
            _ => self.transaction.queue(request, &mut self.out),
        }
        None
    }

    /// MULTI, EXEC, DISCARD or WATCH. How the run ends if it must end here (a connection
    /// that killed itself inside EXEC closes after its replies).
    #[cold]
    #[inline(never)]
    fn control(&mut self, control: Control, shards: &Shards) -> Option<End> {
        match control {
            Control::Multi => self.transaction.multi(&mut self.out),
            Control::Discard => self.transaction.discard(&mut self.out),
            Control::Watch if self.transaction.open() => {
                replies::error(&mut self.out, "ERR WATCH inside MULTI is not allowed")
            }
            Control::Watch => replies::error(&mut self.out, transaction::WATCH_REFUSED),
            Control::Exec => return self.exec(shards),
            Control::ExecWithArguments => self.transaction.exec_with_arguments(&mut self.out),
        }
        None
    }

    /// EXEC: the array header, then the queued requests run as a pipeline's do, all of them
    /// at once (past the reply budget: nothing else of this connection's runs between them,
    /// and each other core gets its part in one batch). Their replies, this core's written
    /// now and the others' filled in later, follow the header in order.
    fn exec(&mut self, shards: &Shards) -> Option<End> {
        let Exec::Run(queued, count) = self.transaction.exec(&mut self.out) else { return None };
        replies::array(&mut self.out, count);
        let (mut args, mut decoded) = (Vec::new(), Vec::new());
        let mut decoded = Decoded::new(&mut decoded);
        // Where the output stood when the connection killed itself (CLIENT KILL): as in Redis,
        // the rest runs but its replies are not written, then the connection closes.
        let mut killed_at = None;
        let mut at = 0;
        self.in_exec = true;
        while at < queued.len() {
            let (used, end) = self.run_with(&queued[at..], shards, None, &mut args, &mut decoded);
            at += used;
            match end {
                End::Quit => _ = killed_at.get_or_insert((self.out.len(), self.holes.len())),
                End::More | End::Owed | End::Malformed => break,
            }
        }
        self.in_exec = false;
        drop((args, decoded));
        self.transaction.recycle(queued);
        let (out_len, holes) = killed_at?;
        // The holes dropped are the requests' after the kill; their slots are still filled
        // (`replies` waits for every slot), just not written.
        self.out.truncate(out_len);
        self.holes.truncate(holes);
        Some(End::Quit)
    }

    /// Forwards `op` to `core`: the read's only request (`last` of the read, nothing owed
    /// before it) goes with the connection's descriptor, for that core to answer the client
    /// itself; any other leaves a hole for the answer. Inlined: the forwarded GET's and
    /// SET's path.
    #[inline(always)]
    fn forward_one(&mut self, core: usize, op: Op<'_>, last: bool, shards: &Shards, direct: Option<&Direct>) {
        let alone = last && self.out.is_empty() && self.holes.is_empty();
        let protocol = self.session.protocol();
        if let Some(direct) = direct.filter(|_| alone) {
            return shards.forward_direct(core, op, protocol, direct);
        }
        if self.holes.capacity() == 0 {
            self.reserve_for_forwarding();
        }
        let slot = self.slots.slot();
        self.leave_hole(slot);
        self.owed_elsewhere += self.forward_cost(&op, core, shards);
        shards.forward(core, &op, protocol, &self.slots, slot);
    }

    /// What forwarding `op` to `core` counts against the budget: the most its reply can take
    /// where that is known; for a value, the most `core`'s largest can take, if that is less
    /// than the guess; else the guess (see the module's docs). Inlined: with PUBLISH's and
    /// PUBSUB's calls of `run_many` it was left out of line, which cost two shards 7
    /// instructions per request at pipeline 16 (callgrind).
    #[inline(always)]
    fn forward_cost(&self, op: &Op<'_>, core: usize, shards: &Shards) -> usize {
        match op.reply_size() {
            ReplySize::Small => SMALL_REPLY,
            ReplySize::Value => {
                let bound = shards.value_bound(core).saturating_add(BULK_FRAMING);
                bound.max(MIN_VALUE_COST).min(self.reply_guess)
            }
            ReplySize::Unbounded => self.reply_guess,
        }
    }

    /// Leaves a hole in the output for the reply to forwarded request `slot`. Right after the
    /// previous forwarded request's hole, with nothing between, it is the same hole, filled
    /// in one piece (their answers usually come back one after another).
    fn leave_hole(&mut self, slot: u32) {
        let at = self.out.len();
        match self.holes.last_mut() {
            Some(last) if last.how == Combine::Single && last.at == at && last.slots.end == slot => last.slots.end += 1,
            _ => {
                let protocol = self.session.protocol();
                self.holes.push(Hole { at, how: Combine::Single, protocol, slots: slot..slot + 1 })
            }
        }
    }

    /// Sizes the lists a forwarding run fills for a full run, once per connection, so they
    /// do not grow from nothing (a grow is a realloc) while its first pipelines run.
    #[cold]
    fn reserve_for_forwarding(&mut self) {
        self.holes.reserve(MAX_FORWARDED);
        self.slots.ranges.borrow_mut().reserve(MAX_FORWARDED);
        self.slots.bytes.borrow_mut().reserve(MAX_FORWARDED * 16);
    }

    /// Runs a COPY's or ZRANGESTORE's lift (`copy.rs`) on core `from`, its value to be put
    /// down on core `to`. This core's own runs now, and its put is forwarded at once (the
    /// requests after it go to `to` after it). Another core's stops the run
    /// ([`End::Owed`]) until its payload is back ([`Pipeline::replies`]), then the next run
    /// puts it down before anything else; inside EXEC, which cannot stop, it is refused as
    /// MSETNX across cores is.
    #[cold]
    #[inline(never)]
    fn lift(&mut self, from: usize, lift: &[u8], to: usize, shards: &Shards, now: Instant) -> Option<End> {
        let Some((op @ Op::Lift { packed, how, .. }, ..)) = Op::decode(lift) else {
            replies::error(&mut self.out, "ERR unreadable operation");
            return None;
        };
        let Some((key, _)) = copy::unpack_lift(packed) else {
            replies::error(&mut self.out, "ERR unreadable operation");
            return None;
        };
        let protocol = self.session.protocol();
        if from == shards.me() {
            let mut lifted = Vec::new();
            shards.apply_local(op, protocol, now, &mut lifted);
            self.put_down(to, Key::new(key), how, &lifted, shards, now);
            return None;
        }
        if self.in_exec {
            replies::error(&mut self.out, "CROSSSLOT Keys in request don't hash to the same slot");
            return None;
        }
        let slot = self.slots.slot();
        self.holes.push(Hole { at: self.out.len(), how: Combine::Single, protocol, slots: slot..slot + 1 });
        self.owed_elsewhere += self.reply_guess;
        shards.forward(from, &op, protocol, &self.slots, slot);
        self.lifting = Some(Lifting { slot, to, key: key.to_vec(), how });
        Some(End::Owed)
    }

    /// Puts a lift's payload down at `key` on core `to`: here at once, or forwarded, its
    /// reply in a hole; a payload that is the client's reply is written as it is.
    fn put_down(&mut self, to: usize, key: Key<'_>, how: Transfer, lifted: &[u8], shards: &Shards, now: Instant) {
        if let Some(reply) = payload::reply_of(lifted) {
            return self.out.extend_from_slice(reply);
        }
        let op = Op::Put { key, payload: lifted, how };
        let protocol = self.session.protocol();
        if to == shards.me() {
            return shards.apply_local(op, protocol, now, &mut self.out);
        }
        let slot = self.slots.slot();
        self.leave_hole(slot);
        self.owed_elsewhere += SMALL_REPLY;
        shards.forward(to, &op, protocol, &self.slots, slot);
    }

    /// Once a lift's payload is back: a reply (the lift ended the command) fills its hole;
    /// a value is kept for the next run to put down, and its hole goes (it was the last:
    /// the run stopped after the lift).
    fn landed(&mut self, lifting: Lifting) {
        let lifted = {
            let ranges = self.slots.ranges.borrow();
            let range = ranges.get(lifting.slot as usize).cloned().unwrap_or_default();
            self.slots.bytes.borrow()[range].to_vec()
        };
        match payload::reply_of(&lifted) {
            Some(reply) => {
                let slot = self.slots.slot();
                self.slots.fill(slot, |bytes| bytes.extend_from_slice(reply));
                if let Some(hole) = self.holes.last_mut() {
                    hole.slots = slot..slot + 1;
                }
            }
            None => {
                self.holes.pop();
                self.to_put = Some((lifting, lifted));
            }
        }
    }

    /// The replies of everything run so far, in request order, once the other cores have
    /// answered. Give the buffer back with [`Pipeline::recycle`] once written.
    pub async fn replies(&mut self) -> Vec<u8> {
        if !self.holes.is_empty() {
            self.slots.complete().await;
            if let Some(lifting) = self.lifting.take() {
                self.landed(lifting);
            }
            let largest = self.slots.largest_past(MIN_FORWARD_COST);
            if largest > 0 || self.reply_guess > MIN_FORWARD_COST {
                self.reply_guess = largest.max(self.reply_guess / 2).max(MIN_FORWARD_COST);
            }
            self.fill_holes();
        }
        self.owed_elsewhere = 0;
        std::mem::take(&mut self.out)
    }

    /// Puts `bytes` before the replies of the next requests run: a reply another core
    /// handed back unwritten (see `direct.rs`).
    pub fn owe(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Takes back the buffer [`Pipeline::replies`] gave, for the next pipeline.
    pub fn recycle(&mut self, mut out: Vec<u8>) {
        out.clear();
        release_excess(&mut out);
        self.out = out;
    }

    /// Splices each hole's reply into the output, in order.
    fn fill_holes(&mut self) {
        let whole = match self.holes[..] {
            [Hole { how: Combine::Single, ref slots, .. }] if self.out.is_empty() => {
                let ranges = self.slots.ranges.borrow();
                let each = ranges.get(slots.start as usize..slots.end as usize).unwrap_or_default();
                Slots::span(each) == Some(0..self.slots.bytes.borrow().len())
            }
            _ => false,
        };
        if whole {
            // Only requests answered by another core (pipelines of one, say): their replies
            // are the output as they came, so the buffers trade places instead of being copied.
            std::mem::swap(&mut self.out, &mut self.slots.bytes.borrow_mut());
            self.holes.clear();
            self.slots.clear();
            return;
        }
        let joined = &mut self.joined;
        joined.clear();
        let bytes = self.slots.bytes.borrow();
        let ranges = self.slots.ranges.borrow();
        // Room for it all at once: grown piece by piece, a new connection's first pipelines
        // would realloc several times. (A combined reply may still need a few bytes more.)
        joined.reserve(self.out.len() + bytes.len());
        let mut from = 0;
        for hole in &self.holes {
            if hole.at > from {
                append(joined, &self.out[from..hole.at]);
            }
            let each = &ranges[hole.slots.start as usize..hole.slots.end as usize];
            match hole.how {
                // Forwarded requests' replies are the client's as they are: the common case,
                // one copy however many there are.
                Combine::Single => match Slots::span(each) {
                    Some(span) => append(joined, &bytes[span]),
                    None => each.iter().for_each(|r| append(joined, &bytes[r.clone()])),
                },
                how => combine(how, hole.protocol, each.iter().map(|r| &bytes[r.clone()]), joined),
            }
            from = hole.at;
        }
        append(joined, &self.out[from..]);
        drop((bytes, ranges));
        std::mem::swap(&mut self.out, &mut self.joined);
        self.joined.clear();
        release_excess(&mut self.joined);
        self.holes.clear();
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_argument_list_keeps_its_allocation() {
        let mut list: Vec<&[u8]> = Vec::with_capacity(8);
        let input = b"abc".to_vec();
        list.push(&input);
        let at = list.as_ptr() as usize;
        let reused = super::reuse(list);
        assert!(reused.is_empty() && reused.capacity() == 8);
        assert_eq!(reused.as_ptr() as usize, at, "no new allocation");
    }
}
