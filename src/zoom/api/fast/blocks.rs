//! Passing over a delivered sample 64 bytes at a time.
//!
//! Most of a live response is samples already delivered, which the scanner
//! checks and passes over without reading. Zoom writes them compact: keys
//! and values are strings without escapes, groups are objects of them. For
//! that shape this pass classifies the 64 bytes of a block at once (SSE2 on
//! x86-64, a loop elsewhere), finds the strings by a prefix XOR of the
//! quotes, and checks the grammar of members with shifted masks: after `{`
//! comes a key or `}`, after a key `:`, after `:` a string or `{`, after a
//! string value or `}` comes `,` or `}`, after `,` a key.
//!
//! Anything else (whitespace between tokens, numbers, literals, lists,
//! escapes, control characters, deep nesting) makes it answer `None`, and
//! the byte scanner passes over the sample member by member, which also
//! decides whether the JSON is broken. So this pass only has to be right on
//! what it accepts, and a test holds it to the byte scanner there.

/// Nesting below the object passed over that this pass takes; deeper is
/// left to the byte scanner (and its limit).
const MAX_NESTING: usize = 16;

/// The bytes of each class in a 64-byte block, bit `i` for byte `i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Classes {
    quote: u64,
    backslash: u64,
    control: u64,
    open: u64,
    close: u64,
    colon: u64,
    comma: u64,
}

/// The token that ends a block, one bit (bit 0) per kind, for the checks
/// of the next block's first byte.
#[derive(Clone, Copy, Default)]
struct Last {
    open: u64,
    comma: u64,
    colon: u64,
    key_end: u64,
    value_end: u64,
    close: u64,
}

/// From `from`, just after a member's string value, passes over the rest
/// of the object's members and its closing brace; the index after that
/// brace, or `None` for anything but compact members of strings and
/// objects.
pub(super) fn pass_members(bytes: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    // Whether the block starts inside a string (all ones) or not.
    let mut in_string = 0u64;
    // 1 when a key string runs on into the block.
    let mut key_run = 0u64;
    let mut last = Last {
        value_end: 1,
        ..Last::default()
    };
    // Objects open below the one passed over.
    let mut depth = 0usize;
    loop {
        let rest = bytes.get(pos..).filter(|r| !r.is_empty())?;
        let n = rest.len().min(64);
        let mut chunk = [0u8; 64];
        chunk[..n].copy_from_slice(&rest[..n]);
        let c = classify(&chunk);
        // Strings: from an opening quote up to, not including, its closing one.
        let string = prefix_xor(c.quote) ^ in_string;
        let opening = c.quote & string;
        let closing = c.quote & !string;
        let outside = !(string | closing);
        let open = c.open & outside;
        let close = c.close & outside;
        let colon = c.colon & outside;
        let comma = c.comma & outside;
        // A key opens after `{` or `,`. Adding a key's opening bit to the
        // string mask clears the key's run of ones (carrying into its
        // closing quote), so the runs left uncleared are values'.
        let key_open = opening & ((open | comma) << 1 | last.open | last.comma);
        let (sum, carry_a) = string.overflowing_add(key_open);
        let (sum, carry_b) = sum.overflowing_add(key_run);
        let key_string = string & !sum;
        let key_end = closing & (key_string << 1 | key_run);
        let value_end = closing & !key_end;
        // What may follow each token. Anything else outside strings
        // (whitespace, numbers, literals, lists) follows some token, so it
        // is refused here too.
        let after = |x: u64, last: u64| x << 1 | last;
        let wrong = after(open, last.open) & !(opening | close)
            | after(comma, last.comma) & !opening
            | after(colon, last.colon) & !(opening | open)
            | after(key_end, last.key_end) & !colon
            | after(value_end, last.value_end) & !(comma | close)
            | after(close, last.close) & !(comma | close)
            | string & c.control
            | c.backslash;
        // The braces in order, for the one that closes the object.
        let mut braces = open | close;
        while braces != 0 {
            let bit = braces & braces.wrapping_neg();
            if open & bit != 0 {
                depth += 1;
                if depth > MAX_NESTING {
                    return None;
                }
            } else if depth == 0 {
                let end = bit.trailing_zeros();
                let upto = if end == 63 { !0 } else { (2u64 << end) - 1 };
                return (wrong & upto == 0).then_some(pos + end as usize + 1);
            } else {
                depth -= 1;
            }
            braces ^= bit;
        }
        if wrong != 0 || n < 64 {
            return None;
        }
        in_string = 0u64.wrapping_sub(string >> 63);
        key_run = u64::from(carry_a | carry_b);
        last = Last {
            open: open >> 63,
            comma: comma >> 63,
            colon: colon >> 63,
            key_end: key_end >> 63,
            value_end: value_end >> 63,
            close: close >> 63,
        };
        pos += 64;
    }
}

/// Bit `i` is the XOR of bits `0..=i`.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(target_arch = "x86_64")]
fn classify(chunk: &[u8; 64]) -> Classes {
    // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 CPU has it.
    unsafe { classify_sse2(chunk) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn classify_sse2(chunk: &[u8; 64]) -> Classes {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_max_epu8, _mm_set_epi64x, _mm_set1_epi8};
    let mut c = Classes::default();
    let low = _mm_set1_epi8(0x1f);
    for (k, lane) in chunk.chunks_exact(16).enumerate() {
        let lo = i64::from_le_bytes(lane[..8].try_into().expect("8 bytes"));
        let hi = i64::from_le_bytes(lane[8..].try_into().expect("8 bytes"));
        let v = _mm_set_epi64x(hi, lo);
        let shift = 16 * k;
        c.quote |= equal(v, b'"') << shift;
        c.backslash |= equal(v, b'\\') << shift;
        c.open |= equal(v, b'{') << shift;
        c.close |= equal(v, b'}') << shift;
        c.colon |= equal(v, b':') << shift;
        c.comma |= equal(v, b',') << shift;
        // Unsigned `byte <= 0x1f`: the larger of the two is 0x1f.
        c.control |= movemask(_mm_cmpeq_epi8(_mm_max_epu8(v, low), low)) << shift;
    }
    c
}

/// The lanes of `v` equal to `byte`, one bit each.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn equal(v: std::arch::x86_64::__m128i, byte: u8) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_set1_epi8};
    movemask(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8)))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn movemask(m: std::arch::x86_64::__m128i) -> u64 {
    u64::from(std::arch::x86_64::_mm_movemask_epi8(m) as u16)
}

#[cfg(not(target_arch = "x86_64"))]
fn classify(chunk: &[u8; 64]) -> Classes {
    classify_bytes(chunk)
}

/// [`classify`] a byte at a time.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn classify_bytes(chunk: &[u8; 64]) -> Classes {
    let mut c = Classes::default();
    for (i, &b) in chunk.iter().enumerate() {
        let bit = 1u64 << i;
        match b {
            b'"' => c.quote |= bit,
            b'\\' => c.backslash |= bit,
            b'{' => c.open |= bit,
            b'}' => c.close |= bit,
            b':' => c.colon |= bit,
            b',' => c.comma |= bit,
            0..=0x1f => c.control |= bit,
            _ => {}
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte scanner's pass over the same members.
    fn scanner(text: &str, from: usize) -> Option<usize> {
        let mut sc = super::super::Scan { text, i: from };
        sc.skip_members(false, 0).map(|()| sc.i)
    }

    #[derive(Clone, Debug)]
    enum Value {
        Str(String),
        Obj(Vec<(String, Value)>),
    }

    fn write(members: &[(String, Value)], out: &mut String) {
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("\"{k}\":"));
            match v {
                Value::Str(s) => out.push_str(&format!("\"{s}\"")),
                Value::Obj(m) => {
                    out.push('{');
                    write(m, out);
                    out.push('}');
                }
            }
        }
    }

    /// Strings with JSON's structural characters, spaces and non-ASCII
    /// inside, long enough that members cross blocks.
    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9{}:,\\[\\] é*%.-]{0,40}"
    }

    fn members() -> impl Strategy<Value = Vec<(String, Value)>> {
        let leaf = text().prop_map(Value::Str);
        let value = leaf.prop_recursive(3, 40, 6, |inner| {
            prop::collection::vec((text(), inner), 0..6).prop_map(Value::Obj)
        });
        prop::collection::vec((text(), value), 0..12)
    }

    /// A delivered sample's text after its `date_time` value, then what
    /// follows it in a response; and where the members start.
    fn sample(members: &[(String, Value)], tail: &str) -> (String, usize) {
        let mut text = String::from("{\"date_time\":\"2021-06-24T20:00:00Z\"");
        let from = text.len();
        if !members.is_empty() {
            text.push(',');
        }
        write(members, &mut text);
        text.push('}');
        text.push_str(tail);
        (text, from)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn classes_agree_with_the_byte_loop(bytes in prop::collection::vec(any::<u8>(), 64)) {
            let chunk: [u8; 64] = bytes.try_into().unwrap();
            prop_assert_eq!(classify(&chunk), classify_bytes(&chunk));
        }

        /// Compact members are passed over, to where the scanner ends.
        #[test]
        fn compact_members_are_passed_over(m in members(), tail in "[\\]}, ]{0,3}") {
            let (text, from) = sample(&m, &tail);
            let end = text.len() - tail.len();
            prop_assert_eq!(pass_members(text.as_bytes(), from), Some(end), "{}", text);
            prop_assert_eq!(scanner(&text, from), Some(end));
        }

        /// With one byte changed, inserted or removed, this pass accepts
        /// only what the scanner accepts, and ends where it ends.
        #[test]
        fn changed_members_are_accepted_only_as_the_scanner_does(
            m in members(),
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(b"\"\\{}:,[] a1\n\x01".to_vec()),
            how in 0..3u8,
        ) {
            let (text, from) = sample(&m, "]}");
            let mut bytes = text.into_bytes();
            let i = from + at.index(bytes.len() - from);
            match how {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
            let Ok(text) = String::from_utf8(bytes) else { return Ok(()) };
            if let Some(end) = pass_members(text.as_bytes(), from) {
                prop_assert_eq!(scanner(&text, from), Some(end), "{}", text);
            }
        }
    }

    #[test]
    fn what_it_leaves_to_the_scanner() {
        for members in [
            r#","a":"b" }"#,
            r#","a":1}"#,
            r#","a":null}"#,
            r#","a":["b"]}"#,
            r#","a":"\"b"}"#,
            r#","a":"b""#,
            "",
        ] {
            let text = format!("{{\"date_time\":\"x\"{members}");
            assert_eq!(pass_members(text.as_bytes(), 16), None, "{text}");
        }
        let deep = format!(
            "{{\"date_time\":\"x\",\"a\":{}\"c\"{}}}",
            "{\"a\":".repeat(MAX_NESTING + 1),
            "}".repeat(MAX_NESTING + 1)
        );
        assert_eq!(pass_members(deep.as_bytes(), 16), None);
        assert_eq!(scanner(&deep, 16), Some(deep.len()));
    }

    #[test]
    fn broken_members_are_refused() {
        for members in [
            r#","a":{}:"v"}"#,
            r#","a":{}{"b":"c"}}"#,
            r#","a":{}"v"}"#,
            r#","a"}"#,
            r#","a":}"#,
            r#",:"a"}"#,
            r#","a":"b",}"#,
            r#","a""b"}"#,
            r#",{"a":"b"}}"#,
            r#""a":"b"}"#,
            r#","a":"b":"c"}"#,
            r#","a":{"b"}}"#,
            r#","a":{,"b":"c"}}"#,
            r#",,"a":"b"}"#,
        ] {
            let text = format!("{{\"date_time\":\"x\"{members}]");
            assert_eq!(pass_members(text.as_bytes(), 16), None, "{text}");
            assert_eq!(scanner(&text, 16), None, "{text}");
        }
    }

    #[test]
    fn strings_across_blocks() {
        // A key, a value and a closing quote at each position around the
        // block boundary.
        for pad in 0..80 {
            let key = "k".repeat(pad);
            let text =
                format!("{{\"date_time\":\"x\",\"{key}\":\"{key}\",\"g\":{{\"{key}\":\"v\"}}}}]");
            assert_eq!(
                pass_members(text.as_bytes(), 16),
                Some(text.len() - 1),
                "{pad}"
            );
        }
    }
}
