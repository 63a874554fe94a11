//! The traffic model of `synth`: viewers playing HLS video through CloudFront, some of them
//! sharing one session token. Produces plain request records; `writer` turns them into log files.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// Seconds of media per segment.
pub const SEGMENT_SECONDS: i64 = 4;

/// One request as CloudFront would log it (values not yet percent-encoded).
#[derive(Debug, Clone)]
pub struct Request {
    /// Response time, epoch seconds.
    pub ts: i64,
    /// Viewer address.
    pub ip: String,
    /// Path (`cs-uri-stem`).
    pub uri: String,
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
    /// The first path segment: `<id>.<jwt header>.<jwt payload>.<jwt signature>`.
    pub token: String,
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

/// A session with a JWT-shaped token.
pub fn new_session(rng: &mut ChaCha8Rng, viewers: usize, exp: i64) -> Session {
    let id = session_id(rng);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"sid":"{id}","exp":{exp},"paths":["/vod/*"],"hdr":"user-agent,referer"}}"#
    ));
    let mut sig = [0u8; 32];
    rng.fill(&mut sig);
    let signature = URL_SAFE_NO_PAD.encode(sig);
    Session {
        token: format!("{id}.{header}.{payload}.{signature}"),
        id,
        viewers,
    }
}

/// One viewer's address, device and page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Address (IPv4 or IPv6).
    pub ip: String,
    /// User agent.
    pub user_agent: &'static str,
    /// Referer sent with every request.
    pub referer: String,
}

/// A viewer on its own network with a browser and the platform's player page.
pub fn new_viewer(rng: &mut ChaCha8Rng, asset: &str) -> Viewer {
    Viewer {
        ip: random_ip(rng),
        user_agent: BROWSER_UAS.choose(rng).copied().unwrap_or(BROWSER_UAS[0]),
        referer: format!("https://www.example-streaming.com/watch/{asset}"),
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

/// The asset a session plays.
pub fn random_asset(rng: &mut ChaCha8Rng) -> &'static str {
    ASSETS.choose(rng).copied().unwrap_or(ASSETS[0])
}

/// A playback by one viewer of one session's asset, from `start` to `end` (epoch seconds),
/// as requests: manifests, an initial burst, then one video and one audio segment per
/// segment duration, with rendition switches, byte-range requests, retries, a pause, a few
/// errors and tiny key requests.
pub fn playback(
    rng: &mut ChaCha8Rng,
    session: &Session,
    viewer: &Viewer,
    asset: &str,
    start: i64,
    end: i64,
    out: &mut Vec<Request>,
) {
    let base = format!("/{}/vod/{asset}", session.token);
    let mut push = |ts: i64, uri: String, status: u16, bytes: u64, range: Option<(u64, u64)>| {
        out.push(Request {
            ts,
            ip: viewer.ip.clone(),
            uri,
            status,
            bytes,
            user_agent: viewer.user_agent,
            referer: viewer.referer.clone(),
            range,
        });
    };
    let mut rendition = rng.random_range(0..RENDITIONS.len());
    push(
        start,
        format!("{base}/master.m3u8"),
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
        let size = bitrate * SEGMENT_SECONDS as u64 / 8 * rng.random_range(80..120u64) / 100;
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
            t += SEGMENT_SECONDS + rng.random_range(-1..=1);
        }
        if !paused && rng.random_bool(0.004) {
            paused = true;
            t += rng.random_range(10..90);
        }
    }
}
