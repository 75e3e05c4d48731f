//! wiremock responders not tied to Zoom.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use wiremock::{Request, Respond, ResponseTemplate};

/// Answers from a script, one answer per request, repeating the last one;
/// records when each request came. The pattern of a peer that fails N times
/// and then succeeds.
pub struct Script {
    answers: Vec<ResponseTemplate>,
    times: Arc<Mutex<Vec<Instant>>>,
}

impl Script {
    pub fn new(answers: Vec<ResponseTemplate>) -> Script {
        assert!(!answers.is_empty(), "a script needs an answer");
        Script {
            answers,
            times: Arc::default(),
        }
    }

    /// When each request came, shared with the mounted responder.
    pub fn times(&self) -> Arc<Mutex<Vec<Instant>>> {
        self.times.clone()
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut t = self.times.lock().unwrap();
        t.push(Instant::now());
        let i = (t.len() - 1).min(self.answers.len() - 1);
        self.answers[i].clone()
    }
}

/// Records every JSON body posted and answers as Slack does (200 `ok`):
/// a chat receiver whose messages a test reads back.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Value>>>);

impl Recorder {
    /// A recorder answering every POST to `path` on `server`.
    pub async fn mounted(server: &wiremock::MockServer, path: &str) -> Recorder {
        let recorder = Recorder::default();
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path(path))
            .respond_with(recorder.clone())
            .mount(server)
            .await;
        recorder
    }

    /// The bodies received so far, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    /// The first body for which `f` holds, waiting up to 20 s.
    pub fn wait(&self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let mut found = None;
        super::eventually(Duration::from_secs(20), || {
            found = self.bodies().into_iter().find(|b| f(b));
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no {what} among {:#?}", self.bodies()))
    }
}

impl Respond for Recorder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        self.0.lock().unwrap().push(body);
        ResponseTemplate::new(200).set_body_string("ok")
    }
}
