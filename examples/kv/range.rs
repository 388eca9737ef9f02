//! GETRANGE's and SETRANGE's arithmetic, as redis-server 7.0.15 does it: which bytes of a
//! value a range takes, and how long a value written at an offset becomes.

use std::ops::Range;

use super::resp::MAX_BULK;

/// The bytes of a value of `len` bytes that `GETRANGE start end` answers with (both ends
/// included; a negative one counts from the value's end and stops at its start; an end past
/// the value stops at its end). Empty for a start past the end, and for two negative ends
/// the wrong way round, as Redis checks before it converts them.
pub fn taken(len: usize, start: i64, end: i64) -> Range<usize> {
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return 0..0;
    }
    // A value is at most MAX_BULK long, so `len` fits and the sums below cannot overflow.
    let len = len as i64;
    let from_end = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(len - 1));
    if start > end {
        return 0..0;
    }
    start as usize..end as usize + 1
}

/// Redis' refusal of a write that would make a value longer than a request may carry.
pub const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Checks `SETRANGE key offset value`'s offset (`offset`, as read) for a value of
/// `value_len` bytes: Redis' error for a negative one, and for one whose write would end
/// past [`MAX_BULK`] (checked before any key is looked at, so nothing is allocated for it).
/// An empty value writes nothing, so any offset will do for it.
pub fn setrange_offset(offset: i64, value_len: usize) -> Result<u64, &'static str> {
    let offset = u64::try_from(offset).map_err(|_| "ERR offset is out of range")?;
    if value_len > 0 && offset.saturating_add(value_len as u64) > MAX_BULK as u64 {
        return Err(TOO_BIG);
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getrange_takes_what_redis_takes() {
        let hello = |start, end| {
            let range = taken(5, start, end);
            &b"Hello"[range]
        };
        // Each with the reply redis-server 7.0.15 gave for "Hello".
        assert_eq!(hello(0, -1), b"Hello");
        assert_eq!(hello(1, 2), b"el");
        assert_eq!(hello(-3, -1), b"llo");
        assert_eq!(hello(3, 1), b"");
        assert_eq!(hello(10, 20), b"");
        assert_eq!(hello(-100, 100), b"Hello");
        assert_eq!(hello(0, -100), b"H");
        assert_eq!(hello(-1, -2), b"");
        assert_eq!(hello(i64::MAX, i64::MIN), b"");
        assert_eq!(hello(i64::MIN, i64::MAX), b"Hello");
        assert_eq!(taken(0, 0, -1), 0..0);
    }

    #[test]
    fn setrange_refuses_negative_offsets_and_ends_past_the_largest_value() {
        assert_eq!(setrange_offset(-1, 1), Err("ERR offset is out of range"));
        assert_eq!(setrange_offset(5, 2), Ok(5));
        assert_eq!(setrange_offset((MAX_BULK - 1) as i64, 1), Ok((MAX_BULK - 1) as u64));
        assert_eq!(setrange_offset(MAX_BULK as i64, 1), Err(TOO_BIG));
        assert_eq!(setrange_offset(i64::MAX, 1), Err(TOO_BIG));
        assert_eq!(setrange_offset(i64::MAX, 0), Ok(i64::MAX as u64), "an empty value writes nothing");
    }
}
