//! Zoom's webhook signature, checked before anything else is read:
//! `x-zm-signature` = `v0=` + hex(HMAC-SHA256(secret_token,
//! `v0:{x-zm-request-timestamp}:{raw body}`)), compared in constant time
//! (`hmac`'s `verify_slice`), and a timestamp within 5 minutes of now. Also
//! the answer to `endpoint.url_validation`. Pure: the time is an argument.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a request's timestamp may be from now (seconds).
pub const MAX_SKEW: i64 = 300;

/// Why a request was refused (answered 401, nothing processed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// `x-zm-signature` or `x-zm-request-timestamp` is missing.
    MissingHeader(&'static str),
    /// The timestamp is unreadable or more than 5 minutes from now.
    Timestamp,
    /// The signature does not match.
    Signature,
}

impl Rejected {
    /// For logs and the `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::MissingHeader(_) => "missing_header",
            Rejected::Timestamp => "stale_timestamp",
            Rejected::Signature => "bad_signature",
        }
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::MissingHeader(h) => write!(f, "header {h} missing"),
            Rejected::Timestamp => {
                f.write_str("x-zm-request-timestamp unreadable or more than 5 minutes from now")
            }
            Rejected::Signature => f.write_str(
                "x-zm-signature does not match (is zoom.webhook.secret_token the app's Secret Token?)",
            ),
        }
    }
}

/// Checks a request's signature and timestamp; `now` in unix seconds.
pub fn verify(
    secret: &[u8],
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    body: &[u8],
    now: i64,
) -> Result<(), Rejected> {
    let signature = signature.ok_or(Rejected::MissingHeader("x-zm-signature"))?;
    let timestamp = timestamp.ok_or(Rejected::MissingHeader("x-zm-request-timestamp"))?;
    let seconds = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .ok_or(Rejected::Timestamp)?;
    // Seconds as documented; milliseconds tolerated.
    let seconds = if seconds > 100_000_000_000 {
        seconds / 1000
    } else {
        seconds
    };
    // abs_diff: a forged timestamp near i64::MIN must not overflow.
    if seconds.abs_diff(now) > MAX_SKEW.unsigned_abs() {
        return Err(Rejected::Timestamp);
    }
    let hex = signature.strip_prefix(b"v0=").ok_or(Rejected::Signature)?;
    let expected = decode_hex(hex).ok_or(Rejected::Signature)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| Rejected::Signature)?;
    mac.update(b"v0:");
    mac.update(timestamp);
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| Rejected::Signature)
}

/// `hex(HMAC-SHA256(secret, message))`: the `encryptedToken` of a URL
/// validation answer, and (over `v0:{ts}:{body}`) a signature.
pub fn hmac_hex(secret: &[u8], message: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(message);
    encode_hex(&mac.finalize().into_bytes())
}

/// Lower-case hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || hex.len() > 128 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    hex.chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_772_452_800;

    fn sign(secret: &str, ts: &str, body: &str) -> String {
        format!(
            "v0={}",
            hmac_hex(secret.as_bytes(), format!("v0:{ts}:{body}").as_bytes())
        )
    }

    #[test]
    fn a_good_signature_passes_and_anything_else_is_refused() {
        let body = r#"{"event":"meeting.started"}"#;
        let ts = NOW.to_string();
        let sig = sign("s3cret", &ts, body);
        let check = |sig: Option<&str>, ts: Option<&str>, body: &str, now| {
            verify(
                b"s3cret",
                sig.map(str::as_bytes),
                ts.map(str::as_bytes),
                body.as_bytes(),
                now,
            )
        };
        assert_eq!(check(Some(&sig), Some(&ts), body, NOW), Ok(()));
        assert_eq!(
            check(
                Some(&sig.to_uppercase().replace("V0=", "v0=")),
                Some(&ts),
                body,
                NOW
            ),
            Ok(())
        );
        assert_eq!(check(Some(&sig), Some(&ts), body, NOW + 299), Ok(()));
        assert_eq!(
            check(Some(&sig), Some(&ts), body, NOW + 360),
            Err(Rejected::Timestamp)
        );
        assert_eq!(
            check(Some(&sig), Some(&ts), body, NOW - 360),
            Err(Rejected::Timestamp)
        );
        assert_eq!(
            check(Some(&sig), Some(&ts), "{}", NOW),
            Err(Rejected::Signature)
        );
        assert_eq!(
            check(Some(&sign("other", &ts, body)), Some(&ts), body, NOW),
            Err(Rejected::Signature)
        );
        assert_eq!(
            check(Some("v0=zz"), Some(&ts), body, NOW),
            Err(Rejected::Signature)
        );
        assert_eq!(
            check(Some(&sig[3..]), Some(&ts), body, NOW),
            Err(Rejected::Signature)
        );
        assert_eq!(
            check(None, Some(&ts), body, NOW),
            Err(Rejected::MissingHeader("x-zm-signature"))
        );
        assert_eq!(
            check(Some(&sig), None, body, NOW),
            Err(Rejected::MissingHeader("x-zm-request-timestamp"))
        );
        assert_eq!(
            check(Some(&sig), Some("soon"), body, NOW),
            Err(Rejected::Timestamp)
        );
        // Forged extremes are refused, not an overflow.
        for forged in [i64::MIN.to_string(), i64::MAX.to_string()] {
            assert_eq!(
                check(Some(&sig), Some(&forged), body, NOW),
                Err(Rejected::Timestamp)
            );
        }
    }

    #[test]
    fn url_validation_token_is_the_hmac_of_the_plain_token() {
        // Zoom's sample: HMAC-SHA256 of the plain token, hex.
        let t = hmac_hex(b"key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            t,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
