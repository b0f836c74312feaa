//! The load of flow_bench: `--concurrency` virtual users run flows until `--duration` is up,
//! after N argon2id hashes timed in-process (the per-hash cost and the implied bound on
//! sign-ins per second); then the report: flows per second, latency per step, the login POST's
//! share, CPU use, and `--summary-json`. Add a figure to both the printed report and the JSON
//! summary in [`load`].

use crate::Args;
use crate::browser::Browser;
use crate::flow::{AUTHORIZE, LOGIN_POST, Observer, STEPS, Setup, one_flow};
use keycard::dev::oauth_client::basic_auth;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latencies (µs) per step and errors, per virtual user, merged at the end.
#[derive(Default)]
struct Stats {
    lat: [Vec<u32>; STEPS.len()],
    flows: u64,
    errors: [u64; STEPS.len()],
    samples: Vec<String>,
}

impl Observer for Stats {
    fn after(&mut self, step: usize, elapsed: Duration) {
        self.lat[step].push(elapsed.as_micros().min(u32::MAX as u128) as u32);
    }
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        for (a, b) in self.lat.iter_mut().zip(o.lat) {
            a.extend(b);
        }
        self.flows += o.flows;
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        for s in o.samples {
            if self.samples.len() < 5 {
                self.samples.push(s);
            }
        }
    }
}

async fn virtual_user(setup: Arc<Setup>, http: reqwest::Client, idx: usize, deadline: Instant) -> Stats {
    let users = setup.args.users.unwrap_or(setup.args.concurrency).max(1);
    let username = format!("{}{}", setup.args.user_prefix, idx % users);
    let mut b = Browser::new(http, &setup.args.base);
    let mut st = Stats::default();
    while Instant::now() < deadline {
        match one_flow(&setup, &mut b, &username, &mut st).await {
            Ok(()) => st.flows += 1,
            Err(e) => {
                st.errors[e.step] += 1;
                if st.samples.len() < 5 {
                    st.samples.push(format!("{} ({username}): {}", STEPS[e.step], e.what));
                }
                // A failing server should not be hammered in a tight loop.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    st
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v < 10.0 {
        format!("{v:.2}ms")
    } else if v < 100.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.0}ms")
    }
}

/// CPU time of the calling thread in ns (Linux: `/proc/thread-self/schedstat`), if available.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// One argon2id hash timed: (wall ms, CPU ms of this thread when known).
struct HashTime {
    wall_ms: f64,
    cpu_ms: Option<f64>,
}

/// Times `n` argon2id hashes with the server's default parameters, one after the other on one
/// thread, after one untimed hash (the first one also pays for faulting in fresh memory). The CPU
/// time is what a hash costs; the wall time also holds whatever else the machine was doing.
async fn time_hashes(n: usize) -> Vec<HashTime> {
    if n == 0 {
        return Vec::new();
    }
    tokio::task::spawn_blocking(move || {
        let config = keycard::config::Config::default();
        let _ = keycard::admin::hash_password(&config, "bench-warm-up");
        (0..n)
            .map(|i| {
                let (c0, t0) = (thread_cpu_ns(), Instant::now());
                let h = keycard::admin::hash_password(&config, &format!("bench-password-{i}"));
                let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
                assert!(h.is_ok(), "hashing failed: {h:?}");
                let cpu_ms = c0.zip(thread_cpu_ns()).map(|(a, b)| b.saturating_sub(a) as f64 / 1e6);
                HashTime { wall_ms, cpu_ms }
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// CPU ticks used by process `pid` (utime + stime), from `/proc/PID/stat`.
fn proc_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (busy, total) CPU ticks of the whole machine, from `/proc/stat`.
fn host_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).take(8).filter_map(|x| x.parse().ok()).collect();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    let total: u64 = v.iter().sum();
    Some((total - idle, total))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) async fn load(args: Args) -> i32 {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let users = args.users.unwrap_or(args.concurrency).max(1);
    let login = keycard::config::Config::default().login;
    let label = if args.label.is_empty() { String::new() } else { format!(" [{}]", args.label) };
    println!(
        "flow_bench{label}: {} concurrency {} for {} s, {users} accounts ({}0..{}), client {}, scope \"openid offline_access\"",
        args.base,
        args.concurrency,
        args.duration,
        args.user_prefix,
        users - 1,
        args.client_id
    );

    // argon2id in-process, with the server's default parameters, before the load.
    let hashes = time_hashes(args.hash_samples).await;
    let walls: Vec<f64> = hashes.iter().map(|h| h.wall_ms).collect();
    let cpu = hashes.iter().map(|h| h.cpu_ms).collect::<Option<Vec<f64>>>();
    // The cost of a hash: the least disturbed sample (a shared machine only ever adds to it), by
    // CPU time when the kernel tells it, else by wall time.
    let costs = cpu.clone().unwrap_or_else(|| walls.clone());
    let hash_ms = costs.iter().copied().fold(f64::NAN, f64::min);
    if !hashes.is_empty() {
        let unit = if cpu.is_some() { "CPU" } else { "wall" };
        println!(
            "argon2id in-process (m={} KiB, t={}, p={}), {} hashes one after the other: {hash_ms:.1} ms {unit} per \
             hash (fastest; {unit} median {:.1} ms; wall median {:.1} ms, max {:.1} ms)",
            login.argon2_memory_kib,
            login.argon2_iterations,
            login.argon2_parallelism,
            hashes.len(),
            median(costs.clone()),
            median(walls.clone()),
            walls.iter().copied().fold(0.0, f64::max),
        );
        let permits = login.max_concurrent_hashes.min(cores);
        println!(
            "  => at most {:.0} sign-ins/s on this machine's {cores} cores doing nothing else; at most {:.0}/s with \
             the server's {} concurrent hashes ([login] max_concurrent_hashes)",
            cores as f64 * 1000.0 / hash_ms,
            permits as f64 * 1000.0 / hash_ms,
            login.max_concurrent_hashes
        );
    }

    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency.max(1))
        .timeout(Duration::from_secs(args.timeout))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flow_bench: cannot build the HTTP client: {e}");
            return 2;
        }
    };
    let setup = Arc::new(Setup { auth: basic_auth(&args.client_id, &args.client_secret), args: args.clone() });
    let cpu0 = (args.server_pid.and_then(proc_ticks), host_ticks(), proc_ticks(std::process::id()));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration);
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|i| tokio::spawn(virtual_user(setup.clone(), http.clone(), i, deadline)))
        .collect();
    let mut st = Stats::default();
    for t in tasks {
        match t.await {
            Ok(s) => st.merge(s),
            Err(e) => {
                st.errors[AUTHORIZE] += 1;
                st.samples.push(format!("a virtual user panicked: {e}"));
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu1 = (args.server_pid.and_then(proc_ticks), host_ticks(), proc_ticks(std::process::id()));
    let errors: u64 = st.errors.iter().sum();
    let flows_per_s = st.flows as f64 / elapsed;

    println!(
        "flows: {} completed in {:.1} s (new flows started for {} s, then the ones in progress finished) \
         = {:.1} flows/s; errors: {errors}",
        st.flows, elapsed, args.duration, flows_per_s
    );
    println!("{:<14}{:>7}{:>10}{:>10}{:>10}{:>10}{:>8}", "step", "count", "mean", "p50", "p99", "max", "errors");
    let mut steps_json = Vec::new();
    let mut total_us: u128 = 0;
    let mut sums = [0u128; STEPS.len()];
    for (i, lat) in st.lat.iter_mut().enumerate() {
        lat.sort_unstable();
        sums[i] = lat.iter().map(|&v| v as u128).sum();
        total_us += sums[i];
        let mean = if lat.is_empty() { f64::NAN } else { sums[i] as f64 / lat.len() as f64 / 1000.0 };
        let (p50, p99) = (percentile(lat, 0.50), percentile(lat, 0.99));
        let max = lat.last().map_or(f64::NAN, |&v| v as f64 / 1000.0);
        println!(
            "{:<14}{:>7}{:>10}{:>10}{:>10}{:>10}{:>8}",
            STEPS[i],
            lat.len(),
            ms(mean),
            ms(p50),
            ms(p99),
            ms(max),
            st.errors[i]
        );
        steps_json.push(serde_json::json!({
            "step": STEPS[i], "count": lat.len(), "errors": st.errors[i],
            "mean_ms": finite(mean), "p50_ms": finite(p50), "p99_ms": finite(p99), "max_ms": finite(max),
        }));
    }
    let share = if total_us > 0 { sums[LOGIN_POST] as f64 / total_us as f64 } else { f64::NAN };
    let per_flow = if st.flows > 0 { total_us as f64 / 1000.0 / st.flows as f64 } else { f64::NAN };
    println!(
        "login POST share of flow time: {:.1}% (summed login POST latency / summed latency of every step; \
         {} per flow on average, login POST {} of it)",
        share * 100.0,
        ms(per_flow),
        ms(if st.lat[LOGIN_POST].is_empty() {
            f64::NAN
        } else {
            sums[LOGIN_POST] as f64 / 1000.0 / st.lat[LOGIN_POST].len() as f64
        })
    );
    let logins_per_s = st.lat[LOGIN_POST].len() as f64 / elapsed;
    if !hash_ms.is_nan() {
        let bound = login.max_concurrent_hashes.min(cores) as f64 * 1000.0 / hash_ms;
        println!(
            "sign-ins: {logins_per_s:.1}/s = {:.0}% of the argon2 bound ({bound:.0}/s); password hashing alone \
             used at least {:.2} cores ({logins_per_s:.1}/s x {hash_ms:.1} ms)",
            logins_per_s / bound * 100.0,
            logins_per_s * hash_ms / 1000.0,
        );
    }
    // Linux USER_HZ is 100 ticks per second.
    let server_cores = cpu0.0.zip(cpu1.0).map(|(a, b)| b.saturating_sub(a) as f64 / 100.0 / elapsed);
    let host_busy = cpu0.1.zip(cpu1.1).map(|((b0, t0), (b1, t1))| {
        (b1.saturating_sub(b0)) as f64 / (t1.saturating_sub(t0)).max(1) as f64 * cores as f64
    });
    let own_cores = cpu0.2.zip(cpu1.2).map(|(a, b)| b.saturating_sub(a) as f64 / 100.0 / elapsed);
    if server_cores.is_some() || host_busy.is_some() {
        let f = |v: Option<f64>| v.map_or("?".into(), |c| format!("{c:.2}"));
        println!(
            "CPU during the load: server {} cores, flow_bench {} cores, whole machine busy {} of {cores} cores \
             (also the database server, if local, and anything else running)",
            f(server_cores),
            f(own_cores),
            f(host_busy),
        );
    }
    if !st.samples.is_empty() {
        println!("first errors:");
        for s in &st.samples {
            println!("  {s}");
        }
    }
    if let Some(path) = &args.summary_json {
        let j = serde_json::json!({
            "label": args.label, "base": args.base, "concurrency": args.concurrency, "duration_s": args.duration,
            "elapsed_s": elapsed, "users": users, "flows": st.flows, "flows_per_s": flows_per_s, "errors": errors,
            "login_post_share": finite(share), "ms_per_flow": finite(per_flow), "logins_per_s": logins_per_s,
            "argon2_ms": finite(hash_ms), "argon2_cpu_time": cpu.is_some(),
            "argon2_median_ms": finite(median(costs)), "argon2_wall_median_ms": finite(median(walls)),
            "cores": cores, "server_cores": server_cores, "flow_bench_cores": own_cores,
            "host_busy_cores": host_busy,
            "max_concurrent_hashes": login.max_concurrent_hashes, "steps": steps_json, "first_errors": st.samples,
        });
        if let Err(e) = std::fs::write(path, format!("{j:#}\n")) {
            eprintln!("flow_bench: cannot write {}: {e}", path.display());
        }
    }
    if errors > 0 || st.flows == 0 { 1 } else { 0 }
}

fn finite(v: f64) -> serde_json::Value {
    if v.is_finite() { serde_json::json!(v) } else { serde_json::Value::Null }
}
