//! The traffic model of `synth`: viewers playing HLS video through CloudFront, some of them
//! sharing one session token. Produces plain request records; `writer` turns them into log files.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use crate::session::SessionRule;
use crate::session::cta;

/// Seconds of media per segment, unless a mix of durations is asked for.
pub const SEGMENT_SECONDS: i64 = 4;

/// The ordinary viewers' situations that `upstream` scoring mistakes for sharing, and how
/// often each occurs (docs/commands.md, `synth`). All off by default.
#[derive(Debug, Clone, PartialEq)]
pub struct Confounders {
    /// Share of viewers playing natively on iOS: Safari fetches the master manifest with the
    /// page as referer, AppleCoreMedia fetches everything else with no referer.
    pub ios_native: f64,
    /// Share of viewers whose phone moves from Wi-Fi to cellular once during playback.
    pub network_switch: f64,
    /// Share of viewers on IPv6 whose privacy address rotates inside their /64 every 2-5 min.
    pub ipv6_rotate: f64,
    /// Segment durations in seconds; asset `i` uses `segment_durations[i % len]`.
    pub segment_durations: Vec<i64>,
    /// Share of viewers using two addresses in parallel by family (happy eyeballs): video
    /// segments over IPv4, playlists, keys and audio over IPv6.
    pub dual_stack: f64,
    /// Share of viewers spreading one playback over two paths (multipath, Wi-Fi plus
    /// cellular): every other segment fetched over the second address.
    pub multipath: f64,
    /// Share of viewers seeking back once, 3 to 40 segments, then playing on from there.
    pub seek_back: f64,
    /// Share of viewers re-fetching 10% of their video segments from the same address.
    pub refetch: f64,
    /// Share of viewers fetching every video segment in 3 to 6 byte ranges (206).
    pub byte_ranges: f64,
    /// Share of viewers playing LL-HLS: every segment as one-second parts
    /// (`seg_00042.part3.ts`), each after a blocking playlist reload.
    pub ll_hls: f64,
    /// Share of viewers whose player switches rendition on 30% of its segments, fetching the
    /// current segment again in the new rendition.
    pub abr_flap: f64,
    /// Share of viewers playing in an app: the page's browser fetches the master manifest,
    /// an ExoPlayer user agent everything else, with the player's embed page as referer.
    pub app_player: f64,
    /// Share of sessions playing a live stream: every viewer fetches the segment at the live
    /// edge (the wall clock's segment, three behind), so viewers of one session fetch the
    /// same segments at nearly the same time.
    pub live: f64,
    /// Share of a shared session's extra viewers that join 3 to 9 minutes after the first,
    /// instead of within 3 minutes.
    pub late_join: f64,
    /// Viewers of a shared session: from, to (both inclusive).
    pub group_sizes: (usize, usize),
    /// Write `c-country` and `asn` (as standard logging v2 and real-time logs can): every
    /// viewer has a country (of [`COUNTRIES`], by share), all of its addresses in it.
    pub countries: bool,
    /// Share of viewers behind a VPN whose exit hops to another country (and address) every
    /// 1 to 3 minutes, fetching the segment in flight again from the new exit.
    pub vpn_hop: f64,
}

impl Default for Confounders {
    fn default() -> Self {
        Confounders {
            ios_native: 0.0,
            network_switch: 0.0,
            ipv6_rotate: 0.0,
            segment_durations: vec![SEGMENT_SECONDS],
            dual_stack: 0.0,
            multipath: 0.0,
            seek_back: 0.0,
            refetch: 0.0,
            byte_ranges: 0.0,
            ll_hls: 0.0,
            abr_flap: 0.0,
            app_player: 0.0,
            live: 0.0,
            late_join: 0.0,
            group_sizes: (2, 4),
            countries: false,
            vpn_hop: 0.0,
        }
    }
}

/// The Safari user agent a native iOS playback starts with.
const IOS_SAFARI_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
/// The media stack's user agent of a native iOS playback.
const IOS_MEDIA_UA: &str =
    "AppleCoreMedia/1.0.0.21F90 (iPhone; U; CPU OS 17_5 like Mac OS X; en_us)";
/// The media stack's user agent of an app's player.
const APP_MEDIA_UA: &str = "ExoPlayerLib/2.19.1 (Linux; Android 14; Pixel 8) AndroidXMedia3/1.3.1";
/// The referer an app's player sends with its media requests.
const APP_PLAYER_REFERER: &str = "https://player.example-cdn.com/embed/v2";

/// One request as CloudFront would log it (values not yet percent-encoded).
#[derive(Debug, Clone)]
pub struct Request {
    /// Response time, epoch seconds.
    pub ts: i64,
    /// Viewer address.
    pub ip: String,
    /// Path (`cs-uri-stem`).
    pub uri: String,
    /// Query (`cs-uri-query`), `-` for none.
    pub query: String,
    /// Status code.
    pub status: u16,
    /// Bytes sent.
    pub bytes: u64,
    /// Raw user agent.
    pub user_agent: &'static str,
    /// Referer or `-`.
    pub referer: String,
    /// Byte range served, for 206 responses.
    pub range: Option<(u64, u64)>,
    /// The viewer's country (`c-country`), empty when not modelled.
    pub country: &'static str,
}

/// A session token and the viewers using it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session id.
    pub id: String,
    /// The first path segment: `<id>.<jwt header>.<jwt payload>.<jwt signature>`, or a
    /// Common Access Token; empty when the token travels in the query.
    pub token: String,
    /// The query every request of the session carries: `-`, or `CAT=<token>`.
    pub query: String,
    /// Number of distinct viewers (1 for a legitimate session).
    pub viewers: usize,
}

const BROWSER_UAS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:129.0) Gecko/20100101 Firefox/129.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36 Edg/128.0.0.0",
];

const ASSETS: [&str; 4] = [
    "big-match-live",
    "season2-ep05",
    "documentary-oceans",
    "concert-encore",
];

/// Renditions: name and bitrate in bits per second.
const RENDITIONS: [(&str, u64); 4] = [
    ("360p", 800_000),
    ("540p", 1_600_000),
    ("720p", 3_000_000),
    ("1080p", 5_500_000),
];

const PIRATE_REFERERS: [&str; 3] = [
    "https://free-streams.example.net/watch?id=3981",
    "https://sportz-hd.example.org/live",
    "-",
];

/// A new session id: 12 characters of `[A-Za-z0-9]`, like the reference solution's.
pub fn session_id(rng: &mut ChaCha8Rng) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..12)
        .map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())]))
        .collect()
}

/// A session with a JWT-shaped token, or with `SessionRule::Cta` a Common Access Token whose
/// `cti` is the id, in the first path segment or (for ids whose first byte is odd) the `CAT`
/// query parameter. Both draw the same random numbers, so a seed gives the same sessions
/// and traffic under either rule.
pub fn new_session(rng: &mut ChaCha8Rng, viewers: usize, exp: i64, rule: SessionRule) -> Session {
    let id = session_id(rng);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"sid":"{id}","exp":{exp},"paths":["/vod/*"],"hdr":"user-agent,referer"}}"#
    ));
    let mut sig = [0u8; 32];
    rng.fill(&mut sig);
    let signature = URL_SAFE_NO_PAD.encode(sig);
    let (token, query) = match rule {
        SessionRule::Prefix => (format!("{id}.{header}.{payload}.{signature}"), "-".into()),
        SessionRule::Cta => {
            let cat = cta::encode_token(&cta::Cti::Text(id.clone()), exp);
            match id.as_bytes().first() {
                Some(b) if b % 2 == 1 => (String::new(), format!("CAT={cat}")),
                _ => (cat, "-".into()),
            }
        }
    };
    Session {
        token,
        query,
        id,
        viewers,
    }
}

/// One viewer's address, device and page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Address (IPv4 or IPv6) at the start.
    pub ip: String,
    /// User agent.
    pub user_agent: &'static str,
    /// Referer sent with every request.
    pub referer: String,
    /// Native playback: the media stack's user agent, sent (with no referer) on every
    /// request but the master manifest.
    pub media_agent: Option<&'static str>,
    /// Later addresses, as (from this epoch second, address), in time order.
    pub moves: Vec<(i64, String)>,
    /// The referer of the media stack's requests (`-` when None).
    pub media_referer: Option<String>,
    /// How the player fetches, beyond the common model.
    pub habits: Habits,
    /// The confounders this viewer has (`ios-native`, `network-switch`, `ipv6-rotate`).
    pub traits: Vec<&'static str>,
    /// The country at the start (empty when not modelled).
    pub country: &'static str,
    /// Later countries (a VPN's hops), as (from this epoch second, country), in time order.
    pub country_moves: Vec<(i64, &'static str)>,
}

/// A second address used at the same time as the first, and how requests spread over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parallel {
    /// Video segments over the first (IPv4) address, everything else over the second (IPv6).
    DualStack(String),
    /// Every other segment fetched over the second address (by fetch, not by number: a
    /// segment fetched again after a seek back may take the other path).
    Multipath(String),
}

/// The player's ways of fetching that the confounders give it (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Habits {
    /// A second address in parallel.
    pub parallel: Option<Parallel>,
    /// Seek back once: at this epoch second, by this many segments.
    pub seek_back: Option<(i64, u32)>,
    /// Re-fetch some video segments from the same address.
    pub refetch: bool,
    /// Fetch video segments in several byte ranges.
    pub byte_ranges: bool,
    /// Fetch LL-HLS parts.
    pub ll_hls: bool,
    /// Switch rendition often, re-fetching the current segment.
    pub abr_flap: bool,
}

impl Viewer {
    /// The address in use at `ts`.
    pub fn ip_at(&self, ts: i64) -> &str {
        self.moves
            .iter()
            .rev()
            .find(|(from, _)| *from <= ts)
            .map_or(self.ip.as_str(), |(_, ip)| ip.as_str())
    }

    /// The country at `ts`.
    pub fn country_at(&self, ts: i64) -> &'static str {
        self.country_moves
            .iter()
            .rev()
            .find(|(from, _)| *from <= ts)
            .map_or(self.country, |(_, c)| *c)
    }
}

/// The countries viewers are in, with their shares in percent (of a platform selling in
/// several markets, most viewers at home).
pub const COUNTRIES: [(&str, u32); 8] = [
    ("US", 55),
    ("CA", 10),
    ("GB", 10),
    ("DE", 8),
    ("MX", 6),
    ("BR", 5),
    ("IN", 4),
    ("NL", 2),
];

/// The country of viewer `viewer` of session `session`, picked by [`COUNTRIES`]' shares from a
/// hash of both (no random draw, so a mix written without countries keeps its bytes).
pub fn country_of(session: &str, viewer: usize) -> &'static str {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (session, viewer).hash(&mut h);
    let total: u32 = COUNTRIES.iter().map(|c| c.1).sum();
    let mut at = (h.finish() % u64::from(total)) as u32;
    for (country, share) in COUNTRIES {
        if at < share {
            return country;
        }
        at -= share;
    }
    COUNTRIES[0].0
}

/// The autonomous system of `ip` in `country`: one of a few per country, by the address
/// (a viewer's Wi-Fi and cellular addresses are usually in two).
pub fn asn_of(country: &str, ip: &str) -> u32 {
    use std::hash::{Hash, Hasher};
    let base = COUNTRIES
        .iter()
        .position(|c| c.0 == country)
        .map_or(64_500, |i| 7_000 + 1_000 * i as u32);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ip.hash(&mut h);
    base + (h.finish() % 4) as u32
}

/// Gives a viewer watching from `start` to `stop` the confounders `mix` draws for it. Draws
/// nothing for a confounder whose share is 0, so a mix without confounders leaves the
/// random sequence (and the bytes written) as before.
pub fn confound(
    rng: &mut ChaCha8Rng,
    viewer: &mut Viewer,
    mix: &Confounders,
    start: i64,
    stop: i64,
) {
    if mix.ios_native > 0.0 && rng.random_bool(mix.ios_native.min(1.0)) {
        viewer.user_agent = IOS_SAFARI_UA;
        viewer.media_agent = Some(IOS_MEDIA_UA);
        viewer.traits.push("ios-native");
    }
    if mix.ipv6_rotate > 0.0 && rng.random_bool(mix.ipv6_rotate.min(1.0)) {
        let prefix = format!(
            "2001:db8:{:x}:{:x}",
            rng.random_range(1..0xffffu32),
            rng.random_range(1..0xffffu32)
        );
        let iid = |rng: &mut ChaCha8Rng| {
            format!(
                "{prefix}:{:x}:{:x}:{:x}:{:x}",
                rng.random_range(1..0xffffu32),
                rng.random_range(1..0xffffu32),
                rng.random_range(1..0xffffu32),
                rng.random_range(1..0xffffu32)
            )
        };
        viewer.ip = iid(rng);
        let mut at = start;
        loop {
            at += rng.random_range(120..300);
            if at >= stop {
                break;
            }
            let ip = iid(rng);
            viewer.moves.push((at, ip));
        }
        viewer.traits.push("ipv6-rotate");
    }
    if mix.network_switch > 0.0
        && rng.random_bool(mix.network_switch.min(1.0))
        && stop - start > 120
    {
        // Wi-Fi (an IPv4 address) until a moment in the middle, then the carrier's network.
        let at = rng.random_range(start + 60..stop - 60);
        let cellular = random_ip(rng);
        viewer.moves.retain(|(from, _)| *from < at);
        viewer.moves.push((at, cellular));
        viewer.traits.push("network-switch");
    }
    if mix.vpn_hop > 0.0 && rng.random_bool(mix.vpn_hop.min(1.0)) && stop - start > 120 {
        let mut at = start;
        loop {
            at += rng.random_range(60..=180);
            if at >= stop {
                break;
            }
            let before = viewer.country_at(at);
            let others: Vec<&'static str> = COUNTRIES
                .iter()
                .map(|c| c.0)
                .filter(|c| *c != before)
                .collect();
            let country = others.choose(rng).copied().unwrap_or(COUNTRIES[0].0);
            let ip = random_ip(rng);
            viewer.moves.push((at, ip));
            viewer.country_moves.push((at, country));
        }
        viewer.traits.push("vpn-hop");
    }
    confound_habits(rng, viewer, mix, start, stop);
}

/// The confounders added for the `viewers` profile, drawn after the older ones (and only
/// those whose share is above 0, so older mixes give the same bytes).
fn confound_habits(
    rng: &mut ChaCha8Rng,
    viewer: &mut Viewer,
    mix: &Confounders,
    start: i64,
    stop: i64,
) {
    let mut draw = |share: f64| share > 0.0 && rng.random_bool(share.min(1.0));
    let (dual_stack, multipath, seek_back, refetch) = (
        draw(mix.dual_stack),
        draw(mix.multipath),
        draw(mix.seek_back),
        draw(mix.refetch),
    );
    let (byte_ranges, ll_hls, abr_flap, app_player) = (
        draw(mix.byte_ranges),
        draw(mix.ll_hls),
        draw(mix.abr_flap),
        draw(mix.app_player),
    );
    if dual_stack {
        let v6 = format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.random_range(1..0xffffu32),
            rng.random_range(1..0xffffu32),
            rng.random_range(1..0xffffu32)
        );
        viewer.habits.parallel = Some(Parallel::DualStack(v6));
        viewer.traits.push("dual-stack");
    } else if multipath {
        let second = random_ip(rng);
        viewer.habits.parallel = Some(Parallel::Multipath(second));
        viewer.traits.push("multipath");
    }
    if seek_back && stop - start > 120 {
        let at = rng.random_range(start + 60..stop - 30);
        viewer.habits.seek_back = Some((at, rng.random_range(3..=40)));
        viewer.traits.push("seek-back");
    }
    for (on, flag, name) in [
        (refetch, &mut viewer.habits.refetch, "refetch"),
        (byte_ranges, &mut viewer.habits.byte_ranges, "byte-ranges"),
        (ll_hls, &mut viewer.habits.ll_hls, "ll-hls"),
        (abr_flap, &mut viewer.habits.abr_flap, "abr-flap"),
    ] {
        if on {
            *flag = true;
            viewer.traits.push(name);
        }
    }
    if app_player && viewer.media_agent.is_none() {
        viewer.media_agent = Some(APP_MEDIA_UA);
        viewer.media_referer = Some(APP_PLAYER_REFERER.to_string());
        viewer.traits.push("app-player");
    }
}

/// A viewer on its own network with a browser and the platform's player page.
pub fn new_viewer(rng: &mut ChaCha8Rng, asset: &str) -> Viewer {
    Viewer {
        ip: random_ip(rng),
        user_agent: BROWSER_UAS.choose(rng).copied().unwrap_or(BROWSER_UAS[0]),
        referer: format!("https://www.example-streaming.com/watch/{asset}"),
        media_agent: None,
        moves: Vec::new(),
        media_referer: None,
        habits: Habits::default(),
        traits: Vec::new(),
        country: "",
        country_moves: Vec::new(),
    }
}

/// A viewer of a leaked token: its own network and device, often arriving from elsewhere.
pub fn new_pirate_viewer(rng: &mut ChaCha8Rng, asset: &str) -> Viewer {
    let mut v = new_viewer(rng, asset);
    if rng.random_bool(0.5) {
        v.referer = PIRATE_REFERERS
            .choose(rng)
            .copied()
            .unwrap_or("-")
            .to_string();
    }
    v
}

fn random_ip(rng: &mut ChaCha8Rng) -> String {
    if rng.random_bool(0.2) {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.random_range(1..0xffffu32),
            rng.random_range(1..0xffffu32),
            rng.random_range(1..0xffffu32)
        )
    } else {
        const FIRST: [u8; 10] = [23, 45, 67, 72, 81, 98, 104, 151, 176, 185];
        format!(
            "{}.{}.{}.{}",
            FIRST.choose(rng).copied().unwrap_or(23),
            rng.random_range(0..=255u8),
            rng.random_range(0..=255u8),
            rng.random_range(1..=254u8)
        )
    }
}

/// What a session plays.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The asset's name in the path.
    pub name: &'static str,
    /// Seconds of media per segment.
    pub segment_s: i64,
    /// A live stream: viewers fetch the segment at the live edge.
    pub live: bool,
}

/// The asset a session plays, with its segment duration under `mix`.
pub fn random_asset(rng: &mut ChaCha8Rng, mix: &Confounders) -> Asset {
    let asset = ASSETS.choose(rng).copied().unwrap_or(ASSETS[0]);
    let i = ASSETS.iter().position(|a| *a == asset).unwrap_or(0);
    let durations = &mix.segment_durations;
    let segment_s = durations
        .get(i % durations.len().max(1))
        .copied()
        .unwrap_or(SEGMENT_SECONDS);
    let live = mix.live > 0.0 && rng.random_bool(mix.live.min(1.0));
    Asset {
        name: asset,
        segment_s,
        live,
    }
}

/// A playback by one viewer of one session's asset, from `start` to `end` (epoch seconds),
/// as requests: manifests, an initial burst, then one video and one audio segment per
/// segment duration, with rendition switches, byte-range requests, retries, a pause, a few
/// errors and tiny key requests; and the viewer's [`Habits`], and the live edge of a live
/// asset. Without habits and live assets it draws the same random numbers as before them.
pub fn playback(
    rng: &mut ChaCha8Rng,
    session: &Session,
    viewer: &Viewer,
    asset: Asset,
    start: i64,
    end: i64,
    out: &mut Vec<Request>,
) {
    let segment_s = asset.segment_s;
    let habits = &viewer.habits;
    let first_row = out.len();
    let base = match session.token.as_str() {
        "" => format!("/vod/{}", asset.name),
        token => format!("/{token}/vod/{}", asset.name),
    };
    let master = format!("{base}/master.m3u8");
    // Which requests go over the second address of a parallel pair.
    let dual = matches!(habits.parallel, Some(Parallel::DualStack(_)));
    let multipath = matches!(habits.parallel, Some(Parallel::Multipath(_)));
    let mut fetched = 0u32; // segments fetched so far, for multipath's alternation
    let mut push =
        |ts: i64, uri: String, status: u16, bytes: u64, range: Option<(u64, u64)>, second: bool| {
            // Native playback: the page's browser fetches the master manifest, the media stack
            // everything else, without a referer (or with its player page's).
            let (user_agent, referer) = match viewer.media_agent {
                Some(media) if uri != master => (
                    media,
                    viewer
                        .media_referer
                        .clone()
                        .unwrap_or_else(|| "-".to_string()),
                ),
                _ => (viewer.user_agent, viewer.referer.clone()),
            };
            let ip = match &habits.parallel {
                Some(Parallel::DualStack(other) | Parallel::Multipath(other)) if second => {
                    other.as_str()
                }
                _ => viewer.ip_at(ts),
            };
            out.push(Request {
                ts,
                ip: ip.to_string(),
                uri,
                query: session.query.clone(),
                status,
                bytes,
                user_agent,
                referer,
                range,
                country: viewer.country_at(ts),
            });
        };
    let mut rendition = rng.random_range(0..RENDITIONS.len());
    push(
        start,
        master.clone(),
        200,
        rng.random_range(1_400..2_600),
        None,
        dual,
    );
    let playlist = |r: usize| format!("{base}/{}/index.m3u8", RENDITIONS[r].0);
    push(
        start + 1,
        playlist(rendition),
        200,
        rng.random_range(4_000..14_000),
        None,
        dual,
    );
    push(
        start + 1,
        format!("{base}/audio_128k/index.m3u8"),
        200,
        rng.random_range(4_000..14_000),
        None,
        dual,
    );
    push(
        start + 1,
        format!("{base}/keys/k1.key"),
        200,
        16,
        None,
        dual,
    );
    let mut segment = rng.random_range(0..400u32); // where playback starts in the asset
    let mut t = start + 2;
    let mut paused = false;
    let mut burst = 3;
    // Live: the last segment fetched, and how far behind the edge a seek back left us.
    let (mut last_live, mut live_delay) = (None::<u32>, 0u32);
    let mut sought = false;
    while t <= end {
        if let Some((at, back)) = habits.seek_back
            && !sought
            && t >= at
        {
            sought = true;
            segment = segment.saturating_sub(back);
            // Live: from `back` segments behind the edge on.
            live_delay += back;
            last_live = None;
        }
        if asset.live {
            let edge = u32::try_from(t.div_euclid(segment_s) - 3)
                .unwrap_or(0)
                .saturating_sub(live_delay);
            segment = match last_live {
                // Nothing new at the edge yet: ask again in a second.
                Some(last) if edge <= last => {
                    t += 1;
                    continue;
                }
                Some(last) if edge > last && edge - last <= 3 => last + 1,
                _ => edge,
            };
            last_live = Some(segment);
        }
        let (name, bitrate) = RENDITIONS[rendition];
        let video = format!("{base}/{name}/seg_{segment:05}.ts");
        let size = bitrate * segment_s.unsigned_abs() / 8 * rng.random_range(80..120u64) / 100;
        let second = multipath && fetched % 2 == 1;
        fetched += 1;
        if habits.ll_hls {
            // One-second parts, each after a blocking reload of the rendition's playlist.
            let parts = segment_s.unsigned_abs().max(1);
            for k in 0..parts {
                let at = t + i64::try_from(k).unwrap_or(0);
                let reload = rng.random_range(4_000..14_000);
                push(at, playlist(rendition), 200, reload, None, dual);
                let part = format!("{base}/{name}/seg_{segment:05}.part{k}.ts");
                push(at, part, 200, size / parts, None, second);
                let audio = format!("{base}/audio_128k/seg_{segment:05}.part{k}.aac");
                push(at, audio, 200, 64_000 / parts + 2_000, None, second || dual);
            }
        } else {
            if habits.byte_ranges {
                let pieces = rng.random_range(3..=6u64);
                let piece = size / pieces;
                for p in 0..pieces {
                    let last = if p + 1 == pieces {
                        size - 1
                    } else {
                        (p + 1) * piece - 1
                    };
                    let at = t + i64::try_from(p / 2).unwrap_or(0);
                    let range = Some((p * piece, last));
                    push(at, video.clone(), 206, last + 1 - p * piece, range, second);
                }
            } else {
                let roll: f64 = rng.random();
                if roll < 0.08 {
                    // Two byte-range requests of one segment: one (IP, URI) pair.
                    let half = size / 2;
                    push(t, video.clone(), 206, half, Some((0, half - 1)), second);
                    push(
                        t + 1,
                        video.clone(),
                        206,
                        size - half,
                        Some((half, size - 1)),
                        second,
                    );
                } else if roll < 0.09 {
                    // The viewer gave up on the first attempt (status 000), then retried.
                    let tried = rng.random_range(2_000..50_000);
                    push(t, video.clone(), 0, tried, None, second);
                    push(t + 1, video.clone(), 200, size, None, second);
                } else if roll < 0.093 {
                    push(t, video.clone(), 404, 341, None, second);
                } else {
                    push(t, video.clone(), 200, size, None, second);
                }
            }
            if habits.refetch && rng.random_bool(0.1) {
                // The player dropped its buffer and fetches the segment again.
                push(t + 1, video, 200, size, None, second);
            }
            let audio = format!("{base}/audio_128k/seg_{segment:05}.aac");
            let bytes = rng.random_range(60_000..68_000);
            push(t, audio, 200, bytes, None, second || dual);
        }
        segment += 1;
        let switch = if habits.abr_flap { 0.3 } else { 0.03 };
        if rng.random_bool(switch) {
            // Adaptive bitrate switch: the new rendition's playlist, then its segments.
            rendition = (rendition
                + if rng.random_bool(0.5) {
                    1
                } else {
                    RENDITIONS.len() - 1
                })
                % RENDITIONS.len();
            push(
                t,
                playlist(rendition),
                200,
                rng.random_range(4_000..14_000),
                None,
                dual,
            );
            if habits.abr_flap {
                // A flapping player fetches the current segment again in the new rendition.
                let current = segment - 1;
                let again = format!("{base}/{}/seg_{current:05}.ts", RENDITIONS[rendition].0);
                push(t + 1, again, 200, size, None, second);
            }
        }
        if burst > 0 {
            burst -= 1;
            t += 1;
        } else {
            t += segment_s + rng.random_range(-1..=1);
        }
        if !paused && rng.random_bool(0.004) {
            paused = true;
            t += rng.random_range(10..90);
        }
    }
    // A VPN hop while a segment is in flight: the player fetches it again from the new exit.
    for &(at, _) in &viewer.country_moves {
        let in_flight = out[first_row..]
            .iter()
            .filter(|r| r.ts < at && r.ts >= at - 10 && r.status == 200 && r.uri.ends_with(".ts"))
            .max_by_key(|r| r.ts)
            .cloned();
        if let Some(r) = in_flight {
            out.push(Request {
                ts: at + 1,
                ip: viewer.ip_at(at + 1).to_string(),
                country: viewer.country_at(at + 1),
                ..r
            });
        }
    }
}
