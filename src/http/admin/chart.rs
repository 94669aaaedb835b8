//! A small bar chart drawn on the server as SVG: no script, prints and scales with the page.

/// Bars for consecutive days; `labels` and `values` have the same length. Returns SVG markup with
/// every text escaped (labels are dates, but the chart should not trust its input).
pub fn bars(labels: &[String], values: &[i64], title: &str) -> String {
    let width = 720.0_f64;
    let height = 220.0_f64;
    let (left, right, top, bottom) = (36.0, 8.0, 16.0, 28.0);
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    // A round top for the axis: 1, 2, 5 × 10^n.
    let mut top_value = 1_i64;
    while top_value < max {
        top_value = match top_value.to_string().chars().next() {
            Some('1') => top_value * 2,
            Some('2') => top_value / 2 * 5,
            _ => top_value * 2,
        };
    }
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let n = values.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.7).max(1.0);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title)
    );
    // Whole-number grid lines: the axis top is 1, 2 or a multiple of 5.
    let steps = if top_value >= 5 { 5 } else { top_value };
    for step in 0..=steps {
        let v = top_value * step / steps;
        let y = top + plot_h - plot_h * (v as f64) / (top_value as f64);
        svg.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{v}</text>",
            width - right,
            left - 6.0,
            y + 4.0
        ));
    }
    for (i, (label, value)) in labels.iter().zip(values).enumerate() {
        let h = plot_h * (*value as f64) / (top_value as f64);
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let y = top + plot_h - h;
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" class=\"bar\" rx=\"2\"><title>{}：{value}</title></rect>",
            escape(label)
        ));
        // Every fifth day is labelled, and the last one, so labels never overlap.
        if i % 5 == 0 || i + 1 == labels.len() {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{}</text>",
                x + bar_w / 2.0,
                height - 8.0,
                escape(label)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_bar_per_value_and_escapes() {
        let labels: Vec<String> = (1..=3).map(|d| format!("12/{d}")).collect();
        let svg = bars(&labels, &[0, 3, 7], "a<b");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("a&lt;b"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
