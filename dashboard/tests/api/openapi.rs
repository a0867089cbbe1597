use std::collections::BTreeSet;

use axum::http::StatusCode;
use openapiv3::OpenAPI;

use super::*;

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let admin = Admin::new();
    let doc = admin.get("/api/openapi.json").await;
    let doc: OpenAPI = serde_json::from_value(doc).expect("a valid OpenAPI 3 document");
    let mut documented = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let item = item.as_item().expect("inline path items");
        for (method, op) in item.iter() {
            assert!(op.operation_id.is_some(), "{method} {path}");
            assert!(!op.responses.responses.is_empty(), "{method} {path}");
            documented.insert((method.to_string(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = palisade_dashboard::api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);

    // And every documented route is really routed (not the API's 404 or a 405).
    for (method, path) in &documented {
        let uri = path.replace("{id}", "1").replace("{key}", "ip%3A10.0.0.1");
        if path == "/api/stream" {
            // Never ends: look at the status only.
            let resp = admin
                .send(
                    axum::http::Request::get(&uri)
                        .header("authorization", format!("Bearer {TOKEN}"))
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await;
            assert_eq!(resp.status(), StatusCode::OK);
            continue;
        }
        let body = (method == "post").then_some(r#"{"scope":"ip","value":"10.0.0.9"}"#);
        let (status, json) = admin.call(&method.to_uppercase(), &uri, body).await;
        let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND
                && json["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("openapi.json"));
        assert!(
            !unrouted,
            "{method} {path} is documented but not served: {status} {json}"
        );
    }
}
