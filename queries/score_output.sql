-- The end of every scoring profile, included where a profile writes {score_output}: the
-- components and the output columns. A profile ends with a CTE `scorable` holding, per
-- session: rate, reference_rate (what the rate is compared with), ip_evidence,
-- referer_evidence and ua_evidence (a penalty applies when one is above 1), scored, asset, and
-- the counts and times of the output below.
components AS (
    SELECT
        *,
        CASE WHEN scored THEN $w_rate * rate / reference_rate END AS ip_rate,
        CASE WHEN scored THEN CASE WHEN ip_evidence > 1 THEN $w_ip ELSE 0.0 END END AS ip_penalty,
        CASE WHEN scored THEN CASE WHEN referer_evidence > 1 THEN $w_referer ELSE 0.0 END END AS referer_penalty,
        CASE WHEN scored THEN CASE WHEN ua_evidence > 1 THEN $w_ua ELSE 0.0 END END AS ua_penalty
    FROM scorable
)
SELECT
    session_id,
    ip_rate + ip_penalty + referer_penalty + ua_penalty AS score,
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
    scored AND ip_rate + ip_penalty + referer_penalty + ua_penalty > $threshold AS flagged,
    sessions_in_window,
    p50,
    reference_rate,
    ip_evidence,
    referer_evidence,
    ua_evidence,
    asset
FROM components
ORDER BY score DESC NULLS LAST, session_id
