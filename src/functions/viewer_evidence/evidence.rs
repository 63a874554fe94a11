//! The evidence of the `viewers` profile, computed from one session's media fetches: what one
//! viewer cannot produce, minute by minute (docs/scoring.md):
//!
//! - **Co-fetched objects.** The same media object fetched by two or more networks (an IPv4
//!   address, an IPv6 /64) within `co_fetch_seconds` of its first fetch, each fetching on for
//!   `co_fetch_seconds` or more. One playback fetches each segment once in all, however it
//!   spreads its requests over addresses; when its address changes, it fetches what was in
//!   flight again from the new one, but the old one falls silent.
//! - **Positions at once.** Inside one minute, in time order, a rendition folder's fetches
//!   step back by more than `max_segment_skip` segments at least twice: a viewer behind
//!   another steps back each time it fetches, one viewer once per seek back. How many
//!   positions: the folder's runs of segment numbers (at most `max_segment_skip` apart).
//!
//! A minute shows as many viewers as the larger of the two says (networks count only in a
//! minute with `min_cofetched_objects` co-fetched objects or more). Where the logs carry
//! `c-country` (standard logging v2, real-time logs), a co-fetched object whose networks were
//! in two or more countries, and both went on fetching for [`STILL_PLAYING_SECONDS`] or more,
//! is stronger evidence: one viewer is not in two countries at once, and a viewer whose VPN
//! exit hops country (fetching what was in flight again from the new one) leaves the old
//! exit behind. Such minutes are counted apart; a country is never evidence without a
//! co-fetch. Pure code, no Arrow: the
//! aggregate function ([`super::ViewerEvidenceUdaf`]) feeds it for scoring, `explain` for one
//! session's detail.

use std::collections::{BTreeMap, HashMap};

/// One fetch: a (client address, object, user agent, referer) of a session's media, at its
/// first request. Several requests for one (byte ranges, retries) are one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetch {
    /// What makes the fetch one: its address, path, agent and referer ([`fetch_key`]).
    pub key: u64,
    /// Its first request, in seconds since the epoch.
    pub ts: i64,
    /// The network of its address.
    pub network: u64,
    /// The object (the path without its token).
    pub object: u64,
    /// The rendition folder.
    pub folder: u64,
    /// The segment number, or [`NO_SEGMENT`].
    pub segment: i64,
    /// The country of the address ([`NO_COUNTRY`] when the logs do not say).
    pub country: u64,
}

/// The country of a fetch whose logs carry no `c-country`.
pub const NO_COUNTRY: u64 = 0;

/// Seconds that two networks in two countries must both go on fetching after fetching one
/// object for it to count as fetched from two countries at once.
pub const STILL_PLAYING_SECONDS: i64 = 60;

/// A media file without a segment number (`init.mp4`).
pub const NO_SEGMENT: i64 = i64::MIN;

impl Fetch {
    /// The segment number, if the file name has one.
    pub fn segment(&self) -> Option<i64> {
        (self.segment != NO_SEGMENT).then_some(self.segment)
    }
}

/// The key of a fetch from the keys of its (address, path) pair, agent and referer.
pub fn fetch_key(pair: u64, user_agent: u64, referer: u64) -> u64 {
    // Each key is already a 64-bit hash; a multiply-rotate keeps the three apart.
    let mix = |k: u64, m: u64| k.wrapping_mul(m).rotate_left(29);
    pair ^ mix(user_agent, 0x9e37_79b9_7f4a_7c15) ^ mix(referer, 0xc2b2_ae3d_27d4_eb4f)
}

/// What the evidence is asked to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EvidenceParams {
    /// The window's start (seconds since the epoch): minutes count from it.
    pub window_from: i64,
    /// Seconds within which two networks' fetches of an object are one object fetched twice.
    pub co_fetch_seconds: i64,
    /// Segment numbers a position may skip or fetch out of order.
    pub max_segment_skip: i64,
    /// Co-fetched objects a minute needs before its networks count.
    pub min_cofetched_objects: i64,
    /// Viewers a minute must show to count as evidence.
    pub min_viewers: i64,
}

/// What one minute of a session shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minute {
    /// Playback positions at once (the most of any folder; 1 without steps back).
    pub positions: i64,
    /// Objects first fetched in this minute that two or more networks fetched at once.
    pub cofetched_objects: i64,
    /// The most networks that fetched one object at once, of the objects fetched this minute.
    pub cofetch_networks: i64,
    /// Of [`Minute::cofetched_objects`], those whose networks were in two or more countries.
    pub cross_country_objects: i64,
}

impl Minute {
    /// Networks at once: counted only with enough co-fetched objects, else 1.
    pub fn networks(&self, p: &EvidenceParams) -> i64 {
        if self.cofetched_objects >= p.min_cofetched_objects {
            self.cofetch_networks
        } else {
            1
        }
    }

    /// Viewers at once: the larger of positions and networks.
    pub fn viewers(&self, p: &EvidenceParams) -> i64 {
        self.positions.max(self.networks(p))
    }

    /// Whether enough objects were fetched at once from two countries or more.
    pub fn across_countries(&self, p: &EvidenceParams) -> bool {
        self.cross_country_objects >= p.min_cofetched_objects
    }
}

/// A session's evidence, as the scoring query reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Minutes showing `min_viewers` or more.
    pub evidence_minutes: i64,
    /// The most viewers one minute showed (1 without media).
    pub most_viewers: i64,
    /// The most networks at once one minute showed (1 without media).
    pub most_networks: i64,
    /// The most positions at once one minute showed (0 without media).
    pub most_positions: i64,
    /// Minutes with `min_cofetched_objects` objects fetched at once from two countries or more.
    pub country_minutes: i64,
}

/// A folder's fetches in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderMinute {
    /// The folder.
    pub folder: u64,
    /// The minute (from the window's start).
    pub minute: i64,
    /// Runs of segment numbers at most `max_segment_skip` apart.
    pub runs: i64,
    /// Fetches, in time order, more than `max_segment_skip` below the one before.
    pub back_steps: i64,
}

/// The evidence of one session, with what `explain` shows of it.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Each minute with a numbered segment, by minute.
    pub minutes: BTreeMap<i64, Minute>,
    /// Per object fetched by two networks or more at once: how many.
    pub cofetched: HashMap<u64, i64>,
    /// Per folder and minute with a numbered segment: its runs and steps back.
    pub folder_minutes: Vec<FolderMinute>,
}

impl Analysis {
    /// The summary the scoring query reads.
    pub fn summary(&self, p: &EvidenceParams) -> Summary {
        let mut s = Summary {
            evidence_minutes: 0,
            most_viewers: 1,
            most_networks: 1,
            most_positions: 0,
            country_minutes: 0,
        };
        for m in self.minutes.values() {
            if m.across_countries(p) {
                s.country_minutes += 1;
            }
            let viewers = m.viewers(p);
            if viewers >= p.min_viewers {
                s.evidence_minutes += 1;
            }
            s.most_viewers = s.most_viewers.max(viewers);
            s.most_networks = s.most_networks.max(m.networks(p));
            s.most_positions = s.most_positions.max(m.positions);
        }
        s
    }
}

/// The minute of `ts` (from the window's start).
pub fn minute_of(ts: i64, p: &EvidenceParams) -> i64 {
    (ts - p.window_from) / 60
}

/// Whether segment `after` (sorted after `before`) continues `before`'s run.
pub fn same_run(before: i64, after: i64, p: &EvidenceParams) -> bool {
    after - before <= p.max_segment_skip
}

/// Whether the fetch of `now` after that of `before`, in time order, steps back.
pub fn steps_back(before: i64, now: i64, p: &EvidenceParams) -> bool {
    now < before - p.max_segment_skip
}

/// Collapses `fetches` to one per key, at its first request. Sorts them.
pub fn dedup(fetches: &mut Vec<Fetch>) {
    fetches.sort_unstable_by_key(|f| (f.key, f.ts));
    fetches.dedup_by_key(|f| f.key);
}

/// Finds the evidence in one session's media fetches (in any order, duplicates allowed).
pub fn analyse(fetches: &mut Vec<Fetch>, p: &EvidenceParams) -> Analysis {
    dedup(fetches);
    let mut a = Analysis::default();
    cofetches(fetches, p, &mut a);
    positions(fetches, p, &mut a);
    a
}

/// Co-fetched objects: per object, the networks whose first fetch of it came within
/// `co_fetch_seconds` of its first fetch by anyone and that went on fetching for
/// `co_fetch_seconds` or more after it.
fn cofetches(fetches: &mut [Fetch], p: &EvidenceParams, a: &mut Analysis) {
    let mut last_fetch: HashMap<u64, i64> = HashMap::new();
    for f in fetches.iter() {
        let last = last_fetch.entry(f.network).or_insert(f.ts);
        *last = (*last).max(f.ts);
    }
    fetches.sort_unstable_by_key(|f| (f.object, f.network, f.ts));
    for object in fetches.chunk_by(|x, y| x.object == y.object) {
        let first = object.iter().map(|f| f.ts).min().unwrap_or_default();
        // Each network's first fetch, when it came at once.
        let at_once = || {
            object
                .chunk_by(|x, y| x.network == y.network)
                .map(|n| n[0])
                .filter(|n| n.ts - first <= p.co_fetch_seconds)
        };
        // A network that fetched nothing more for `co_fetch_seconds` has moved on: one
        // viewer whose address changed (a VPN exit hopping, Wi-Fi to cellular) fetches what
        // was in flight again from the next one, and the old one falls silent. Two viewers
        // both play on.
        let playing_on = |f: &Fetch| {
            last_fetch.get(&f.network).copied().unwrap_or(f.ts) - first >= p.co_fetch_seconds
        };
        let networks = if object[0].segment().is_some() {
            at_once().filter(|f| playing_on(f)).count() as i64
        } else {
            0
        };
        for f in object.iter().filter(|f| f.segment().is_some()) {
            let m = a.minutes.entry(minute_of(f.ts, p)).or_default();
            m.cofetch_networks = m.cofetch_networks.max(networks);
        }
        if networks >= 2 {
            let still_playing = |f: &Fetch| {
                last_fetch.get(&f.network).copied().unwrap_or(f.ts) - first >= STILL_PLAYING_SECONDS
            };
            let mut countries = at_once()
                .filter(|f| f.country != NO_COUNTRY && still_playing(f))
                .map(|f| f.country);
            let across = countries
                .next()
                .is_some_and(|one| countries.any(|other| other != one));
            let m = a.minutes.entry(minute_of(first, p)).or_default();
            m.cofetched_objects += 1;
            m.cross_country_objects += i64::from(across);
            a.cofetched.insert(object[0].object, networks);
        }
    }
}

/// Positions at once: per folder and minute, its runs of segment numbers and its steps back
/// in time order.
fn positions(fetches: &mut [Fetch], p: &EvidenceParams, a: &mut Analysis) {
    // In time order, a fetch without a number after one with a number of the same second.
    fetches.sort_unstable_by_key(|f| (f.folder, f.ts, f.segment().is_none(), f.segment));
    let mut numbers = Vec::new();
    let same_minute =
        |x: &Fetch, y: &Fetch| x.folder == y.folder && minute_of(x.ts, p) == minute_of(y.ts, p);
    for group in fetches.chunk_by(same_minute) {
        let back_steps = group
            .windows(2)
            .filter(|w| match (w[0].segment(), w[1].segment()) {
                (Some(before), Some(now)) => steps_back(before, now, p),
                _ => false,
            })
            .count() as i64;
        numbers.clear();
        numbers.extend(group.iter().filter_map(Fetch::segment));
        if numbers.is_empty() {
            continue;
        }
        numbers.sort_unstable();
        let runs = numbers.chunk_by(|a, b| same_run(*a, *b, p)).count() as i64;
        let minute = minute_of(group[0].ts, p);
        let here = if back_steps >= 2 { runs.max(2) } else { 1 };
        let m = a.minutes.entry(minute).or_default();
        m.positions = m.positions.max(here);
        a.folder_minutes.push(FolderMinute {
            folder: group[0].folder,
            minute,
            runs,
            back_steps,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: EvidenceParams = EvidenceParams {
        window_from: 0,
        co_fetch_seconds: 30,
        max_segment_skip: 3,
        min_cofetched_objects: 2,
        min_viewers: 2,
    };

    /// A fetch of segment `seg` of folder `folder` by network `net` at `ts`.
    fn fetch(ts: i64, net: u64, folder: u64, seg: i64) -> Fetch {
        Fetch {
            key: fetch_key(net * 1_000_003 + folder * 1009 + seg as u64, 0, 0),
            ts,
            network: net,
            object: folder * 1_000_000 + seg as u64,
            folder,
            segment: seg,
            country: NO_COUNTRY,
        }
    }

    #[test]
    fn one_viewer_playing_straight_through_is_one_viewer() {
        let mut f: Vec<Fetch> = (0..60).map(|i| fetch(i * 4, 1, 7, i)).collect();
        let a = analyse(&mut f, &P);
        // 60 segments over 240 s: minutes 0 to 3, one position, one network each.
        assert_eq!(a.minutes.len(), 4);
        assert_eq!(
            a.summary(&P),
            Summary {
                evidence_minutes: 0,
                most_viewers: 1,
                most_networks: 1,
                most_positions: 1,
                country_minutes: 0
            }
        );
    }

    #[test]
    fn two_networks_fetching_the_same_segments_are_two_viewers() {
        // Network 2 fetches each segment 10 s after network 1, for two minutes.
        let mut f: Vec<Fetch> = (0..30)
            .flat_map(|i| [fetch(i * 4, 1, 7, i), fetch(i * 4 + 10, 2, 7, i)])
            .collect();
        let a = analyse(&mut f, &P);
        let m0 = a.minutes[&0];
        // Minute 0: segments 0..=14 first fetched in it (ts 0..56), all co-fetched.
        assert_eq!(m0.cofetched_objects, 15);
        assert_eq!(m0.cofetch_networks, 2);
        // 10 s behind is 2.5 segments: within max_segment_skip, no step back.
        assert_eq!(m0.positions, 1);
        assert_eq!(a.summary(&P).evidence_minutes, 2);
        assert_eq!(a.summary(&P).most_viewers, 2);
    }

    #[test]
    fn a_fetch_too_late_is_not_at_once_and_byte_ranges_are_one_fetch() {
        let mut f = vec![
            fetch(0, 1, 7, 1),
            fetch(31, 2, 7, 1),
            fetch(2, 1, 7, 2),
            fetch(30, 2, 7, 2),
        ];
        // A second request of the same fetch, later: ignored (the first counts).
        f.push(Fetch { ts: 50, ..f[0] });
        // Both networks play on (other folders, a minute later).
        f.extend([fetch(70, 1, 8, 20), fetch(75, 2, 9, 20)]);
        let a = analyse(&mut f, &P);
        assert_eq!(a.cofetched.len(), 1, "segment 2 only: 28 s apart");
        assert_eq!(a.cofetched[&7_000_002], 2);
        assert_eq!(a.minutes[&0].cofetched_objects, 1);
        assert_eq!(a.minutes[&0].networks(&P), 1, "one object is not enough");
    }

    #[test]
    fn co_fetches_from_two_countries_count_apart_and_a_country_alone_counts_nothing() {
        let at = |f: Fetch, country: u64| Fetch { country, ..f };
        // Two networks on segments 1 and 2 at once, both playing on to segment 20 (other
        // objects): from two countries, then from one.
        let two = |c1, c2| {
            vec![
                at(fetch(0, 1, 7, 1), c1),
                at(fetch(5, 2, 7, 1), c2),
                at(fetch(4, 1, 7, 2), c1),
                at(fetch(9, 2, 7, 2), c2),
                at(fetch(70, 1, 8, 20), c1),
                at(fetch(75, 2, 9, 20), c2),
            ]
        };
        let a = analyse(&mut two(10, 20), &P);
        assert_eq!(a.minutes[&0].cross_country_objects, 2);
        assert_eq!(a.summary(&P).country_minutes, 1);
        // The same, but the first network stops there (a VPN exit left behind): nothing.
        let mut hop = two(10, 20);
        hop.remove(4);
        assert_eq!(analyse(&mut hop, &P).summary(&P).country_minutes, 0);
        let a = analyse(&mut two(10, 10), &P);
        assert_eq!(a.summary(&P).country_minutes, 0);
        // A country unknown on one side is not a second country.
        let a = analyse(&mut two(10, NO_COUNTRY), &P);
        assert_eq!(a.summary(&P).country_minutes, 0);
        // Two countries one after another (a VPN hop), no object twice: nothing.
        let mut f: Vec<Fetch> = (0..10)
            .map(|i| at(fetch(i * 4, 1 + (i / 5) as u64, 7, i), 10 + (i / 5) as u64))
            .collect();
        let a = analyse(&mut f, &P);
        assert_eq!(a.summary(&P).country_minutes, 0);
        assert_eq!(a.summary(&P).evidence_minutes, 0);
    }

    #[test]
    fn a_viewer_whose_address_changes_is_one_viewer_however_often() {
        // Video (folder 7) and audio (8) every 4 s from network 1, from 60 s network 2, from
        // 128 s network 3; each new address fetches the two segments in flight again.
        let net = |ts: i64| {
            if ts < 60 {
                1
            } else if ts < 128 {
                2
            } else {
                3
            }
        };
        let mut f = Vec::new();
        for i in 0..50 {
            f.extend([7, 8].map(|folder| fetch(i * 4, net(i * 4), folder, i)));
        }
        for (hop, in_flight) in [(60, 14), (128, 31)] {
            f.extend([7, 8].map(|folder| fetch(hop, net(hop), folder, in_flight)));
        }
        let mut old_address_plays_on = f.clone();
        let a = analyse(&mut f, &P);
        // Two objects fetched twice at once in minutes 0 and 2, but each old address falls
        // silent: not two viewers.
        assert!(a.cofetched.is_empty(), "{:?}", a.cofetched);
        assert_eq!(a.summary(&P).evidence_minutes, 0);
        // Were network 1 to play on (a second viewer), the first two would count.
        old_address_plays_on.push(fetch(150, 1, 9, 40));
        let a = analyse(&mut old_address_plays_on, &P);
        assert_eq!(a.minutes[&0].cofetched_objects, 2);
        assert_eq!(a.minutes[&0].networks(&P), 2);
        assert_eq!(a.summary(&P).evidence_minutes, 1);
    }

    #[test]
    fn a_viewer_far_behind_another_steps_back_every_fetch() {
        // One address plays segments 100.. and 10.., interleaved: a second viewer behind it.
        let mut f: Vec<Fetch> = (0..10)
            .flat_map(|i| [fetch(i * 6, 1, 7, 100 + i), fetch(i * 6 + 3, 1, 7, 10 + i)])
            .collect();
        let a = analyse(&mut f, &P);
        let fm = a.folder_minutes[0];
        assert_eq!((fm.runs, fm.back_steps), (2, 10));
        assert_eq!(a.minutes[&0].positions, 2);
        assert_eq!(a.summary(&P).most_positions, 2);
        // One seek back is one step back: one position.
        let mut f: Vec<Fetch> = (0..5)
            .map(|i| fetch(i * 4, 1, 7, 100 + i))
            .chain((0..5).map(|i| fetch(30 + i * 4, 1, 7, 10 + i)))
            .collect();
        let a = analyse(&mut f, &P);
        assert_eq!(a.folder_minutes[0].back_steps, 1);
        assert_eq!(a.minutes[&0].positions, 1);
    }

    #[test]
    fn a_file_without_a_number_breaks_the_time_order_and_counts_nowhere() {
        let init = |ts| Fetch {
            segment: NO_SEGMENT,
            object: 99,
            key: 99 + ts as u64,
            ..fetch(ts, 1, 7, 0)
        };
        // 100, init, 10, 101, init, 11: no numbered fetch follows a numbered one from above,
        // so no step back (without the init fetches, 10 and 11 would be two).
        let mut f = vec![
            fetch(0, 1, 7, 100),
            init(1),
            fetch(2, 1, 7, 10),
            fetch(3, 1, 7, 101),
            init(4),
            fetch(5, 1, 7, 11),
        ];
        let a = analyse(&mut f, &P);
        assert_eq!(a.folder_minutes[0].back_steps, 0);
        assert_eq!(a.folder_minutes[0].runs, 2);
        assert!(a.cofetched.is_empty());
    }
}
