//! The layering rules of `docs/ARCHITECTURE.md`, checked over the source itself: no import
//! cycle between the top-level modules, SQL only in `db/`, HTTP statuses only in `http/`, and
//! nothing in `db/` or `domain/` that points up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each file's code without its unit tests (they may set up rows with SQL of their own).
fn files() -> Vec<(String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources(&root, &mut paths);
    assert!(
        paths.len() > 50,
        "found the sources under {}",
        root.display()
    );
    paths
        .into_iter()
        .filter_map(|path| {
            let rel = path
                .strip_prefix(&root)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            let top = rel.split('/').next()?.trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).ok()?;
            let code = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            Some((rel, top, code))
        })
        .filter(|(_, top, _)| !matches!(top.as_str(), "lib" | "main" | "layering"))
        .collect()
}

fn uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

#[test]
fn top_level_modules_form_no_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, top, code) in files() {
        let deps = graph.entry(top.clone()).or_default();
        deps.extend(uses(&code).into_iter().filter(|m| *m != top));
    }
    let modules: Vec<String> = graph.keys().cloned().collect();
    for start in &modules {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = graph[start].iter().cloned().collect();
        while let Some(m) = stack.pop() {
            assert_ne!(
                &m, start,
                "{start} reaches itself through its imports: {graph:?}"
            );
            if seen.insert(m.clone())
                && let Some(next) = graph.get(&m)
            {
                stack.extend(next.iter().cloned());
            }
        }
    }
    for low in ["domain", "db"] {
        let allowed: &[&str] = if low == "domain" {
            &[]
        } else {
            &["domain", "util"]
        };
        for dep in &graph[low] {
            assert!(
                allowed.contains(&dep.as_str()),
                "{low} must not use crate::{dep}"
            );
        }
    }
}

#[test]
fn sql_lives_in_db_and_statuses_in_http() {
    for (rel, top, code) in files() {
        if top != "db" {
            assert!(!code.contains("sqlx::query"), "{rel}: SQL outside db/");
        }
        if top != "http" {
            assert!(
                !code.contains("StatusCode") && !code.contains("AppError"),
                "{rel}: an HTTP status outside http/"
            );
        }
    }
}
