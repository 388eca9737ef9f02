//! INCRBYFLOAT's numbers as redis-server 7 has them on x86-64: C's `long double` (x87's
//! 80-bit format, a 64-bit significand), read as its `string2ld` reads them (`strtold`,
//! the whole text, no leading blank) and written as `%.17Lf` with the trailing zeros cut.
//! f64 would answer otherwise: 10.5 + 0.1 would print 10.59999999999999964, not 10.6.

use rustc_apfloat::ieee::X87DoubleExtended as LongDouble;
use rustc_apfloat::{Float, Round, Status};

/// The longest text a sum takes: the largest `long double`'s 4,933 digits and a sign (a value
/// with decimals is below 2^63).
pub const LONGEST_TEXT: usize = 4934;

/// Redis' `MAX_LONG_DOUBLE_CHARS`: `string2ld` refuses a text this long or longer.
const MAX_CHARS: usize = 5 * 1024;

/// `text` as Redis reads a float: `None` where it answers "value is not a valid float"
/// (NaN, a number past the format's range, one so small it reads as zero, anything
/// `strtold` does not take whole). Infinity is taken: adding it is refused later.
pub fn parse(text: &[u8]) -> Option<LongDouble> {
    if text.is_empty() || text.len() >= MAX_CHARS {
        return None;
    }
    // Redis copies the text into a C string and then checks that strtold read all `slen`
    // bytes of it: a NUL inside ends strtold's reading early, so the text is refused.
    if text.contains(&0) || text.first().is_some_and(|&b| b == b' ' || (b'\t'..=b'\r').contains(&b)) {
        return None;
    }
    let (minus, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let value = if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        LongDouble::INFINITY
    } else {
        finite(body)?
    };
    Some(if minus { -value } else { value })
}

/// An unsigned number in strtold's decimal or hexadecimal syntax, read whole and rounded to
/// the nearest; `None` for other text, and where strtold reports a range error (`ERANGE`)
/// that Redis refuses: an overflow, or an underflow to zero.
fn finite(body: &[u8]) -> Option<LongDouble> {
    let text = std::str::from_utf8(body).ok()?;
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) if number_syntax(hex, |b| b.is_ascii_hexdigit(), b'p') => {
            // apfloat wants the binary exponent that C lets a hex float leave out.
            let exponent = if hex.contains(['p', 'P']) { "" } else { "p0" };
            LongDouble::from_str_r(&format!("0x{hex}{exponent}"), Round::NearestTiesToEven)
        }
        Some(_) => return None,
        None if number_syntax(text, |b| b.is_ascii_digit(), b'e') => {
            LongDouble::from_str_r(text, Round::NearestTiesToEven)
        }
        None => return None,
    };
    let parsed = parsed.ok()?;
    let out_of_range = parsed.status.intersects(Status::OVERFLOW)
        || (parsed.value.is_zero() && parsed.status.intersects(Status::UNDERFLOW));
    (!out_of_range).then_some(parsed.value)
}

/// Whether `text` is digits (as `digit` says) with at most one point and at least one
/// digit, then, if `exponent` (either case) follows, a sign and decimal digits.
fn number_syntax(text: &str, digit: impl Fn(u8) -> bool, exponent: u8) -> bool {
    let (mantissa, power) = match text.find([exponent as char, exponent.to_ascii_uppercase() as char]) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = |part: &str, ok: &dyn Fn(u8) -> bool| part.bytes().all(ok);
    let mantissa_ok = whole.len() + fraction.len() > 0 && all(whole, &digit) && all(fraction, &digit);
    let power_ok = power.is_none_or(|p| {
        let digits = p.strip_prefix(['+', '-']).unwrap_or(p);
        !digits.is_empty() && all(digits, &|b| b.is_ascii_digit())
    });
    mantissa_ok && power_ok
}

/// `value + by` as INCRBYFLOAT writes it, or `None` where Redis refuses the sum ("increment
/// would produce NaN or Infinity").
pub fn add(value: LongDouble, by: LongDouble) -> Option<String> {
    let sum = value.add_r(by, Round::NearestTiesToEven).value;
    (!sum.is_nan() && !sum.is_infinite()).then(|| human(sum))
}

/// `%.17Lf` of a finite value, trailing zeros (and a point left bare) cut, `-0` as `0`:
/// Redis' `ld2string` in its human mode. Exact: the value is its significand times a power
/// of two, written out in full.
fn human(value: LongDouble) -> String {
    const DECIMALS: u32 = 17;
    const SCALE: u128 = 10u128.pow(DECIMALS);
    let bits = value.to_bits();
    let significand = bits as u64; // x87 keeps the integer bit: no hidden one to add
    let biased = (bits >> 64) as i32 & 0x7fff;
    // The significand's last bit is worth 2^power (subnormals have the smallest exponent).
    let power = biased.max(1) - 16383 - 63;
    let (whole, fraction) = if power >= 0 {
        (decimal_digits(significand, power as u32), 0)
    } else {
        let shift = power.unsigned_abs();
        let whole = if shift < 64 { significand >> shift } else { 0 };
        let rest = if shift < 64 { significand & ((1u64 << shift) - 1) } else { significand };
        // rest / 2^shift to 17 decimals, rounded half to even as glibc's printf rounds.
        let scaled = u128::from(rest) * SCALE; // below 2^121
        let mut fraction = if shift >= 128 { 0 } else { scaled >> shift };
        let remainder = if shift >= 128 { scaled } else { scaled & ((1u128 << shift) - 1) };
        let half = 1u128.checked_shl(shift - 1).unwrap_or(u128::MAX);
        if remainder > half || (remainder == half && fraction % 2 == 1) {
            fraction += 1;
        }
        let carry = fraction == SCALE;
        ((whole + u64::from(carry)).to_string(), if carry { 0 } else { fraction })
    };
    let mut text = format!("{whole}.{fraction:017}");
    text.truncate(text.trim_end_matches('0').trim_end_matches('.').len());
    if value.is_negative() && text != "0" {
        text.insert(0, '-');
    }
    text
}

/// The decimal digits of `significand * 2^shift`, an integer of up to 16,447 bits.
fn decimal_digits(significand: u64, shift: u32) -> String {
    const CHUNK: u64 = 1_000_000_000;
    let wide = u128::from(significand) << (shift % 32);
    let mut limbs = vec![0u32; (shift / 32) as usize]; // base 2^32, least significant first
    limbs.extend([wide as u32, (wide >> 32) as u32, (wide >> 64) as u32]);
    let mut chunks = Vec::new(); // base 10^9, least significant first
    while limbs.iter().any(|&limb| limb != 0) {
        let mut remainder = 0u64;
        for limb in limbs.iter_mut().rev() {
            let current = remainder << 32 | u64::from(*limb);
            *limb = (current / CHUNK) as u32;
            remainder = current % CHUNK;
        }
        chunks.push(remainder);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut text = chunks.pop().unwrap_or(0).to_string();
    chunks.iter().rev().for_each(|chunk| text.push_str(&format!("{chunk:09}")));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(value: &str, by: &str) -> Option<String> {
        add(parse(value.as_bytes())?, parse(by.as_bytes())?)
    }

    /// Sums redis-server 7.0.15 gave for `SET k value` then `INCRBYFLOAT k by`.
    #[test]
    fn sums_are_written_as_redis_writes_them() {
        let cases = [
            ("10.5", "0.1", "10.6"),
            ("3.0e3", "0", "3000"),
            ("5.0e3", "2e-4", "5000.00019999999999998"),
            ("0.1", "0.2", "0.3"),
            ("1", "0x10", "17"),
            ("17", "0.1", "17.1"),
            ("17.1", "-0.1", "17"),
            ("17", "-17", "0"),
            ("0", "1e-20", "0"),
            ("0", "-0.0", "0"),
            ("0", "1.23456789012345678901234", "1.23456789012345679"),
            ("0", "0x1p-3", "0.125"),
            ("0", ".5", "0.5"),
            ("0.5", "5.", "5.5"),
            ("5.5", "+1", "6.5"),
            ("6.5", "1E2", "106.5"),
        ];
        for (value, by, want) in cases {
            assert_eq!(incr(value, by).as_deref(), Some(want), "{value} + {by}");
        }
        let big = incr("5000.00019999999999998", "1e300").unwrap();
        assert!(big.starts_with("1000000000000000000008997324079559193870523944273290747938260082321265646596"));
        assert!(big.ends_with("24915104006144") && big.len() == 301, "{big}");
    }

    #[test]
    fn what_redis_refuses_is_refused() {
        for bad in ["nan", "-nan", "abc", " 1", "1 ", "1e-5000", "1e5000", "", "1e", "0x", ".", "e5", "1.2.3", "0x1p"] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad:?} is not a valid float");
        }
        assert_eq!(incr("1", "inf"), None, "NaN or Infinity");
        let far = incr("1e4000", "1e4000").unwrap(); // far from the range's end: taken
        assert!(far.starts_with("19999999999999999999930927746199247569864985167013915") && far.len() == 4001);
        assert_eq!(human(-LongDouble::largest()).len(), LONGEST_TEXT);
        assert_eq!(incr("inf", "-inf"), None);
        // redis-server 7.0.15 refuses each (a value "\x005" was once read as 0, then overwritten).
        for bad in [&b"7\0junk"[..], b"\x005", b"\0", b"5\0"] {
            assert!(parse(bad).is_none(), "{bad:?}: strtold stops before the end");
        }
    }
}
