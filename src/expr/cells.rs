//! Evaluating an expression on one row whose columns may hold several values (multi-value
//! string dimensions), as Druid does: when exactly one column the expression reads holds
//! several values, the expression is evaluated once per value; a column of one value reads as
//! that value; when two or more columns hold several values, they read as null.

use std::borrow::Cow;

use super::{Bindings, EvalError, Expr, Value};

/// A column's content in one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// One value (or null).
    One(Value<'a>),
    /// A list of values.
    Many(Vec<Option<Cow<'a, str>>>),
}

/// Evaluates `expr` with `names[i]` bound to `cells[i]` (other names are null), calling `each`
/// with every result: once, or once per value of the one multi-value column.
pub fn eval_cells(
    expr: &Expr,
    names: &[String],
    cells: &[Cell<'_>],
    mut each: impl FnMut(Value<'_>),
) -> Result<(), EvalError> {
    let many: Vec<usize> = (0..cells.len())
        .filter(|&i| matches!(&cells[i], Cell::Many(v) if v.len() > 1))
        .collect();
    let mut bindings = CellBindings {
        names,
        cells,
        element: None,
    };
    let [mapped] = many[..] else {
        each(expr.eval(&bindings)?);
        return Ok(());
    };
    let Cell::Many(values) = &cells[mapped] else {
        unreachable!("cell {mapped} holds several values")
    };
    for value in values {
        bindings.element = Some((mapped, value.as_deref()));
        each(expr.eval(&bindings)?);
    }
    Ok(())
}

struct CellBindings<'c, 'a> {
    names: &'c [String],
    cells: &'c [Cell<'a>],
    /// The multi-value column being mapped and its current value.
    element: Option<(usize, Option<&'c str>)>,
}

impl Bindings for CellBindings<'_, '_> {
    fn get(&self, name: &str) -> Value<'_> {
        let Some(i) = self.names.iter().position(|n| n == name) else {
            return Value::Null;
        };
        if let Some((mapped, element)) = self.element
            && mapped == i
        {
            return element.map_or(Value::Null, |s| Value::Str(Cow::Borrowed(s)));
        }
        match &self.cells[i] {
            Cell::One(value) => match value {
                Value::Str(s) => Value::Str(Cow::Borrowed(s)),
                other => other.clone(),
            },
            Cell::Many(values) => match values.as_slice() {
                [Some(one)] => Value::Str(Cow::Borrowed(one)),
                _ => Value::Null,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, cells: &[Cell<'_>]) -> Vec<Value<'static>> {
        let expr = Expr::parse(text).unwrap();
        let names = expr.identifiers();
        let mut out = Vec::new();
        eval_cells(&expr, &names, cells, |v| out.push(v.into_owned())).unwrap();
        out
    }

    fn many(values: &[&'static str]) -> Cell<'static> {
        Cell::Many(values.iter().map(|v| Some(Cow::Borrowed(*v))).collect())
    }

    #[test]
    fn one_multi_value_column_is_mapped_value_by_value() {
        let got = run(
            "concat(tags, '-', n)",
            &[many(&["a", "b"]), Cell::One(Value::Long(1))],
        );
        let texts: Vec<_> = got
            .iter()
            .map(|v| v.as_text().unwrap().into_owned())
            .collect();
        assert_eq!(texts, ["a-1", "b-1"]);
    }

    #[test]
    fn single_values_and_two_lists() {
        assert_eq!(run("upper(t)", &[many(&["x"])]), [Value::Str("X".into())]);
        assert_eq!(
            run(
                "isnull(a) + isnull(b)",
                &[many(&["1", "2"]), many(&["3", "4"])]
            ),
            [Value::Long(2)]
        );
        assert_eq!(
            run("isnull(a)", &[Cell::Many(Vec::new())]),
            [Value::Long(1)]
        );
    }
}
