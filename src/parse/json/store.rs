//! Where a member's value goes: the fast paths for the usual shapes of a field, and the general
//! routing of any scanned value to the timestamp, a dimension slot and a metric input slot.

use std::borrow::Cow;

use super::super::scan::{ObjectScanner, RawValue, ScanError};
use super::super::schema::Target;
use super::super::{DimValue, FieldValue, ParseError, ParsedRow, set_dim, set_field};
use super::{JsonValue, TimestampValue, raw_to_json};

/// The shapes of nearly every field, each with a fast path that reads the value in its usual
/// form (a plain string, an integer) and stores it directly.
#[derive(Debug, Clone, Copy)]
pub(super) enum Route {
    /// A string dimension only.
    Dim(usize),
    /// A metric input only.
    Field(usize),
    /// The timestamp column only.
    Timestamp,
    /// Both a dimension and a metric input (a dimension that is also counted uniquely).
    DimAndField(usize, usize),
    /// Anything else: through [`store`].
    General,
}

impl Route {
    pub(super) fn of(target: Target) -> Route {
        match (target.dim, target.field, target.timestamp) {
            (Some(d), None, false) => Route::Dim(d as usize),
            (None, Some(f), false) => Route::Field(f as usize),
            (None, None, true) => Route::Timestamp,
            (Some(d), Some(f), false) => Route::DimAndField(d as usize, f as usize),
            _ => Route::General,
        }
    }
}

/// Reads and stores the value of a member whose key took `route` when the value has the route's
/// usual shape; false (nothing read) otherwise.
#[inline(always)]
pub(super) fn fast_store<'a>(
    route: Route,
    scanner: &mut ObjectScanner<'a>,
    row: &mut ParsedRow<'a>,
    timestamp: &mut Option<TimestampValue<'a>>,
) -> Result<bool, ScanError> {
    match route {
        Route::Dim(d) => match scanner.plain_string_after_colon()? {
            Some(text) => {
                grow(row, d);
                set_dim(&mut row.dims[d], DimValue::One(Cow::Borrowed(text)));
                Ok(true)
            }
            None => Ok(false),
        },
        Route::Field(f) => match scanner.plain_long_after_colon()? {
            Some(n) => {
                set_field(&mut row.fields[f], FieldValue::Long(n));
                Ok(true)
            }
            None => Ok(false),
        },
        Route::Timestamp => match scanner.plain_string_after_colon()? {
            Some(text) => {
                *timestamp = Some(TimestampValue::Text(Cow::Borrowed(text)));
                Ok(true)
            }
            None => Ok(false),
        },
        Route::DimAndField(d, f) => match scanner.plain_string_after_colon()? {
            Some(text) => {
                grow(row, d);
                set_field(&mut row.fields[f], FieldValue::Str(Cow::Borrowed(text)));
                set_dim(&mut row.dims[d], DimValue::One(Cow::Borrowed(text)));
                Ok(true)
            }
            None => Ok(false),
        },
        Route::General => Ok(false),
    }
}

/// Puts one scanned value where its key routes it. Members that [`fast_store`] did not take
/// (a key new at its position, spaced JSON, an escaped string) arrive here; the usual shapes
/// (a string dimension, an integer metric input, a string timestamp, a string both dimension
/// and metric input) are stored directly again, anything else through [`deliver`].
#[inline]
pub(super) fn store<'a>(
    target: Target,
    value: RawValue<'a>,
    row: &mut ParsedRow<'a>,
    timestamp: &mut Option<TimestampValue<'a>>,
) -> Result<(), ParseError> {
    const DIM_ONLY: (bool, bool, bool) = (true, false, false);
    const FIELD_ONLY: (bool, bool, bool) = (false, true, false);
    const TIMESTAMP_ONLY: (bool, bool, bool) = (false, false, true);
    const DIM_AND_FIELD: (bool, bool, bool) = (true, true, false);
    let shape = (
        target.dim.is_some(),
        target.field.is_some(),
        target.timestamp,
    );
    match (shape, value) {
        (DIM_ONLY, RawValue::Str(text)) => {
            let d = target.dim.unwrap_or_default() as usize;
            grow(row, d);
            set_dim(&mut row.dims[d], DimValue::One(text));
        }
        (FIELD_ONLY, RawValue::Long(n)) => {
            let f = target.field.unwrap_or_default() as usize;
            set_field(&mut row.fields[f], FieldValue::Long(n));
        }
        (TIMESTAMP_ONLY, RawValue::Str(text)) => *timestamp = Some(TimestampValue::Text(text)),
        (DIM_AND_FIELD, RawValue::Str(text)) => {
            let d = target.dim.unwrap_or_default() as usize;
            grow(row, d);
            let f = target.field.unwrap_or_default() as usize;
            set_field(&mut row.fields[f], FieldValue::Str(text.clone()));
            set_dim(&mut row.dims[d], DimValue::One(text));
        }
        (_, value) => deliver(target, raw_to_json(value)?, row, timestamp),
    }
    Ok(())
}

pub(crate) fn deliver<'a>(
    target: Target,
    value: JsonValue<'a>,
    row: &mut ParsedRow<'a>,
    timestamp: &mut Option<TimestampValue<'a>>,
) {
    if target.timestamp {
        *timestamp = match &value {
            JsonValue::Null => None,
            JsonValue::Long(n) => Some(TimestampValue::Long(*n)),
            JsonValue::Double(x) => Some(TimestampValue::Double(*x)),
            JsonValue::Str(s) => Some(TimestampValue::Text(s.clone())),
            other => other.clone().into_text().map(TimestampValue::Text),
        };
    }
    match (target.dim, target.field) {
        (Some(d), Some(f)) => {
            grow(row, d as usize);
            row.fields[f as usize] = value.clone().into_field();
            row.dims[d as usize] = value.into_dim();
        }
        (Some(d), None) => {
            grow(row, d as usize);
            row.dims[d as usize] = value.into_dim();
        }
        (None, Some(f)) => row.fields[f as usize] = value.into_field(),
        (None, None) => {}
    }
}

/// Schemaless parsing may have added a dimension in the middle of this row.
fn grow(row: &mut ParsedRow<'_>, dim: usize) {
    if row.dims.len() <= dim {
        row.dims.resize(dim + 1, DimValue::Null);
    }
}
