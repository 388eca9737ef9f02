//! KEYS' patterns, matched as Redis matches them (its `stringmatchlen`): `*` any run of bytes,
//! `?` any one byte, `[...]` one byte of a class (`^` first negates it, `a-z` a range either
//! way round, `\` escapes the next byte; a class left open runs to the pattern's end), and `\`
//! outside a class takes the next byte as it is. Case counts.

/// Whether `text` matches `pattern`. A `*` that fails to match is retried one byte further
/// from the last `*` only (not every earlier one): any later match an earlier `*` could make,
/// the last one makes too, so the work stays bounded by the two lengths' product.
///
/// The empty text matches the empty pattern and `*` only: Redis' matcher consumes a
/// pattern's trailing stars only after a byte of text, so `**` or `*[a]*` never match the
/// empty key, and KEYS and SCAN take a lone `*` for "everything" without matching it.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    if text.is_empty() {
        return pattern.is_empty() || pattern == b"*";
    }
    let (mut p, mut t) = (0, 0);
    // Where the pattern resumes after the last `*`, and the text byte that `*` matched up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            p += 1;
            star = Some((p, t));
            continue;
        }
        if let Some(used) = one(&pattern[p.min(pattern.len())..], text[t]) {
            p += used;
            t += 1;
            continue;
        }
        match star {
            Some((after, matched)) => {
                star = Some((after, matched + 1));
                (p, t) = (after, matched + 1);
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&b| b == b'*')
}

/// How many bytes of `pattern` its first element (not `*`) takes, if it matches `byte`.
fn one(pattern: &[u8], byte: u8) -> Option<usize> {
    match pattern {
        [] => None,
        [b'?', ..] => Some(1),
        [b'[', class @ ..] => {
            let (matched, used) = in_class(class, byte);
            matched.then_some(1 + used)
        }
        [b'\\', escaped, ..] => (*escaped == byte).then_some(2),
        [literal, ..] => (*literal == byte).then_some(1),
    }
}

/// Whether `byte` is in the class `class` starts (just after its `[`), and how many bytes of
/// `class` it takes, its `]` included.
fn in_class(class: &[u8], byte: u8) -> (bool, usize) {
    let negated = class.first() == Some(&b'^');
    let (mut at, mut matched) = (usize::from(negated), false);
    loop {
        match &class[at..] {
            [] => break,
            [b'\\', escaped, ..] => {
                matched |= *escaped == byte;
                at += 2;
            }
            [b']', ..] => {
                at += 1;
                break;
            }
            [low, b'-', high, ..] => {
                matched |= (*low.min(high)..=*low.max(high)).contains(&byte);
                at += 3;
            }
            [literal, ..] => {
                matched |= *literal == byte;
                at += 1;
            }
        }
    }
    (matched != negated, at)
}

#[cfg(test)]
mod tests {
    use super::matches;

    /// Keys and patterns with what redis-server 7.0.15's KEYS matched of them.
    #[test]
    fn patterns_match_as_redis_matches_them() {
        let keys = ["*", "a\\b", "h[e", "hallo", "heeeello", "hello", "hllo", "hxllo", "x"];
        let cases: [(&str, &[&str]); 16] = [
            ("*", &keys),
            ("h?llo", &["hallo", "hello", "hxllo"]),
            ("h*llo", &["hallo", "heeeello", "hello", "hllo", "hxllo"]),
            ("h[ae]llo", &["hallo", "hello"]),
            ("h[^e]llo", &["hallo", "hxllo"]),
            ("h[a-b]llo", &["hallo"]),
            ("h[b-a]llo", &["hallo"]),
            ("a\\\\b", &["a\\b"]),
            ("h\\[e", &["h[e"]),
            ("h[e", &[]),
            ("h[", &[]),
            ("\\*", &["*"]),
            ("[", &[]),
            ("x[", &[]),
            ("h[\\]]llo", &[]),
            ("nothing*", &[]),
        ];
        for (pattern, want) in cases {
            let got: Vec<&str> = keys.iter().copied().filter(|k| matches(pattern.as_bytes(), k.as_bytes())).collect();
            assert_eq!(got, want, "KEYS {pattern}");
        }
    }

    #[test]
    fn stars_backtrack_and_classes_take_escapes_and_ranges() {
        assert!(matches(b"*a*b*c", b"xxaxxbxxbxxc"));
        assert!(!matches(b"*a*b*c", b"xxaxxbxxbxx"));
        assert!(matches(b"a**", b"a"));
        assert!(matches(b"", b""));
        assert!(!matches(b"", b"a"));
        assert!(matches(b"[\\]]", b"]"));
        assert!(matches(b"[a\\-z]", b"-"));
        assert!(!matches(b"[a\\-z]", b"m"));
        assert!(matches(b"[^]x", b"yx"), "[^] is an empty class negated: any byte");
        assert!(!matches(b"[]", b"]"), "[] is an empty class: no byte");
        assert!(matches(b"trailing\\", b"trailing\\"), "a last backslash is itself");
    }

    /// redis-server 7.0.15 with the empty key set: `KEYS *` returns it, `KEYS **` does not.
    #[test]
    fn the_empty_key_matches_the_empty_pattern_and_a_lone_star_only() {
        for (pattern, want) in
            [("*", true), ("", true), ("**", false), ("*\\*", false), ("?*", false), ("[^a]*", false)]
        {
            assert_eq!(matches(pattern.as_bytes(), b""), want, "{pattern:?}");
        }
        assert!(
            matches(b"**", b"x") && matches(b"x**", b"x"),
            "trailing stars after a byte of text still match nothing"
        );
    }
}
