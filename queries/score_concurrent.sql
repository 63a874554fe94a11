-- The `concurrent` scoring profile: a session is shared when there is evidence of several
-- viewers at the same time, not merely of several addresses, agents or referers over time.
--
-- Same rows in scope (queries/in_scope.sql), weighted score (queries/weighted_score.sql) and
-- output (queries/score_output.sql) as the `upstream` profile, with its own component values:
--   ip_rate          w_rate * rate / reference_rate, where reference_rate is the median rate
--                    of the sessions playing the same asset (falls back to the window's p50
--                    when fewer than $min_sessions such sessions have a rate)
--   ip_penalty       w_ip when more than one network was active at once: IPv6 addresses count
--                    by /64 (ip_network), and a network counts only when it overlaps an
--                    earlier-starting one by at least $min_overlap seconds, so a hand-over
--                    from Wi-Fi to cellular is one viewer
--   referer_penalty  w_referer when more than one real referer (`-` is not one: a media stack
--                    that sends none is the same viewer as its page)
--   ua_penalty       w_ua when more than one agent: max(browser user agents, media-stack user
--                    agents), so Safari plus AppleCoreMedia is one viewer, two browsers are two
-- Parameters as queries/score.sql, plus $min_overlap (seconds).
WITH in_scope AS (
    SELECT
        session_id,
        pair_key,
        ip_key,
        ip_network(request_ip) AS network,
        uri,
        user_agent,
        referrer,
        ts,
        -- Platform media stacks that fetch segments for a page or app (CloudFront writes a
        -- space as %20, so tokens match either way).
        regexp_like(
            user_agent,
            'AppleCoreMedia|AVPlayer|ExoPlayer|AndroidXMedia3|stagefright|Roku|AppleTV|Dalvik'
        ) AS media_stack,
        -- The asset: the path between the token and the rendition folder of a media segment
        -- (/<token>/vod/<asset>/<rendition>/<segment>), NULL for manifests and keys.
        CASE WHEN regexp_like(uri, '^/[^/]+/.+/[^/]+/[^/]+\.(ts|aac|m4s|mp4|m4a|m4v|cmfv|cmfa|vtt)$')
             THEN regexp_replace(uri, '^/[^/]+/(.+)/[^/]+/[^/]+$', '\1')
        END AS asset
    FROM logs
    WHERE {in_scope}
      AND ts >= $window_from
      AND ts <= $window_to
),
per_network AS (
    -- One row per (session, network). Every later step reads this once, so the logs are
    -- scanned once.
    SELECT
        session_id,
        network,
        count(*) AS requests,
        -- An address belongs to one network, so these two sum exactly over networks.
        -- (Distinct pairs by their 64-bit key, as in queries/score.sql.)
        distinct_keys(pair_key) AS pairs,
        distinct_keys(ip_key) AS ips,
        array_agg(DISTINCT user_agent) AS user_agents,
        array_agg(DISTINCT user_agent) FILTER (WHERE NOT media_stack) AS browser_agents,
        array_agg(DISTINCT user_agent) FILTER (WHERE media_stack) AS media_agents,
        array_agg(DISTINCT referrer) AS referers,
        min(asset) AS asset,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM in_scope
    GROUP BY session_id, network
),
ordered AS (
    SELECT
        *,
        -- The latest end among the session's networks that started earlier (NULL for the first).
        max(last_seen) OVER (
            PARTITION BY session_id ORDER BY first_seen, network
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS earlier_until
    FROM per_network
),
overlapping AS (
    SELECT
        *,
        -- How long this network was active while an earlier-starting one still was.
        CASE WHEN earlier_until IS NULL THEN 0
             ELSE to_unixtime(least(last_seen, earlier_until)) - to_unixtime(first_seen)
        END AS overlap_s
    FROM ordered
),
sessions AS (
    SELECT
        session_id,
        sum(requests) AS requests,
        sum(pairs) AS pairs,
        sum(ips) AS distinct_ips,
        CAST(coalesce(cardinality(array_distinct(flatten(array_agg(user_agents)))), 0) AS BIGINT)
            AS distinct_user_agents,
        CAST(coalesce(cardinality(array_distinct(flatten(array_agg(referers)))), 0) AS BIGINT)
            AS distinct_referers,
        1 + count(*) FILTER (WHERE overlap_s >= $min_overlap) AS concurrent_networks,
        CAST(greatest(
            coalesce(cardinality(array_distinct(flatten(array_agg(browser_agents)))), 0),
            coalesce(cardinality(array_distinct(flatten(array_agg(media_agents)))), 0)
        ) AS BIGINT) AS agents,
        CAST(coalesce(cardinality(
            array_remove(array_distinct(flatten(array_agg(referers))), '-')
        ), 0) AS BIGINT) AS real_referers,
        min(asset) AS asset,
        min(first_seen) AS first_seen,
        max(last_seen) AS last_seen
    FROM overlapping
    GROUP BY session_id
),
rated AS (
    SELECT
        *,
        to_unixtime(last_seen) - to_unixtime(first_seen) AS duration_s,
        CASE WHEN to_unixtime(last_seen) > to_unixtime(first_seen)
             THEN CAST(pairs AS DOUBLE) / CAST(to_unixtime(last_seen) - to_unixtime(first_seen) AS DOUBLE)
        END AS rate
    FROM sessions
),
referenced AS (
    SELECT
        *,
        count(*) OVER () AS sessions_in_window,
        median(rate) OVER () AS p50,
        median(rate) OVER (PARTITION BY asset) AS asset_p50,
        count(rate) OVER (PARTITION BY asset) AS asset_sessions
    FROM rated
),
scorable AS (
    SELECT
        *,
        CASE WHEN asset IS NOT NULL AND asset_sessions >= $min_sessions THEN asset_p50 ELSE p50 END
            AS reference_rate,
        sessions_in_window >= $min_sessions
            AND duration_s > 0
            AND duration_s >= $min_duration AS scored,
        concurrent_networks AS ip_evidence,
        real_referers AS referer_evidence,
        agents AS ua_evidence
    FROM referenced
),
{weighted_score}
{score_output}
