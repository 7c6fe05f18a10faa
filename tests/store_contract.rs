//! One body of dedup-store semantics, run against the in-memory store and against DynamoDB
//! on moto.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use botgate::store::dynamodb::DynamoStore;
use botgate::store::memory::MemoryStore;
use botgate::store::{Claim, ClaimRequest, DedupStore, Status};
use botgate_tests::{Moto, create_table};

const T0: i64 = 1_795_440_463_000;

fn req(key: &str, now_ms: i64) -> ClaimRequest<'_> {
    ClaimRequest {
        key,
        now_ms,
        in_progress_ms: 10_000,
        retention_secs: 3600,
        answer: None,
    }
}

async fn contract(store: &dyn DedupStore) {
    // a new key is claimed
    let Claim::Claimed(owner) = store.claim(req("a", T0)).await.unwrap() else {
        panic!("new key not claimed")
    };
    // while in progress, a second claim sees the record
    let Claim::Held(rec) = store.claim(req("a", T0 + 1)).await.unwrap() else {
        panic!("in-progress key claimed twice")
    };
    assert_eq!(
        (rec.status, rec.claimed_at_ms, rec.in_progress_expiry_ms),
        (Status::InProgress, T0, T0 + 10_000)
    );
    // past the in-progress expiry the claim is taken over (its owner died)
    let Claim::TookOver(owner2) = store.claim(req("a", T0 + 10_001)).await.unwrap() else {
        panic!("dead claim not taken over")
    };
    assert_ne!(owner, owner2);
    // the old owner can neither complete nor release it now
    store.complete("a", &owner).await.unwrap();
    store.release("a", &owner).await.unwrap();
    let Claim::Held(rec) = store.claim(req("a", T0 + 10_002)).await.unwrap() else {
        panic!("lost the new owner's claim")
    };
    assert_eq!(rec.status, Status::InProgress);
    // done records hold until they expire, in code (TTL deletes late)
    store.complete("a", &owner2).await.unwrap();
    let Claim::Held(rec) = store.claim(req("a", T0 + 3_000_000)).await.unwrap() else {
        panic!("done record claimed")
    };
    assert_eq!(rec.status, Status::Done);
    assert!(matches!(
        store.claim(req("a", T0 + 10_001 + 3_601_000)).await.unwrap(),
        Claim::Claimed(_)
    ));
    // a released claim can be claimed again at once
    let Claim::Claimed(o) = store.claim(req("b", T0)).await.unwrap() else {
        panic!()
    };
    store.release("b", &o).await.unwrap();
    assert!(matches!(
        store.claim(req("b", T0 + 1)).await.unwrap(),
        Claim::Claimed(_)
    ));
}

#[tokio::test]
async fn memory_store() {
    contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn dynamodb_store_on_moto() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let table = create_table(&sdk, "dedup").await;
    contract(&DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)).await;
}
