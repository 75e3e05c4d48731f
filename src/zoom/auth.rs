//! Server-to-Server OAuth: `POST oauth_url` with `grant_type=
//! account_credentials`, Basic auth with the client id and secret. There is
//! no refresh token: the access token is cached until shortly before it
//! expires, then asked for again; the client also renews it once when Zoom
//! rejects it (401, code 124).

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{ZoomError, error_body, without_url};
use crate::config::{Secret, ZoomConfig, redact_url};
use crate::metrics::ZoomMetrics;

/// How long a token request may take.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The account's credentials and its current access token.
pub(super) struct TokenCache {
    oauth_url: String,
    account_id: String,
    client_id: String,
    client_secret: Secret,
    /// The token and when to renew it.
    token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    pub fn new(config: &ZoomConfig) -> TokenCache {
        TokenCache {
            oauth_url: config.oauth_url.clone(),
            account_id: config.account_id.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// The cached token, or a new one when it is due or `renew` says so.
    /// Token requests count in `metrics` as endpoint `token`.
    pub async fn get(
        &self,
        http: &reqwest::Client,
        metrics: &ZoomMetrics,
        renew: bool,
    ) -> Result<Secret, ZoomError> {
        let mut slot = self.token.lock().await;
        if !renew
            && let Some((token, renew_at)) = slot.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let count = |status: &str| metrics.requests.with_label_values(&["token", status]).inc();
        let fail = |message: String| ZoomError::RequestToken {
            url: redact_url(&self.oauth_url),
            message,
        };
        let response = http
            .post(&self.oauth_url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[
                ("grant_type", "account_credentials"),
                ("account_id", self.account_id.as_str()),
            ])
            // A token endpoint that accepts and never answers must not
            // hold the source for the whole request timeout.
            .timeout(TOKEN_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                count(if e.is_timeout() { "timeout" } else { "error" });
                fail(without_url(&e))
            })?;
        let status = response.status();
        count(status.as_str());
        let body = response.bytes().await.map_err(|e| fail(without_url(&e)))?;
        if !status.is_success() {
            let (_, reason) = error_body(&body);
            return Err(fail(format!(
                "HTTP {status}: {reason}; check account_id, client_id and client_secret"
            )));
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: Option<u64>,
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("unreadable token response: {e}")))?;
        let life = Duration::from_secs(t.expires_in.unwrap_or(3600));
        // Renew shortly before expiry: a minute early, or at 90% of a short life.
        let margin = Duration::from_secs(60).min(life / 10);
        let token = Secret::new(t.access_token);
        *slot = Some((token.clone(), Instant::now() + life - margin));
        Ok(token)
    }
}
