//! Graceful shutdown drains in-flight requests.

use tidegate_sandbox::{Script, Step};

use crate::support::*;

#[tokio::test]
async fn graceful_shutdown_drains_an_in_flight_slow_request() {
    let (sandbox, mut gw) = start().await;
    sandbox.script("/slow", Script::new(vec![Step::delay(300)]));
    let url = gw.url("/proxy/crm/slow");
    let in_flight = tokio::spawn(async move { send(get(&url).body(empty()).unwrap()).await });
    // Wait until the request has reached the upstream (so it is truly in flight).
    while sandbox.counters().get("/slow") == 0 {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    gw.begin_shutdown();
    let resp = in_flight.await.unwrap();
    assert_eq!(resp.status(), 200, "the in-flight request completed");
    let served = (&mut gw.task).await.unwrap();
    assert!(served.is_ok());
    // The listener is closed now.
    assert!(tokio::net::TcpStream::connect(gw.addr).await.is_err());
}
