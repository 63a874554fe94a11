//! Hand-built SVG plots for the HTML report: a histogram with a log-scaled count axis and a
//! marked value, and horizontal stacked bars. Plain SVG text, so the page needs no scripts
//! or fonts to draw them.

use std::fmt::Write;

/// Width of every plot, in SVG user units.
const WIDTH: f64 = 760.0;
/// Left margin (count labels / session ids).
const LEFT: f64 = 56.0;
/// Right margin.
const RIGHT: f64 = 24.0;

/// Histogram bins: equal widths over `[0, hi)`, the last bin closed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Bins {
    /// Upper end of the x axis.
    pub hi: f64,
    /// Sessions per bin.
    pub counts: Vec<u64>,
}

impl Bins {
    /// Bins `values` (negative and non-finite ones are ignored) into `n` bins over `[0, hi]`,
    /// where `hi` is a round number at or above every value and above `marker`.
    pub fn new(values: &[f64], marker: f64, n: usize) -> Bins {
        let n = n.max(1);
        let max = values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(marker * 1.25, f64::max);
        let hi = nice_ceil(max.max(1.0));
        let width = hi / n as f64;
        let mut counts = vec![0u64; n];
        for &v in values {
            if !v.is_finite() || v < 0.0 {
                continue;
            }
            let i = ((v / width) as usize).min(n - 1);
            counts[i] += 1;
        }
        Bins { hi, counts }
    }

    fn width(&self) -> f64 {
        self.hi / self.counts.len() as f64
    }
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is >= `v` (`v` > 0).
fn nice_ceil(v: f64) -> f64 {
    let exp = v.log10().floor();
    let base = 10f64.powf(exp);
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * base >= v * (1.0 - 1e-12) {
            return m * base;
        }
    }
    10.0 * base
}

/// A value for an axis label: at most two decimals, no trailing zeros.
fn label(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Escapes text for SVG/HTML element content and attribute values.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A histogram with a log-scaled count axis (bar height ~ log10(1 + count)) and a dashed
/// line at `marker`; bins reaching past `cut` (when given) get the class `above`.
pub(super) fn histogram(
    id: &str,
    bins: &Bins,
    cut: Option<f64>,
    marker: f64,
    marker_label: &str,
    x_label: &str,
) -> String {
    let (top, bottom, height) = (24.0, 44.0, 260.0);
    let plot_h = height - top - bottom;
    let plot_w = WIDTH - LEFT - RIGHT;
    let max_count = bins.counts.iter().copied().max().unwrap_or(0).max(1);
    // The count axis ends at the power of ten at or above the largest bin.
    let decades = (max_count as f64).log10().ceil().max(1.0) as u32;
    let y_max = (1.0 + 10f64.powi(decades as i32)).log10();
    let y = |count: f64| top + plot_h - plot_h * (1.0 + count).log10() / y_max;
    let x = |v: f64| LEFT + plot_w * v / bins.hi;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="{id}" class="plot" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" xmlns="http://www.w3.org/2000/svg">"#
    );
    // Count axis: gridlines at 1, 10, 100, ...
    for d in 0..=decades {
        let c = 10f64.powi(d as i32);
        let yy = y(c);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            c as u64
        );
    }
    let w = bins.width();
    for (i, &count) in bins.counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let lo = w * i as f64;
        let class = match cut {
            Some(cut) if lo + w > cut => "above",
            _ => "below",
        };
        let (x0, x1) = (x(lo), x(lo + w));
        let yy = y(count as f64);
        let _ = write!(
            s,
            r#"<rect class="bar {class}" x="{:.1}" y="{yy:.1}" width="{:.1}" height="{:.1}"><title>{} to {}: {count} session(s)</title></rect>"#,
            x0 + 0.5,
            (x1 - x0 - 1.0).max(1.0),
            top + plot_h - yy,
            label(lo),
            label(lo + w),
        );
    }
    // Value axis: six round ticks.
    let base = top + plot_h;
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{base}" y2="{base}"/>"#,
        WIDTH - RIGHT
    );
    for t in 0..=5 {
        let v = bins.hi * t as f64 / 5.0;
        let _ = write!(
            s,
            r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(v),
            base + 16.0,
            label(v)
        );
    }
    let _ = write!(
        s,
        r#"<text class="axis-label" x="{:.1}" y="{}" text-anchor="middle">{}</text><text class="axis-label" x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">sessions (log scale)</text>"#,
        LEFT + plot_w / 2.0,
        height - 6.0,
        escape(x_label),
        top + plot_h / 2.0,
        top + plot_h / 2.0,
    );
    let mx = x(marker.clamp(0.0, bins.hi));
    let _ = write!(
        s,
        r#"<line class="marker" x1="{mx:.1}" x2="{mx:.1}" y1="{}" y2="{base}"/><text class="marker-label" x="{:.1}" y="{}">{}</text>"#,
        top - 8.0,
        mx + 4.0,
        top - 10.0 + 12.0,
        escape(marker_label)
    );
    s.push_str("</svg>");
    s
}

/// One horizontal stacked bar: a label and its segments' values, in legend order.
pub(super) struct StackedBar<'a> {
    /// Shown at the bar's left.
    pub label: &'a str,
    /// One value per legend entry (negative values draw as 0).
    pub values: [f64; 4],
}

/// Horizontal stacked bars with a legend and a dashed line at `marker`.
pub(super) fn stacked_bars(
    id: &str,
    bars: &[StackedBar<'_>],
    legend: [&str; 4],
    marker: f64,
    marker_label: &str,
) -> String {
    let (top, row, label_w) = (40.0, 20.0, 150.0);
    let height = top + row * bars.len() as f64 + 28.0;
    let plot_w = WIDTH - label_w - RIGHT;
    let total = |b: &StackedBar<'_>| b.values.iter().map(|v| v.max(0.0)).sum::<f64>();
    let hi = nice_ceil(bars.iter().map(total).fold(marker * 1.1, f64::max).max(1.0));
    let x = |v: f64| label_w + plot_w * v / hi;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="{id}" class="plot" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" xmlns="http://www.w3.org/2000/svg">"#
    );
    for (i, name) in legend.iter().enumerate() {
        let lx = label_w + i as f64 * 140.0;
        let _ = write!(
            s,
            r#"<rect class="key seg{i}" x="{lx}" y="8" width="12" height="12"/><text class="tick" x="{}" y="18">{}</text>"#,
            lx + 16.0,
            escape(name)
        );
    }
    for (r, bar) in bars.iter().enumerate() {
        let yy = top + row * r as f64;
        let _ = write!(
            s,
            r#"<text class="bar-label" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            yy + 13.0,
            escape(bar.label)
        );
        let mut at = 0.0;
        for (i, (&v, name)) in bar.values.iter().zip(legend).enumerate() {
            let v = v.max(0.0);
            if v == 0.0 {
                continue;
            }
            let _ = write!(
                s,
                r#"<rect class="seg{i}" x="{:.1}" y="{:.1}" width="{:.1}" height="{}"><title>{}: {} = {v:.3}</title></rect>"#,
                x(at),
                yy + 2.0,
                x(at + v) - x(at),
                row - 4.0,
                escape(bar.label),
                escape(name),
            );
            at += v;
        }
    }
    let base = top + row * bars.len() as f64;
    for t in 0..=5 {
        let v = hi * t as f64 / 5.0;
        let _ = write!(
            s,
            r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(v),
            base + 16.0,
            label(v)
        );
    }
    let mx = x(marker.clamp(0.0, hi));
    let _ = write!(
        s,
        r#"<line class="marker" x1="{mx:.1}" x2="{mx:.1}" y1="{}" y2="{base}"/><text class="marker-label" x="{:.1}" y="{}">{}</text>"#,
        top - 6.0,
        mx + 4.0,
        top - 2.0,
        escape(marker_label)
    );
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceil_rounds_up_to_1_2_2_5_5() {
        assert_eq!(nice_ceil(0.7), 1.0);
        assert_eq!(nice_ceil(1.0), 1.0);
        assert_eq!(nice_ceil(1.2), 2.0);
        assert_eq!(nice_ceil(2.2), 2.5);
        assert_eq!(nice_ceil(2.75), 5.0);
        assert_eq!(nice_ceil(6.87), 10.0);
        assert_eq!(nice_ceil(11.0), 20.0);
    }

    #[test]
    fn bins_cover_every_value_and_the_marker() {
        // hi = nice_ceil(max(6.87, 2.2 * 1.25)) = 10, so 10 bins of width 1.
        let b = Bins::new(&[0.0, 0.99, 1.0, 2.8, 6.87, -1.0, f64::NAN], 2.2, 10);
        assert_eq!(b.hi, 10.0);
        assert_eq!(b.counts, vec![2, 1, 1, 0, 0, 0, 1, 0, 0, 0]);
        // A value exactly at the top goes into the last bin.
        let b = Bins::new(&[5.0], 1.0, 5);
        assert_eq!((b.hi, b.counts), (5.0, vec![0, 0, 0, 0, 1]));
    }

    #[test]
    fn histogram_draws_one_bar_per_non_empty_bin_and_the_marker() {
        let b = Bins::new(&[0.5, 0.5, 3.5], 2.0, 5);
        let svg = histogram("h", &b, Some(2.0), 2.0, "threshold 2", "score");
        assert_eq!(svg.matches("<rect class=\"bar below\"").count(), 1);
        assert_eq!(svg.matches("<rect class=\"bar above\"").count(), 1);
        assert!(svg.contains("<title>0 to 1: 2 session(s)</title>"), "{svg}");
        assert!(svg.contains("<title>3 to 4: 1 session(s)</title>"), "{svg}");
        // The threshold at 2 of 5 lies 40% across the plot area (x = 56 + 680 * 0.4).
        assert!(
            svg.contains(r#"<line class="marker" x1="328.0" x2="328.0""#),
            "{svg}"
        );
    }

    #[test]
    fn labels_are_escaped() {
        let bars = [StackedBar {
            label: "<a&b>",
            values: [1.0, 0.0, 1.0, 0.0],
        }];
        let svg = stacked_bars("s", &bars, ["r", "i", "f", "u"], 2.0, "t");
        assert!(svg.contains("&lt;a&amp;b&gt;"));
        assert!(!svg.contains("<a&b>"));
        // Zero segments are not drawn.
        assert_eq!(svg.matches("<rect class=\"key seg").count(), 4);
        assert_eq!(svg.matches("<rect class=\"seg").count(), 2);
    }
}
