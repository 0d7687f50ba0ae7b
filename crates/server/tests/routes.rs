//! Routes come from the declarations in `yhconv_proto::endpoints`, both
//! ways: every declared endpoint answers (never the unknown-endpoint 404)
//! for each method it declares, and no module routes a path of its own.

mod common;

use std::path::Path;

use common::TestApp;
use prost::Message as _;
use yhconv_proto::endpoints::{Method, ALL, NOT_OFFERED};

#[tokio::test]
async fn every_declared_endpoint_is_routed() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    for endpoint in ALL.iter().chain(NOT_OFFERED) {
        for method in endpoint.methods {
            let url = format!("{}{}", app.base_url, endpoint.path);
            let request = match method {
                Method::Get => http.get(&url),
                Method::Post => http.post(&url),
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            assert!(
                !(status == 404 && body.contains("unknown endpoint")),
                "{method:?} {} is declared but not routed",
                endpoint.path
            );
        }
    }
    // A method an endpoint does not declare: -1 with 405, in its own format.
    let response = http.put(format!("{}/v1/msg/send-message", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let status = yhconv_proto::pb::StatusOnly::decode(response.bytes().await.unwrap()).unwrap().status.unwrap();
    assert_eq!((status.code, status.msg.as_str()), (-1, "PUT is not allowed on /v1/msg/send-message"));
    let response = http.get(format!("{}/v1/conversation/remove", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (answer["code"].as_i64(), answer["msg"].as_str()),
        (Some(-1), Some("GET is not allowed on /v1/conversation/remove"))
    );
    // And a path nobody declared is the fallback's.
    let response = http.post(format!("{}/v1/nope", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    app.shutdown().await;
}

#[test]
fn no_module_routes_a_path_of_its_own() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // Unit tests below `#[cfg(test)]` may build routers of their own.
        for (n, line) in text.lines().enumerate().take_while(|(_, l)| !l.starts_with("#[cfg(test)]")) {
            let code = line.split("//").next().unwrap_or_default();
            // The one `route` call allowed is the declaration helper's own.
            if code.contains(".route(") && !code.contains(".route(endpoint.path") {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "route through RouterExt::endpoint and a declaration:\n{}", found.join("\n"));
}
