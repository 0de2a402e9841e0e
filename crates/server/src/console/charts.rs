//! Charts as inline SVG made on the server (no chart library, no script; the CSP forbids
//! inline style, so colours come from `console.css` classes and the geometry from SVG
//! attributes). Pure code: bucketing of timestamps and the drawing, unit-tested.

use std::fmt::Write as _;

/// Bars over equal time buckets, optionally with a threshold line.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// What the chart shows, for screen readers (`<title>`).
    pub title: String,
    /// The first bucket's start (epoch seconds) and every bucket's width.
    pub start_s: i64,
    pub width_s: i64,
    /// Per bucket: the value, and the part of it drawn as flagged (e.g. denied calls).
    pub buckets: Vec<(f64, f64)>,
    pub threshold: Option<f64>,
}

/// One hour, one day.
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// The bucket width for a time range: hours up to two days, days beyond.
pub fn bucket_width(span_s: i64) -> i64 {
    if span_s <= 2 * DAY { HOUR } else { DAY }
}

/// Count events into buckets of `width_s` covering `[start_s, end_s)`, the first bucket
/// aligned down to a multiple of the width (so hours and UTC days start on the hour/day).
/// Each event is (time, flagged); events outside the range are left out.
pub fn bucket_events(events: &[(i64, bool)], start_s: i64, end_s: i64, width_s: i64) -> Chart {
    let width_s = width_s.max(1);
    let first = start_s.div_euclid(width_s) * width_s;
    let n = if end_s > start_s {
        ((end_s - first) + width_s - 1) / width_s
    } else {
        0
    } as usize;
    let mut buckets = vec![(0.0, 0.0); n];
    for &(t, flagged) in events {
        if t < start_s || t >= end_s {
            continue;
        }
        let i = ((t - first) / width_s) as usize;
        if let Some(b) = buckets.get_mut(i) {
            b.0 += 1.0;
            if flagged {
                b.1 += 1.0;
            }
        }
    }
    Chart {
        title: String::new(),
        start_s: first,
        width_s,
        buckets,
        threshold: None,
    }
}

/// Datapoints (time, value) placed into the buckets of a range: the value of the bucket each
/// falls in (the last one wins), flagged when it breaches `breaches`.
pub fn bucket_values(
    points: &[(i64, f64)],
    start_s: i64,
    end_s: i64,
    width_s: i64,
    breaches: impl Fn(f64) -> bool,
) -> Chart {
    let mut c = bucket_events(&[], start_s, end_s, width_s);
    for &(t, v) in points {
        if t < start_s || t >= end_s {
            continue;
        }
        let i = ((t - c.start_s) / c.width_s) as usize;
        if let Some(b) = c.buckets.get_mut(i) {
            *b = (v, if breaches(v) { v } else { 0.0 });
        }
    }
    c
}

const W: f64 = 720.0;
const H: f64 = 220.0;
/// Left margin (y labels), bottom margin (x labels), top and right margins.
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;
const RIGHT: f64 = 8.0;

/// A number as people read it: no trailing `.0`, at most two decimals.
pub fn number(v: f64) -> String {
    let s = format!("{:.2}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The y scale's top: a round number (1, 2, 2.5 or 5 times a power of ten) a little above
/// `max`; 1 for an empty chart, so it still has axes.
pub fn nice_top(max: f64) -> f64 {
    if max.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !max.is_finite() {
        return 1.0;
    }
    let want = max * 1.05;
    let e = 10f64.powf(want.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * e)
        .find(|v| *v >= want)
        .unwrap_or(10.0 * e)
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2026-12-05 22:00` (UTC) for a bucket's label.
fn label(t_s: i64, width_s: i64) -> String {
    let iso = crate::clock::iso8601(t_s * 1000);
    if width_s >= DAY {
        iso[..10].to_string()
    } else {
        format!("{} {}", &iso[..10], &iso[11..16])
    }
}

/// The chart as an `<svg>` element. Every bucket is a `<g class="bucket">` carrying
/// `data-start` and `data-value` (and `data-flagged`); a non-empty one has its bar(s) and a
/// tooltip (`<title>`). The threshold, if any, is a `line.threshold` with `data-threshold`.
pub fn svg(c: &Chart) -> String {
    let max = c
        .buckets
        .iter()
        .map(|b| b.0)
        .chain(c.threshold)
        .fold(0.0_f64, f64::max);
    let top = nice_top(max);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - (v.max(0.0) / top) * plot_h;
    let n = c.buckets.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.8).max(1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" preserveAspectRatio="xMidYMid meet"><title>{}</title>"#,
        esc(&c.title)
    );
    // Axes and the y scale's top value.
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}"/><line class="axis" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
        TOP + plot_h,
        TOP + plot_h,
        W - RIGHT,
        TOP + plot_h
    );
    let _ = write!(
        s,
        r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">0</text>"#,
        LEFT - 4.0,
        y(top) + 10.0,
        number(top),
        LEFT - 4.0,
        TOP + plot_h
    );
    for (i, &(v, flagged)) in c.buckets.iter().enumerate() {
        let start = c.start_s + i as i64 * c.width_s;
        let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
        let _ = write!(
            s,
            r#"<g class="bucket" data-start="{}" data-value="{}" data-flagged="{}">"#,
            start,
            number(v),
            number(flagged)
        );
        if v > 0.0 {
            let _ = write!(
                s,
                r#"<title>{}: {}{}</title>"#,
                esc(&label(start, c.width_s)),
                number(v),
                if flagged > 0.0 {
                    format!(" ({} flagged)", number(flagged))
                } else {
                    String::new()
                }
            );
            let ok = v - flagged;
            if ok > 0.0 {
                let _ = write!(
                    s,
                    r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{:.1}"/>"#,
                    y(v),
                    y(flagged) - y(v)
                );
            }
            if flagged > 0.0 {
                let _ = write!(
                    s,
                    r#"<rect class="bar flagged" x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{:.1}"/>"#,
                    y(flagged),
                    TOP + plot_h - y(flagged)
                );
            }
        }
        s.push_str("</g>");
    }
    // The threshold across the plot, its value on the y axis (clear of the bars).
    if let Some(t) = c.threshold {
        let _ = write!(
            s,
            r#"<line class="threshold" data-threshold="{}" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><text class="tick threshold-label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            number(t),
            y(t),
            W - RIGHT,
            y(t),
            LEFT - 4.0,
            y(t) + 4.0,
            number(t)
        );
    }
    // The range's first and last bucket under the x axis.
    if !c.buckets.is_empty() {
        let last = c.start_s + (c.buckets.len() as i64 - 1) * c.width_s;
        let _ = write!(
            s,
            r#"<text class="tick" x="{LEFT}" y="{:.1}">{}</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            H - 6.0,
            esc(&label(c.start_s, c.width_s)),
            W - RIGHT,
            H - 6.0,
            esc(&label(last, c.width_s))
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC

    #[test]
    fn events_fall_into_hour_buckets_aligned_on_the_hour() {
        let h = T0.div_euclid(HOUR) * HOUR; // 22:00
        let events = [
            (h + 10, false),
            (h + 3599, true),
            (h + 3600, false),
            (h + 3 * 3600 + 5, false),
            (h - 1, false),         // before the range
            (h + 24 * 3600, false), // at its end: outside
        ];
        let c = bucket_events(&events, h, h + 24 * HOUR, HOUR);
        assert_eq!(c.start_s, h);
        assert_eq!(c.buckets.len(), 24);
        assert_eq!(c.buckets[0], (2.0, 1.0));
        assert_eq!(c.buckets[1], (1.0, 0.0));
        assert_eq!(c.buckets[3], (1.0, 0.0));
        assert_eq!(c.buckets.iter().filter(|b| b.0 > 0.0).count(), 3);
        assert_eq!(c.buckets.iter().map(|b| b.0).sum::<f64>(), 4.0);
    }

    #[test]
    fn a_range_not_on_a_boundary_starts_its_first_bucket_on_one() {
        let c = bucket_events(&[(T0, false)], T0, T0 + 2 * DAY + 1, DAY);
        assert_eq!(c.start_s % DAY, 0);
        assert!(c.start_s <= T0);
        // The partial first day, a whole day, and the partial last day.
        assert_eq!(c.buckets.len(), 3);
        assert_eq!(c.buckets[0], (1.0, 0.0));
        assert_eq!(bucket_width(DAY), HOUR);
        assert_eq!(bucket_width(2 * DAY), HOUR);
        assert_eq!(bucket_width(7 * DAY), DAY);
        assert!(bucket_events(&[], T0, T0, HOUR).buckets.is_empty());
    }

    #[test]
    fn values_are_flagged_when_they_breach() {
        let m = T0 - T0 % 60;
        let c = bucket_values(&[(m, 2.0), (m + 60, 7.0)], m, m + 180, 60, |v| v > 5.0);
        assert_eq!(c.buckets, vec![(2.0, 0.0), (7.0, 7.0), (0.0, 0.0)]);
    }

    #[test]
    fn the_svg_has_one_group_per_bucket_bars_for_the_non_empty_and_the_threshold() {
        let mut c = bucket_events(
            &[(T0, false), (T0 + 1, true), (T0 + 7200, false)],
            T0,
            T0 + 4 * HOUR,
            HOUR,
        );
        c.title = "Reads of <b>x</b>".into();
        c.threshold = Some(1.5);
        let s = svg(&c);
        assert!(s.starts_with("<svg class=\"chart\"") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<g class=\"bucket\"").count(), c.buckets.len());
        assert_eq!(s.matches("data-value=\"0\"").count(), c.buckets.len() - 2);
        assert_eq!(s.matches("<rect class=\"bar\"").count(), 2);
        assert_eq!(s.matches("<rect class=\"bar flagged\"").count(), 1);
        assert!(s.contains("data-value=\"2\" data-flagged=\"1\""));
        assert!(s.contains("<line class=\"threshold\" data-threshold=\"1.5\""));
        // Text is escaped; no style attribute (the CSP would block it).
        assert!(s.contains("Reads of &lt;b&gt;x&lt;/b&gt;") && !s.contains("<b>"));
        assert!(!s.contains("style="));
    }

    #[test]
    fn bars_stay_inside_the_plot() {
        let c = Chart {
            title: String::new(),
            start_s: 0,
            width_s: 60,
            buckets: vec![(10.0, 0.0), (5.0, 5.0)],
            threshold: Some(100.0),
        };
        let s = svg(&c);
        // The threshold above every bar sets the scale: the tallest bar is well below the top.
        let y_of = |needle: &str, attr: &str| -> f64 {
            let at = s.find(needle).unwrap() + needle.len();
            let y = s[at..].split(attr).nth(1).unwrap();
            y[..y.find('"').unwrap()].parse().unwrap()
        };
        let (bar, line) = (
            y_of("<rect class=\"bar\"", " y=\""),
            y_of("<line class=\"threshold\"", " y1=\""),
        );
        assert!(
            line >= TOP && line < bar && bar < H - BOTTOM,
            "{line} {bar}"
        );
        assert_eq!(nice_top(100.0), 200.0);
        assert_eq!(nice_top(7.0), 10.0);
        assert_eq!(nice_top(13.0), 20.0);
        assert_eq!(nice_top(2.0), 2.5);
        assert_eq!(nice_top(0.3), 0.5);
        assert_eq!(nice_top(0.0), 1.0);
        assert_eq!(number(1.0), "1");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(2.5), "2.5");
    }
}
