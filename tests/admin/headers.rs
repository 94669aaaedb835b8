//! The browser security headers: every HTML page (admin, verify, the simulator's payment page)
//! limits what it may load and who may frame it, a verify URL's token never leaves in `Referer`,
//! answers with personal data are not cached, HSTS once the public URL is https — and no template
//! holds the inline script or style the policy would block.

use examdesk::db::admins::Role;

use crate::common::TestApp;
use crate::common::staff::{spawn, staff};

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn assert_page_policy(res: &reqwest::Response, what: &str) {
    let csp = header(res, "content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{what}: {part} in {csp:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(header(res, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(res, "x-content-type-options"), "nosniff", "{what}");
}

#[tokio::test]
async fn admin_verify_and_simulator_pages_carry_the_policy() {
    let (app, _sim) = spawn().await;
    let http = reqwest::Client::new();

    let login = http.get(app.at("/admin/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    assert_page_policy(&login, "sign-in page");
    assert_eq!(header(&login, "referrer-policy"), "same-origin");
    assert_eq!(
        header(&login, "strict-transport-security"),
        "",
        "http: no HSTS"
    );

    let admin = staff(&app, Role::Admin).await;
    let overview = admin.get(app.at("/admin")).send().await.unwrap();
    assert_eq!(overview.status(), 200);
    assert_page_policy(&overview, "overview");
    assert_eq!(header(&overview, "cache-control"), "private, no-store");

    let verify = admin
        .get(app.at("/verify/made-up-token"))
        .send()
        .await
        .unwrap();
    assert_page_policy(&verify, "verify page");
    assert_eq!(
        header(&verify, "referrer-policy"),
        "no-referrer",
        "the token in the URL goes nowhere"
    );

    let pay_page = http
        .get(app.at("/_sim/pay/no-such-prepay"))
        .send()
        .await
        .unwrap();
    assert_page_policy(&pay_page, "simulator payment page");
    let html = pay_page.text().await.unwrap();
    assert!(html.contains("href=\"../pay.css\""), "{html}");
    let css = http.get(app.at("/_sim/pay.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(header(&css, "content-type").starts_with("text/css"));

    for asset in ["/admin/assets/admin.css", "/admin/assets/admin.js"] {
        let res = http.get(app.at(asset)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        assert_eq!(
            header(&res, "cache-control"),
            "public, max-age=3600",
            "{asset}"
        );
    }
}

#[tokio::test]
async fn personal_json_is_not_cached_and_https_brings_hsts() {
    let app = TestApp::spawn().await;
    let token = app.login("headers-candidate").await;
    let mine = app
        .http
        .get(app.at("/api/v1/registrations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200);
    assert_eq!(header(&mine, "cache-control"), "private, no-store");
    assert_eq!(header(&mine, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&mine, "content-security-policy"),
        "",
        "JSON is no page"
    );
    let exams = app.http.get(app.at("/api/v1/exams")).send().await.unwrap();
    assert_eq!(
        header(&exams, "cache-control"),
        "",
        "the exam list is public"
    );
    let health = app.http.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(
        header(&health, "strict-transport-security"),
        "",
        "http: no HSTS"
    );
    // Behind a proxy that ends TLS: the public URL says https.
    let public = TestApp::spawn_with(&[("EXAMDESK_PUBLIC_URL", "https://exam.example.org")]).await;
    let health = public.http.get(public.at("/healthz")).send().await.unwrap();
    assert_eq!(
        header(&health, "strict-transport-security"),
        "max-age=31536000"
    );
}

/// The policy allows no inline script or style: no template may need one.
#[test]
fn no_template_holds_inline_script_or_style() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("templates") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("template");
        let lower = text.to_lowercase();
        for needle in [
            "style=\"",
            "<style",
            "javascript:",
            " onclick=",
            " onload=",
            " onsubmit=",
            " onchange=",
        ] {
            assert!(!lower.contains(needle), "{}: {needle}", path.display());
        }
        for (i, _) in lower.match_indices("<script") {
            let tag = &lower[i..lower[i..].find('>').map_or(lower.len(), |e| i + e)];
            assert!(tag.contains(" src="), "{}: inline <script>", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} templates found");
}
