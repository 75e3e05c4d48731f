//! Parsing Zoom's value strings (`"126 ms"`, `"0.3%"`, `"1.2 Mbps"`,
//! `"1280*720"`) and the rule language's quantities (`150ms`, `2%`).

use super::Unit;

/// Why a value could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseValueError {
    /// The text does not start with a number.
    #[error("`{0}` is not a number with a unit")]
    NotANumber(String),
    /// The unit is unknown or does not fit the metric.
    #[error("unit `{found}` does not fit a value in {expected}; use {accepted}")]
    WrongUnit {
        found: String,
        expected: Unit,
        accepted: &'static str,
    },
    /// A number without a unit where one is required.
    #[error("`{0}` has no unit; use {1}")]
    MissingUnit(String, &'static str),
    /// A negative value where none can be (latency, loss, bitrate ...).
    #[error("`{0}` is negative")]
    Negative(String),
    /// A resolution that is not `WIDTH*HEIGHT`.
    #[error("`{0}` is not a resolution like 1280*720")]
    BadResolution(String),
}

/// Splits `text` into its leading number and the rest (trimmed).
///
/// Accepts an optional sign, digits with an optional fraction and exponent,
/// and thousands separators written as `1,055`. Rejects `inf`, `NaN` and
/// friends, which `str::parse::<f64>` would accept.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'+') {
        i += 1;
    }
    let digits_start = i;
    let mut has_comma = false;
    // The digits as an integer and the count of fraction digits, for the
    // exact fast path below.
    let mut mantissa: u64 = 0;
    let mut digits = 0u32;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => {
                mantissa = mantissa
                    .wrapping_mul(10)
                    .wrapping_add(u64::from(bytes[i] - b'0'));
                digits += 1;
                i += 1;
            }
            b',' if i > digits_start
                && bytes.len() >= i + 4
                && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
                && bytes.get(i + 4).is_none_or(|b| !b.is_ascii_digit()) =>
            {
                has_comma = true;
                i += 1;
            }
            _ => break,
        }
    }
    let mut any_digit = i > digits_start;
    let mut fraction_digits = 0;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            mantissa = mantissa
                .wrapping_mul(10)
                .wrapping_add(u64::from(bytes[i] - b'0'));
            digits += 1;
            i += 1;
        }
        fraction_digits = i - frac_start;
        any_digit |= i > frac_start;
    }
    if !any_digit {
        return None;
    }
    let exponent_at = i;
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'-' || bytes[j] == b'+') {
            j += 1;
        }
        let exp_start = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    let number = &text[..i];
    if !has_comma && i == exponent_at && digits <= 15 {
        // Up to 15 digits fit a double exactly, and so does 10^k for
        // k <= 22: one division is then correctly rounded, the same double
        // `parse` gives (Clinger's fast path), without its generality.
        const POW10: [f64; 16] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        ];
        // Most of Zoom's values are whole numbers: no division at all.
        let magnitude = if fraction_digits == 0 {
            mantissa as f64
        } else {
            mantissa as f64 / POW10[fraction_digits]
        };
        let value = if bytes[0] == b'-' {
            -magnitude
        } else {
            magnitude
        };
        return Some((value, trim_fast(&text[i..])));
    }
    let value = if has_comma {
        number.replace(',', "").parse::<f64>().ok()?
    } else {
        number.parse::<f64>().ok()?
    };
    value.is_finite().then(|| (value, trim_fast(&text[i..])))
}

/// `str::trim`, skipped when the text visibly needs none (the usual case).
fn trim_fast(text: &str) -> &str {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// The factor that turns a value written in `unit_text` into `unit`, if the
/// spelling fits the unit.
fn unit_factor(unit: Unit, unit_text: &str) -> Option<f64> {
    // Case-insensitive without allocating: this runs for every Zoom value.
    let table: &[(&str, f64)] = match unit {
        Unit::Ms => &[("ms", 1.0), ("s", 1000.0)],
        Unit::Percent => &[("%", 1.0)],
        Unit::Kbps => &[
            ("kbps", 1.0),
            ("mbps", 1000.0),
            ("gbps", 1_000_000.0),
            ("bps", 0.001),
        ],
        Unit::Fps => &[("fps", 1.0)],
        Unit::Dbm => &[("dbm", 1.0)],
        Unit::Px => &[("px", 1.0)],
    };
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit_text))
        .map(|(_, f)| *f)
}

/// Parses a quantity such as `"126 ms"`, `"0.3%"`, `"1.2 Mbps"` or `150ms`
/// into `unit`.
///
/// With `unit_required`, a bare number is accepted only for px (the rule
/// language); without it a bare number is taken as already in `unit` (Zoom
/// sends Wi-Fi signal levels as plain numbers).
pub fn parse_quantity(text: &str, unit: Unit, unit_required: bool) -> Result<f64, ParseValueError> {
    let trimmed = trim_fast(text);
    let (number, rest) = split_number(trimmed)
        .ok_or_else(|| ParseValueError::NotANumber(crate::shorten(trimmed, 40)))?;
    let factor = if rest.is_empty() {
        if unit_required && unit != Unit::Px {
            return Err(ParseValueError::MissingUnit(
                crate::shorten(trimmed, 40),
                unit.accepted(),
            ));
        }
        1.0
    } else {
        unit_factor(unit, rest).ok_or_else(|| ParseValueError::WrongUnit {
            found: crate::shorten(rest, 20),
            expected: unit,
            accepted: unit.accepted(),
        })?
    };
    if number < 0.0 && unit != Unit::Dbm {
        return Err(ParseValueError::Negative(crate::shorten(trimmed, 40)));
    }
    Ok(number * factor)
}

/// Parses `"1280*720"` (or `1280x720`) into width and height in px.
/// `"0*0"` is Zoom's way of saying no video: `Ok(None)`.
pub fn parse_resolution(text: &str) -> Result<Option<(f64, f64)>, ParseValueError> {
    let trimmed = text.trim();
    let bad = || ParseValueError::BadResolution(crate::shorten(trimmed, 40));
    let (w, h) = trimmed.split_once(['*', 'x', 'X', '×']).ok_or_else(bad)?;
    let parse = |s: &str| -> Result<f64, ParseValueError> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<f64>().map_err(|_| bad())
    };
    let (w, h) = (parse(w)?, parse(h)?);
    if w == 0.0 && h == 0.0 {
        Ok(None)
    } else {
        Ok(Some((w, h)))
    }
}

/// Whether a Zoom value string means *no data* (`""`, `"-"`, and friends).
pub fn is_no_data(text: &str) -> bool {
    matches!(
        trim_fast(text),
        "" | "-" | "--" | "N/A" | "n/a" | "null" | "none" | "None"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_values_normalise() {
        assert_eq!(parse_quantity("126 ms", Unit::Ms, false), Ok(126.0));
        assert_eq!(parse_quantity("0.3%", Unit::Percent, false), Ok(0.3));
        assert_eq!(parse_quantity("23 kbps", Unit::Kbps, false), Ok(23.0));
        assert_eq!(parse_quantity("27.15 kbps", Unit::Kbps, false), Ok(27.15));
        assert_eq!(parse_quantity("1.2 Mbps", Unit::Kbps, false), Ok(1200.0));
        assert_eq!(parse_quantity("1,055 kbps", Unit::Kbps, false), Ok(1055.0));
        assert_eq!(parse_quantity("12 fps", Unit::Fps, false), Ok(12.0));
        assert_eq!(parse_quantity("-45", Unit::Dbm, false), Ok(-45.0));
        assert_eq!(parse_quantity("-45 dBm", Unit::Dbm, false), Ok(-45.0));
        assert_eq!(parse_quantity("0.2 s", Unit::Ms, false), Ok(200.0));
    }

    #[test]
    fn garbled_values_are_errors() {
        for bad in [
            "fast ms",
            "inf ms",
            "NaN",
            "ms",
            "1.2.3 ms",
            "12 parsecs",
            "-3 ms",
        ] {
            assert!(parse_quantity(bad, Unit::Ms, false).is_err(), "{bad}");
        }
        assert!(parse_quantity("4%", Unit::Ms, false).is_err());
    }

    #[test]
    fn rule_quantities_need_units() {
        assert_eq!(parse_quantity("150ms", Unit::Ms, true), Ok(150.0));
        assert_eq!(parse_quantity("1280", Unit::Px, true), Ok(1280.0));
        assert!(matches!(
            parse_quantity("150", Unit::Ms, true),
            Err(ParseValueError::MissingUnit(..))
        ));
        assert!(matches!(
            parse_quantity("2%", Unit::Ms, true),
            Err(ParseValueError::WrongUnit { .. })
        ));
    }

    #[test]
    fn the_fast_path_gives_the_same_double_as_parse() {
        for text in [
            "0.1",
            "0.3",
            "27.15",
            "1055",
            "0.03",
            "99.99",
            "123456789012345",
            "1234567.89012345",
            "-45",
            "-0",
            "0.000000000000001",
            "007.50",
            "4.9",
        ] {
            let (v, rest) = split_number(text).unwrap();
            assert_eq!(
                v.to_bits(),
                text.parse::<f64>().unwrap().to_bits(),
                "{text}"
            );
            assert_eq!(rest, "");
        }
        // Longer numbers take `parse`, and still agree.
        for text in [
            "1234567890123456789",
            "0.1234567890123456789",
            "1e3",
            "2.5E-2",
        ] {
            assert_eq!(
                split_number(text).unwrap().0,
                text.parse::<f64>().unwrap(),
                "{text}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn split_number_agrees_with_parse(int in 0u64..1_000_000_000, frac in 0u64..1_000_000, width in 0usize..7, neg: bool) {
            let text = if width == 0 {
                format!("{}{int}", if neg { "-" } else { "" })
            } else {
                let frac = frac % 10u64.pow(width as u32);
                format!("{}{int}.{frac:0width$}", if neg { "-" } else { "" })
            };
            let (v, _) = split_number(&text).unwrap();
            proptest::prop_assert_eq!(v.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{}", text);
        }
    }

    #[test]
    fn resolutions() {
        assert_eq!(parse_resolution("1280*720"), Ok(Some((1280.0, 720.0))));
        assert_eq!(parse_resolution("0*0"), Ok(None));
        assert!(parse_resolution("big").is_err());
        assert!(parse_resolution("-1*5").is_err());
    }

    #[test]
    fn no_data_spellings() {
        assert!(is_no_data(""));
        assert!(is_no_data(" - "));
        assert!(!is_no_data("0 ms"));
    }
}
