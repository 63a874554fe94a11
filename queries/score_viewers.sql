-- The `viewers` scoring profile: a session is shared when the logs show more than one viewer
-- playing at once, minute after minute. Rates, addresses, agents and referers are not
-- evidence: one viewer can produce any of them. What one viewer cannot produce:
--   (a) the same media object (same asset, rendition and segment) fetched from two networks
--       within $co_fetch_seconds of each other (IPv6 counts by /64, as ip_network() does):
--       one playback fetches each segment once in all, however it spreads its requests over
--       addresses (IPv4 + IPv6, multipath), so only a second viewer duplicates them;
--   (b) two playback positions advancing at once: inside one minute, in time order, one
--       rendition folder's fetches step back, by more than $max_segment_skip segments, at
--       least twice (one viewer steps back once per seek back; a viewer behind another
--       steps back each time it fetches; a player fetching a few segments at once, or two
--       paths delivering them out of order, steps back less). How many positions: the
--       folder's runs of segment numbers (at most $max_segment_skip apart), at least two.
-- A minute shows N viewers when either says N: (a) counts networks fetching one object, in a
-- minute with at least $min_cofetched_objects such objects; (b) counts runs. A session is
-- flagged when at least $min_evidence_minutes minutes show at least $min_viewers viewers.
--
-- Trade-offs of the parameters (defaults in the README's profile section):
--   $min_viewers           2: any second viewer; higher tolerates small groups.
--   $min_evidence_minutes  2: one minute can be one viewer's seek back (two runs) or a
--                          multipath re-fetch after a seek (one duplicated object); more
--                          minutes miss late joiners who overlap only briefly.
--   $co_fetch_seconds      30: live viewers of one stream fetch a segment within a few segment
--                          durations of each other; more tolerates slower players, but lets a
--                          viewer's seek back over two paths look like two viewers.
--   $min_cofetched_objects 2: objects duplicated across networks in one minute; 1 lets one
--                          in-flight segment re-fetched after a network hand-over count.
--   $max_segment_skip      3: segments a player may skip (a 404) or fetch out of order
--                          inside one position; more merges two viewers playing close to each
--                          other into one position (they then duplicate objects at once and
--                          (a) sees them, unless behind one address).
--
-- This text continues queries/viewers_evidence.sql (the evidence, one row per fetch), which
-- the profile's query starts with, and ends with the output every profile shares
-- (queries/score_output.sql). For this profile: score is the most viewers seen in one minute when the evidence holds, else 1;
-- ip_rate and the penalties are 0 (nothing is weighted); ip_evidence is the most networks
-- that fetched one object, referer_evidence the most positions at once, ua_evidence the
-- evidence minutes. Also parameters of queries/score.sql: $min_sessions, $min_duration (the
-- same gate). The logs are scanned once: rows collapse to fetches, then window functions
-- annotate them.
, sessions AS (
    SELECT
        session_id,
        sum(requests) AS requests,
        count(DISTINCT pair_key) AS pairs,
        count(DISTINCT ip_key) AS distinct_ips,
        count(DISTINCT user_agent_key) AS distinct_user_agents,
        count(DISTINCT referrer_key) AS distinct_referers,
        min(asset) AS asset,
        min(first_ts) AS first_seen,
        max(last_ts) AS last_seen,
        to_unixtime(max(last_ts)) - to_unixtime(min(first_ts)) AS duration_s,
        CASE WHEN to_unixtime(max(last_ts)) > to_unixtime(min(first_ts))
             THEN CAST(count(DISTINCT pair_key) AS DOUBLE)
                  / CAST(to_unixtime(max(last_ts)) - to_unixtime(min(first_ts)) AS DOUBLE)
        END AS rate,
        -- Minutes showing $min_viewers or more: positions at once, or networks fetching one
        -- object at once (in a minute with $min_cofetched_objects such objects or more).
        count(DISTINCT minute) FILTER (
            WHERE seg IS NOT NULL AND greatest(
                minute_positions,
                CASE WHEN cofetched_objects >= $min_cofetched_objects THEN cofetch_networks ELSE 1 END
            ) >= $min_viewers
        ) AS evidence_minutes,
        CAST(coalesce(max(greatest(
            minute_positions,
            CASE WHEN cofetched_objects >= $min_cofetched_objects THEN cofetch_networks ELSE 1 END
        )) FILTER (WHERE seg IS NOT NULL), 1) AS BIGINT) AS most_viewers,
        CAST(coalesce(max(
            CASE WHEN cofetched_objects >= $min_cofetched_objects THEN cofetch_networks ELSE 1 END
        ) FILTER (WHERE seg IS NOT NULL), 1) AS BIGINT) AS most_networks,
        CAST(coalesce(max(minute_positions) FILTER (WHERE seg IS NOT NULL), 0) AS BIGINT)
            AS most_positions
    FROM minutes
    GROUP BY session_id
),
scorable AS (
    SELECT
        *,
        count(*) OVER () AS sessions_in_window,
        median(rate) OVER () AS p50,
        count(*) OVER () >= $min_sessions
            AND duration_s > 0
            AND duration_s >= $min_duration AS scored,
        evidence_minutes >= $min_evidence_minutes AS shared
    FROM sessions
),
verdicts AS (
    -- Nothing is weighted: the score is the viewers seen, the verdict the evidence.
    SELECT
        *,
        CASE WHEN scored THEN CAST(CASE WHEN shared THEN most_viewers ELSE 1 END AS DOUBLE) END
            AS score,
        CASE WHEN scored THEN 0.0 END AS ip_rate,
        CASE WHEN scored THEN 0.0 END AS ip_penalty,
        CASE WHEN scored THEN 0.0 END AS referer_penalty,
        CASE WHEN scored THEN 0.0 END AS ua_penalty,
        scored AND shared AS flagged,
        p50 AS reference_rate,
        most_networks AS ip_evidence,
        most_positions AS referer_evidence,
        evidence_minutes AS ua_evidence
    FROM scorable
)
{score_output}
