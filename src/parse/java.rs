//! Java's `String.valueOf` for numbers, which Druid applies when a number becomes a dimension
//! value: integers print plainly, doubles as `Double.toString` (`1.0`, `0.001`, `1.0E7`, `1.0E-4`).

/// Formats a double exactly as Java's `Double.toString` (shortest round-trip digits).
pub fn double_to_string(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{:e}", value.abs());
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if value < 0.0 { "-" } else { "" };
    let abs = value.abs();
    if (1e-3..1e7).contains(&abs) {
        format!("{sign}{}", plain_decimal(&digits, exponent))
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exponent}")
    }
}

/// Lays out `digits` × 10^(exponent - digits + 1) as a plain decimal with at least one fraction digit.
fn plain_decimal(digits: &str, exponent: i32) -> String {
    let point = exponent + 1;
    if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
    } else {
        let (int_part, frac_part) = digits.split_at(point as usize);
        format!("{int_part}.{frac_part}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_double_to_string() {
        let cases = [
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (123.456, "123.456"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1e7, "1.0E7"),
            (9_999_999.0, "9999999.0"),
            (1.2345e-5, "1.2345E-5"),
            (12_345_678.9, "1.23456789E7"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.0, "0.0"),
            (f64::NAN, "NaN"),
        ];
        for (value, expected) in cases {
            assert_eq!(double_to_string(value), expected, "{value}");
        }
    }
}
