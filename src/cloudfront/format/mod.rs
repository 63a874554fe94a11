//! The forms CloudFront writes logs in, one file each: W3C text and v2 JSON records are read
//! line by line by the parser (JSON records through [`json`]), real-time records through
//! [`realtime`], v2 Parquet through [`parquet`] (its sizes checked first by
//! [`parquet_pages`]). [`InputFormat`] is the `--format-in` setting.

pub mod json;
pub mod parquet;
pub mod parquet_pages;
pub mod realtime;

/// Which form log objects are in: detected per object (and per line for JSON records), or
/// forced, so that an object in another form fails clearly instead of being read as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// Detect: Parquet by its magic bytes, JSON records by their `{`, W3C text otherwise.
    #[default]
    Auto,
    /// W3C text (`#Fields` and TAB-separated rows), the standard log format.
    W3c,
    /// Standard logging v2 JSON: one record per line.
    Json,
    /// Standard logging v2 Parquet.
    Parquet,
    /// CloudFront real-time logs delivered by Firehose: TAB-separated records without a
    /// header, in the fixed order of the `--realtime-fields` set.
    Realtime,
}

impl crate::choice::Choice for InputFormat {
    const CHOICES: &'static [(&'static str, Self, &'static str)] = &[
        (
            "auto",
            InputFormat::Auto,
            "Detect: Parquet by its magic bytes, JSON records by their `{`, W3C text otherwise.",
        ),
        (
            "w3c",
            InputFormat::W3c,
            "W3C text (`#Fields` and TAB-separated rows), the standard log format.",
        ),
        (
            "json",
            InputFormat::Json,
            "Standard logging v2 JSON: one record per line.",
        ),
        (
            "parquet",
            InputFormat::Parquet,
            "Standard logging v2 Parquet.",
        ),
        (
            "realtime",
            InputFormat::Realtime,
            "CloudFront real-time logs delivered by Firehose: TAB-separated records without a header, in the fixed order of the `--realtime-fields` set.",
        ),
    ];
}
