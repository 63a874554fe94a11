-- The `upstream` scoring profile: the reference solution's rules, exactly (docs/scoring.md).
--
-- One row per session seen in the window (scored or not), ordered by score. Parameters:
--   $window_from, $window_to   the window, both ends inclusive (UTC timestamps)
--   $min_sessions              gate: fewer sessions in the window and nothing is scored
--   $min_duration              sessions shorter than this many seconds are not scored
--   $threshold                 a scored session is flagged when score > threshold
--   $w_rate, $w_ip, $w_referer, $w_ua   component weights (0 turns one off)
WITH in_scope AS (
    -- The rows that count (queries/in_scope.sql) inside the window.
    SELECT session_id, pair_key, ip_key, user_agent_key, referrer_key, ts
    FROM logs
    WHERE {in_scope}
      AND ts >= $window_from
      AND ts <= $window_to
),
sessions AS (
    SELECT
        session_id,
        count(*) AS requests,
        -- Distinct values are counted by their 64-bit keys, which the reader hashes from the
        -- raw fields (pair_key from c-ip TAB cs-uri-stem; no field contains a TAB), instead of
        -- building and hashing a string per row. Equal values have equal keys; two different
        -- values share one with probability 2^-64 per pair of values. distinct_keys(k) is
        -- count(DISTINCT k) with memory that each session gives back when it is handed on,
        -- so that an aggregation can spill under --memory-limit (src/functions/distinct_keys.rs).
        distinct_keys(pair_key) AS pairs,
        distinct_keys(ip_key) AS distinct_ips,
        distinct_keys(user_agent_key) AS distinct_user_agents,
        distinct_keys(referrer_key) AS distinct_referers,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM in_scope
    GROUP BY session_id
),
measured AS (
    SELECT
        *,
        to_unixtime(last_seen) - to_unixtime(first_seen) AS duration_s
    FROM sessions
),
rated AS (
    SELECT
        *,
        -- Undefined for duration 0 (upstream divided by zero): such a session has no rate.
        CASE WHEN duration_s > 0
             THEN CAST(pairs AS DOUBLE) / CAST(duration_s AS DOUBLE)
        END AS rate
    FROM measured
),
gated AS (
    SELECT
        *,
        -- Over the whole window. Window functions rather than a joined CTE: a CTE is inlined
        -- where it is used, and a second use would read the logs a second time.
        count(*) OVER () AS sessions_in_window,
        -- The exact median over sessions with a rate (median() ignores NULLs).
        median(rate) OVER () AS p50
    FROM rated
),
scorable AS (
    SELECT
        *,
        sessions_in_window >= $min_sessions
            AND duration_s > 0
            AND duration_s >= $min_duration AS scored,
        -- What the components compare (queries/weighted_score.sql), named alike in every profile.
        p50 AS reference_rate,
        distinct_ips AS ip_evidence,
        distinct_referers AS referer_evidence,
        distinct_user_agents AS ua_evidence,
        CAST(NULL AS VARCHAR) AS asset
    FROM gated
),
{weighted_score}
{score_output}
