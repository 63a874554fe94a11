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
-- flagged when at least $min_evidence_minutes minutes show at least $min_viewers viewers, or
-- when $min_country_minutes minutes (0: never) had $min_cofetched_objects objects fetched at
-- once by networks in two or more countries (c-country, in logs that carry it: one viewer is
-- not in two countries at once; the country strengthens a co-fetch, never replaces it).
-- asn is not evidence: one viewer on Wi-Fi and cellular at once is on two networks.
--
-- The evidence is the aggregate function viewer_evidence() (src/functions/viewer_evidence):
-- it reads each row's media path (/<token>/<asset...>/<folder>/<file>.<media extension>;
-- the object is the path without the token, the segment number the file name's last
-- number once an LL-HLS part suffix is dropped), collapses requests of one (address, object,
-- agent, referer) to one fetch at its first request, and finds (a) and (b) per minute of the
-- window. One scan, one aggregation per session.
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
--   $min_country_minutes   1: a co-fetch across countries is what a leaked token looks like;
--                          a viewer whose VPN exit hops country while a segment is in flight
--                          re-fetches one object, fewer than $min_cofetched_objects.
--   $max_segment_skip      3: segments a player may skip (a 404) or fetch out of order
--                          inside one position; more merges two viewers playing close to each
--                          other into one position (they then duplicate objects at once and
--                          (a) sees them, unless behind one address).
--
-- Ends with the output every profile shares (queries/score_output.sql). For this profile:
-- score is the most viewers seen in one minute when the evidence holds, else 1; ip_rate and
-- the penalties are 0 (nothing is weighted); ip_evidence is the most networks that fetched
-- one object, referer_evidence the most positions at once, ua_evidence the evidence minutes.
-- Also parameters of queries/score.sql: $min_sessions, $min_duration (the same gate).
WITH in_scope AS (
    -- The rows that count (queries/in_scope.sql) inside the window.
    SELECT session_id, pair_key, ip_key, user_agent_key, referrer_key, request_ip, uri, ts,
           country
    FROM logs
    WHERE {in_scope}
      AND ts >= $window_from
      AND ts <= $window_to
),
sessions AS (
    SELECT
        session_id,
        count(*) AS requests,
        distinct_keys(pair_key) AS pairs,
        distinct_keys(ip_key) AS distinct_ips,
        distinct_keys(user_agent_key) AS distinct_user_agents,
        distinct_keys(referrer_key) AS distinct_referers,
        min(ts) AS first_seen,
        max(ts) AS last_seen,
        viewer_evidence(
            ts, request_ip, uri, pair_key, user_agent_key, referrer_key, country,
            $window_from, $co_fetch_seconds, $max_segment_skip, $min_cofetched_objects,
            $min_viewers
        ) AS evidence
    FROM in_scope
    GROUP BY session_id
),
measured AS (
    SELECT
        session_id,
        requests,
        pairs,
        distinct_ips,
        distinct_user_agents,
        distinct_referers,
        first_seen,
        last_seen,
        evidence['asset'] AS asset,
        evidence['evidence_minutes'] AS evidence_minutes,
        evidence['most_viewers'] AS most_viewers,
        evidence['most_networks'] AS most_networks,
        evidence['most_positions'] AS most_positions,
        evidence['country_minutes'] AS country_minutes,
        to_unixtime(last_seen) - to_unixtime(first_seen) AS duration_s,
        CASE WHEN to_unixtime(last_seen) > to_unixtime(first_seen)
             THEN CAST(pairs AS DOUBLE)
                  / CAST(to_unixtime(last_seen) - to_unixtime(first_seen) AS DOUBLE)
        END AS rate
    FROM sessions
),
scorable AS (
    SELECT
        *,
        count(*) OVER () AS sessions_in_window,
        median(rate) OVER () AS p50,
        count(*) OVER () >= $min_sessions
            AND duration_s > 0
            AND duration_s >= $min_duration AS scored,
        evidence_minutes >= $min_evidence_minutes
            OR ($min_country_minutes > 0 AND country_minutes >= $min_country_minutes) AS shared
    FROM measured
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
