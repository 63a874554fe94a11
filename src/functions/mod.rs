//! autorevoke's SQL functions, and the one list of them that every session registers (the
//! local engine, Ballista's client, scheduler and executors, the plan codec, the watcher), so
//! that a query means the same wherever it runs.

pub mod distinct_keys;
pub mod ip_network;
pub mod media_path;
pub mod one_group;
pub mod viewer_evidence;

use std::sync::Arc;

use datafusion::common::Result as DfResult;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use distinct_keys::{DISTINCT_KEYS, distinct_keys_udaf};
pub use ip_network::{IP_NETWORK, ip_network, ip_network_udf};
pub use viewer_evidence::{VIEWER_EVIDENCE, viewer_evidence_udaf};

/// The scalar functions.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ip_network_udf())]
}

/// The aggregate functions.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(distinct_keys_udaf()),
        Arc::new(viewer_evidence_udaf()),
    ]
}

/// The scalar function called `name`, if it is one of ours.
pub fn scalar_function(name: &str) -> Option<Arc<ScalarUDF>> {
    scalar_functions().into_iter().find(|f| f.name() == name)
}

/// The aggregate function called `name`, if it is one of ours.
pub fn aggregate_function(name: &str) -> Option<Arc<AggregateUDF>> {
    aggregate_functions().into_iter().find(|f| f.name() == name)
}

/// Registers every function in a `SessionContext`.
pub fn register_in(ctx: &SessionContext) {
    for f in scalar_functions() {
        ctx.register_udf(f.as_ref().clone());
    }
    for f in aggregate_functions() {
        ctx.register_udaf(f.as_ref().clone());
    }
}

/// Registers every function in `registry` (a `SessionState`).
pub fn register_all(registry: &mut dyn FunctionRegistry) -> DfResult<()> {
    for f in scalar_functions() {
        registry.register_udf(f)?;
    }
    for f in aggregate_functions() {
        registry.register_udaf(f)?;
    }
    Ok(())
}
