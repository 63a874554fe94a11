-- The end of every scoring profile, included where a profile writes {score_output}: the
-- output columns, one row per session, by score. A profile ends with a CTE `verdicts` holding,
-- per session: score, its components (ip_rate, ip_penalty, referer_penalty, ua_penalty),
-- flagged, scored, rate, reference_rate, ip_evidence, referer_evidence, ua_evidence, asset,
-- and the counts and times below (queries/weighted_score.sql makes it for the weighted
-- profiles).
SELECT
    session_id,
    score,
    ip_rate,
    ip_penalty,
    referer_penalty,
    ua_penalty,
    pairs,
    distinct_ips,
    distinct_user_agents,
    distinct_referers,
    first_seen,
    last_seen,
    duration_s,
    rate,
    requests,
    scored,
    flagged,
    sessions_in_window,
    p50,
    reference_rate,
    ip_evidence,
    referer_evidence,
    ua_evidence,
    asset
FROM verdicts
ORDER BY score DESC NULLS LAST, session_id
