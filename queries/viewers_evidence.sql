-- The evidence of the `viewers` profile, shared by queries/score_viewers.sql (which scores
-- sessions) and queries/explain_viewers*.sql (which show one session's evidence): each is
-- appended to this text, whose last CTE, `minutes`, holds one row per fetch (session,
-- address, object, agent, referer) annotated with what its minute shows. What the evidence
-- is and what its parameters trade is said at the top of queries/score_viewers.sql.
-- Parameters: $window_from, $window_to, $co_fetch_seconds, $max_segment_skip.
--
-- Few levels on purpose: a Ballista cluster decodes the plan with a nesting limit, and every
-- CTE adds two plan nodes.
WITH fetches AS (
    -- The rows that count (queries/in_scope.sql), as one row per (session, address, object,
    -- agent, referer): byte ranges, retries and parts of one object from one address collapse.
    SELECT
        session_id,
        pair_key,
        user_agent_key,
        referrer_key,
        min(ip_key) AS ip_key,
        min(request_ip) AS request_ip,
        min(uri) AS uri,
        count(*) AS requests,
        min(ts) AS first_ts,
        max(ts) AS last_ts
    FROM logs
    WHERE {in_scope}
      AND ts >= $window_from
      AND ts <= $window_to
    GROUP BY session_id, pair_key, user_agent_key, referrer_key
),
media AS (
    -- Media segments: /<token>/<asset...>/<folder>/<file>.<media extension>. The object is the
    -- path without the token, the folder its rendition, the asset the folder's parent, the
    -- segment number the last number of the file name once an LL-HLS part suffix
    -- (`.part3`, `_part3`, `.3`) is dropped. Other rows have NULLs here.
    SELECT
        *,
        ip_network(request_ip) AS network,
        CASE WHEN regexp_like(uri, '^/[^/]+/.+/[^/]+/[^/]+\.(ts|aac|m4s|mp4|m4a|m4v|cmfv|cmfa|vtt)$')
             THEN regexp_replace(uri, '^/[^/]+/', '')
        END AS object,
        CASE WHEN regexp_like(uri, '^/[^/]+/.+/[^/]+/[^/]+\.(ts|aac|m4s|mp4|m4a|m4v|cmfv|cmfa|vtt)$')
             THEN regexp_replace(uri, '^/[^/]+/(.+)/[^/]+$', '\1')
        END AS folder,
        CASE WHEN regexp_like(uri, '^/[^/]+/.+/[^/]+/[^/]+\.(ts|aac|m4s|mp4|m4a|m4v|cmfv|cmfa|vtt)$')
             THEN regexp_replace(uri, '^/[^/]+/(.+)/[^/]+/[^/]+$', '\1')
        END AS asset,
        CASE WHEN regexp_like(uri, '^/[^/]+/.+/[^/]+/[^/]+\.(ts|aac|m4s|mp4|m4a|m4v|cmfv|cmfa|vtt)$')
             THEN try_cast(regexp_replace(
                 regexp_replace(
                     regexp_replace(regexp_replace(uri, '^.*/', ''), '\.[A-Za-z0-9]+$', ''),
                     '([._-]?part[._-]?[0-9]+|\.[0-9]+)$',
                     ''
                 ),
                 '^.*?([0-9]{1,15})[^0-9]*$',
                 '\1'
             ) AS BIGINT)
        END AS seg,
        CAST((to_unixtime(first_ts) - to_unixtime($window_from)) / 60 AS BIGINT) AS minute
    FROM fetches
),
firsts AS (
    SELECT
        *,
        -- The first fetch of the object by this network, and by anyone.
        row_number() OVER (
            PARTITION BY session_id, object, network ORDER BY first_ts, request_ip
        ) AS nth_of_network,
        row_number() OVER (PARTITION BY session_id, object ORDER BY first_ts, request_ip)
            AS nth_of_object,
        min(first_ts) OVER (
            PARTITION BY session_id, object ORDER BY first_ts, request_ip
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        ) AS object_first,
        lag(seg) OVER (PARTITION BY session_id, folder, minute ORDER BY seg) AS folder_prev,
        -- The folder's fetch before this one in time.
        lag(seg) OVER (
            PARTITION BY session_id, folder, minute ORDER BY first_ts, seg
        ) AS time_prev
    FROM media
),
runs AS (
    SELECT
        *,
        -- Networks that fetched the object within $co_fetch_seconds of its first fetch.
        sum(CASE WHEN seg IS NOT NULL AND nth_of_network = 1
                      AND to_unixtime(first_ts) - to_unixtime(object_first) <= $co_fetch_seconds
                 THEN 1 ELSE 0 END) OVER (PARTITION BY session_id, object) AS object_networks,
        -- Runs of segment numbers at most $max_segment_skip apart, numbered; RANGE (the
        -- default frame) gives tied numbers the same run.
        sum(CASE WHEN seg IS NOT NULL
                      AND (folder_prev IS NULL OR seg - folder_prev > $max_segment_skip)
                 THEN 1 ELSE 0 END)
            OVER (PARTITION BY session_id, folder, minute ORDER BY seg) AS run
    FROM firsts
),
folders AS (
    SELECT
        *,
        max(run) OVER (PARTITION BY session_id, folder, minute) AS runs,
        -- Steps back: fetches of a segment more than $max_segment_skip below the folder's
        -- fetch before them. One viewer steps back once per seek back (a player fetching a
        -- few segments at once, or two paths delivering them out of order, steps back
        -- less); two viewers step back every time the one behind fetches.
        sum(CASE WHEN seg < time_prev - $max_segment_skip THEN 1 ELSE 0 END)
            OVER (PARTITION BY session_id, folder, minute) AS back_steps
    FROM runs
),
minutes AS (
    SELECT
        *,
        -- Positions at once: two or more when a folder stepped back twice or more (as many
        -- as its runs, at least two), else one.
        max(CASE WHEN seg IS NULL THEN 0
                 WHEN back_steps >= 2 THEN greatest(runs, 2)
                 ELSE 1 END) OVER (PARTITION BY session_id, minute) AS minute_positions,
        sum(CASE WHEN nth_of_object = 1 AND object_networks >= 2 THEN 1 ELSE 0 END)
            OVER (PARTITION BY session_id, minute) AS cofetched_objects,
        max(object_networks) OVER (PARTITION BY session_id, minute) AS cofetch_networks
    FROM folders
)
