//! The scope rule (`queries/in_scope.sql`): which rows count. The SQL of every profile and of
//! `explain` includes it ([`with_scope`]), and the `--state` projections keep the rows of the
//! filter parsed from the same text ([`scope_filter`]), so the rule is written once.

use datafusion::common::DFSchema;
use datafusion::prelude::SessionContext;

use super::fields::logs_schema;
use super::filter::RowFilter;
use crate::error::{Error, Result};

/// `queries/in_scope.sql`, comments included.
const IN_SCOPE_FILE: &str = include_str!("../../queries/in_scope.sql");

/// Where a query includes the rule.
pub const MARKER: &str = "{in_scope}";

/// The rule's predicate: the file without its comment lines.
pub fn predicate() -> String {
    IN_SCOPE_FILE
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string()
}

/// `query` with the rule, in parentheses, where it writes [`MARKER`].
pub fn with_scope(query: &str) -> String {
    query.replace(MARKER, &format!("({})", predicate()))
}

/// The rule as the reader's row filter (statuses, sizes, a session required), parsed once.
pub fn scope_filter() -> &'static RowFilter {
    static FILTER: std::sync::LazyLock<RowFilter> = std::sync::LazyLock::new(|| {
        // The text is compiled in; a unit test parses it, so this cannot fail at run time.
        parse_scope().expect("queries/in_scope.sql is a valid predicate over `logs`")
    });
    &FILTER
}

/// Parses the rule into the reader's row filter.
pub fn parse_scope() -> Result<RowFilter> {
    let schema = DFSchema::try_from(logs_schema().as_ref().clone())
        .map_err(Error::query("the logs schema"))?;
    let expr = SessionContext::new()
        .parse_sql_expr(&predicate(), &schema)
        .map_err(Error::query("parsing queries/in_scope.sql"))?;
    Ok(RowFilter::from_exprs(&[expr]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudfront::filter::Range;

    #[test]
    fn the_reader_filter_is_the_sql_rule() {
        let f = parse_scope().expect("the rule parses");
        assert_eq!(&f, scope_filter());
        assert_eq!(f.status_in, Some(vec![200, 206]));
        assert_eq!(
            f.bytes,
            Range {
                lo: 1025,
                hi: i64::MAX
            }
        );
        assert!(f.session_required);
        assert_eq!((f.ts, f.status), (Range::default(), Range::default()));
        // The boundaries, as the SQL reads them.
        assert!(f.keeps(0, 200, 1025) && f.keeps(0, 206, 1025));
        assert!(!f.keeps(0, 200, 1024) && !f.keeps(0, 304, 5000) && !f.keeps(0, 404, 5000));
    }

    #[test]
    fn queries_include_the_rule_where_they_mark_it() {
        let q = with_scope("SELECT 1 FROM logs WHERE {in_scope} AND ts > 0");
        assert_eq!(
            q,
            "SELECT 1 FROM logs WHERE (status IN (200, 206) AND bytes > 1024 AND session_id IS \
             NOT NULL) AND ts > 0"
        );
    }
}
