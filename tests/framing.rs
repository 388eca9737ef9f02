//! Framed reads in one buffer: a length-prefixed protocol parsed from a stream that splits
//! its messages anywhere, reading each time after the partial message already held
//! (`IoBufMut::spare`), with `Vec` and (feature `bytes`) `BytesMut`; and a read into a
//! buffer with no room is `InvalidInput`, not an `Ok(0)` that looks like EOF.

use std::io;
use std::time::Duration;

mod support;

use ringpoll::buf::{IoBuf, IoBufMut};
use ringpoll::net::TcpStream;
use ringpoll::time::timeout;
use support::*;

/// Messages of many sizes, each as a 4-byte big-endian length and its bytes.
fn messages() -> Vec<Vec<u8>> {
    (0..300).map(|i| payload(i * 37 % 2000, i as u8)).collect()
}

fn encode(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for m in messages {
        wire.extend_from_slice(&(m.len() as u32).to_be_bytes());
        wire.extend_from_slice(m);
    }
    wire
}

/// Sends `wire` in pieces of 1 to 61 bytes, yielding between them so reads see them split.
async fn send_in_pieces(stream: TcpStream, wire: Vec<u8>) -> io::Result<()> {
    let mut at = 0;
    for size in (1..62).cycle() {
        if at == wire.len() {
            break;
        }
        let end = (at + size).min(wire.len());
        let (res, _) = stream.write_all(wire[at..end].to_vec()).await;
        res?;
        at = end;
        if size % 7 == 0 {
            ringpoll::time::sleep(Duration::from_millis(1)).await;
        }
    }
    stream.shutdown(std::net::Shutdown::Write)
}

/// The first complete message in `buf`, and how many bytes it takes.
fn parse(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let len = u32::from_be_bytes(buf.get(..4)?.try_into().unwrap()) as usize;
    let body = buf.get(4..4 + len)?;
    Some((body.to_vec(), 4 + len))
}

/// What a framed reader needs of its buffer: room, the bytes held, dropping parsed ones.
trait FrameBuf: IoBufMut + AsRef<[u8]> + Sized {
    fn make_room(&mut self, at_least: usize);
    fn consume(&mut self, n: usize);
}

impl FrameBuf for Vec<u8> {
    fn make_room(&mut self, at_least: usize) {
        self.reserve(at_least);
    }
    fn consume(&mut self, n: usize) {
        self.drain(..n);
    }
}

#[cfg(feature = "bytes")]
impl FrameBuf for bytes::BytesMut {
    fn make_room(&mut self, at_least: usize) {
        self.reserve(at_least);
    }
    fn consume(&mut self, n: usize) {
        bytes::Buf::advance(self, n);
    }
}

/// Reads every message from `stream` with one buffer, appending each read to what it holds.
async fn read_messages<B: FrameBuf>(stream: &TcpStream, mut buf: B) -> io::Result<Vec<Vec<u8>>> {
    let mut got = Vec::new();
    loop {
        while let Some((message, used)) = parse(buf.as_ref()) {
            got.push(message);
            buf.consume(used);
        }
        buf.make_room(512);
        let held = buf.as_ref().to_vec();
        let (n, spare) = stream.read(buf.spare()).await;
        buf = spare.into_inner();
        assert_eq!(&buf.as_ref()[..held.len()], &held[..], "a read kept the bytes held before it");
        if n? == 0 {
            assert!(buf.as_ref().is_empty(), "EOF inside a message: {} bytes left", buf.as_ref().len());
            return Ok(got);
        }
    }
}

fn parses_split_messages<B: FrameBuf + 'static>(buf: B) {
    run_leak_free(async move {
        let (client, server) = pair().await;
        let sent = messages();
        let sender = ringpoll::spawn(send_in_pieces(client, encode(&sent)));
        let got = timeout(Duration::from_secs(30), read_messages(&server, buf)).await.expect("in time").unwrap();
        sender.await.unwrap().unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "messages differ");
    });
}

#[test]
fn split_messages_parse_from_one_vec() {
    parses_split_messages(Vec::with_capacity(16));
}

#[cfg(feature = "bytes")]
#[test]
fn split_messages_parse_from_one_bytes_mut() {
    parses_split_messages(bytes::BytesMut::with_capacity(16));
}

#[cfg(feature = "bytes")]
#[test]
fn bytes_and_bytes_mut_are_owned_buffers_for_writes_and_reads() {
    run_leak_free(async {
        let (a, b) = pair().await;
        let (res, _) = a.write_all(bytes::Bytes::from_static(b"frozen ")).await;
        res.unwrap();
        let (res, _) = a.write_all(bytes::BytesMut::from(&b"and mutable"[..])).await;
        res.unwrap();
        a.shutdown(std::net::Shutdown::Write).unwrap();
        let mut all = bytes::BytesMut::new();
        loop {
            all.reserve(4);
            let (n, buf) = b.read(all.spare()).await;
            all = buf.into_inner();
            if n.unwrap() == 0 {
                break;
            }
        }
        assert_eq!(&all[..], b"frozen and mutable");
    });
}

#[test]
fn a_read_with_no_room_is_invalid_input_not_eof() {
    run_leak_free(async {
        let (a, b) = pair().await;
        let (res, buf) = b.read(Vec::new()).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert!(buf.is_empty());
        // A full buffer's spare room is none either; the bytes stay.
        let full = vec![7u8; 8];
        let (res, spare) = b.read(full.spare()).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(spare.into_inner(), vec![7u8; 8]);
        // The stream is untouched: a real read still works.
        let (res, _) = a.write_all(b"x".to_vec()).await;
        res.unwrap();
        let (n, buf) = b.read(Vec::with_capacity(4)).await;
        assert_eq!(n.unwrap(), 1);
        assert_eq!(buf, b"x");
        assert_eq!(buf.bytes_init(), 1);
    });
}
