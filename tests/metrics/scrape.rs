//! Reading a Prometheus text scrape the way Prometheus would: one sample per line, found by
//! its name and labels; and comparing two scrapes.

use std::collections::BTreeMap;

use crate::common::TestApp;

/// The tests of this binary one at a time: the recorder is the process's, so another test's
/// requests would land in the same series between two scrapes.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// The app with its metrics listener on a free port, sign-in unlimited.
pub async fn spawn() -> TestApp {
    TestApp::spawn_with(&[
        ("EXAMDESK_METRICS_BIND", "127.0.0.1:0"),
        ("EXAMDESK_LOGIN_PER_MINUTE", "0"),
    ])
    .await
}

/// One scrape: every sample by its name and its labels (sorted).
#[derive(Debug, Clone)]
pub struct Scrape {
    samples: BTreeMap<(String, Vec<(String, String)>), f64>,
    pub text: String,
}

impl Scrape {
    pub async fn of(app: &TestApp) -> Self {
        let url = app
            .metrics_url
            .as_deref()
            .expect("the app has a metrics listener");
        let res = app.http.get(url).send().await.expect("scrape");
        assert_eq!(res.status(), 200, "scrape answered");
        Self::parse(&res.text().await.expect("scrape text"))
    }

    pub fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("a sample line: {line}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("a number at the end: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, labels_of(rest.trim_end_matches('}'), line)),
                None => (series, Vec::new()),
            };
            samples.insert((name.to_string(), labels), value);
        }
        Self {
            samples,
            text: text.to_string(),
        }
    }

    /// The sample `name{labels}` (0 when the series does not exist yet, as for a counter never
    /// incremented).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        wanted.sort();
        self.samples
            .get(&(name.to_string(), wanted))
            .copied()
            .unwrap_or(0.0)
    }

    /// Every label set of the samples called `name`.
    pub fn series(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        self.samples
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, labels)| labels.iter().cloned().collect())
            .collect()
    }
}

/// How much `name{labels}` grew from `before` to `after`.
pub fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

/// `a="x",b="y"` (values as the exporter escapes them) into sorted pairs.
fn labels_of(text: &str, line: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label=\"value\" in {line}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.unwrap_or_else(|| panic!("a closed label value in {line}"));
        labels.push((key.to_string(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels.sort();
    labels
}

#[test]
fn a_scrape_is_read_by_name_and_labels() {
    let scrape = Scrape::parse(
        "# HELP x_total things\n# TYPE x_total counter\n\
         x_total{route=\"/a/{id}\",status=\"200\"} 3\n\
         x_total{status=\"404\",route=\"/say \\\"hi\\\"\"} 1\n\
         up 1\n",
    );
    assert_eq!(
        scrape.value("x_total", &[("status", "200"), ("route", "/a/{id}")]),
        3.0
    );
    assert_eq!(
        scrape.value("x_total", &[("route", "/say \"hi\""), ("status", "404")]),
        1.0
    );
    assert_eq!(scrape.value("x_total", &[("route", "/b")]), 0.0);
    assert_eq!(scrape.value("up", &[]), 1.0);
    assert_eq!(scrape.series("x_total").len(), 2);
}
