//! Password hashing: argon2id (RFC 9106) with the server's parameters on a small pool of
//! threads of its own, behind a bounded queue, with a dummy hash for unknown users (SECURITY G8:
//! an unknown login costs the same time as a wrong password).
//!
//! Overload (docs/reliability.md §5): argon2id is slow on purpose (tens of milliseconds and 19 MiB
//! per hash), so a burst of sign-ins can ask for far more than the machine can give. At most
//! `login.max_concurrent_hashes` hashes run at once, each on a dedicated thread that owns its
//! working memory (so memory is bounded by that number, whatever the load), and at most
//! `login.max_queued_hashes` more wait. A sign-in that finds the queue full is refused at once
//! ([`Overloaded`]: 503 with `Retry-After`) before it touches the database. Token requests never
//! wait behind sign-ins: they run on the async executor, and the hashing threads run at a lower
//! OS priority (`login.hash_thread_nice`, 10 by default), so a sign-in flood takes the CPU that
//! requests leave idle rather than the CPU they need.
//!
//! Sign-in logic (throttles, lockout) lives in `oauth::login`; this module only hashes and
//! verifies. To change the algorithm, keep `verify` accepting the old PHC strings and let
//! `needs_upgrade` rehash them at the next successful sign-in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// The hashing queue is full: try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded {
    /// Seconds until a retry is likely to find room.
    pub retry_after: i64,
}

impl std::fmt::Display for Overloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "too many sign-ins at once: the password hashing queue is full")
    }
}

impl std::error::Error for Overloaded {}

enum Work {
    Hash { password: String },
    Verify { password: String, phc: String, real: bool },
}

enum Done {
    Hashed(Result<String, String>),
    Verified { ok: bool, upgrade: bool },
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Done>,
}

/// The password hasher shared by the server: argon2 parameters, the hashing threads and their
/// bounded queue, and the dummy hash for unknown users.
pub struct PasswordHashing {
    dummy: String,
    /// One permit per running or queued hash: `max_concurrent_hashes + max_queued_hashes`.
    slots: Arc<Semaphore>,
    capacity: usize,
    jobs: mpsc::SyncSender<Job>,
    /// Hashes queued or running now (`queue_depth`).
    depth: Arc<AtomicUsize>,
}

/// A reserved place in the hashing queue ([`PasswordHashing::reserve`]): holding one guarantees
/// that the hash it is spent on is accepted. Dropped unspent, the place is given back.
pub struct HashTicket<'a> {
    hashing: &'a PasswordHashing,
    _slot: OwnedSemaphorePermit,
}

/// argon2id into `out` with the thread's own memory, as a PHC string
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
fn hash_with(mem: &mut Vec<argon2::Block>, params: &argon2::Params, password: &str) -> Result<String, String> {
    use base64::Engine as _;
    let salt: [u8; 16] = crate::jose::random_bytes();
    let mut out = [0u8; 32];
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
    mem.resize(params.block_count(), argon2::Block::default());
    argon
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut mem[..params.block_count()])
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

/// Verifies a PHC argon2 string with the thread's own memory; constant-time comparison.
fn verify_with(mem: &mut Vec<argon2::Block>, phc: &str, password: &str) -> bool {
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
    mem.resize(params.block_count(), argon2::Block::default());
    let ok =
        argon.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut mem[..params.block_count()]);
    ok.is_ok() && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_ref()).is_ok()
}

/// Lowers the calling thread's priority to `nice` (0: unchanged; a thread may always lower its
/// own priority, raising it needs privileges). Returns the nice value the thread has afterwards.
fn lower_priority(nice: i32) -> Result<i32, String> {
    if nice > 0 {
        // thread-priority maps its 0..=99 scale onto nice 19..=-20 (as `39 * (1 - p / 99) - 20`,
        // truncated); this is the largest `p` that lands on `nice`.
        let p = (99.0 * (1.0 - f64::from(nice + 20) / 39.0)).floor().clamp(0.0, 99.0) as u8;
        let p = thread_priority::ThreadPriorityValue::try_from(p).map_err(|e| e.to_string())?;
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Crossplatform(p))
            .map_err(|e| format!("{e:?}"))?;
    }
    current_nice()
}

/// The calling thread's nice value, from `/proc/thread-self/stat` (field 19).
fn current_nice() -> Result<i32, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").map_err(|e| e.to_string())?;
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    after_name.split_whitespace().nth(16).and_then(|n| n.parse().ok()).ok_or_else(|| "no nice field".to_owned())
}

/// One hashing thread: takes jobs until the hasher is dropped. Its working memory grows to one
/// hash's size at the first job and is kept for the next ones.
fn work(jobs: Arc<Mutex<mpsc::Receiver<Job>>>, params: argon2::Params, depth: Arc<AtomicUsize>, nice: i32) {
    match lower_priority(nice) {
        Ok(now) if now == nice || nice == 0 => {}
        Ok(now) => tracing::warn!(
            wanted = nice,
            got = now,
            "password hashing thread priority differs from login.hash_thread_nice"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot lower the priority of a password hashing thread"),
    }
    let mut mem = Vec::new();
    loop {
        let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(j) => j,
            Err(_) => return,
        };
        let done = match job.work {
            Work::Hash { password } => Done::Hashed(hash_with(&mut mem, &params, &password)),
            Work::Verify { password, phc, real } => {
                let ok = verify_with(&mut mem, &phc, &password) && real;
                Done::Verified { ok, upgrade: ok && !uses_params(&phc, &params) }
            }
        };
        depth.fetch_sub(1, Ordering::Relaxed);
        let _ = job.reply.send(done);
    }
}

impl PasswordHashing {
    /// Builds the hasher: `concurrency` threads at priority `nice`, at most `queue` hashes
    /// waiting; computes the dummy hash once (its memory is freed: an idle server keeps no
    /// hash's worth of memory).
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        concurrency: usize,
        queue: usize,
        nice: i32,
    ) -> Result<Self, String> {
        let params = argon2::Params::new(memory_kib, iterations, parallelism, None).map_err(|e| e.to_string())?;
        let dummy = hash_with(&mut Vec::new(), &params, &crate::jose::random_token(16))?;
        let concurrency = concurrency.max(1);
        let capacity = concurrency + queue;
        let (tx, rx) = mpsc::sync_channel(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let depth = Arc::new(AtomicUsize::new(0));
        for i in 0..concurrency {
            let (rx, params, depth) = (rx.clone(), params.clone(), depth.clone());
            std::thread::Builder::new()
                .name(format!("keycard-argon2-{i}"))
                .spawn(move || work(rx, params, depth, nice))
                .map_err(|e| format!("cannot start a password hashing thread: {e}"))?;
        }
        Ok(Self { dummy, slots: Arc::new(Semaphore::new(capacity)), capacity, jobs: tx, depth })
    }

    /// A place in the queue, or [`Overloaded`] at once when every place is taken.
    pub fn reserve(&self) -> Result<HashTicket<'_>, Overloaded> {
        match self.slots.clone().try_acquire_owned() {
            Ok(slot) => Ok(HashTicket { hashing: self, _slot: slot }),
            Err(_) => Err(Overloaded { retry_after: 1 }),
        }
    }

    /// Hashes and verifications queued or running now.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Running plus queued hashes this hasher accepts at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Hashes a password, waiting for a place in the queue if needed (never refused).
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        let slot = self.slots.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        HashTicket { hashing: self, _slot: slot }.hash(password).await
    }

    async fn run(&self, work: Work) -> Option<Done> {
        let (reply, answer) = oneshot::channel();
        self.depth.fetch_add(1, Ordering::Relaxed);
        // Never blocks: the channel holds as many jobs as there are places, and the caller holds one.
        if self.jobs.try_send(Job { work, reply }).is_err() {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        answer.await.ok()
    }
}

impl HashTicket<'_> {
    /// Hashes a password on the hashing threads.
    pub async fn hash(self, password: &str) -> Result<String, String> {
        match self.hashing.run(Work::Hash { password: password.to_owned() }).await {
            Some(Done::Hashed(r)) => r,
            _ => Err("the password hashing threads are gone".into()),
        }
    }

    /// Verifies `password` against `phc` (or the dummy hash when `None`, which never matches).
    /// Returns (matches, needs_upgrade).
    pub async fn verify(self, password: &str, phc: Option<&str>) -> (bool, bool) {
        let work = Work::Verify {
            password: password.to_owned(),
            phc: phc.unwrap_or(&self.hashing.dummy).to_owned(),
            real: phc.is_some(),
        };
        match self.hashing.run(work).await {
            Some(Done::Verified { ok, upgrade }) => (ok, upgrade),
            _ => (false, false),
        }
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
        let h = PasswordHashing::new(8 * 1024, 1, 1, 2, 4, 0).unwrap();
        let phc = h.hash("correct horse").await.unwrap();
        assert_eq!(h.reserve().unwrap().verify("correct horse", Some(&phc)).await, (true, false));
        assert_eq!(h.reserve().unwrap().verify("wrong", Some(&phc)).await, (false, false));
        assert_eq!(h.reserve().unwrap().verify("anything", None).await, (false, false), "dummy hash never matches");
        let newer = PasswordHashing::new(16 * 1024, 2, 1, 2, 4, 0).unwrap();
        assert_eq!(newer.reserve().unwrap().verify("correct horse", Some(&phc)).await, (true, true), "upgrade wanted");
        // Interoperable with the argon2 crate's own PHC strings, both ways.
        use argon2::password_hash::PasswordVerifier as _;
        let standard = crate::admin::hash_password(&crate::config::Config::default(), "pw-1").unwrap();
        let h = PasswordHashing::new(19_456, 2, 1, 1, 1, 0).unwrap();
        assert_eq!(h.reserve().unwrap().verify("pw-1", Some(&standard)).await, (true, false));
        assert_eq!(h.reserve().unwrap().verify("pw-2", Some(&standard)).await, (false, false));
        let ours = h.hash("pw-3").await.unwrap();
        assert!(argon2::Argon2::default().verify_password(b"pw-3", ours.as_str()).is_ok());
        assert!(!verify_with(&mut Vec::new(), "$argon2id$v=19$m=19456,t=2,p=1$garbage", "x"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_queue_refuses_at_once_and_frees_its_places() {
        // 1 running + 2 queued: the fourth reservation is refused while three are held.
        let h = PasswordHashing::new(8 * 1024, 1, 1, 1, 2, 10).unwrap();
        assert_eq!(h.capacity(), 3);
        let held: Vec<_> = (0..3).map(|_| h.reserve().expect("a place")).collect();
        let refused = h.reserve().err().expect("the queue is full");
        assert_eq!(refused, Overloaded { retry_after: 1 });
        drop(held);
        // Places come back when tickets are dropped or spent, and the work gets done.
        let phc = h.hash("pw").await.unwrap();
        let all: Vec<_> = (0..3).map(|_| h.reserve().expect("free again")).collect();
        for t in all {
            assert_eq!(t.verify("pw", Some(&phc)).await, (true, false));
        }
        assert_eq!(h.queue_depth(), 0);
        assert!(h.reserve().is_ok());
    }

    #[test]
    fn hashing_threads_get_the_nice_value_asked_for() {
        for nice in [1, 5, 10, 15, 19] {
            let got = std::thread::spawn(move || lower_priority(nice)).join().unwrap();
            assert_eq!(got, Ok(nice), "thread-priority's scale maps onto nice {nice}");
        }
        assert_eq!(std::thread::spawn(|| lower_priority(0)).join().unwrap(), current_nice(), "0 changes nothing");
    }
}
