//! Randomness is injected like time: every token, id, salt, nonce and key gatehouse makes
//! draws its bytes from one [`Random`] handed to the services. Production uses the operating
//! system's CSPRNG ([`SystemRandom`]); tests may use a seeded, repeatable source.

use std::sync::Mutex;

use rand::rngs::{StdRng, SysRng};
use rand::{Rng, SeedableRng, TryRng};

use crate::{Error, Result};

/// A source of random bytes.
pub trait Random: Send + Sync + 'static {
    /// Fills `dest` with random bytes; an error when the source failed (nothing is filled in
    /// with weaker bytes).
    fn fill(&self, dest: &mut [u8]) -> Result<()>;
}

/// The operating system's CSPRNG (`getrandom`), read on every call.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        SysRng
            .try_fill_bytes(dest)
            .map_err(|e| Error::internal(format!("the system random source failed: {e}")))
    }
}

/// A repeatable source for tests: ChaCha12 from a fixed seed. Never for production.
pub struct SeededRandom(Mutex<StdRng>);

impl SeededRandom {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl std::fmt::Debug for SeededRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeededRandom")
    }
}

impl Random for SeededRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill_bytes(dest);
        Ok(())
    }
}

/// `N` random bytes.
pub fn bytes<const N: usize>(random: &dyn Random) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    random.fill(&mut out)?;
    Ok(out)
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols), by rejection of the
/// bytes that would bias the draw.
pub fn string_from(random: &dyn Random, alphabet: &[u8], len: usize) -> Result<String> {
    let n = alphabet.len();
    if n == 0 || n > 256 {
        return Err(Error::internal("alphabet must have 1 to 256 symbols"));
    }
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        random.fill(&mut buf)?;
        for &b in &buf {
            if out.len() == len {
                break;
            }
            if usize::from(b) < limit {
                out.push(char::from(alphabet[usize::from(b) % n]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sources_repeat_and_differ_by_seed() {
        let (a, b, c) = (
            SeededRandom::new(7),
            SeededRandom::new(7),
            SeededRandom::new(8),
        );
        let x: [u8; 32] = bytes(&a).unwrap();
        assert_eq!(x, bytes::<32>(&b).unwrap());
        assert_ne!(x, bytes::<32>(&c).unwrap());
        assert_ne!(x, bytes::<32>(&a).unwrap(), "the stream moves on");
    }

    #[test]
    fn the_system_source_is_not_constant() {
        let a: [u8; 32] = bytes(&SystemRandom).unwrap();
        assert_ne!(a, bytes::<32>(&SystemRandom).unwrap());
    }

    #[test]
    fn strings_use_every_symbol_and_only_those() {
        let s = string_from(&SeededRandom::new(1), b"abc", 3000).unwrap();
        assert_eq!(s.len(), 3000);
        for c in ['a', 'b', 'c'] {
            let count = s.chars().filter(|&x| x == c).count();
            assert!((800..1200).contains(&count), "{c}: {count}");
        }
        assert!(string_from(&SystemRandom, b"", 1).is_err());
    }
}
