//! Bodies stream both ways: 1 GiB each way, counted as it arrives, never held.

use http_body_util::BodyExt;
use tidegate_sandbox::stream::byte_at;

use crate::support::*;

const GIB: u64 = 1024 * 1024 * 1024;

#[tokio::test]
async fn a_1_gib_upstream_response_streams_through() {
    let (_sandbox, gw) = start().await;
    let resp = send(
        get(&gw.url(&format!("/proxy/crm/stream/bytes/{GIB}")))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], GIB.to_string().as_str());
    let mut body = resp.into_body();
    let mut total = 0u64;
    let mut largest_frame = 0usize;
    while let Some(frame) = body.frame().await {
        let data = frame
            .expect("the stream does not break")
            .into_data()
            .unwrap();
        // Spot-check content without holding it.
        if let Some(first) = data.first() {
            assert_eq!(*first, byte_at(total));
        }
        largest_frame = largest_frame.max(data.len());
        total += data.len() as u64;
    }
    assert_eq!(total, GIB);
    // Frames arrive as they stream (hyper's read buffer size), not as one big blob.
    assert!(
        largest_frame <= 1024 * 1024,
        "largest frame {largest_frame}"
    );
}

#[tokio::test]
async fn a_large_request_body_streams_to_the_upstream() {
    let sandbox = tidegate_sandbox::Sandbox::start().await.unwrap();
    let toml = config_toml(&sandbox.base_url(), "").replace("1MiB", "2GiB");
    let gw = start_gateway(&toml).await;
    const SIZE: u64 = 256 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let chunk = bytes::Bytes::from(vec![b'z'; CHUNK]);
    let mut expected = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for _ in 0..SIZE / CHUNK as u64 {
        expected.update(&chunk);
    }
    let frames =
        futures_util::stream::iter((0..SIZE / CHUNK as u64).map(move |_| {
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(chunk.clone()))
        }));
    let body = tidegate_core::body::boxed(http_body_util::StreamBody::new(frames));
    let resp = send(
        get(&gw.url("/proxy/crm/echo/upload"))
            .method("PUT")
            .body(body)
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let echo = json(resp).await;
    assert_eq!(echo["body_bytes"], SIZE);
    assert_eq!(echo["body_sha256"], hex::encode(expected.finish().as_ref()));
    assert!(echo["body"].is_null(), "large bodies are not echoed whole");
}
