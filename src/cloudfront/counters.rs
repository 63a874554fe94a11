//! The counts a scan reports, listed once ([`scan_counters!`]): the report's fields
//! ([`StatsSnapshot`](super::stats::StatsSnapshot)), one object's row counts
//! ([`ObjectCounts`]), the live atomic counters ([`LiveCounts`]) and the metric names they
//! travel under from executors all come from the one list.

use std::sync::atomic::{AtomicU64, Ordering};

/// Defines the counters: `objects` are counted by the scan, `rows` by each object's parser.
macro_rules! scan_counters {
    (
        objects { $( $(#[$ometa:meta])* $object:ident, )* }
        rows { $( $(#[$rmeta:meta])* $row:ident, )* }
    ) => {
        /// What one object contributed to the row counts, added to a scan in one step.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct ObjectCounts {
            $( $(#[$rmeta])* pub $row: u64, )*
        }

        impl ObjectCounts {
            /// The counts in their fixed order (as a `--state` projection stores them).
            pub fn to_vec(&self) -> Vec<u64> {
                vec![$( self.$row, )*]
            }

            /// How many counts there are (as a `--state` projection's header holds them).
            pub const LEN: usize = [$( stringify!($row), )*].len();

            /// The counts from [`ObjectCounts::to_vec`]'s order, when there are as many.
            pub fn from_slice(values: &[u64]) -> Option<Self> {
                let mut values = values.iter().copied();
                let counts = ObjectCounts { $( $row: values.next()?, )* };
                values.next().is_none().then_some(counts)
            }
        }

        /// The counts of a scan as atomics, which the partitions add to as they go.
        #[derive(Debug, Default)]
        pub struct LiveCounts {
            $( pub(crate) $object: AtomicU64, )*
            $( pub(crate) $row: AtomicU64, )*
        }

        impl LiveCounts {
            /// Adds one object's row counts.
            pub fn add_rows(&self, c: &ObjectCounts) {
                $( self.$row.fetch_add(c.$row, Ordering::Relaxed); )*
            }

            /// The counts now, as (name, value).
            pub fn load(&self) -> Vec<(&'static str, u64)> {
                vec![
                    $( (stringify!($object), self.$object.load(Ordering::Relaxed)), )*
                    $( (stringify!($row), self.$row.load(Ordering::Relaxed)), )*
                ]
            }
        }

        /// The counters of a finished scan, as reported in `stats`.
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
        pub struct StatsSnapshot {
            $( $(#[$ometa])* pub $object: u64, )*
            $( $(#[$rmeta])* pub $row: u64, )*
            /// Rows that count for scoring (status, size, window and session); set by scoring.
            pub rows_in_scope: u64,
            /// The objects that failed, with reasons.
            #[serde(skip)]
            pub failures: Vec<super::stats::ObjectFailure>,
            /// The first malformed lines, with reasons.
            #[serde(skip)]
            pub malformed_samples: Vec<super::stats::MalformedLine>,
            /// What the user should know about the listing (keys in more than one layout).
            #[serde(skip)]
            pub notes: Vec<String>,
        }

        impl StatsSnapshot {
            /// The counters as (metric name, value).
            pub fn counters(&self) -> Vec<(&'static str, u64)> {
                vec![
                    $( (stringify!($object), self.$object), )*
                    $( (stringify!($row), self.$row), )*
                ]
            }

            /// The counter of `name`, to set or add to.
            pub fn counter_mut(&mut self, name: &str) -> Option<&mut u64> {
                match name {
                    $( stringify!($object) => Some(&mut self.$object), )*
                    $( stringify!($row) => Some(&mut self.$row), )*
                    _ => None,
                }
            }
        }
    };
}

scan_counters! {
    objects {
        /// Objects found under the locations.
        objects_listed,
        /// List requests made (0 for a single local file).
        list_requests,
        /// Objects read to their end.
        objects_read,
        /// Of those, objects whose rows came from the projection kept by `--state` (their
        /// logs were not fetched).
        #[serde(skip_serializing_if = "is_zero")]
        objects_from_state,
        /// Of those, objects whose kept rows all lie outside the scan's time range: only the
        /// header of their projection was read.
        #[serde(skip_serializing_if = "is_zero")]
        objects_outside_window,
        /// Objects that could not be fetched or decoded (rows before the failure are kept).
        objects_failed,
        /// Bytes fetched (compressed size).
        bytes_read,
    }
    rows {
        /// Data lines seen, well-formed or not.
        rows_read,
        /// Lines counted as malformed and skipped.
        rows_malformed,
        /// Well-formed rows whose path carries no session token.
        rows_without_session,
        /// Well-formed rows whose token gives no valid session id (the sum of the three
        /// reasons below).
        rows_rejected_session,
        /// Of those, tokens that do not decode (`--session-from cta`).
        rows_rejected_undecodable,
        /// Of those, tokens without a `cti` claim (`--session-from cta`).
        rows_rejected_without_cti,
        /// Of those, ids outside `[A-Za-z0-9_-]{1,128}`.
        rows_rejected_bad_id,
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ObjectCounts {
    /// Counts a row whose token was rejected for `why`.
    pub fn reject(&mut self, why: crate::session::cta::Reject) {
        use crate::session::cta::Reject;
        self.rows_rejected_session += 1;
        *match why {
            Reject::Undecodable => &mut self.rows_rejected_undecodable,
            Reject::WithoutCti => &mut self.rows_rejected_without_cti,
            Reject::BadId => &mut self.rows_rejected_bad_id,
        } += 1;
    }
}
