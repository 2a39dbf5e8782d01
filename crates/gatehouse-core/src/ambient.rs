//! The clock and the random source a running gatehouse uses, handed together to every service
//! that stamps, names or mints something: new ids (UUID v7, from this clock's millisecond and
//! this source's bytes), opaque tokens and API keys.

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::Result;
use crate::clock::{Clock, SystemClock};
use crate::random::{self, Random, SystemRandom};

/// The 74 random bits of a UUID v7 (`rand_a` 12 + `rand_b` 62).
const RANDOM_BITS: u32 = 74;
pub(crate) const RANDOM_MASK: u128 = (1 << RANDOM_BITS) - 1;

/// One clock and one random source, shared (cloning shares them).
#[derive(Clone)]
pub struct Ambient {
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    /// The last id made (millisecond, random bits): ids made here only ever increase.
    last_id: Arc<Mutex<(u64, u128)>>,
}

impl std::fmt::Debug for Ambient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ambient")
    }
}

impl Ambient {
    pub fn new(clock: Arc<dyn Clock>, random: Arc<dyn Random>) -> Self {
        Self {
            clock,
            random,
            last_id: Arc::new(Mutex::new((0, 0))),
        }
    }

    /// The wall clock and the operating system's CSPRNG (production).
    #[must_use]
    pub fn system() -> Self {
        Self::new(Arc::new(SystemClock), Arc::new(SystemRandom))
    }

    #[must_use]
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    #[must_use]
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    #[must_use]
    pub fn random(&self) -> &dyn Random {
        self.random.as_ref()
    }

    /// `N` random bytes.
    pub fn bytes<const N: usize>(&self) -> Result<[u8; N]> {
        random::bytes(self.random.as_ref())
    }

    /// A new id of any of the typed ids (see [`crate::ids`]).
    pub fn id<T: From<Uuid>>(&self) -> Result<T> {
        Ok(T::from(self.uuid_v7()?))
    }

    /// A UUID v7: the clock's Unix millisecond and 74 random bits. Within one millisecond (or if
    /// the clock steps back) the previous id's random bits count up instead, so ids made by one
    /// `Ambient` sort in the order they were made, as `Uuid::now_v7` guarantees.
    pub fn uuid_v7(&self) -> Result<Uuid> {
        let ms = u64::try_from(self.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let fresh = u128::from_be_bytes(self.bytes::<16>()?) & RANDOM_MASK;
        let mut last = self.last_id.lock().unwrap_or_else(|e| e.into_inner());
        let next = if ms > last.0 {
            (ms, fresh)
        } else if last.1 < RANDOM_MASK {
            (last.0, last.1 + 1)
        } else {
            (last.0 + 1, fresh)
        };
        *last = next;
        Ok(compose_v7(next.0, next.1))
    }

    /// A random 256-bit opaque token (session, setup, invitation, refresh).
    pub fn token(&self) -> Result<String> {
        crate::token::random_token(self.random.as_ref())
    }

    /// A new API key: (public id, key).
    pub fn api_key(&self) -> Result<(String, String)> {
        crate::token::new_api_key(self.random.as_ref())
    }
}

/// The UUID v7 layout (RFC 9562 §5.7): 48-bit millisecond, version 7, 12 bits, variant `10`,
/// 62 bits.
pub(crate) fn compose_v7(ms: u64, bits: u128) -> Uuid {
    let ms = u128::from(ms) & ((1 << 48) - 1);
    let rand_a = (bits >> 62) & 0xfff;
    let rand_b = bits & ((1 << 62) - 1);
    Uuid::from_u128(ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::random::SeededRandom;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn ids_are_v7_stamped_by_the_injected_clock_and_always_increase() {
        let clock = Arc::new(ManualClock::new(at(1_800_000_000)));
        let ambient = Ambient::new(clock.clone(), Arc::new(SeededRandom::new(3)));
        let first = ambient.uuid_v7().unwrap();
        assert_eq!(first.get_version_num(), 7);
        assert_eq!(first.get_variant(), uuid::Variant::RFC4122);
        let (secs, _) = first.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_800_000_000);
        let mut prev = first;
        for _ in 0..1000 {
            let next = ambient.uuid_v7().unwrap();
            assert!(next > prev, "same millisecond: still increasing");
            assert_eq!(next.get_version_num(), 7);
            prev = next;
        }
        clock.set(at(1_700_000_000));
        assert!(ambient.uuid_v7().unwrap() > prev, "a clock stepping back");
        clock.set(at(1_900_000_000));
        let later = ambient.uuid_v7().unwrap();
        assert_eq!(later.get_timestamp().unwrap().to_unix().0, 1_900_000_000);
    }

    #[test]
    fn seeded_ambients_repeat() {
        let make = || {
            Ambient::new(
                Arc::new(ManualClock::new(at(1_800_000_000))),
                Arc::new(SeededRandom::new(9)),
            )
        };
        let (a, b) = (make(), make());
        assert_eq!(a.token().unwrap(), b.token().unwrap());
        assert_eq!(a.uuid_v7().unwrap(), b.uuid_v7().unwrap());
        assert_eq!(a.api_key().unwrap(), b.api_key().unwrap());
        assert_ne!(a.token().unwrap(), Ambient::system().token().unwrap());
    }
}
