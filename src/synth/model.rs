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
}

impl Default for Confounders {
    fn default() -> Self {
        Confounders {
            ios_native: 0.0,
            network_switch: 0.0,
            ipv6_rotate: 0.0,
            segment_durations: vec![SEGMENT_SECONDS],
        }
    }
}

/// The Safari user agent a native iOS playback starts with.
const IOS_SAFARI_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
/// The media stack's user agent of a native iOS playback.
const IOS_MEDIA_UA: &str =
    "AppleCoreMedia/1.0.0.21F90 (iPhone; U; CPU OS 17_5 like Mac OS X; en_us)";

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
    /// The confounders this viewer has (`ios-native`, `network-switch`, `ipv6-rotate`).
    pub traits: Vec<&'static str>,
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
}

/// A viewer on its own network with a browser and the platform's player page.
pub fn new_viewer(rng: &mut ChaCha8Rng, asset: &str) -> Viewer {
    Viewer {
        ip: random_ip(rng),
        user_agent: BROWSER_UAS.choose(rng).copied().unwrap_or(BROWSER_UAS[0]),
        referer: format!("https://www.example-streaming.com/watch/{asset}"),
        media_agent: None,
        moves: Vec::new(),
        traits: Vec::new(),
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
    Asset {
        name: asset,
        segment_s,
    }
}

/// A playback by one viewer of one session's asset, from `start` to `end` (epoch seconds),
/// as requests: manifests, an initial burst, then one video and one audio segment per
/// segment duration, with rendition switches, byte-range requests, retries, a pause, a few
/// errors and tiny key requests.
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
    let base = match session.token.as_str() {
        "" => format!("/vod/{}", asset.name),
        token => format!("/{token}/vod/{}", asset.name),
    };
    let master = format!("{base}/master.m3u8");
    let mut push = |ts: i64, uri: String, status: u16, bytes: u64, range: Option<(u64, u64)>| {
        // Native playback: the page's browser fetches the master manifest, the media stack
        // everything else, without a referer.
        let (user_agent, referer) = match viewer.media_agent {
            Some(media) if uri != master => (media, "-".to_string()),
            _ => (viewer.user_agent, viewer.referer.clone()),
        };
        out.push(Request {
            ts,
            ip: viewer.ip_at(ts).to_string(),
            uri,
            query: session.query.clone(),
            status,
            bytes,
            user_agent,
            referer,
            range,
        });
    };
    let mut rendition = rng.random_range(0..RENDITIONS.len());
    push(
        start,
        master.clone(),
        200,
        rng.random_range(1_400..2_600),
        None,
    );
    let playlist = |r: usize| format!("{base}/{}/index.m3u8", RENDITIONS[r].0);
    push(
        start + 1,
        playlist(rendition),
        200,
        rng.random_range(4_000..14_000),
        None,
    );
    push(
        start + 1,
        format!("{base}/audio_128k/index.m3u8"),
        200,
        rng.random_range(4_000..14_000),
        None,
    );
    push(start + 1, format!("{base}/keys/k1.key"), 200, 16, None);
    let mut segment = rng.random_range(0..400u32); // where playback starts in the asset
    let mut t = start + 2;
    let mut paused = false;
    let mut burst = 3;
    while t <= end {
        let (name, bitrate) = RENDITIONS[rendition];
        let video = format!("{base}/{name}/seg_{segment:05}.ts");
        let size = bitrate * segment_s.unsigned_abs() / 8 * rng.random_range(80..120u64) / 100;
        let roll: f64 = rng.random();
        if roll < 0.08 {
            // Two byte-range requests of one segment: one (IP, URI) pair.
            let half = size / 2;
            push(t, video.clone(), 206, half, Some((0, half - 1)));
            push(t + 1, video, 206, size - half, Some((half, size - 1)));
        } else if roll < 0.09 {
            // The viewer gave up on the first attempt (status 000), then retried.
            push(t, video.clone(), 0, rng.random_range(2_000..50_000), None);
            push(t + 1, video, 200, size, None);
        } else if roll < 0.093 {
            push(t, video, 404, 341, None);
        } else {
            push(t, video, 200, size, None);
        }
        let audio = format!("{base}/audio_128k/seg_{segment:05}.aac");
        push(t, audio, 200, rng.random_range(60_000..68_000), None);
        segment += 1;
        if rng.random_bool(0.03) {
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
            );
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
}
