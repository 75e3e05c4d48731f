//! The lenient JSON pieces the QoS reader is built from: keys and scalars
//! borrowed from the body, and one seed, [`Lenient`], that reads an object
//! (or a list) where Zoom may send anything else. Only broken JSON is an
//! error here; a value of an unexpected type comes back as a [`Scalar`], for
//! the caller to warn about or to ignore.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::qos;

/// A map key, borrowed from the body unless JSON escapes forced a copy.
#[derive(Deserialize)]
pub(super) struct Key<'a>(#[serde(borrow)] pub Cow<'a, str>);

/// A JSON value where a scalar belongs; lists and objects are passed over.
#[derive(Debug)]
pub(super) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Int(i64),
    Bool(bool),
    Null,
    /// A list or an object, named for warnings.
    Other(&'static str),
}

impl<'a> Scalar<'a> {
    /// Zoom's ways of saying "no data": `null`, `""`, `"-"` and the like.
    pub fn is_no_data(&self) -> bool {
        match self {
            Scalar::Null => true,
            Scalar::Str(s) => qos::is_no_data(s),
            _ => false,
        }
    }

    /// As text: numbers and booleans spelled out; `null`, lists and objects
    /// are none.
    pub fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            Scalar::Null | Scalar::Other(_) => None,
            // Whole numbers without a fraction: user 16778240, not 16778240.0.
            Scalar::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                Some((n as i64).to_string().into())
            }
            other => Some(other.shown().into()),
        }
    }

    /// The value as sent, shortened, for a warning.
    pub fn shown(&self) -> String {
        match self {
            Scalar::Str(s) => crate::shorten(s, 64),
            Scalar::Num(n) => n.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Null => "null".into(),
            Scalar::Other(what) => (*what).into(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Lenient(&mut Skip).deserialize(d)? {
            Ok(()) => Scalar::Other("an object"),
            Err(scalar) => scalar,
        })
    }
}

/// A text field: a string, or a number or boolean spelled out; `None` for
/// `null`, a list or an object.
#[derive(Default)]
pub(super) struct Text<'a>(Option<Cow<'a, str>>);

impl Text<'_> {
    pub fn as_text(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The text unless it is empty.
    pub fn non_empty(&self) -> Option<&str> {
        self.as_text().filter(|s| !s.is_empty())
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Scalar::deserialize(d).map(|s| Text(s.into_text()))
    }
}

/// Reads one kind of JSON object (and, for a reader of lists, a list).
pub(super) trait Reader<'de> {
    type Value;

    fn object<A: MapAccess<'de>>(&mut self, map: A) -> Result<Self::Value, A::Error>;

    /// A list: `None` (passed over) unless the reader reads lists.
    fn list<A: SeqAccess<'de>>(&mut self, mut seq: A) -> Result<Option<Self::Value>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Passes over an object.
struct Skip;

impl<'de> Reader<'de> for Skip {
    type Value = ();
    fn object<A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// `R` for the items of a list: objects only, a list in the list is
/// passed over.
pub(super) struct Item<'r, R>(pub &'r mut R);

impl<'de, R: Reader<'de>> Reader<'de> for Item<'_, R> {
    type Value = R::Value;
    fn object<A: MapAccess<'de>>(&mut self, map: A) -> Result<R::Value, A::Error> {
        self.0.object(map)
    }
}

/// Reads a value with `R`: `Ok` with what `R` read from an object (or a
/// list), `Err` with the scalar sent instead. Never an error for the type.
pub(super) struct Lenient<'r, R>(pub &'r mut R);

impl<'de, R: Reader<'de>> DeserializeSeed<'de> for Lenient<'_, R> {
    type Value = Result<R::Value, Scalar<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: Reader<'de>> Visitor<'de> for Lenient<'_, R> {
    type Value = Result<R::Value, Scalar<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.object(map).map(Ok)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(self.0.list(seq)?.ok_or(Scalar::Other("an array")))
    }
    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Err(Scalar::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Err(Scalar::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Err(Scalar::Num(v)))
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Err(Scalar::Int(v)))
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Err(
            i64::try_from(v).map_or(Scalar::Num(v as f64), Scalar::Int)
        ))
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Err(Scalar::Bool(v)))
    }
    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(Err(Scalar::Null))
    }
}
