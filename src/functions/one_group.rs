//! One group of a grouped accumulator as a plain `Accumulator`: DataFusion asks for one for
//! an aggregation without `GROUP BY` (and falls back to one where it cannot group), and our
//! functions keep their logic in the grouped form only.

use arrow::array::ArrayRef;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

/// A grouped accumulator that can make room for its groups without any rows.
pub trait Groups: GroupsAccumulator + std::fmt::Debug + Sync {
    /// Makes sure groups `0..total` exist.
    fn resize(&mut self, total: usize);
}

/// `G` holding group 0 only.
#[derive(Debug)]
pub struct OneGroup<G>(pub G);

impl<G: Groups> Accumulator for OneGroup<G> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; rows], 1)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        self.0.resize(1);
        let column = self.0.state(EmitTo::All)?;
        self.0.resize(1);
        column
            .iter()
            .map(|c| ScalarValue::try_from_array(c, 0))
            .collect()
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        self.0.resize(1);
        let column = self.0.evaluate(EmitTo::All)?;
        self.0.resize(1);
        ScalarValue::try_from_array(&column, 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.0.size()
    }
}
