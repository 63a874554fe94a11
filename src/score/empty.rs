//! Why a window held nothing to score: no log objects at the locations, no rows in the window
//! (with the newest row's time, so that a stale schedule or an archive scored without `--now`
//! says so), rows without a session token under the session rule, or no row in scope. A run
//! that found nothing is not a success that looks like one: the binary gives it its own exit
//! code.

use chrono::{DateTime, Utc};

use super::params::Window;
use super::{format_time, named_params, ts_param};
use crate::engine::LogEngine;
use crate::engine::columns::Columns;
use crate::error::{Error, Result};

/// The query counting a window's rows and those with a session.
pub const WINDOW_ROWS_SQL: &str = include_str!("../../queries/window_rows.sql");

/// Why `window` held no session, for a scan that found none. `latest` is the newest row
/// time and its scan's object count when already known (`--now latest`).
pub async fn why_empty(
    engine: &LogEngine,
    window: &Window,
    latest: Option<(Option<DateTime<Utc>>, u64)>,
) -> Result<String> {
    let output = engine
        .run_as(
            "counting the window's rows",
            WINDOW_ROWS_SQL,
            Some(named_params([
                ("window_from", ts_param(&window.from)),
                ("window_to", ts_param(&window.to)),
            ])),
        )
        .await?;
    let batch = output
        .batches
        .first()
        .ok_or_else(|| Error::Other("queries/window_rows.sql returned no row".into()))?;
    let c = Columns::new(batch, "queries/window_rows.sql");
    let count = |name: &str| -> Result<i64> {
        c.i64s(name)?
            .iter()
            .next()
            .flatten()
            .ok_or_else(|| Error::Other(format!("queries/window_rows.sql: no {name}")))
    };
    let (rows, with_session) = (count("rows_in_window")?, count("with_session")?);
    let span = format!(
        "the window {} to {}",
        format_time(&window.from),
        format_time(&window.to)
    );
    if rows > 0 && with_session == 0 {
        let rule = match engine.session_rule() {
            crate::session::SessionRule::Prefix => {
                "the session rule (a first path segment <id>.<header>.<payload>.<signature>)"
            }
            crate::session::SessionRule::Cta => {
                "--session-from cta (a Common Access Token with a cti, in the CAT query \
                 parameter, a first path segment or the CTA-Common-Access-Token header)"
            }
        };
        return Ok(format!(
            "none of the {rows} rows in {span} has a session token under {rule}; {} of {} \
             rows read had none",
            output.stats.rows_without_session + output.stats.rows_rejected_session,
            output.stats.rows_read
        ));
    }
    if rows > 0 {
        return Ok(format!(
            "no row of the {rows} in {span} is in scope (a session, status 200 or 206, more \
             than 1 KiB)"
        ));
    }
    let (newest, objects) = match latest {
        Some(known) => known,
        None => {
            let (newest, stats) = super::latest_row_time(engine).await?;
            (newest, stats.map_or(0, |s| s.objects_listed))
        }
    };
    Ok(match newest {
        _ if objects == 0 => format!(
            "no log objects at {} (check the location and its prefix)",
            engine.locations_text()
        ),
        None => format!("the {objects} log object(s) hold no rows"),
        Some(newest) => format!(
            "no rows in {span}; the newest row in the logs is at {} (score the newest \
             window with --now latest, or give --from and --to)",
            format_time(&newest)
        ),
    })
}
