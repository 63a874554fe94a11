//! Filters pushed down into the parser: the conjuncts of a query's `WHERE` on `ts`, `status`,
//! `bytes` and `session_id` that the parser can test on raw fields, so rows that cannot count
//! are dropped before any column is built.
//!
//! Pushdown is always `Inexact`: DataFusion still applies the original filter, so a filter
//! recognised too loosely costs speed, never correctness. The time range is also what layout
//! pruning uses to pick the objects a window needs.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use super::fields::{COLUMNS, required};

/// An inclusive range of whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    /// Smallest value kept.
    pub lo: i64,
    /// Largest value kept.
    pub hi: i64,
}

impl Default for Range {
    fn default() -> Self {
        Range {
            lo: i64::MIN,
            hi: i64::MAX,
        }
    }
}

impl Range {
    /// True when `v` is inside.
    #[inline]
    pub fn contains(&self, v: i64) -> bool {
        self.lo <= v && v <= self.hi
    }

    /// True when the range keeps every value.
    pub fn is_full(&self) -> bool {
        *self == Range::default()
    }

    fn narrow(&mut self, op: Operator, v: i64) {
        match op {
            Operator::Eq => {
                self.lo = self.lo.max(v);
                self.hi = self.hi.min(v);
            }
            Operator::Gt => self.lo = self.lo.max(v.saturating_add(1)),
            Operator::GtEq => self.lo = self.lo.max(v),
            Operator::Lt => self.hi = self.hi.min(v.saturating_sub(1)),
            Operator::LtEq => self.hi = self.hi.min(v),
            _ => {}
        }
    }
}

/// Row conditions the parser applies while reading.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowFilter {
    /// Allowed row times, epoch seconds.
    pub ts: Range,
    /// Allowed `sc-status` values.
    pub status: Range,
    /// When set, `sc-status` must be one of these.
    pub status_in: Option<Vec<i64>>,
    /// Allowed `sc-bytes` values.
    pub bytes: Range,
    /// Only rows with a valid session id.
    pub session_required: bool,
}

impl RowFilter {
    /// Builds the filter from the conjuncts DataFusion pushed down; conjuncts it does not
    /// understand are ignored (DataFusion applies them).
    pub fn from_exprs(filters: &[Expr]) -> Self {
        let mut f = RowFilter::default();
        for e in filters {
            f.add(e);
        }
        f
    }

    /// True when the parser can use `expr` (fully or in part).
    pub fn understands(expr: &Expr) -> bool {
        let mut f = RowFilter::default();
        f.add(expr);
        f != RowFilter::default()
    }

    /// Keeps a row with these values?
    #[inline]
    pub fn keeps(&self, ts: i64, status: i64, bytes: i64) -> bool {
        self.ts.contains(ts)
            && self.status.contains(status)
            && self.bytes.contains(bytes)
            && self
                .status_in
                .as_ref()
                .is_none_or(|set| set.contains(&status))
    }

    fn add(&mut self, expr: &Expr) {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if *op == Operator::And {
                    self.add(left);
                    self.add(right);
                } else if *op == Operator::Or {
                    // DataFusion writes a short `status IN (200, 206)` as an OR of equalities.
                    if let Some(values) = status_values(expr) {
                        self.keep_statuses(values);
                    }
                } else if let (Some(c), Some(v)) = (column(left), literal(right, *op)) {
                    self.narrow(c, *op, v);
                } else if let (Some(c), Some(op), Some(v)) = (
                    column(right),
                    op.swap(),
                    literal(left, op.swap().unwrap_or(*op)),
                ) {
                    self.narrow(c, op, v);
                }
            }
            Expr::Between(b) if !b.negated => {
                if let (Some(c), Some(lo), Some(hi)) = (
                    column(&b.expr),
                    literal(&b.low, Operator::GtEq),
                    literal(&b.high, Operator::LtEq),
                ) {
                    self.narrow(c, Operator::GtEq, lo);
                    self.narrow(c, Operator::LtEq, hi);
                }
            }
            Expr::InList(list) if !list.negated && column(&list.expr) == Some(required::STATUS) => {
                let values: Option<Vec<i64>> =
                    list.list.iter().map(|e| literal(e, Operator::Eq)).collect();
                if let Some(values) = values {
                    self.keep_statuses(values);
                }
            }
            Expr::IsNotNull(inner) if column(inner) == Some(required::SESSION_ID) => {
                self.session_required = true;
            }
            _ => {}
        }
    }

    /// Narrows the allowed statuses to `values`.
    fn keep_statuses(&mut self, values: Vec<i64>) {
        self.status_in = Some(match self.status_in.take() {
            Some(old) => old.into_iter().filter(|v| values.contains(v)).collect(),
            None => values,
        });
    }

    fn narrow(&mut self, column: usize, op: Operator, v: i64) {
        match column {
            required::TS => self.ts.narrow(op, v),
            required::STATUS => self.status.narrow(op, v),
            required::BYTES => self.bytes.narrow(op, v),
            required::SESSION_ID => {}
            _ => return,
        }
        // A comparison with session_id is only true for non-NULL ids.
        if column == required::SESSION_ID {
            self.session_required = true;
        }
    }
}

/// The statuses of `status = a OR status = b OR ...` (any nesting of ORs of equalities and
/// IN lists on `status`), or None when the expression is anything else.
fn status_values(expr: &Expr) -> Option<Vec<i64>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::Or => {
            let mut values = status_values(left)?;
            values.extend(status_values(right)?);
            Some(values)
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::Eq => {
            match (column(left), column(right)) {
                (Some(required::STATUS), _) => Some(vec![literal(right, Operator::Eq)?]),
                (_, Some(required::STATUS)) => Some(vec![literal(left, Operator::Eq)?]),
                _ => None,
            }
        }
        Expr::InList(list) if !list.negated && column(&list.expr) == Some(required::STATUS) => {
            list.list.iter().map(|e| literal(e, Operator::Eq)).collect()
        }
        _ => None,
    }
}

/// The `logs` column an expression names (through casts), if it is one the filter handles.
fn column(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Column(c) => {
            let idx = COLUMNS.iter().position(|col| col.name == c.name)?;
            matches!(
                idx,
                required::TS | required::STATUS | required::BYTES | required::SESSION_ID
            )
            .then_some(idx)
        }
        Expr::Cast(c) => column(&c.expr),
        Expr::TryCast(c) => column(&c.expr),
        _ => None,
    }
}

/// A literal as a whole number of seconds (timestamps) or units, rounded so that the range it
/// bounds only widens (`op` is the comparison the column stands on the left of).
fn literal(expr: &Expr, op: Operator) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    // Lower bounds round down, upper bounds up, so no row that matches is dropped.
    let div = |v: i64, unit: i64| match op {
        Operator::Lt | Operator::LtEq => v.div_euclid(unit) + i64::from(v.rem_euclid(unit) != 0),
        _ => v.div_euclid(unit),
    };
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMillisecond(Some(v), _) => Some(div(*v, 1_000)),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(div(*v, 1_000_000)),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(div(*v, 1_000_000_000)),
        ScalarValue::Int8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int64(Some(v)) => Some(*v),
        ScalarValue::UInt8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok(),
        _ => None,
    }
    .filter(|_| op != Operator::NotEq)
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampSecond(Some(v), Some("UTC".into())))
    }

    #[test]
    fn recognises_the_scoring_filters() {
        let f = RowFilter::from_exprs(&[
            col("status").in_list(vec![lit(200i32), lit(206i32)], false),
            col("bytes").gt(lit(1024i64)),
            col("ts").between(ts(100), ts(200)),
            col("session_id").is_not_null(),
            col("uri").like(lit("%x%")),
        ]);
        assert_eq!(f.status_in, Some(vec![200, 206]));
        assert_eq!(
            f.bytes,
            Range {
                lo: 1025,
                hi: i64::MAX
            }
        );
        assert_eq!(f.ts, Range { lo: 100, hi: 200 });
        assert!(f.session_required);
        assert!(f.keeps(150, 206, 1025));
        assert!(!f.keeps(150, 206, 1024));
        assert!(!f.keeps(201, 200, 5000));
        assert!(!f.keeps(150, 304, 5000));
    }

    #[test]
    fn literal_on_the_left_and_subsecond_bounds_widen() {
        let f = RowFilter::from_exprs(&[
            lit(1024i64).lt(col("bytes")),
            col("ts").lt_eq(lit(ScalarValue::TimestampMillisecond(Some(1_500), None))),
            col("ts").gt_eq(lit(ScalarValue::TimestampMillisecond(Some(-1_500), None))),
        ]);
        assert_eq!(f.bytes.lo, 1025);
        assert_eq!(f.ts, Range { lo: -2, hi: 2 });
    }

    #[test]
    fn an_or_of_status_equalities_is_a_status_set() {
        // How DataFusion simplifies `status IN (200, 206)`.
        let f = RowFilter::from_exprs(&[col("status")
            .eq(lit(200i32))
            .or(lit(206i32).eq(col("status")))]);
        assert_eq!(f.status_in, Some(vec![200, 206]));
        let f = RowFilter::from_exprs(&[col("status")
            .eq(lit(200i32))
            .or(col("status").in_list(vec![lit(304i32)], false))
            .or(col("status").eq(lit(206i32)))]);
        assert_eq!(f.status_in, Some(vec![200, 304, 206]));
        // Anything else in the OR and nothing is known.
        let mixed = col("status").eq(lit(200i32)).or(col("bytes").gt(lit(5i64)));
        assert!(!RowFilter::understands(&mixed));
        let not_status = col("bytes").eq(lit(1i64)).or(col("bytes").eq(lit(2i64)));
        assert!(!RowFilter::understands(&not_status));
    }

    #[test]
    fn unknown_filters_are_not_understood() {
        assert!(!RowFilter::understands(&col("uri").eq(lit("/x"))));
        assert!(!RowFilter::understands(&col("status").not_eq(lit(200i32))));
        assert!(RowFilter::understands(&col("status").eq(lit(200i32))));
    }
}
