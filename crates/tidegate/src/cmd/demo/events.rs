//! Steps on inbound webhooks and events: verification and forwarding, and the claim check for
//! a payload too large to travel inline.

use std::time::{Duration, SystemTime};

use tidegate_sandbox::webhooks::{WebhookScheme, fire};

use super::{
    Ctx, StepResult, check,
    setup::{INLINE_LIMIT, RECORDS_WEBHOOK_SECRET, files_under},
};

/// The account the record connector's webhooks and reconciliation belong to.
pub const RECORDS_ACCOUNT: &str = "acc_rec";

/// Registers the `auth = none` records account (idempotent).
pub async fn ensure_records_account(c: &Ctx) -> Result<(), String> {
    c.put_account(RECORDS_ACCOUNT, "records", serde_json::json!({}))
        .await
}

fn webhook_url(c: &Ctx) -> String {
    c.url(&format!("/webhooks/records/{RECORDS_ACCOUNT}"))
}

fn record_webhook(event_id: &str, id: &str, extra: Option<(&str, String)>) -> Vec<u8> {
    let mut body = serde_json::json!({
        "id": event_id,
        "type": "record.updated",
        "data": { "object": "record", "id": id, "version": "1" },
    });
    if let Some((key, value)) = extra {
        body["data"][key] = value.into();
    }
    serde_json::to_vec(&body).expect("json")
}

async fn send(c: &Ctx, secret: &str, body: &[u8]) -> Result<u16, String> {
    fire(
        &webhook_url(c),
        WebhookScheme::StandardWebhooks,
        secret,
        body,
        SystemTime::now(),
    )
    .await
    .map(|s| s.as_u16())
    .map_err(|e| e.to_string())
}

/// Step 8.
pub async fn inbound_webhook(c: &Ctx) -> StepResult {
    ensure_records_account(c).await?;
    let forged = record_webhook("whk_forged", "rec_forged", None);
    let bad = send(c, "whsec_bm90LXRoZS1wcm92aWRlcnMtc2VjcmV0", &forged).await?;
    c.say(format!("   webhook signed with the wrong secret -> {bad}"));
    check(bad == 401, || format!("a forged webhook got {bad}"))?;
    let good = send(
        c,
        RECORDS_WEBHOOK_SECRET,
        &record_webhook("whk_manual", "rec_manual", None),
    )
    .await?;
    c.say(format!("   webhook signed by the provider -> {good}"));
    check((200..300).contains(&good), || {
        format!("a genuine webhook got {good}")
    })?;
    let events = c
        .wait_events(1, Duration::from_secs(10), |e| {
            e["type"] == "record.changed" && e["data"]["id"] == "rec_manual"
        })
        .await;
    let event = events
        .first()
        .ok_or("the record.changed event did not reach the receiver within 10 s")?;
    c.say(format!(
        "   receiver verified {} {}: data = {{ object: {}, id: {}, version: {}, source: {} }}",
        event["type"],
        event["id"],
        event["data"]["object"],
        event["data"]["id"],
        event["data"]["version"],
        event["data"]["source"]
    ));
    check(
        event["data"]["source"] == "webhook" && event["data"]["object"] == "record",
        || format!("event data {}", event["data"]),
    )?;
    check(events.len() == 1, || {
        format!("{} copies delivered", events.len())
    })?;
    let forged_delivered = c
        .receiver
        .events()
        .iter()
        .any(|e| e["data"]["id"] == "rec_forged");
    check(!forged_delivered, || {
        "the forged webhook was forwarded".into()
    })?;
    Ok(format!(
        "bad signature -> 401 (nothing forwarded); good -> {good}, delivered as record.changed source=webhook, signature verified"
    ))
}

/// Step 9.
pub async fn claim_check(c: &Ctx) -> StepResult {
    ensure_records_account(c).await?;
    const CANARY: &str = "CANARY-LARGE-PAYLOAD";
    let notes = format!("{CANARY} {}", "x".repeat(4 * INLINE_LIMIT));
    let body = record_webhook("whk_large", "rec_large", Some(("notes", notes)));
    let status = send(c, RECORDS_WEBHOOK_SECRET, &body).await?;
    c.say(format!(
        "   a {} KiB webhook (inline limit {} KiB) -> {status}",
        body.len() / 1024,
        INLINE_LIMIT / 1024
    ));
    check((200..300).contains(&status), || {
        format!("the large webhook got {status}")
    })?;
    let events = c
        .wait_events(1, Duration::from_secs(10), |e| {
            e["data"]["id"] == "rec_large"
        })
        .await;
    let event = events
        .first()
        .ok_or("the large webhook's event did not reach the receiver within 10 s")?;
    let claim = &event["data"]["payload"]["claim_check"];
    let url = claim["url"]
        .as_str()
        .ok_or_else(|| {
            format!(
                "the event carries no claim_check url: {}",
                event["data"]["payload"]
            )
        })?
        .to_owned();
    c.say(format!(
        "   event carries claim_check {{ url: {}?…, expires_at: {} }}",
        url.split('?').next().unwrap_or(""),
        claim["expires_at"]
    ));
    check(!event.to_string().contains(CANARY), || {
        "the payload travelled inline".into()
    })?;
    let stored = files_under(&c.claims_dir);
    check(stored >= 1, || "no object in the claim-check store".into())?;
    check(!contains_in_files(&c.claims_dir, CANARY.as_bytes()), || {
        "the claim-check object is stored in plaintext".into()
    })?;
    let first = c.http.get(&url).send().await.map_err(|e| e.to_string())?;
    let first_status = first.status().as_u16();
    let fetched = first.bytes().await.map_err(|e| e.to_string())?;
    let second = c.http.get(&url).send().await.map_err(|e| e.to_string())?;
    let second_status = second.status().as_u16();
    c.say(format!(
        "   GET claim URL -> {first_status} ({} bytes); again -> {second_status}",
        fetched.len()
    ));
    check(first_status == 200, || {
        format!("first fetch {first_status}")
    })?;
    let same = serde_json::from_slice::<serde_json::Value>(&fetched).ok()
        == serde_json::from_slice::<serde_json::Value>(&body).ok();
    check(same, || {
        "the claimed payload differs from the webhook".into()
    })?;
    check(second_status == 410, || {
        format!("second fetch {second_status}")
    })?;
    let mut left = files_under(&c.claims_dir);
    for _ in 0..50 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = files_under(&c.claims_dir);
    }
    c.say(format!(
        "   objects left in the claim-check directory: {left}"
    ));
    check(left == 0, || format!("{left} objects left after the fetch"))?;
    Ok(format!(
        "event carried a claim URL (payload stored encrypted); fetch 200 ({} bytes), again 410, directory empty",
        fetched.len()
    ))
}

fn contains_in_files(dir: &std::path::Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        if path.is_dir() {
            contains_in_files(&path, needle)
        } else {
            std::fs::read(&path)
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        }
    })
}
