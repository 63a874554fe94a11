-- The weighted score of the `upstream` and `concurrent` profiles, included where a profile
-- writes {weighted_score}. The profile ends with a CTE `scorable` holding, per session: rate,
-- reference_rate (what the rate is compared with), ip_evidence, referer_evidence and
-- ua_evidence (a penalty applies when one is above 1) and scored. This adds the components,
-- the score (their sum) and the verdict (score > $threshold) as the CTE `verdicts` that
-- queries/score_output.sql reads.
components AS (
    SELECT
        *,
        CASE WHEN scored THEN $w_rate * rate / reference_rate END AS ip_rate,
        CASE WHEN scored THEN CASE WHEN ip_evidence > 1 THEN $w_ip ELSE 0.0 END END AS ip_penalty,
        CASE WHEN scored THEN CASE WHEN referer_evidence > 1 THEN $w_referer ELSE 0.0 END END AS referer_penalty,
        CASE WHEN scored THEN CASE WHEN ua_evidence > 1 THEN $w_ua ELSE 0.0 END END AS ua_penalty
    FROM scorable
),
verdicts AS (
    SELECT
        *,
        ip_rate + ip_penalty + referer_penalty + ua_penalty AS score,
        scored AND ip_rate + ip_penalty + referer_penalty + ua_penalty > $threshold AS flagged
    FROM components
)
