//! wiremock responders not tied to Zoom.

use std::sync::{Arc, Mutex};
use std::time::Instant;

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
