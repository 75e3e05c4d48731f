//! Who may use the status page and the admin API (SPEC 15), as one axum
//! middleware ([`guard`]) layered over every route that needs it (`/` and
//! `/api/*`; `/healthz`, `/readyz` and `/metrics` stay outside).
//!
//! - With `http.admin_token`: the request needs it, as
//!   `Authorization: Bearer TOKEN` or HTTP Basic with the token as the
//!   password (any user name, so a browser can log in); otherwise 401,
//!   with a `WWW-Authenticate: Basic` challenge on pages. The token is
//!   compared in constant time (HMAC-SHA256 digests compared with
//!   `verify_slice`).
//! - Without it: nothing can be changed (a write answers 403 naming the
//!   setting), and reads are for loopback clients only (participant names
//!   and addresses are personal data; a container listens on `0.0.0.0`).
//! - Always: a write whose `Origin` is not this server's `Host` is refused
//!   (403), so another site cannot post through a logged-in browser. Forms
//!   add their own CSRF token on top.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::HttpState;
use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The key both sides are hashed with: any fixed key does, as only the
/// digests' comparison has to take the same time whatever they hold.
const KEY: &[u8] = b"qoswatch admin token";

/// The realm of the Basic challenge.
pub const REALM: &str = "qoswatch";

/// The configured admin token, kept as its digest.
#[derive(Clone, Default)]
pub struct AdminAuth {
    digest: Option<Vec<u8>>,
    /// The token the status page's forms carry (random per process; empty
    /// without an admin token, when nothing can be changed).
    csrf: String,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.digest.is_some() {
            "AdminAuth(token: ***)"
        } else {
            "AdminAuth(no token)"
        })
    }
}

fn mac(text: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(KEY).expect("HMAC takes any key length");
    mac.update(text);
    mac
}

/// What a request presented, and whether it passes.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It may go on.
    Pass,
    /// 401: the token is needed and was missing or wrong.
    NeedsToken,
    /// 403, with the reason.
    Forbidden(String),
}

impl AdminAuth {
    /// `http.admin_token`, if set.
    pub fn new(token: Option<&Secret>) -> AdminAuth {
        let digest = token.map(|t| mac(t.expose().as_bytes()).finalize().into_bytes().to_vec());
        let csrf = if digest.is_some() {
            format!("{:032x}", rand::random::<u128>())
        } else {
            String::new()
        };
        AdminAuth { digest, csrf }
    }

    /// The CSRF token for the page's forms (empty when nothing can be
    /// changed).
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// Whether a form carried this process's CSRF token, compared in
    /// constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        !self.csrf.is_empty()
            && mac(presented.as_bytes())
                .verify_slice(&mac(self.csrf.as_bytes()).finalize().into_bytes())
                .is_ok()
    }

    /// Whether a token is configured (writes are enabled).
    pub fn configured(&self) -> bool {
        self.digest.is_some()
    }

    /// Whether `presented` is the token, in constant time.
    fn accepts(&self, presented: &[u8]) -> bool {
        self.digest
            .as_ref()
            .is_some_and(|d| mac(presented).verify_slice(d).is_ok())
    }

    /// Whether the request's `Authorization` carries the token (Bearer, or
    /// Basic with it as the password).
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            self.accepts(rest.as_bytes())
        } else if scheme.eq_ignore_ascii_case("basic") {
            match decode_base64(rest) {
                Some(pair) => {
                    let password = match pair.iter().position(|b| *b == b':') {
                        Some(i) => &pair[i + 1..],
                        None => &pair[..],
                    };
                    self.accepts(password)
                }
                None => false,
            }
        } else {
            false
        }
    }

    /// Judges a request to a guarded route from `peer`.
    pub fn judge(&self, method: &Method, headers: &HeaderMap, peer: Option<SocketAddr>) -> Verdict {
        let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if write && !same_origin(headers) {
            return Verdict::Forbidden(
                "cross-origin request refused: its Origin is not this server".into(),
            );
        }
        if self.configured() {
            return if self.authorized(headers) {
                Verdict::Pass
            } else {
                Verdict::NeedsToken
            };
        }
        if write {
            return Verdict::Forbidden(
                "nothing can be changed without `http.admin_token`: set it in the config (at least 16 characters) and send it as `Authorization: Bearer TOKEN`".into(),
            );
        }
        if !peer.is_some_and(|p| p.ip().is_loopback()) {
            return Verdict::Forbidden(
                "without `http.admin_token` the status page and /api/* answer loopback clients only: set `http.admin_token` in the config to reach them from elsewhere".into(),
            );
        }
        Verdict::Pass
    }
}

/// Whether a request's `Origin`, if any, names the `Host` it was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
            .map(|rest| rest.trim_end_matches('/'))
    });
    match (origin, host) {
        (Some(o), Some(h)) => o.eq_ignore_ascii_case(h),
        _ => false,
    }
}

/// The middleware: lets a request through or answers 401 / 403.
pub async fn guard(State(state): State<Arc<HttpState>>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    match state.admin.judge(req.method(), req.headers(), peer) {
        Verdict::Pass => next.run(req).await,
        Verdict::NeedsToken => {
            let page = !req.uri().path().starts_with("/api/");
            let challenge = if page {
                format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"")
            } else {
                format!("Bearer realm=\"{REALM}\"")
            };
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, challenge)],
                "needs the admin token (http.admin_token): `Authorization: Bearer TOKEN`, or HTTP Basic with the token as the password\n",
            )
                .into_response()
        }
        Verdict::Forbidden(reason) => {
            (StatusCode::FORBIDDEN, format!("{reason}\n")).into_response()
        }
    }
}

/// Basic credentials' base64 (RFC 7617 uses the standard alphabet;
/// padding is accepted whether present or not).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64("dTpwYXNz").unwrap(), b"u:pass");
        assert_eq!(decode_base64("OnNlY3JldA==").unwrap(), b":secret");
        assert_eq!(decode_base64("OnNlY3JldA").unwrap(), b":secret");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert!(decode_base64("a!b=").is_none());
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn bearer_and_basic_with_the_token_as_the_password() {
        let auth = AdminAuth::new(Some(&Secret::new("0123456789abcdef")));
        let ok = |h: &[(&'static str, &str)]| auth.authorized(&headers(h));
        assert!(ok(&[("authorization", "Bearer 0123456789abcdef")]));
        assert!(ok(&[("authorization", "bearer 0123456789abcdef")]));
        // "admin:0123456789abcdef" and ":0123456789abcdef"
        assert!(ok(&[(
            "authorization",
            "Basic YWRtaW46MDEyMzQ1Njc4OWFiY2RlZg=="
        )]));
        assert!(ok(&[("authorization", "Basic OjAxMjM0NTY3ODlhYmNkZWY=")]));
        assert!(!ok(&[("authorization", "Bearer 0123456789abcdeF")]));
        assert!(!ok(&[("authorization", "Bearer 0123456789abcde")]));
        assert!(!ok(&[("authorization", "Basic YWRtaW46d3Jvbmc=")]));
        assert!(!ok(&[]));
    }

    #[test]
    fn origin_must_be_the_host() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:9464")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:9464"),
            ("origin", "http://127.0.0.1:9464")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:9464"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:9464"),
            ("origin", "null")
        ])));
    }

    #[test]
    fn without_a_token_nothing_changes_and_only_loopback_reads() {
        let auth = AdminAuth::new(None);
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "10.0.0.7:5000".parse().unwrap();
        let h = headers(&[("host", "x")]);
        assert_eq!(auth.judge(&Method::GET, &h, Some(local)), Verdict::Pass);
        for (method, peer) in [
            (Method::POST, Some(local)),
            (Method::DELETE, Some(local)),
            (Method::GET, Some(remote)),
            (Method::GET, None),
        ] {
            match auth.judge(&method, &h, peer) {
                Verdict::Forbidden(r) => assert!(r.contains("http.admin_token"), "{r}"),
                v => panic!("{method} from {peer:?}: {v:?}"),
            }
        }
    }
}
