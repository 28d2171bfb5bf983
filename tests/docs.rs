//! The reference pages in `docs/` say what the code does: each table that can
//! be read against the code is, row by row, and every relative link in them
//! and in the README resolves. The template's tables are checked by
//! `tools/connect-genesys/tests/test_docs.py`, which reads the template.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use genesys_webhook::config::{self, Config};
use genesys_webhook::error::{ConfigErrors, RejectCode, StoreError};
use genesys_webhook::metrics::{Delivery, Metrics};
use genesys_webhook::outcome::Outcome;
use genesys_webhook::relay::metrics::{RelayMetrics, Tally};
use genesys_webhook::relay::{self, RelayConfig};
use genesys_webhook::verify::SchemeName;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn page(name: &str) -> String {
    let path = root().join("docs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rows of the first table after the line `heading`, as trimmed cells.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let mut lines = doc.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "no heading {heading:?}");
    let rows: Vec<Vec<String>> = lines
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect();
    assert!(!rows.is_empty(), "no table under {heading:?}");
    rows
}

/// Every `code` span in a cell.
fn spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The cell's first code span.
fn name(cell: &str) -> &str {
    spans(cell)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no name in {cell:?}"))
}

/// The documented default, where the cell starts with a literal value.
fn literal_default(cell: &str) -> Option<&str> {
    cell.starts_with('`').then(|| name(cell))
}

fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<_> = names.into_iter().collect();
    v.sort_unstable();
    v
}

/// A lookup over `vars`, with `set` added and `unset` left out.
fn env<'a>(
    vars: &'a [(&'a str, &'a str)],
    unset: &'a str,
    set: Option<(&'a str, &'a str)>,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |k| {
        if let Some((_, value)) = set.filter(|(var, _)| *var == k) {
            return Some(value.to_owned());
        }
        vars.iter()
            .find(|(var, _)| *var == k && *var != unset)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// Checks a variables table against the code: one row per variable read, a
/// `required` one is refused when missing and any other is not, and setting a variable to its
/// documented default changes nothing. `read` gives the settings' Debug form.
fn check_variables(
    heading: &str,
    variables: &[&str],
    base: &[(&str, &str)],
    read: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<String, ConfigErrors>,
) {
    let rows = table(&page("configuration.md"), heading);
    assert_eq!(
        sorted(rows.iter().map(|r| name(&r[0]))),
        sorted(variables.iter().copied()),
        "{heading}: rows against the variables the code reads"
    );
    let defaults = read(&env(base, "", None)).expect("the base settings start");
    let mut checked = 0;
    for row in &rows {
        let var = name(&row[0]);
        let without = read(&env(base, var, None));
        if row[1].starts_with("required") {
            let errors = without.expect_err(var);
            assert!(
                errors.vars().contains(&var),
                "{var} is documented as required"
            );
            checked += 1;
        } else {
            without.unwrap_or_else(|e| panic!("{var} is documented as optional: {e}"));
        }
        if let Some(value) = literal_default(&row[1]) {
            let set = read(&env(base, "", Some((var, value))))
                .unwrap_or_else(|e| panic!("{var}={value}: {e}"));
            assert_eq!(set, defaults, "{var}: the documented default {value}");
            checked += 1;
        }
    }
    assert!(
        checked * 2 > rows.len(),
        "{heading}: most rows have a default"
    );
}

#[test]
fn the_function_variables_table_matches_the_code_and_its_defaults() {
    check_variables(
        "## The function's variables",
        config::VARIABLES,
        // With a body bucket, so the defaults read are the template's.
        &[
            ("DEDUP_TABLE", "t"),
            ("WEBHOOK_SECRET", "s"),
            ("BODY_BUCKET", "bodies-bucket"),
        ],
        |lookup| Config::from_lookup(lookup).map(|c| format!("{c:?}")),
    );
}

#[test]
fn the_relay_variables_table_matches_the_code_and_its_defaults() {
    check_variables(
        "## The relay's variables",
        relay::VARIABLES,
        &[("OUTBOX_BUS_NAME", "b")],
        |lookup| RelayConfig::from_lookup(lookup).map(|c| format!("{c:?}")),
    );
}

#[test]
fn the_schemes_table_has_every_scheme_and_marks_the_default() {
    let rows = table(&page("schemes.md"), "## Schemes");
    assert_eq!(
        sorted(rows.iter().map(|r| name(&r[0]))),
        sorted(SchemeName::ALL.iter().map(|s| s.as_str()))
    );
    let marked: Vec<_> = rows
        .iter()
        .filter(|r| r[0].contains("(the default)"))
        .map(|r| name(&r[0]))
        .collect();
    assert_eq!(marked, [SchemeName::DEFAULT.as_str()]);
}

#[test]
fn the_answers_table_gives_each_code_its_status() {
    let rows = table(&page("answers.md"), "## HTTP answers");
    let documented: BTreeMap<String, u16> = rows
        .iter()
        .filter_map(|r| {
            let (status, rest) = r[0].split_once(' ')?;
            let code = rest.split_once(r#"{"error":""#)?.1.split_once('"')?.0;
            Some((code.to_owned(), status.parse().expect(status)))
        })
        .collect();
    let mut code: BTreeMap<String, u16> = RejectCode::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.status()))
        .collect();
    code.insert("store_unavailable".into(), 503);
    assert_eq!(documented, code);
}

type Written = BTreeSet<(String, String, &'static str)>;

/// The metrics an EMF document declares, as (name, unit, writer).
fn add(written: &mut Written, doc: &Value, writer: &'static str) {
    for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .expect("an EMF document")
    {
        let field = |k: &str| m[k].as_str().expect(k).to_owned();
        written.insert((field("Name"), field("Unit"), writer));
    }
}

/// Each metric the code writes.
fn metrics_written() -> Written {
    let mut written = Written::new();
    let outcomes = [
        Outcome::Accepted {
            delivery_id: "d".into(),
        },
        Outcome::Duplicate {
            delivery_id: "d".into(),
        },
        Outcome::Rejected(RejectCode::InvalidSignature.because("x")),
        Outcome::StoreUnavailable(StoreError("x".into())),
    ];
    for outcome in &outcomes {
        let d = Delivery {
            request_id: None,
            front_door: "apigw-v2",
            scheme: "open-messaging",
            integration: None,
            delivery_id: None,
            message_id: None,
            outcome,
            reason: None,
            store_ms: None,
        };
        let line = Metrics::new("N").line(&d, 0);
        add(
            &mut written,
            &serde_json::from_slice(&line).expect("JSON"),
            "function",
        );
    }
    // Counts the handler emits on its own, outside a delivery's line.
    for call in include_str!("../src/handler.rs")
        .split("emit_count(\"")
        .skip(1)
    {
        let metric = call.split_once('"').expect("a metric name").0;
        written.insert((metric.to_owned(), "Count".to_owned(), "function"));
    }
    let tally = Tally {
        lag_ms: vec![1],
        ..Tally::default()
    };
    for doc in RelayMetrics::new("N").documents(&tally, 0) {
        add(
            &mut written,
            &serde_json::from_slice(&doc).expect("JSON"),
            "relay",
        );
    }
    written
}

#[test]
fn the_metrics_table_names_every_metric_written_with_its_unit() {
    let rows = table(&page("metrics.md"), "## Metrics");
    let documented: BTreeSet<_> = rows
        .iter()
        .map(|r| {
            let writer = match r[2].as_str() {
                "function" => "function",
                "relay" => "relay",
                other => panic!("written by {other:?}"),
            };
            (name(&r[0]).to_owned(), r[1].clone(), writer)
        })
        .collect();
    assert_eq!(documented, metrics_written());
}

#[test]
fn the_rejected_metric_lists_every_reason() {
    let rows = table(&page("metrics.md"), "## Metrics");
    let rejected = rows
        .iter()
        .find(|r| name(&r[0]) == "Rejected")
        .expect("a Rejected row");
    let reasons = spans(&rejected[3]).into_iter().filter(|s| *s != "Reason");
    assert_eq!(
        sorted(reasons),
        sorted(RejectCode::ALL.iter().map(|c| c.as_str()))
    );
}

/// A heading's anchor as the usual Markdown renderers make it.
fn anchor(heading: &str) -> String {
    heading
        .trim_start_matches('#')
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The text outside fenced code blocks.
fn prose(doc: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn anchors(doc: &str) -> BTreeSet<String> {
    prose(doc)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(anchor)
        .collect()
}

/// Every `](target)` of a page that leaves the page for another file or an
/// anchor, not for the web.
fn relative_links(doc: &str) -> Vec<String> {
    prose(doc)
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.to_owned()))
        .filter(|t| !t.starts_with("http://") && !t.starts_with("https://"))
        .collect()
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![
        root().join("README.md"),
        root().join("BENCHMARKS.md"),
        root().join("RELIABILITY.md"),
    ];
    let docs = std::fs::read_dir(root().join("docs")).expect("docs/");
    pages.extend(
        docs.map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "md")),
    );
    pages
}

fn broken_links(path: &Path) -> Vec<String> {
    let doc = std::fs::read_to_string(path).expect("a page");
    let dir = path.parent().expect("a directory");
    let mut broken = Vec::new();
    for link in relative_links(&doc) {
        let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
        let target = if file.is_empty() {
            path.to_path_buf()
        } else {
            dir.join(file)
        };
        if !target.exists() {
            broken.push(link.clone());
        } else if !fragment.is_empty() {
            let text = std::fs::read_to_string(&target).unwrap_or_default();
            if !anchors(&text).contains(fragment) {
                broken.push(link.clone());
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let mut links = 0;
    for path in pages() {
        let doc = std::fs::read_to_string(&path).expect("a page");
        links += relative_links(&doc).len();
        let broken = broken_links(&path);
        assert!(broken.is_empty(), "{}: {broken:?}", path.display());
    }
    assert!(links > 20, "only {links} links read");
}

#[test]
fn a_link_to_a_missing_page_or_heading_is_found() {
    let dir = std::env::temp_dir().join(format!("docs-links-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let page = dir.join("page.md");
    std::fs::write(
        &page,
        "# A page\n\n## The relay's variables\n\n[ok](#the-relays-variables) [ok](page.md#a-page) \
         [gone](missing.md) [gone](#no-such-heading) [web](https://example.com/x)\n\
         ```\n[in code](ignored.md)\n```\n",
    )
    .expect("a page");
    let broken = broken_links(&page);
    std::fs::remove_dir_all(&dir).expect("cleaned up");
    assert_eq!(broken, ["missing.md", "#no-such-heading"]);
}

/// Every `code` span outside fenced blocks that names a file or folder of
/// this repository by its path from the root.
fn repository_paths(doc: &str) -> Vec<String> {
    const TOP: [&str; 9] = [
        "src/", "tools/", "tests/", "benches/", "bench/", "fuzz/", "scripts/", "events/", "docs/",
    ];
    prose(doc)
        .lines()
        .flat_map(spans)
        .filter(|s| {
            TOP.iter().any(|top| s.starts_with(top))
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_repository_path_the_readme_and_docs_name_exists() {
    let mut named = 0;
    let docs = root().join("docs");
    for path in pages()
        .into_iter()
        .filter(|p| p.ends_with("README.md") || p.parent() == Some(docs.as_path()))
    {
        let doc = std::fs::read_to_string(&path).expect("a page");
        let paths = repository_paths(&doc);
        named += paths.len();
        let missing: Vec<_> = paths
            .into_iter()
            // A `.venv` is created by the command that needs it.
            .filter(|p| !root().join(p).exists() && !p.split('/').any(|part| part == ".venv"))
            .collect();
        assert!(missing.is_empty(), "{}: {missing:?}", path.display());
    }
    assert!(named > 20, "only {named} paths read");
}

#[test]
fn the_sample_events_page_names_the_signing_time_and_test_secret() {
    let doc = page("schemes.md");
    let secret = genesys_sign::test_secret(SchemeName::OpenMessaging);
    let signed = format!("`{secret}`");
    assert!(doc.contains(&signed), "schemes.md names {signed}");
    let at = genesys_webhook::outbox::timestamp(genesys_sign::SAMPLE_TIME);
    assert!(
        doc.contains(&format!(" at {at}. ")),
        "schemes.md says the samples are signed at {at}"
    );
}

/// The bytes of an accepted delivery's line on the HTTP API under `scheme`
/// for `id`, with a 36-character request id and a five-digit store time.
fn accepted_line_bytes(scheme: &str, id: &str) -> usize {
    let outcome = Outcome::Accepted {
        delivery_id: id.into(),
    };
    let d = Delivery {
        request_id: Some("8f5c0e6a-6b1e-4c1b-9a57-2f1e0d9c3b7a"),
        front_door: "apigw-v2",
        scheme,
        integration: None,
        delivery_id: Some(id),
        message_id: None,
        outcome: &outcome,
        reason: None,
        store_ms: Some(12.345),
    };
    Metrics::new("GenesysWebhook")
        .line(&d, 1_764_158_189_123)
        .len()
}

#[test]
fn the_metrics_page_gives_the_line_sizes_the_code_writes() {
    let doc = page("metrics.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let uuid = accepted_line_bytes("genesys", "0d3a6f0c-7e0a-4b1e-9c57-2f1e0d9c3b7a");
    let hash = accepted_line_bytes("open-messaging", &format!("sha256:{}", "5f".repeat(32)));
    for said in [
        format!("is {uuid} bytes for a `genesys` delivery with a 36-character id"),
        format!("and {hash} for an Open Messaging one"),
    ] {
        assert!(doc.contains(&said), "metrics.md: {said:?}");
    }
}

/// The example event's `detail`, and every field the relay can write into one,
/// read against what the relay builds.
#[test]
fn the_event_page_shows_the_detail_the_relay_writes() {
    use genesys_webhook::outbox::{Body, BodyRef, OutboxItem};
    use genesys_webhook::relay::entry::Entry;

    let doc = page("outbox.md");
    let section = &doc[doc.find("## The event").expect("the event section")..];
    let json = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("an example event");
    let example: Value = serde_json::from_str(json).expect("the example is JSON");
    let item = |body| OutboxItem {
        delivery_id: "d".into(),
        received_at: "2026-11-24T12:00:00Z".into(),
        received_at_unix: 1_764_000_000,
        front_door: "eventbridge".into(),
        scheme: "partner-source".into(),
        body,
        topic: Some("v2.users.x.presence".into()),
        detail_type: Some("v2.users.{id}.presence".into()),
        integration: Some("main".into()),
    };
    let detail = |body| -> BTreeSet<String> {
        let entry = Entry::of(&item(body), "genesys-webhook");
        let detail: Value = serde_json::from_str(&entry.detail).expect("a JSON detail");
        detail
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    };
    let json_body = detail(Body::Inline(br#"{"topicName":"x"}"#.to_vec()));
    let shown: BTreeSet<String> = example["detail"]
        .as_object()
        .expect("the example has a detail")
        .keys()
        .cloned()
        .collect();
    let optional = BTreeSet::from(["integration".to_owned()]);
    assert_eq!(
        shown,
        &json_body - &optional,
        "the example's detail against a partner event's"
    );
    let reference = detail(Body::Stored(BodyRef {
        bucket: "b".into(),
        key: "k".into(),
        size: 1,
        sha256: "0".repeat(64),
    }));
    let every: BTreeSet<String> = json_body
        .iter()
        .chain(&detail(Body::Inline(b"text".to_vec())))
        .chain(&reference)
        .cloned()
        .collect();
    for field in every {
        assert!(
            section.contains(&format!("`detail.{field}`")) || shown.contains(&field),
            "docs/outbox.md does not describe detail.{field}"
        );
    }
}
