//! Pre-signed requests for the strong-client benchmark (`bench/run.sh --strong`; bench/README.md):
//! `private_key_jwt` client assertions (RFC 7523 §2.2, §3; OIDC Core §9) and DPoP proofs
//! (RFC 9449 §4.2) for `client_credentials` at `/token`, signed ES256 (RFC 7518 §3.4), because
//! wrk cannot sign.
//!
//! ```sh
//! # a P-256 key (PKCS#8 DER) and its public JWK (kid, alg ES256, use sig) on stdout
//! strong_client_gen keygen --out client.pk8 --kid bench-1 > client.jwk.json
//! strong_client_gen keygen --out dpop.pk8 > dpop.jwk.json
//! # N lines "<client_assertion>\t<DPoP proof>", each with its own jti
//! strong_client_gen lines --client-id bench-strong --token-url http://127.0.0.1:8080/token \
//!     --client-key client.pk8 --kid bench-1 --dpop-key dpop.pk8 --count 300000 --out lines.tsv
//! ```
//!
//! Every assertion has `iss` = `sub` = the client id, `aud` = the token endpoint URL (`--aud` to
//! use the issuer instead), a unique `jti`, `iat` = now and `exp` = now + `--exp-secs`; every
//! proof has the header `{"typ":"dpop+jwt","alg":"ES256","jwk":{public key}}` and the claims
//! `jti`, `htm` = POST, `htu` = the token endpoint URL, `iat` = now. "Now" is taken per batch of
//! lines, so a long generation does not age the later lines. The lines come in no particular
//! order (the threads write whole batches as they finish); each must be used once, a second use is
//! a replay the server refuses. To add a claim: add it to `assertion_claims` or `proof_claims`.

use aws_lc_rs::{
    rand::{SecureRandom, SystemRandom},
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use clap::{Parser, Subcommand};
use keycard::clock::{Clock, SystemClock};
use serde_json::{Value, json};
use std::{
    fs,
    io::{BufWriter, Write},
    path::PathBuf,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

/// Lines signed between two readings of the clock (and written at once).
const BATCH: usize = 2048;

/// Pre-signed private_key_jwt assertions and DPoP proofs for wrk.
#[derive(Parser, Debug)]
#[command(name = "strong_client_gen")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Generates a P-256 key: PKCS#8 DER to --out, its public JWK as JSON on stdout.
    Keygen {
        /// Where the private key goes (PKCS#8 v1 DER).
        #[arg(long)]
        out: PathBuf,
        /// `kid` of the printed JWK (none when absent, as for a DPoP key).
        #[arg(long)]
        kid: Option<String>,
    },
    /// Writes --count lines "<client_assertion>\t<DPoP proof>".
    Lines {
        /// The client id (`iss` and `sub` of the assertion).
        #[arg(long)]
        client_id: String,
        /// The token endpoint URL (`htu` of the proof; `aud` of the assertion unless --aud).
        #[arg(long)]
        token_url: String,
        /// `aud` of the assertion (default: --token-url).
        #[arg(long)]
        aud: Option<String>,
        /// The client's private key (PKCS#8 DER from `keygen`).
        #[arg(long)]
        client_key: PathBuf,
        /// `kid` in the assertion header: the registered public key's kid.
        #[arg(long)]
        kid: Option<String>,
        /// The DPoP key (PKCS#8 DER from `keygen`); its public JWK goes into every proof header.
        #[arg(long)]
        dpop_key: PathBuf,
        /// Number of lines.
        #[arg(long)]
        count: usize,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Assertion lifetime: `exp` = `iat` + this (the servers refuse more than 5 minutes).
        #[arg(long, default_value_t = 120)]
        exp_secs: u64,
        /// Signing threads (default: the available cores).
        #[arg(long)]
        threads: Option<usize>,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().cmd {
        Cmd::Keygen { out, kid } => keygen(&out, kid.as_deref()),
        Cmd::Lines { client_id, token_url, aud, client_key, kid, dpop_key, count, out, exp_secs, threads } => {
            let client = load_key(&client_key)?;
            let dpop = load_key(&dpop_key)?;
            let aud = aud.unwrap_or_else(|| token_url.clone());
            let mut header = json!({ "alg": "ES256", "typ": "JWT" });
            if let Some(kid) = kid {
                header["kid"] = Value::String(kid);
            }
            let spec = Spec {
                client_header: B64.encode(serde_json::to_vec(&header)?),
                dpop_header: B64.encode(serde_json::to_vec(
                    &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&dpop)? }),
                )?),
                client,
                dpop,
                client_id,
                token_url,
                aud,
                exp_secs,
                prefix: random_prefix()?,
            };
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
            let t0 = Instant::now();
            write_lines(&spec, count, threads, &out)?;
            eprintln!(
                "strong_client_gen: {count} lines ({} signatures) in {:.2} s on {threads} thread(s) -> {}",
                count * 2,
                t0.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(())
        }
    }
}

struct Spec {
    client: EcdsaKeyPair,
    dpop: EcdsaKeyPair,
    client_header: String,
    dpop_header: String,
    client_id: String,
    token_url: String,
    aud: String,
    exp_secs: u64,
    /// Random per invocation, so that jtis never repeat across files and runs.
    prefix: String,
}

impl Spec {
    fn assertion_claims(&self, jti: &str, now: u64) -> Value {
        json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.aud,
            "jti": jti, "iat": now, "exp": now + self.exp_secs,
        })
    }

    fn proof_claims(&self, jti: &str, now: u64) -> Value {
        json!({ "jti": jti, "htm": "POST", "htu": self.token_url, "iat": now })
    }
}

fn keygen(out: &PathBuf, kid: Option<&str>) -> anyhow::Result<()> {
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| anyhow::anyhow!("P-256 key generation failed"))?;
    let der = key.to_pkcs8v1().map_err(|_| anyhow::anyhow!("PKCS#8 export failed"))?;
    fs::write(out, der.as_ref())?;
    let mut jwk = public_jwk(&key)?;
    if let Some(kid) = kid {
        jwk["kid"] = Value::String(kid.to_owned());
        jwk["alg"] = Value::String("ES256".into());
        jwk["use"] = Value::String("sig".into());
    }
    println!("{jwk}");
    Ok(())
}

fn load_key(path: &PathBuf) -> anyhow::Result<EcdsaKeyPair> {
    let der = fs::read(path)?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|_| anyhow::anyhow!("{}: not a P-256 PKCS#8 key", path.display()))
}

/// RFC 7518 §6.2.1: the public key as an EC JWK (only the members RFC 7638 hashes).
fn public_jwk(key: &EcdsaKeyPair) -> anyhow::Result<Value> {
    match key.public_key().as_ref() {
        [4, xy @ ..] if xy.len() == 64 => {
            Ok(json!({ "kty": "EC", "crv": "P-256", "x": B64.encode(&xy[..32]), "y": B64.encode(&xy[32..]) }))
        }
        _ => anyhow::bail!("unexpected EC point encoding"),
    }
}

fn random_prefix() -> anyhow::Result<String> {
    let mut b = [0u8; 12];
    SystemRandom::new().fill(&mut b).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(B64.encode(b))
}

/// RFC 7515 §7.1: compact JWS with a precomputed header, ES256 (fixed-size r || s).
fn sign(key: &EcdsaKeyPair, header_b64: &str, claims: &Value, rng: &SystemRandom) -> anyhow::Result<String> {
    let mut out = String::with_capacity(header_b64.len() + 400);
    out.push_str(header_b64);
    out.push('.');
    B64.encode_string(serde_json::to_vec(claims)?, &mut out);
    let sig = key.sign(rng, out.as_bytes()).map_err(|_| anyhow::anyhow!("signing failed"))?;
    out.push('.');
    B64.encode_string(sig.as_ref(), &mut out);
    Ok(out)
}

fn now_secs() -> u64 {
    u64::try_from(SystemClock.now()).unwrap_or(0)
}

fn write_lines(spec: &Spec, count: usize, threads: usize, out: &PathBuf) -> anyhow::Result<()> {
    let file = Mutex::new(BufWriter::with_capacity(1 << 20, fs::File::create(out)?));
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    let rng = SystemRandom::new();
                    let mut buf = String::with_capacity(BATCH * 900);
                    loop {
                        let start = next.fetch_add(BATCH, Ordering::Relaxed);
                        if start >= count {
                            return Ok(());
                        }
                        let now = now_secs();
                        buf.clear();
                        for i in start..(start + BATCH).min(count) {
                            // Distinct jtis for the two: a server may keep both in one replay cache.
                            let (a_jti, d_jti) = (format!("a-{}-{i}", spec.prefix), format!("d-{}-{i}", spec.prefix));
                            let assertion = spec.assertion_claims(&a_jti, now);
                            buf.push_str(&sign(&spec.client, &spec.client_header, &assertion, &rng)?);
                            buf.push('\t');
                            buf.push_str(&sign(&spec.dpop, &spec.dpop_header, &spec.proof_claims(&d_jti, now), &rng)?);
                            buf.push('\n');
                        }
                        let mut f = file.lock().map_err(|_| anyhow::anyhow!("writer poisoned"))?;
                        f.write_all(buf.as_bytes())?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
        }
        Ok(())
    })?;
    file.into_inner().map_err(|_| anyhow::anyhow!("writer poisoned"))?.flush()?;
    Ok(())
}
