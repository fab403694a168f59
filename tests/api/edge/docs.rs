//! Finding 9: `/docs` is served by the binary itself (embedded Swagger UI), and
//! loads nothing from another origin.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

/// `src="…"` and `href="…"` values of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (start, _) in html.match_indices(attribute) {
            let rest = &html[start + attribute.len()..];
            found.push(rest[..rest.find('"').unwrap_or(rest.len())].to_string());
        }
    }
    found
}

fn is_foreign(reference: &str) -> bool {
    let lower = reference.to_ascii_lowercase();
    lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("//")
}

#[tokio::test]
async fn the_docs_and_all_their_assets_come_from_this_server() {
    let app = spawn_app().await;
    // /docs leads to the page (a redirect to /docs/, followed)
    let page = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.url().path(), "/docs/");
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    let assets = references(&html);
    assert!(assets.iter().any(|a| a.contains("swagger-ui-bundle.js")), "{html}");
    assert!(!html.to_ascii_lowercase().contains("<script>"), "no inline script (the CSP forbids it): {html}");
    for asset in &assets {
        assert!(!is_foreign(asset), "{asset} is on another origin");
        let url = app.url(&format!("/docs/{}", asset.trim_start_matches("./")));
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert!(!response.bytes().await.unwrap().is_empty(), "{url}");
    }
    // The start-up script reads this server's document and asks no validator elsewhere.
    let initializer = app.client.get(app.url("/docs/swagger-initializer.js")).send().await.unwrap();
    assert_eq!(initializer.status(), StatusCode::OK);
    let script = initializer.text().await.unwrap();
    assert!(script.contains("\"/openapi.json\""), "{script}");
    assert!(script.contains("\"validatorUrl\": \"none\""), "{script}");
    assert!(!script.contains("http:") && !script.contains("https:"), "{script}");
    // And the document it reads is there.
    let spec = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(spec.status(), StatusCode::OK);
}
