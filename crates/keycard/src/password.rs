//! Password hashing: argon2id (RFC 9106) with the server's parameters, behind a concurrency
//! limit, with pooled working memory and a dummy hash for unknown users (SECURITY G8: an unknown
//! login costs the same time as a wrong password).
//!
//! Sign-in logic (throttles, lockout) lives in `oauth::login`; this module only hashes and
//! verifies. To change the algorithm, keep `verify` accepting the old PHC strings and let
//! `needs_upgrade` rehash them at the next successful sign-in.

use std::sync::Arc;

/// The password hasher shared by the server: argon2 parameters, the concurrency limit and the
/// dummy hash for unknown users.
pub struct PasswordHashing {
    params: argon2::Params,
    limit: Arc<tokio::sync::Semaphore>,
    dummy: String,
    /// argon2's working memory (19 MiB per hash by default), reused: allocating and freeing it
    /// per sign-in let the C allocator keep hundreds of MB after a login storm.
    pool: Arc<MemoryPool>,
}

/// Reusable argon2 memory blocks, at most one per concurrent hash.
struct MemoryPool {
    free: std::sync::Mutex<Vec<Vec<argon2::Block>>>,
    keep: usize,
}

impl MemoryPool {
    fn with<R>(&self, blocks: usize, f: impl FnOnce(&mut [argon2::Block]) -> R) -> R {
        let mut mem = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        mem.resize(blocks, argon2::Block::default());
        let r = f(&mut mem[..blocks]);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.keep {
            free.push(mem);
        }
        r
    }
}

/// argon2id with pooled memory, as a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
fn hash_pooled(pool: &MemoryPool, params: &argon2::Params, password: &str) -> Result<String, String> {
    use base64::Engine as _;
    let salt: [u8; 16] = crate::jose::random_bytes();
    let mut out = [0u8; 32];
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
    pool.with(params.block_count(), |mem| {
        argon.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, mem)
    })
    .map_err(|e| format!("could not hash the password: {e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        b64.encode(salt),
        b64.encode(out)
    ))
}

/// Verifies a PHC argon2 string with pooled memory; constant-time comparison of the outputs.
fn verify_pooled(pool: &MemoryPool, phc: &str, password: &str) -> bool {
    use argon2::password_hash::phc::PasswordHash;
    let Ok(h) = PasswordHash::new(phc) else { return false };
    let algorithm = match h.algorithm.as_str() {
        "argon2id" => argon2::Algorithm::Argon2id,
        "argon2i" => argon2::Algorithm::Argon2i,
        "argon2d" => argon2::Algorithm::Argon2d,
        _ => return false,
    };
    let version = match h.version.map(argon2::Version::try_from) {
        None => argon2::Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Ok(params), Some(salt), Some(expected)) = (argon2::Params::try_from(&h), h.salt, h.hash) else { return false };
    let mut out = vec![0u8; expected.len()];
    let argon = argon2::Argon2::new(algorithm, version, params.clone());
    let ok = pool.with(params.block_count(), |mem| {
        argon.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, mem)
    });
    ok.is_ok() && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_ref()).is_ok()
}

impl PasswordHashing {
    /// Builds the hasher (computes the dummy hash once).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32, concurrency: usize) -> Result<Self, String> {
        let params = argon2::Params::new(memory_kib, iterations, parallelism, None).map_err(|e| e.to_string())?;
        let pool = Arc::new(MemoryPool { free: Default::default(), keep: concurrency.max(1) });
        // The dummy hash's memory is not kept: an idle server should not hold a hash's worth of
        // memory (19 MiB by default) until its first sign-in.
        let no_pool = MemoryPool { free: Default::default(), keep: 0 };
        let dummy = hash_pooled(&no_pool, &params, &crate::jose::random_token(16))?;
        Ok(Self { params, limit: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))), dummy, pool })
    }

    /// Hashes a password off the async executor, behind the limit.
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        let _permit = self.limit.acquire().await.map_err(|e| e.to_string())?;
        let params = self.params.clone();
        let pw = password.to_owned();
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || hash_pooled(&pool, &params, &pw)).await.map_err(|e| e.to_string())?
    }

    /// Verifies `password` against `phc` (or the dummy hash when `None`) off the executor.
    /// Returns (matches, needs_upgrade).
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> (bool, bool) {
        let Ok(_permit) = self.limit.acquire().await else { return (false, false) };
        let real = phc.is_some();
        let phc = phc.unwrap_or(&self.dummy).to_owned();
        let pw = password.to_owned();
        let current = self.params.clone();
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let ok = verify_pooled(&pool, &phc, &pw) && real;
            let upgrade = ok && !uses_params(&phc, &current);
            (ok, upgrade)
        })
        .await
        .unwrap_or((false, false))
    }
}

/// Does the PHC string use argon2id v19 with exactly these parameters?
fn uses_params(phc: &str, p: &argon2::Params) -> bool {
    let want = format!("$argon2id$v=19$m={},t={},p={}$", p.m_cost(), p.t_cost(), p.p_cost());
    phc.starts_with(&want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn hashing_verifies_and_detects_outdated_parameters() {
        let h = PasswordHashing::new(8 * 1024, 1, 1, 2).unwrap();
        let phc = h.hash("correct horse").await.unwrap();
        assert_eq!(h.verify("correct horse", Some(&phc)).await, (true, false));
        assert_eq!(h.verify("wrong", Some(&phc)).await, (false, false));
        assert_eq!(h.verify("anything", None).await, (false, false), "dummy hash never matches");
        let newer = PasswordHashing::new(16 * 1024, 2, 1, 2).unwrap();
        assert_eq!(newer.verify("correct horse", Some(&phc)).await, (true, true), "upgrade wanted");
        // Interoperable with the argon2 crate's own PHC strings, both ways.
        use argon2::password_hash::PasswordVerifier as _;
        let standard = crate::admin::hash_password(&crate::config::Config::default(), "pw-1").unwrap();
        let h = PasswordHashing::new(19_456, 2, 1, 1).unwrap();
        assert_eq!(h.verify("pw-1", Some(&standard)).await, (true, false));
        assert_eq!(h.verify("pw-2", Some(&standard)).await, (false, false));
        let ours = h.hash("pw-3").await.unwrap();
        assert!(argon2::Argon2::default().verify_password(b"pw-3", ours.as_str()).is_ok());
        assert!(!verify_pooled(&h.pool, "$argon2id$v=19$m=19456,t=2,p=1$garbage", "x"));
    }
}
