//! Sealing events into a chain and verifying chains. Verification needs no parsing: each
//! stored body is hashed behind the previous *verified* hash, so an edited, deleted, inserted
//! or reordered event breaks the chain exactly where it happened.

use sha2::{Digest, Sha256};

use super::{NewEvent, StoredEvent, jcs};

/// `prev_hash` of the first event of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `hex(SHA-256(prev_hash + "\n" + body))`.
#[must_use]
pub fn link_hash(prev_hash: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// An event's id: a UUID v7 whose millisecond is the event's time and whose 74 other bits are
/// the start of `SHA-256(chain "\n" seq "\n" prev_hash)`. The id is fixed by the event's place
/// in its chain (unique: one event per `(chain, seq)`, and `prev_hash` ties it to everything
/// before it), so sealing needs neither a clock nor a random source of its own and replays are
/// repeatable.
#[must_use]
pub fn event_id(
    chain: &super::Chain,
    seq: i64,
    prev_hash: &str,
    at: time::OffsetDateTime,
) -> uuid::Uuid {
    let mut h = Sha256::new();
    h.update(chain.name().as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(prev_hash.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    let ms = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    crate::ambient::compose_v7(ms, u128::from_be_bytes(first) & crate::ambient::RANDOM_MASK)
}

/// Seals `event` as number `seq` after `prev_hash`.
#[must_use]
pub fn seal(event: &NewEvent, seq: i64, prev_hash: &str) -> StoredEvent {
    let body = jcs::canonical(&event.body(seq, prev_hash));
    let hash = link_hash(prev_hash, &body);
    StoredEvent { seq, body, hash }
}

/// The outcome of verifying a chain (or a stretch of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub valid: bool,
    pub events: u64,
    /// The last event that verified.
    pub head_seq: i64,
    pub head_hash: String,
    /// The first `seq` that does not verify (edited, missing, moved).
    pub first_bad_seq: Option<i64>,
}

/// Verifies events fed in `seq` order; stops counting at the first break.
#[derive(Debug, Clone)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    events: u64,
    first_bad: Option<i64>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// From the start of a chain.
    #[must_use]
    pub fn new() -> Self {
        Self::resume(0, GENESIS)
    }

    /// After an already verified event (`seq`, `hash`), e.g. the last one exported.
    #[must_use]
    pub fn resume(seq: i64, hash: &str) -> Self {
        Self {
            expected_seq: seq + 1,
            prev_hash: hash.to_owned(),
            events: 0,
            first_bad: None,
        }
    }

    /// Checks the next event; `false` once the chain is broken.
    pub fn push(&mut self, seq: i64, body: &str, hash: &str) -> bool {
        if self.first_bad.is_some() {
            return false;
        }
        if seq != self.expected_seq || link_hash(&self.prev_hash, body) != hash {
            self.first_bad = Some(self.expected_seq);
            return false;
        }
        self.prev_hash = hash.to_owned();
        self.expected_seq += 1;
        self.events += 1;
        true
    }

    pub fn push_event(&mut self, e: &StoredEvent) -> bool {
        self.push(e.seq, &e.body, &e.hash)
    }

    #[must_use]
    pub fn is_broken(&self) -> bool {
        self.first_bad.is_some()
    }

    #[must_use]
    pub fn report(&self) -> Report {
        Report {
            valid: self.first_bad.is_none(),
            events: self.events,
            head_seq: self.expected_seq - 1,
            head_hash: self.prev_hash.clone(),
            first_bad_seq: self.first_bad,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, Category, Chain, NewEvent, Target};
    use crate::client::ClientInfo;
    use serde_json::json;
    use time::OffsetDateTime;

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let e = NewEvent::new(
                    Chain::System,
                    Category::Audit,
                    "thing.done",
                    Actor::System,
                    &ClientInfo::default(),
                    OffsetDateTime::UNIX_EPOCH,
                )
                .target(Target::new("thing", seq))
                .details(json!({ "n": seq, "ratio": 0.5 }));
                let s = seal(&e, seq, &prev);
                prev = s.hash.clone();
                s
            })
            .collect()
    }

    #[test]
    fn event_ids_are_v7_stamped_with_the_event_time_and_unique_per_place() {
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let org = Chain::Org(crate::ids::OrgId::new());
        let id = event_id(&Chain::System, 1, GENESIS, at);
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(id.get_timestamp().unwrap().to_unix().0, 1_800_000_000);
        assert_eq!(id, event_id(&Chain::System, 1, GENESIS, at), "repeatable");
        let others = [
            event_id(&Chain::System, 2, GENESIS, at),
            event_id(&org, 1, GENESIS, at),
            event_id(&Chain::System, 1, &"1".repeat(64), at),
        ];
        assert!(others.iter().all(|o| *o != id));
        let body: serde_json::Value = serde_json::from_str(&chain(3)[1].body).unwrap();
        let prev = &chain(3)[0].hash;
        let expect = event_id(&Chain::System, 2, prev, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(body["id"], expect.to_string(), "the sealed body names it");
    }

    fn verify(events: &[StoredEvent]) -> Report {
        let mut v = Verifier::new();
        events.iter().for_each(|e| {
            v.push_event(e);
        });
        v.report()
    }

    #[test]
    fn a_sealed_chain_verifies() {
        let events = chain(5);
        let r = verify(&events);
        assert!(r.valid && r.events == 5 && r.head_seq == 5 && r.first_bad_seq.is_none());
        assert_eq!(r.head_hash, events[4].hash);
        let body: serde_json::Value = serde_json::from_str(&events[0].body).unwrap();
        assert_eq!(body["prev_hash"], GENESIS);
        assert_eq!(body["seq"], 1);
        assert!(body.get("hash").is_none());
        assert_eq!(
            events[1].body.find("\"prev_hash\":\"").map(|_| ()),
            Some(())
        );
    }

    #[test]
    fn edits_deletions_and_reorders_are_found_where_they_happen() {
        let mut edited = chain(5);
        edited[2].body = edited[2].body.replace("thing.done", "thing.undone");
        assert_eq!(verify(&edited).first_bad_seq, Some(3));

        let mut deleted = chain(5);
        deleted.remove(3);
        assert_eq!(verify(&deleted).first_bad_seq, Some(4));

        let mut swapped = chain(5);
        let (a, b) = (swapped[1].clone(), swapped[2].clone());
        swapped[1] = StoredEvent { seq: 2, ..b };
        swapped[2] = StoredEvent { seq: 3, ..a };
        assert_eq!(verify(&swapped).first_bad_seq, Some(2));

        let mut rehashed_alone = chain(3);
        rehashed_alone[1].body = rehashed_alone[1].body.replace("thing.done", "x");
        rehashed_alone[1].hash = link_hash(&rehashed_alone[0].hash, &rehashed_alone[1].body);
        assert_eq!(
            verify(&rehashed_alone).first_bad_seq,
            Some(3),
            "the next link breaks"
        );
    }

    #[test]
    fn resume_continues_from_a_verified_head() {
        let events = chain(6);
        let mut v = Verifier::resume(3, &events[2].hash);
        for e in &events[3..] {
            assert!(v.push_event(e));
        }
        assert_eq!(v.report().head_seq, 6);
    }
}
