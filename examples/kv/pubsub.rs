//! Publish/subscribe across the cores, as Redis 7 frames it: SUBSCRIBE, UNSUBSCRIBE,
//! PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB CHANNELS, NUMSUB and NUMPAT.
//!
//! A subscription lives on the core of its connection: each core keeps a [`Registry`] of
//! its own connections' channels and patterns, and each subscribed connection a
//! [`Mailbox`] the registry appends its `message` and `pmessage` frames to. A PUBLISH is an
//! operation like DBSIZE's, sent to every core that has a subscriber at all (each core's
//! count of subscriptions is published in [`Counts`], read when the PUBLISH runs): it rides
//! the shards' batched messages (`shard.rs`), each such core delivers it to its own
//! subscribers and answers how many it reached, and the asking connection gets the sum,
//! counted as Redis counts it (a connection subscribed to the channel and to two patterns
//! that match it is three). A core without subscribers is not woken by a PUBLISH; one whose
//! subscribers listen to other channels is (it finds no one, answers 0): a per-channel
//! table shared by the cores would spare it that wake at the cost of a lock or a shared
//! map on every SUBSCRIBE, and publishers rarely outnumber channels' cores.
//!
//! The link between two cores is FIFO, so messages published by one connection reach each
//! subscriber in the order they were published; messages of publishers on different cores
//! have no order between them (Redis, on one thread, has one).
//!
//! A subscribed connection keeps reading its commands while messages arrive: its loop
//! (`conn.rs`) waits on its socket and its mailbox at once, and writes what the mailbox
//! holds between its replies, never inside one. A subscriber that reads slower than it is
//! sent to must not grow the server's memory without bound: past [`MAILBOX_LIMIT`] bytes
//! waiting in its mailbox (Redis' `client-output-buffer-limit pubsub` hard limit, 32 MB),
//! the mailbox takes no more and the connection is closed, as Redis closes it (Redis also
//! has a soft limit, 8 MB for 60 s, which kv does not keep).
//!
//! A RESP2 connection with a subscription runs only the commands Redis 7 allows it then
//! ([`allowed_while_subscribed`]); a RESP3 connection runs any, and its frames are pushes
//! (`>`). kv has no RESET; QUIT closes as always.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use super::glob;
use super::replies::{self, Protocol};

/// The most bytes of frames a subscriber's mailbox holds; one more message closes the
/// connection (Redis' hard `client-output-buffer-limit` for pubsub clients).
pub const MAILBOX_LIMIT: usize = 32 * 1024 * 1024;

/// What one core does for PUBLISH or PUBSUB (`Op::PubSub`), for its own subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared<'a> {
    /// Delivers the message; the reply is how many it reached.
    Publish { channel: &'a [u8], message: &'a [u8] },
    /// The channels with subscribers here (that match the pattern, if given), an array.
    Channels(Option<&'a [u8]>),
    /// `[channel, its subscribers here]`.
    NumSub(&'a [u8]),
    /// The patterns with subscribers here, an array.
    Patterns,
}

/// Each core's number of subscriptions (channels and patterns, of all its connections),
/// shared by the cores: a PUBLISH goes only to cores where it is not zero. A core raises its
/// own before a SUBSCRIBE's confirmation is written, so a PUBLISH sent after a client saw
/// the confirmation reaches it.
pub struct Counts(Box<[AtomicUsize]>);

impl Counts {
    /// Zero for each of `cores` cores.
    pub fn new(cores: usize) -> Counts {
        Counts((0..cores).map(|_| AtomicUsize::new(0)).collect())
    }

    /// Whether `core` has any subscription.
    pub fn any_on(&self, core: usize) -> bool {
        self.0[core].load(Ordering::Acquire) > 0
    }

    fn set(&self, core: usize, n: usize) {
        self.0[core].store(n, Ordering::Release);
    }
}

/// Where a subscribed connection's messages wait for it to write them.
#[derive(Default)]
pub struct Mailbox {
    frames: RefCell<Vec<u8>>,
    waker: Cell<Option<Waker>>,
    /// Past [`MAILBOX_LIMIT`]: the connection is to be closed.
    overflowed: Cell<bool>,
    protocol: Cell<Protocol>,
}

impl Mailbox {
    /// Appends one frame written by `write`, unless the mailbox is full: then it is marked
    /// overflowed and its frames dropped. Wakes the connection.
    fn push(&self, write: impl FnOnce(&mut Vec<u8>, Protocol)) {
        if self.overflowed.get() {
            return;
        }
        let mut frames = self.frames.borrow_mut();
        write(&mut frames, self.protocol.get());
        if frames.len() > MAILBOX_LIMIT {
            self.overflowed.set(true);
            *frames = Vec::new();
        }
        drop(frames);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Frames its messages in `protocol` from now on (HELLO).
    pub fn set_protocol(&self, protocol: Protocol) {
        self.protocol.set(protocol);
    }

    /// Ready with the error that closes the connection once the mailbox overflowed (even
    /// while a write of its frames is stuck behind a client that does not read).
    pub fn poll_overflowed(&self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        if self.overflowed.get() {
            return Poll::Ready(overflow());
        }
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// Moves the frames waiting into `out`.
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        let mut frames = self.frames.borrow_mut();
        out.extend_from_slice(&frames);
        frames.clear();
        super::pipeline::release_excess(&mut frames);
    }

    /// Ready with the frames waiting (taken), or with an error once the mailbox overflowed.
    pub fn poll_frames(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<Vec<u8>>> {
        if self.overflowed.get() {
            return Poll::Ready(Err(overflow()));
        }
        let mut frames = self.frames.borrow_mut();
        if frames.is_empty() {
            self.waker.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        Poll::Ready(Ok(std::mem::take(&mut *frames)))
    }
}

/// The error a subscriber's connection closes with once its mailbox overflowed.
fn overflow() -> std::io::Error {
    std::io::Error::other("pubsub output past its limit")
}

/// One connection's subscriptions.
struct Subscriber {
    mailbox: Rc<Mailbox>,
    channels: HashSet<Vec<u8>>,
    patterns: HashSet<Vec<u8>>,
}

impl Subscriber {
    fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// Channels or patterns: who listens to each, by connection id.
type Listeners = HashMap<Vec<u8>, Vec<(u64, Rc<Mailbox>)>>;

/// One core's subscriptions, by connection and by channel and pattern.
#[derive(Default)]
pub struct Registry {
    subscribers: RefCell<HashMap<u64, Subscriber>>,
    channels: RefCell<Listeners>,
    patterns: RefCell<Listeners>,
    /// Subscriptions on this core, all told (what [`Counts`] publishes).
    total: Cell<usize>,
}

/// Which of a connection's lists a command changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
}

impl Kind {
    fn names(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Kind::Channel => (b"subscribe", b"unsubscribe"),
            Kind::Pattern => (b"psubscribe", b"punsubscribe"),
        }
    }
}

impl Registry {
    /// The connection's mailbox, made on its first subscription; `protocol` frames its
    /// messages from now on.
    fn subscriber(subscribers: &mut HashMap<u64, Subscriber>, id: u64, protocol: Protocol) -> &mut Subscriber {
        let subscriber = subscribers.entry(id).or_insert_with(|| Subscriber {
            mailbox: Rc::default(),
            channels: HashSet::new(),
            patterns: HashSet::new(),
        });
        subscriber.mailbox.protocol.set(protocol);
        subscriber
    }

    /// The connection's mailbox, if it has subscriptions.
    pub fn mailbox(&self, id: u64) -> Option<Rc<Mailbox>> {
        self.subscribers.borrow().get(&id).map(|s| s.mailbox.clone())
    }

    /// SUBSCRIBE or PSUBSCRIBE of connection `id` to `names`, one confirmation each (with
    /// the connection's count after it) to `out`, which the mailbox's frames so far go
    /// to first, so nothing delivered before the command follows its reply.
    pub fn subscribe(&self, id: u64, kind: Kind, names: &[&[u8]], protocol: Protocol, out: &mut Vec<u8>) {
        let mut subscribers = self.subscribers.borrow_mut();
        let subscriber = Registry::subscriber(&mut subscribers, id, protocol);
        subscriber.mailbox.drain_into(out);
        for &name in names {
            let (set, listeners) = match kind {
                Kind::Channel => (&mut subscriber.channels, &self.channels),
                Kind::Pattern => (&mut subscriber.patterns, &self.patterns),
            };
            if set.insert(name.to_vec()) {
                let entry = (id, subscriber.mailbox.clone());
                listeners.borrow_mut().entry(name.to_vec()).or_default().push(entry);
                self.total.set(self.total.get() + 1);
            }
            confirmation(out, protocol, kind.names().0, Some(name), subscriber.count());
        }
    }

    /// UNSUBSCRIBE or PUNSUBSCRIBE of connection `id` from `names`, or from all it listens
    /// to of that kind if none: one confirmation each, or one with a null name if there was
    /// none to leave.
    pub fn unsubscribe(&self, id: u64, kind: Kind, names: &[&[u8]], protocol: Protocol, out: &mut Vec<u8>) {
        let mut subscribers = self.subscribers.borrow_mut();
        let verb = kind.names().1;
        let Some(subscriber) = subscribers.get_mut(&id) else {
            for &name in names {
                confirmation(out, protocol, verb, Some(name), 0);
            }
            if names.is_empty() {
                confirmation(out, protocol, verb, None, 0);
            }
            return;
        };
        subscriber.mailbox.drain_into(out);
        let all: Vec<Vec<u8>>;
        let names: Vec<&[u8]> = if names.is_empty() {
            all = match kind {
                Kind::Channel => subscriber.channels.iter().cloned().collect(),
                Kind::Pattern => subscriber.patterns.iter().cloned().collect(),
            };
            all.iter().map(Vec::as_slice).collect()
        } else {
            names.to_vec()
        };
        for &name in &names {
            let (set, listeners) = match kind {
                Kind::Channel => (&mut subscriber.channels, &self.channels),
                Kind::Pattern => (&mut subscriber.patterns, &self.patterns),
            };
            if set.remove(name) {
                forget(&mut listeners.borrow_mut(), name, id);
                self.total.set(self.total.get() - 1);
            }
            confirmation(out, protocol, verb, Some(name), subscriber.count());
        }
        if names.is_empty() {
            confirmation(out, protocol, verb, None, subscriber.count());
        }
        if subscriber.count() == 0 {
            subscribers.remove(&id);
        }
    }

    /// Drops every subscription of connection `id` (it closed); whether it had any.
    pub fn leave(&self, id: u64) -> bool {
        let Some(subscriber) = self.subscribers.borrow_mut().remove(&id) else { return false };
        for name in &subscriber.channels {
            forget(&mut self.channels.borrow_mut(), name, id);
        }
        for name in &subscriber.patterns {
            forget(&mut self.patterns.borrow_mut(), name, id);
        }
        self.total.set(self.total.get() - subscriber.count());
        true
    }

    /// Publishes this core's count of subscriptions as `core`'s.
    pub fn publish_count(&self, counts: &Counts, core: usize) {
        counts.set(core, self.total.get());
    }

    /// Delivers `message` to this core's subscribers of `channel` and of patterns that match
    /// it; how many deliveries that made.
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let mut reached = 0;
        if let Some(listeners) = self.channels.borrow().get(channel) {
            for (_, mailbox) in listeners {
                mailbox.push(|out, protocol| {
                    replies::push(out, 3, protocol);
                    replies::bulk(out, b"message");
                    replies::bulk(out, channel);
                    replies::bulk(out, message);
                });
            }
            reached += listeners.len();
        }
        for (pattern, listeners) in self.patterns.borrow().iter() {
            if !glob::matches(pattern, channel) {
                continue;
            }
            for (_, mailbox) in listeners {
                mailbox.push(|out, protocol| {
                    replies::push(out, 4, protocol);
                    replies::bulk(out, b"pmessage");
                    replies::bulk(out, pattern);
                    replies::bulk(out, channel);
                    replies::bulk(out, message);
                });
            }
            reached += listeners.len();
        }
        reached
    }

    /// PUBSUB CHANNELS' part: an array of this core's channels with a subscriber (that
    /// match `pattern`, if given).
    pub fn channels(&self, pattern: Option<&[u8]>, out: &mut Vec<u8>) {
        let channels = self.channels.borrow();
        let names: Vec<&Vec<u8>> = channels.keys().filter(|c| pattern.is_none_or(|p| glob::matches(p, c))).collect();
        replies::array(out, names.len());
        names.iter().for_each(|name| replies::bulk(out, name));
    }

    /// PUBSUB NUMPAT's part: an array of this core's patterns (the asking core counts them
    /// once however many cores have them, as Redis counts its patterns).
    pub fn patterns(&self, out: &mut Vec<u8>) {
        let patterns = self.patterns.borrow();
        replies::array(out, patterns.len());
        patterns.keys().for_each(|name| replies::bulk(out, name));
    }

    /// PUBSUB NUMSUB's part for one channel: `[channel, subscribers here]`.
    pub fn numsub(&self, channel: &[u8], out: &mut Vec<u8>) {
        let n = self.channels.borrow().get(channel).map_or(0, Vec::len);
        replies::array(out, 2);
        replies::bulk(out, channel);
        replies::int(out, n as i64);
    }
}

impl Registry {
    /// Runs `shared` on this core's subscribers; its reply to `out`.
    pub fn apply(&self, shared: Shared<'_>, out: &mut Vec<u8>) {
        match shared {
            Shared::Publish { channel, message } => replies::int(out, self.publish(channel, message) as i64),
            Shared::Channels(pattern) => self.channels(pattern, out),
            Shared::NumSub(channel) => self.numsub(channel, out),
            Shared::Patterns => self.patterns(out),
        }
    }
}

/// Takes connection `id` off `name`'s listeners, and `name` off the table once it has none.
fn forget(listeners: &mut Listeners, name: &[u8], id: u64) {
    if let Some(list) = listeners.get_mut(name) {
        list.retain(|(listener, _)| *listener != id);
        if list.is_empty() {
            listeners.remove(name);
        }
    }
}

/// `[verb, name, count]`: a (un)subscription's confirmation; a null name for an
/// unsubscription from nothing.
fn confirmation(out: &mut Vec<u8>, protocol: Protocol, verb: &[u8], name: Option<&[u8]>, count: usize) {
    replies::push(out, 3, protocol);
    replies::bulk(out, verb);
    match name {
        Some(name) => replies::bulk(out, name),
        None => replies::null(out, protocol),
    }
    replies::int(out, count as i64);
}

/// Whether a RESP2 connection with subscriptions may run `name` (lower case), as Redis 7
/// allows it.
pub fn allowed_while_subscribed(name: &[u8]) -> bool {
    matches!(
        name,
        b"subscribe"
            | b"ssubscribe"
            | b"unsubscribe"
            | b"sunsubscribe"
            | b"psubscribe"
            | b"punsubscribe"
            | b"ping"
            | b"quit"
            | b"reset"
    )
}

/// Redis 7's refusal of another command (`args`, its name first) on a subscribed RESP2
/// connection: named as Redis names it, a container's subcommand after a `|` (`client|id`).
pub fn refuse(out: &mut Vec<u8>, args: &[&[u8]]) {
    let mut name = args[0].to_ascii_lowercase();
    let container = matches!(name.as_slice(), b"client" | b"config" | b"command" | b"memory" | b"pubsub");
    if let (true, Some(sub)) = (container, args.get(1)) {
        name.push(b'|');
        name.extend(sub.to_ascii_lowercase());
    }
    let mut text = b"ERR Can't execute '".to_vec();
    text.extend_from_slice(replies::c_text(&name, replies::QUOTED));
    text.extend_from_slice(
        b"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
    );
    replies::error_bytes(out, &text);
}

/// PING on a subscribed RESP2 connection: `["pong", message or ""]`.
pub fn pong(out: &mut Vec<u8>, message: Option<&[u8]>) {
    replies::array(out, 2);
    replies::bulk(out, b"pong");
    replies::bulk(out, message.unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn waiting(mailbox: &Mailbox) -> Vec<u8> {
        match mailbox.poll_frames(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(frames)) => frames,
            Poll::Ready(Err(e)) => panic!("{e}"),
            Poll::Pending => Vec::new(),
        }
    }

    #[test]
    fn a_publish_counts_each_matching_subscription_and_frames_each() {
        let registry = Registry::default();
        let mut out = Vec::new();
        registry.subscribe(1, Kind::Channel, &[b"news"], Protocol::Resp2, &mut out);
        registry.subscribe(1, Kind::Pattern, &[b"n*"], Protocol::Resp2, &mut out);
        registry.subscribe(2, Kind::Channel, &[b"news", b"news"], Protocol::Resp3, &mut out);
        assert_eq!(registry.total.get(), 3, "a repeated channel counts once");
        assert_eq!(registry.publish(b"news", b"hi"), 3);
        assert_eq!(registry.publish(b"nope", b"hi"), 1);
        assert_eq!(registry.publish(b"other", b"hi"), 0);
        let first = registry.mailbox(1).unwrap();
        let expected = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n\
            *4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n\
            *4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnope\r\n$2\r\nhi\r\n";
        assert_eq!(String::from_utf8_lossy(&waiting(&first)), expected);
        let second = registry.mailbox(2).unwrap();
        assert_eq!(waiting(&second), b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
    }

    #[test]
    fn leaving_and_unsubscribing_take_everything_off() {
        let registry = Registry::default();
        let mut out = Vec::new();
        registry.subscribe(1, Kind::Channel, &[b"a", b"b"], Protocol::Resp2, &mut out);
        registry.subscribe(1, Kind::Pattern, &[b"*"], Protocol::Resp2, &mut out);
        registry.subscribe(2, Kind::Channel, &[b"a"], Protocol::Resp2, &mut out);
        assert!(registry.leave(1));
        assert!(!registry.leave(1));
        assert_eq!(registry.total.get(), 1);
        assert!(registry.patterns.borrow().is_empty() && !registry.channels.borrow().contains_key(&b"b"[..]));
        out.clear();
        registry.unsubscribe(2, Kind::Channel, &[], Protocol::Resp2, &mut out);
        assert_eq!(out, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n");
        assert_eq!(registry.total.get(), 0);
        assert!(registry.mailbox(2).is_none() && registry.channels.borrow().is_empty());
    }

    #[test]
    fn a_mailbox_past_its_limit_overflows_and_drops_its_frames() {
        let registry = Registry::default();
        registry.subscribe(1, Kind::Channel, &[b"c"], Protocol::Resp2, &mut Vec::new());
        let mailbox = registry.mailbox(1).unwrap();
        let message = vec![b'x'; 1 << 20];
        // Each frame is a little more than its MiB.
        for _ in 1..MAILBOX_LIMIT >> 20 {
            registry.publish(b"c", &message);
        }
        assert!(!mailbox.overflowed.get());
        registry.publish(b"c", &message);
        assert!(mailbox.overflowed.get());
        assert!(mailbox.frames.borrow().capacity() == 0, "its frames are freed at once");
        let polled = mailbox.poll_frames(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(Err(_))));
    }
}
