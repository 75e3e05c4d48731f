//! The condition language (docs/rules.md, "Conditions"): parsing with precise positions,
//! unit type-checking, and three-valued evaluation over one sample.
//!
//! ```text
//! expr  := or
//! or    := and ("or" and)*
//! and   := unary ("and" unary)*
//! unary := "not" unary | "(" expr ")" | cmp
//! cmp   := METRIC OP QUANTITY          OP: > >= < <= == !=
//! ```
//!
//! A comparison over a stream wildcard (`audio_*.latency`) is compiled to the
//! list of concrete metrics it covers, so evaluation is a few slot reads.

use std::fmt;

use crate::qos::{
    CPU_FIELDS, Field, Metric, ParseValueError, RSSI_FIELDS, STREAM_NAMES, Sample, Stream, Unit,
    parse_quantity,
};
use crate::yaml::suggest;

mod lex;

use lex::{Token, TokenKind, lex};

/// Relative tolerance of comparisons.
const TOLERANCE: f64 = 1e-9;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    /// `value OP threshold` with the relative tolerance.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        let equal = (value - threshold).abs() <= TOLERANCE * value.abs().max(threshold.abs());
        match self {
            Op::Gt => value > threshold && !equal,
            Op::Ge => value > threshold || equal,
            Op::Lt => value < threshold && !equal,
            Op::Le => value < threshold || equal,
            Op::Eq => equal,
            Op::Ne => !equal,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `METRIC OP QUANTITY`, compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The metric as written (`audio_*.latency`).
    pub metric_text: String,
    /// The concrete metrics it covers, in stream order; never empty.
    pub metrics: Vec<Metric>,
    pub op: Op,
    /// The threshold in the metric's normalised unit.
    pub threshold: f64,
    /// The metric's normalised unit.
    pub unit: Unit,
}

/// Three-valued truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }
}

/// The comparison that decided a result, with the stream value it read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decider {
    /// Index into [`Condition::comparisons`].
    pub comparison: usize,
    /// The concrete metric reported (the worst stream of a wildcard).
    pub metric: Metric,
    pub value: f64,
}

/// A result and what decided it (`None` when unknown).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub truth: Truth,
    pub decider: Option<Decider>,
}

const UNKNOWN: Outcome = Outcome {
    truth: Truth::Unknown,
    decider: None,
};

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Cmp(usize),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A compiled, type-checked condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The condition as written.
    pub source: String,
    /// Its comparisons, left to right.
    pub comparisons: Vec<Comparison>,
    expr: Expr,
}

/// A problem in a condition, at a character offset of its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    /// Character offset in the condition text.
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}

impl Condition {
    /// Parses and type-checks `source`.
    pub fn parse(source: &str) -> Result<Condition, ExprError> {
        let tokens = lex(source)?;
        if tokens.is_empty() {
            return Err(ExprError {
                offset: 0,
                message: "empty condition".into(),
            });
        }
        let mut p = Parser {
            tokens,
            i: 0,
            depth: 0,
            comparisons: Vec::new(),
            end: source.chars().count(),
        };
        let expr = p.or()?;
        if let Some(t) = p.tokens.get(p.i) {
            return Err(ExprError {
                offset: t.offset,
                message: format!(
                    "unexpected {} after a complete condition; join conditions with `and` or `or`",
                    t.kind.describe()
                ),
            });
        }
        Ok(Condition {
            source: source.to_owned(),
            comparisons: p.comparisons,
            expr,
        })
    }

    /// Evaluates the condition on `sample`.
    pub fn eval(&self, sample: &Sample) -> Outcome {
        self.eval_expr(&self.expr, sample)
    }

    fn eval_expr(&self, expr: &Expr, sample: &Sample) -> Outcome {
        match expr {
            Expr::Cmp(i) => eval_comparison(*i, &self.comparisons[*i], sample),
            Expr::Not(e) => {
                let o = self.eval_expr(e, sample);
                Outcome {
                    truth: o.truth.not(),
                    decider: o.decider,
                }
            }
            Expr::And(a, b) => {
                let a = self.eval_expr(a, sample);
                if a.truth == Truth::False {
                    return a;
                }
                let b = self.eval_expr(b, sample);
                match (a.truth, b.truth) {
                    (_, Truth::False) => b,
                    (Truth::True, Truth::True) => a,
                    _ => UNKNOWN,
                }
            }
            Expr::Or(a, b) => {
                let a = self.eval_expr(a, sample);
                if a.truth == Truth::True {
                    return a;
                }
                let b = self.eval_expr(b, sample);
                match (a.truth, b.truth) {
                    (_, Truth::True) => b,
                    (Truth::False, Truth::False) => a,
                    _ => UNKNOWN,
                }
            }
        }
    }
}

fn eval_comparison(index: usize, c: &Comparison, sample: &Sample) -> Outcome {
    let decided = |truth, metric: Metric, value| Outcome {
        truth,
        decider: Some(Decider {
            comparison: index,
            metric,
            value,
        }),
    };
    let truth_of = |ok: bool| if ok { Truth::True } else { Truth::False };
    match c.op {
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            // The worst stream decides: the largest for > and >=, the
            // smallest for < and <=; the first in stream order on ties.
            let want_max = matches!(c.op, Op::Gt | Op::Ge);
            let mut worst: Option<(Metric, f64)> = None;
            for &m in &c.metrics {
                let v = sample.values[m.slot()];
                if v.is_nan() {
                    continue;
                }
                let better = match worst {
                    None => true,
                    Some((_, w)) => {
                        if want_max {
                            v > w
                        } else {
                            v < w
                        }
                    }
                };
                if better {
                    worst = Some((m, v));
                }
            }
            match worst {
                None => UNKNOWN,
                Some((m, v)) => decided(truth_of(c.op.holds(v, c.threshold)), m, v),
            }
        }
        Op::Eq | Op::Ne => {
            let mut first: Option<(Metric, f64)> = None;
            for &m in &c.metrics {
                let v = sample.values[m.slot()];
                if v.is_nan() {
                    continue;
                }
                if c.op.holds(v, c.threshold) {
                    return decided(Truth::True, m, v);
                }
                first.get_or_insert((m, v));
            }
            match first {
                None => UNKNOWN,
                Some((m, v)) => decided(Truth::False, m, v),
            }
        }
    }
}

// ---- lexer ------------------------------------------------------------------

/// Nesting (parentheses and `not`) deeper than this is refused.
const MAX_DEPTH: usize = 32;
/// Comparisons per condition; more is refused (evaluation recurses).
const MAX_COMPARISONS: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    depth: usize,
    comparisons: Vec<Comparison>,
    /// Character length of the source, for "unexpected end" errors.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.i).map(|t| &t.kind)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.i).map_or(self.end, |t| t.offset)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.peek() == Some(&TokenKind::Or) {
            self.i += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while self.peek() == Some(&TokenKind::And) {
            self.i += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if matches!(self.peek(), Some(TokenKind::Not | TokenKind::LParen)) {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(ExprError {
                    offset: self.offset(),
                    message: format!(
                        "condition nested too deeply (more than {MAX_DEPTH} levels of `not` and parentheses)"
                    ),
                });
            }
            let result = self.unary_inner();
            self.depth -= 1;
            return result;
        }
        self.unary_inner()
    }

    fn unary_inner(&mut self) -> Result<Expr, ExprError> {
        match self.peek() {
            Some(TokenKind::Not) => {
                self.i += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(TokenKind::LParen) => {
                let open = self.offset();
                self.i += 1;
                let inner = self.or()?;
                if self.peek() != Some(&TokenKind::RParen) {
                    let at = self.offset();
                    let found = self
                        .peek()
                        .map_or("the end".to_owned(), TokenKind::describe);
                    return Err(ExprError {
                        offset: at,
                        message: format!(
                            "expected `)` to close the `(` at character {}, found {found}",
                            open + 1
                        ),
                    });
                }
                self.i += 1;
                Ok(inner)
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let metric_at = self.offset();
        let metric_text = match self.peek() {
            Some(TokenKind::Word(w)) => w.clone(),
            Some(TokenKind::Quantity(q)) => {
                return Err(ExprError {
                    offset: metric_at,
                    message: format!(
                        "expected a metric before `{q}`; write the metric first, as in `audio_input.latency > 150ms`"
                    ),
                });
            }
            Some(other) => {
                return Err(ExprError {
                    offset: metric_at,
                    message: format!("expected a metric, found {}", other.describe()),
                });
            }
            None => {
                return Err(ExprError {
                    offset: metric_at,
                    message: "expected a metric, found the end of the condition".into(),
                });
            }
        };
        let metrics = resolve_metric(&metric_text).map_err(|message| ExprError {
            offset: metric_at,
            message,
        })?;
        self.i += 1;
        let op_at = self.offset();
        let op = match self.peek() {
            Some(TokenKind::Op(op)) => *op,
            other => {
                let found =
                    other.map_or("the end of the condition".to_owned(), TokenKind::describe);
                return Err(ExprError {
                    offset: op_at,
                    message: format!(
                        "expected a comparison operator (> >= < <= == !=) after `{metric_text}`, found {found}"
                    ),
                });
            }
        };
        self.i += 1;
        let q_at = self.offset();
        let quantity = match self.peek() {
            Some(TokenKind::Quantity(q)) => q.clone(),
            other => {
                let found =
                    other.map_or("the end of the condition".to_owned(), TokenKind::describe);
                return Err(ExprError {
                    offset: q_at,
                    message: format!("expected a number with a unit after `{op}`, found {found}"),
                });
            }
        };
        let unit = metrics[0].unit();
        let threshold = parse_quantity(&quantity, unit, true).map_err(|e| ExprError {
            offset: q_at,
            message: match e {
                ParseValueError::WrongUnit { found, .. } => format!(
                    "unit `{found}` does not fit `{metric_text}`, which is in {unit}; use {}",
                    unit.accepted()
                ),
                ParseValueError::MissingUnit(..) => format!(
                    "`{quantity}` needs a unit: `{metric_text}` is in {unit}; use {}",
                    unit.accepted()
                ),
                other => other.to_string(),
            },
        })?;
        self.i += 1;
        if self.comparisons.len() >= MAX_COMPARISONS {
            return Err(ExprError {
                offset: metric_at,
                message: format!(
                    "condition too long: more than {MAX_COMPARISONS} comparisons; split it into several rules"
                ),
            });
        }
        self.comparisons.push(Comparison {
            metric_text,
            metrics,
            op,
            threshold,
            unit,
        });
        Ok(Expr::Cmp(self.comparisons.len() - 1))
    }
}

/// Glob match with `*` only, in linear time (greedy with backtracking to
/// the last star: no exponential blow-up on `***…`).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The concrete metrics a metric path covers, in stream order.
pub fn resolve_metric(text: &str) -> Result<Vec<Metric>, String> {
    if text.chars().count() > 200 {
        return Err(format!("unknown metric `{}`", crate::shorten(text, 60)));
    }
    let Some((head, tail)) = text.split_once('.') else {
        let hint = match suggest(text, &["and", "or", "not"]) {
            Some(k) if text.eq_ignore_ascii_case(k) => {
                format!("; write the keyword `{k}` in lowercase")
            }
            _ => "; a metric is STREAM.FIELD, e.g. `audio_input.latency`".into(),
        };
        return Err(format!("unknown metric `{text}`{hint}"));
    };
    let fixed = |fields: &[&str], make: fn(usize) -> Metric| -> Result<Vec<Metric>, String> {
        match fields.iter().position(|f| *f == tail) {
            Some(i) => Ok(vec![make(i)]),
            None => Err(format!(
                "unknown metric `{text}`: {head} has {}{}",
                fields.join(", "),
                did_you_mean(tail, fields)
            )),
        }
    };
    match head {
        "cpu_usage" => return fixed(&CPU_FIELDS, Metric::cpu),
        "wifi_rssi" => return fixed(&RSSI_FIELDS, Metric::rssi),
        _ => {}
    }
    let streams: Vec<Stream> = Stream::all().filter(|s| glob(head, s.name())).collect();
    if streams.is_empty() {
        let mut known: Vec<&str> = STREAM_NAMES.to_vec();
        known.extend(["cpu_usage", "wifi_rssi"]);
        return Err(format!(
            "unknown stream `{head}` in `{text}`{}",
            if head.contains('*') {
                " (the wildcard matches no stream)".to_owned()
            } else {
                did_you_mean(head, &known)
            }
        ));
    }
    let field_names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
    let Some(field) = Field::from_name(tail) else {
        let extra = if tail == "resolution" {
            "; use resolution.width or resolution.height".to_owned()
        } else {
            did_you_mean(tail, &field_names)
        };
        return Err(format!(
            "unknown metric `{text}`: streams have {}{extra}",
            field_names.join(", ")
        ));
    };
    let metrics: Vec<Metric> = streams
        .iter()
        .filter(|s| s.has_field(field))
        .map(|s| Metric::stream(*s, field))
        .collect();
    if metrics.is_empty() {
        return Err(format!(
            "unknown metric `{text}`: audio streams have no {}",
            field.name()
        ));
    }
    Ok(metrics)
}

fn did_you_mean(word: &str, known: &[&str]) -> String {
    suggest(word, known).map_or(String::new(), |k| format!(" (did you mean `{k}`?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(values: &[(&str, f64)]) -> Sample {
        let mut s = Sample::empty(crate::qos::Timestamp(0));
        for (path, v) in values {
            s.set(Metric::from_path(path).unwrap(), Some(*v));
        }
        s
    }

    fn eval(cond: &str, values: &[(&str, f64)]) -> (Truth, Option<(String, f64)>) {
        let c = Condition::parse(cond).unwrap();
        let o = c.eval(&sample(values));
        (o.truth, o.decider.map(|d| (d.metric.path(), d.value)))
    }

    #[test]
    fn units_normalise_and_check() {
        let c = Condition::parse("audio_input.latency > 0.15s").unwrap();
        assert_eq!(c.comparisons[0].threshold, 150.0);
        let c = Condition::parse("video_input.bitrate < 1.5 Mbps").unwrap();
        assert_eq!(c.comparisons[0].threshold, 1500.0);
        let c = Condition::parse("video_input.resolution.width < 640").unwrap();
        assert_eq!(c.comparisons[0].unit, Unit::Px);
        let e = Condition::parse("audio_input.latency > 2%").unwrap_err();
        assert_eq!(e.offset, 22);
        assert!(e.message.contains("does not fit"), "{}", e.message);
        let e = Condition::parse("audio_input.latency > 150").unwrap_err();
        assert!(e.message.contains("needs a unit"), "{}", e.message);
        assert!(Condition::parse("wifi_rssi.min_rssi < -70dBm").is_ok());
        assert!(Condition::parse("cpu_usage.zoom_avg_cpu_usage >= 80 %").is_ok());
    }

    #[test]
    fn parse_errors_have_offsets() {
        let cases = [
            ("audio_input.latncy > 150ms", 0, "did you mean `latency`"),
            ("audio_input.latency >", 21, "expected a number"),
            ("(audio_input.latency > 1ms", 26, "expected `)`"),
            ("audio_input.latency = 1ms", 20, "use `==`"),
            (
                "audio_input.latency => 1ms",
                20,
                "`=>` is not an operator; use `>=`",
            ),
            (
                "audio_input.latency =< 1ms",
                20,
                "`=<` is not an operator; use `<=`",
            ),
            (
                "audio_input.latency > 1ms audio_input.jitter > 1ms",
                26,
                "unexpected",
            ),
            (
                "audio_input.frame_rate < 10fps",
                0,
                "audio streams have no frame_rate",
            ),
            ("foo_*.latency > 1ms", 0, "matches no stream"),
            ("", 0, "empty"),
            ("audio_input.latency > 1ms AND x", 26, "unexpected"),
            ("150ms < audio_input.latency", 0, "metric first"),
        ];
        for (src, offset, needle) in cases {
            let e = Condition::parse(src).unwrap_err();
            assert_eq!(e.offset, offset, "{src}: {e:?}");
            assert!(e.message.contains(needle), "{src}: {}", e.message);
        }
    }

    #[test]
    fn wildcards_resolve_in_stream_order() {
        let names = |t: &str| -> Vec<String> {
            resolve_metric(t)
                .unwrap()
                .iter()
                .map(|m| m.path())
                .collect()
        };
        assert_eq!(
            names("*_input.latency"),
            [
                "audio_input.latency",
                "video_input.latency",
                "as_input.latency"
            ]
        );
        assert_eq!(names("audio_*.latency").len(), 6);
        assert_eq!(names("*.latency").len(), 18);
        assert_eq!(names("*.frame_rate").len(), 12);
        assert_eq!(
            names("a*_*i*t.latency"),
            ["audio_input.latency", "as_input.latency"]
        );
        assert!(glob("*", ""));
        assert!(!glob("a*b", "ac"));
        // No exponential blow-up.
        let started = std::time::Instant::now();
        assert!(resolve_metric("****************************z.latency").is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn three_valued_logic_and_deciders() {
        use Truth::*;
        // No data is unknown, never zero.
        assert_eq!(eval("audio_input.latency < 150ms", &[]).0, Unknown);
        // Wildcard: any stream with data.
        let two = [
            ("audio_input.latency", 100.0),
            ("audio_output.latency", 200.0),
        ];
        assert_eq!(
            eval("audio_*.latency > 150ms", &two),
            (True, Some(("audio_output.latency".into(), 200.0)))
        );
        assert_eq!(
            eval("audio_*.latency < 150ms", &two),
            (True, Some(("audio_input.latency".into(), 100.0)))
        );
        assert_eq!(
            eval("audio_*.latency > 250ms", &two),
            (False, Some(("audio_output.latency".into(), 200.0)))
        );
        // Kleene: false and unknown is false; true or unknown is true.
        let lat = [("audio_input.latency", 100.0)];
        assert_eq!(
            eval(
                "audio_input.latency > 150ms and video_input.latency > 1ms",
                &lat
            )
            .0,
            False
        );
        assert_eq!(
            eval(
                "video_input.latency > 1ms and audio_input.latency > 150ms",
                &lat
            ),
            (False, Some(("audio_input.latency".into(), 100.0)))
        );
        assert_eq!(
            eval(
                "video_input.latency > 1ms or audio_input.latency < 150ms",
                &lat
            ),
            (True, Some(("audio_input.latency".into(), 100.0)))
        );
        assert_eq!(
            eval(
                "audio_input.latency > 150ms or video_input.latency > 1ms",
                &lat
            )
            .0,
            Unknown
        );
        assert_eq!(eval("not video_input.latency > 1ms", &lat).0, Unknown);
        assert_eq!(
            eval("not audio_input.latency > 150ms", &lat),
            (True, Some(("audio_input.latency".into(), 100.0)))
        );
        // Both true: the leftmost reports.
        let both = [("audio_input.latency", 200.0), ("audio_input.jitter", 50.0)];
        assert_eq!(
            eval(
                "audio_input.jitter > 40ms and audio_input.latency > 150ms",
                &both
            )
            .1,
            Some(("audio_input.jitter".into(), 50.0))
        );
        // Precedence: and binds tighter than or.
        assert_eq!(
            eval(
                "audio_input.latency > 1s or audio_input.jitter > 40ms and audio_input.latency > 150ms",
                &both
            )
            .0,
            True
        );
    }

    #[test]
    fn deep_or_long_conditions_are_refused_not_crashing() {
        let deep = format!(
            "{}audio_input.latency > 1ms{}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert!(
            Condition::parse(&deep)
                .unwrap_err()
                .message
                .contains("nested too deeply")
        );
        let nots = format!("{}audio_input.latency > 1ms", "not ".repeat(100_000));
        assert!(
            Condition::parse(&nots)
                .unwrap_err()
                .message
                .contains("nested too deeply")
        );
        let long = vec!["audio_input.latency > 1ms"; 100_000].join(" and ");
        assert!(
            Condition::parse(&long)
                .unwrap_err()
                .message
                .contains("too long")
        );
        let ok = vec!["audio_input.latency > 1ms"; 64].join(" or ");
        assert!(Condition::parse(&ok).is_ok());
        let nested_ok = format!(
            "{}audio_input.latency > 1ms{}",
            "(".repeat(32),
            ")".repeat(32)
        );
        assert!(Condition::parse(&nested_ok).is_ok());
    }

    #[test]
    fn equality_uses_tolerance_and_first_stream() {
        let c = Condition::parse("*_input.frame_rate == 12fps").unwrap();
        let s = sample(&[
            ("video_input.frame_rate", 12.000000000001),
            ("as_input.frame_rate", 12.0),
        ]);
        let o = c.eval(&s);
        assert_eq!(o.truth, Truth::True);
        assert_eq!(o.decider.unwrap().metric.path(), "video_input.frame_rate");
        assert!(Op::Gt.holds(150.001, 150.0));
        assert!(!Op::Gt.holds(150.0000001, 150.0), "within 1e-9 relative");
        assert!(!Op::Gt.holds(150.0 * (1.0 + 1e-12), 150.0));
        assert!(Op::Ge.holds(150.0 * (1.0 - 1e-12), 150.0));
    }
}
